import {Ajv, type ErrorObject} from 'ajv'
import {existsSync, readFileSync, statSync} from 'node:fs'
import {homedir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {parseDocument} from 'yaml'
import {AbortError} from './errors.js'
import {runAsSyntaxError} from './sensor/run-as.js'

/**
 * attune's configuration, resolved in one place for the CLI and the daemon:
 * flags > `ATTUNE_*` environment > config file > defaults (SPEC §10).
 * The file is `--config-file` / `ATTUNE_CONFIG`, else `./attune.yaml`, else
 * `$ATTUNE_HOME/config.yaml`; it is validated and an unknown key is an error naming it.
 */
export interface AttuneConfig {
  /** Data directory: the embedded database, caches, the daemon's socket. */
  home: string
  database: {url?: string}
  amqp: {url?: string}
  /**
   * `jwt_secret` signs and verifies sensor tokens; `jwt_secret_previous` (rotation) still
   * verifies tokens signed with the secret before it, until they expire.
   */
  auth: {jwt_secret?: string; jwt_secret_previous?: string}
  /** Attune's own setting for the JWT secret (`security.jwt_secret`), used when auth.jwt_secret is not set. */
  security: {jwt_secret?: string}
  /**
   * `enforcements`: who creates enforcements, `attune` (match rules and write enforcements with
   * the event, the default) or `executor` (store and announce events only; Attune's executor
   * creates the enforcements on EventCreated). docs/pipeline.md.
   */
  pipeline: {enforcements: 'attune' | 'executor'}
  sensor: {
    /** Seconds one poll may take before its process group is killed. */
    timeout: number
    /** Seconds between polls of a sensor that does not set its own. */
    poll_interval: number
    max_concurrent_sensors: number
    max_restart_attempts: number
    /** Bytes read from each output stream of a poll before it is stopped. */
    max_output_bytes: number
    interpreters: {python?: string; node?: string; shell?: string}
    capabilities: {runtimes?: string[]}
    /**
     * `user[:group]` every sensor process runs as (names or numeric ids); unset: as attune's
     * own user. docs/security.md.
     */
    run_as?: string
  }
  daemon: {
    lease_seconds: number
    shutdown_timeout: number
    /** This daemon's worker name; unset: `<hostname>:<pid>`. */
    name?: string
    log_level: LogLevel
    /** The dashboard on a terminal; false: JSON log lines always. */
    ui: boolean
    /** Pack folders registered before the daemon starts (relative ones: to the config file's folder, or the current one). */
    packs?: string[]
    /** Restart a sensor whose file changed, register a pack whose YAML changed (docs/daemon.md); default on. */
    watch: boolean
  }
  /**
   * The daemon's /healthz, /livez, /readyz and /metrics (docs/daemon.md): served only when `port`
   * is set (0: any free port). `metrics_token`: a bearer token /metrics then requires.
   * (`daemon.health_port` in a config file is the older name of `health.port`.)
   */
  health: {host: string; port?: number; metrics_token?: string}
  /**
   * The daemon's HTTP API for sensors and webhooks (docs/api.md): on by default on
   * 127.0.0.1:9465; `port: 0` takes any free port. `body_limit` in bytes; `rate_limit` in
   * requests per second per token (or per client address without one).
   */
  api: {enabled: boolean; host: string; port: number; body_limit: number; rate_limit: number}
  /**
   * What the daemon prunes, every `check_interval_seconds` (Attune's names and defaults:
   * 30 days of events and enforcements). Sent outbox rows by the age of their send; expired
   * keys always. docs/configuration.md#retention.
   */
  retention: RetentionSettings
}

/** Limits of one table (`null`: no limit of that kind). */
export interface RetentionTableSettings {
  max_age_seconds?: number | null
  max_rows?: number | null
}

export interface RetentionSettings {
  /** The daemon prunes periodically (`attune db prune` works either way). */
  enabled: boolean
  check_interval_seconds: number
  /** Rows deleted per statement. */
  batch_size: number
  events: RetentionTableSettings
  enforcements: RetentionTableSettings
  outbox: RetentionTableSettings
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** The API's documented default port (health is 9464). */
export const DEFAULT_API_PORT = 9465

export const DEFAULT_CONFIG: Omit<AttuneConfig, 'home'> = {
  database: {},
  amqp: {},
  auth: {},
  security: {},
  pipeline: {enforcements: 'attune'},
  sensor: {
    timeout: 30,
    poll_interval: 30,
    max_concurrent_sensors: 16,
    max_restart_attempts: 3,
    max_output_bytes: 10 * 1024 * 1024,
    interpreters: {},
    capabilities: {},
  },
  daemon: {lease_seconds: 15, shutdown_timeout: 30, log_level: 'info', ui: true, watch: true},
  health: {host: '127.0.0.1'},
  api: {enabled: true, host: '127.0.0.1', port: 9465, body_limit: 1024 * 1024, rate_limit: 50},
  retention: {
    enabled: true,
    check_interval_seconds: 3600,
    batch_size: 1000,
    events: {max_age_seconds: 30 * 86_400},
    enforcements: {max_age_seconds: 30 * 86_400},
    outbox: {max_age_seconds: 86_400},
  },
}

const positive = {type: 'number', exclusiveMinimum: 0}
const positiveInteger = {type: 'integer', minimum: 1}
const retentionTable = {
  type: 'object',
  additionalProperties: false,
  properties: {max_age_seconds: {type: ['integer', 'null'], minimum: 1}, max_rows: {type: ['integer', 'null'], minimum: 1}},
}
const SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    home: {type: 'string', minLength: 1},
    database: {type: 'object', additionalProperties: false, properties: {url: {type: 'string', minLength: 1}}},
    amqp: {type: 'object', additionalProperties: false, properties: {url: {type: 'string', minLength: 1}}},
    auth: {type: 'object', additionalProperties: false, properties: {jwt_secret: {type: 'string'}, jwt_secret_previous: {type: 'string'}}},
    security: {type: 'object', additionalProperties: false, properties: {jwt_secret: {type: 'string'}}},
    pipeline: {type: 'object', additionalProperties: false, properties: {enforcements: {enum: ['attune', 'executor']}}},
    sensor: {
      type: 'object',
      additionalProperties: false,
      properties: {
        timeout: positive,
        poll_interval: positive,
        max_concurrent_sensors: positiveInteger,
        max_restart_attempts: positiveInteger,
        max_output_bytes: positiveInteger,
        interpreters: {
          type: 'object',
          additionalProperties: false,
          properties: {python: {type: 'string'}, node: {type: 'string'}, shell: {type: 'string'}},
        },
        capabilities: {
          type: 'object',
          additionalProperties: false,
          properties: {runtimes: {type: 'array', items: {type: 'string'}}},
        },
        run_as: {type: 'string', minLength: 1},
      },
    },
    daemon: {
      type: 'object',
      additionalProperties: false,
      properties: {
        // The older name of health.port.
        health_port: {type: 'integer', minimum: 0, maximum: 65535},
        lease_seconds: {type: 'number', minimum: 2, maximum: 3600},
        shutdown_timeout: positive,
        name: {type: 'string', minLength: 1},
        log_level: {enum: LOG_LEVELS},
        ui: {type: 'boolean'},
        packs: {type: 'array', items: {type: 'string', minLength: 1}},
        watch: {type: 'boolean'},
      },
    },
    health: {
      type: 'object',
      additionalProperties: false,
      properties: {
        host: {type: 'string', minLength: 1},
        port: {type: 'integer', minimum: 0, maximum: 65535},
        metrics_token: {type: 'string', minLength: 1},
      },
    },
    api: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: {type: 'boolean'},
        host: {type: 'string', minLength: 1},
        port: {type: 'integer', minimum: 0, maximum: 65535},
        body_limit: positiveInteger,
        rate_limit: positiveInteger,
      },
    },
    retention: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: {type: 'boolean'},
        check_interval_seconds: positive,
        batch_size: positiveInteger,
        events: retentionTable,
        enforcements: retentionTable,
        outbox: retentionTable,
      },
    },
  },
} as const

const ajv = new Ajv({allErrors: true})
const validateConfig = ajv.compile(SCHEMA)

type DeepPartial<T> = {[K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K]}
export type ConfigOverrides = DeepPartial<AttuneConfig>

export interface LoadConfigOptions {
  /** An explicit config file (`--config-file`); it must exist. */
  file?: string
  /** Values from flags: they win over everything. */
  overrides?: ConfigOverrides
  env?: NodeJS.ProcessEnv
  cwd?: string
}

export interface LoadedConfig {
  config: AttuneConfig
  /** The config file that was read, if any. */
  file?: string
  /** Where settings whose errors must name their origin came from (`ATTUNE_SENSOR_RUN_AS`, `sensor.run_as in FILE`). */
  origins: {'sensor.run_as'?: string}
  /**
   * Where each setting's value came from, by key (`daemon.lease_seconds`): `default`,
   * `file:PATH`, `env:NAME` or `flag:--name`.
   */
  sources: Record<string, string>
}

/**
 * Each setting's environment variables (first set wins; `*_FILE` ones hold a secret's file) and
 * the flag of the commands that have one. One table for `attune config show` and the docs.
 */
export const SETTING_NAMES: Record<string, {env: string[]; flag?: string}> = {
  home: {env: ['ATTUNE_HOME']},
  'database.url': {env: ['ATTUNE_DATABASE_URL', 'ATTUNE_DATABASE_URL_FILE', 'DATABASE_URL', 'DATABASE_URL_FILE'], flag: '--database-url'},
  'amqp.url': {env: ['ATTUNE_AMQP_URL', 'ATTUNE_AMQP_URL_FILE'], flag: '--amqp-url'},
  'auth.jwt_secret': {env: ['ATTUNE_JWT_SECRET', 'ATTUNE_JWT_SECRET_FILE']},
  'auth.jwt_secret_previous': {env: ['ATTUNE_JWT_SECRET_PREVIOUS', 'ATTUNE_JWT_SECRET_PREVIOUS_FILE']},
  'security.jwt_secret': {env: ['ATTUNE__SECURITY__JWT_SECRET', 'ATTUNE__SECURITY__JWT_SECRET_FILE']},
  'pipeline.enforcements': {env: ['ATTUNE_ENFORCEMENTS']},
  'sensor.timeout': {env: ['ATTUNE_SENSOR_TIMEOUT'], flag: '--timeout'},
  'sensor.poll_interval': {env: ['ATTUNE_SENSOR_POLL_INTERVAL']},
  'sensor.max_concurrent_sensors': {env: ['ATTUNE_SENSOR_MAX_CONCURRENT_SENSORS']},
  'sensor.max_restart_attempts': {env: ['ATTUNE_SENSOR_MAX_RESTART_ATTEMPTS']},
  'sensor.max_output_bytes': {env: ['ATTUNE_SENSOR_MAX_OUTPUT_BYTES']},
  'sensor.interpreters.python': {env: ['ATTUNE_SENSOR_INTERPRETERS_PYTHON']},
  'sensor.interpreters.node': {env: ['ATTUNE_SENSOR_INTERPRETERS_NODE']},
  'sensor.interpreters.shell': {env: ['ATTUNE_SENSOR_INTERPRETERS_SHELL']},
  'sensor.capabilities.runtimes': {env: ['ATTUNE_SENSOR_RUNTIMES']},
  'sensor.run_as': {env: ['ATTUNE_SENSOR_RUN_AS']},
  'daemon.packs': {env: ['ATTUNE_PACKS'], flag: '--packs'},
  'daemon.name': {env: ['ATTUNE_DAEMON_NAME'], flag: '--name'},
  'daemon.lease_seconds': {env: ['ATTUNE_LEASE_SECONDS'], flag: '--lease-seconds'},
  'daemon.shutdown_timeout': {env: ['ATTUNE_SHUTDOWN_TIMEOUT'], flag: '--shutdown-timeout'},
  'daemon.log_level': {env: ['ATTUNE_LOG_LEVEL'], flag: '--log-level'},
  'daemon.ui': {env: ['ATTUNE_UI'], flag: '--no-ui'},
  'daemon.watch': {env: ['ATTUNE_WATCH'], flag: '--no-watch'},
  'health.host': {env: ['ATTUNE_HEALTH_HOST'], flag: '--health-host'},
  'health.port': {env: ['ATTUNE_HEALTH_PORT'], flag: '--health-port'},
  'health.metrics_token': {env: ['ATTUNE_METRICS_TOKEN', 'ATTUNE_METRICS_TOKEN_FILE']},
  'api.enabled': {env: ['ATTUNE_API_ENABLED'], flag: '--no-api'},
  'api.host': {env: ['ATTUNE_API_HOST'], flag: '--api-host'},
  'api.port': {env: ['ATTUNE_API_PORT'], flag: '--api-port'},
  'api.body_limit': {env: ['ATTUNE_API_BODY_LIMIT']},
  'api.rate_limit': {env: ['ATTUNE_API_RATE_LIMIT']},
  'retention.enabled': {env: ['ATTUNE_RETENTION_ENABLED']},
  'retention.check_interval_seconds': {env: ['ATTUNE_RETENTION_CHECK_INTERVAL_SECONDS']},
  'retention.batch_size': {env: ['ATTUNE_RETENTION_BATCH_SIZE']},
  'retention.events.max_age_seconds': {env: ['ATTUNE_RETENTION_EVENTS_MAX_AGE_SECONDS']},
  'retention.events.max_rows': {env: ['ATTUNE_RETENTION_EVENTS_MAX_ROWS']},
  'retention.enforcements.max_age_seconds': {env: ['ATTUNE_RETENTION_ENFORCEMENTS_MAX_AGE_SECONDS']},
  'retention.enforcements.max_rows': {env: ['ATTUNE_RETENTION_ENFORCEMENTS_MAX_ROWS']},
  'retention.outbox.max_age_seconds': {env: ['ATTUNE_RETENTION_OUTBOX_MAX_AGE_SECONDS']},
  'retention.outbox.max_rows': {env: ['ATTUNE_RETENTION_OUTBOX_MAX_ROWS']},
}

/** Every setting's key, in the order of the config file's schema (nested objects flattened, lists are one setting). */
export function settingKeys(): string[] {
  const keys: string[] = []
  const walk = (schema: {properties?: Record<string, unknown>}, prefix: string) => {
    for (const [name, child] of Object.entries(schema.properties ?? {})) {
      const key = prefix ? `${prefix}.${name}` : name
      if (key === 'daemon.health_port') continue
      const node = child as {type?: string; properties?: Record<string, unknown>}
      if (node.type === 'object' && node.properties) walk(node, key)
      else keys.push(key)
    }
  }
  walk(SCHEMA, '')
  return keys
}

/** The value at a dotted key, or undefined. */
export function configValue(config: unknown, key: string): unknown {
  let value: unknown = config
  for (const part of key.split('.')) {
    if (!isPlainObject(value)) return undefined
    value = value[part]
  }
  return value
}

function describeAjvError(error: ErrorObject, where: string): string {
  const path = error.instancePath.slice(1).replaceAll('/', '.')
  if (error.keyword === 'additionalProperties') {
    const key = path ? `${path}.${error.params.additionalProperty}` : String(error.params.additionalProperty)
    return `Unknown key "${key}" in ${where}`
  }
  return `Invalid value for "${path || '(root)'}" in ${where}: ${error.message}`
}

/** Reads and validates a config file; errors name the file and the key or line. */
export function readConfigFile(path: string): ConfigOverrides {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new AbortError(`Cannot read config file ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`, {code: 'config_unreadable'})
  }
  const document = parseDocument(text)
  if (document.errors.length > 0) {
    const first = document.errors[0]
    const line = first.linePos?.[0].line
    throw new AbortError(`Config file ${path}${line ? ` line ${line}` : ''} is not valid YAML: ${first.message.split('\n')[0]}`, {
      code: 'config_invalid',
    })
  }
  const value = document.toJS() ?? {}
  if (!validateConfig(value)) {
    const messages = (validateConfig.errors ?? []).map((error) => describeAjvError(error, path))
    throw new AbortError(messages.join('\n'), {
      code: 'config_invalid',
      hint: 'See docs/configuration.md for the keys attune understands.',
    })
  }
  const config = value as ConfigOverrides
  adoptOlderKeys(config, path)
  // Pack folders in a config file are relative to the file, wherever attune is started from.
  if (config.daemon?.packs) config.daemon.packs = config.daemon.packs.map((pack) => resolve(dirname(path), pack))
  const runAsProblem = config.sensor?.run_as === undefined ? undefined : runAsSyntaxError(config.sensor.run_as)
  if (runAsProblem) {
    throw new AbortError(`Invalid value for "sensor.run_as" in ${path}: "${config.sensor?.run_as}" ${runAsProblem}`, {
      code: 'config_invalid',
      hint: 'It is user[:group], names or numeric ids; see docs/security.md.',
    })
  }
  checkConfigFileMode(path, config)
  return config
}

/** `daemon.health_port` is the older name of `health.port`: read as it, both set differently is an error. */
function adoptOlderKeys(config: ConfigOverrides, path: string): void {
  const daemon = config.daemon as (ConfigOverrides['daemon'] & {health_port?: number}) | undefined
  if (daemon?.health_port === undefined) return
  const older = daemon.health_port
  delete daemon.health_port
  if (config.health?.port !== undefined && config.health.port !== older) {
    throw new AbortError(`Both "health.port" (${config.health.port}) and its older name "daemon.health_port" (${older}) are set in ${path}.`, {
      code: 'config_invalid',
      hint: 'Keep health.port and remove daemon.health_port.',
    })
  }
  config.health = {...config.health, port: older}
}

/** The settings in a config file that are secrets: JWT secrets, and URLs that carry a password. */
export function configSecrets(config: ConfigOverrides): string[] {
  const secrets: string[] = []
  if (config.auth?.jwt_secret) secrets.push('auth.jwt_secret')
  if (config.auth?.jwt_secret_previous) secrets.push('auth.jwt_secret_previous')
  if (config.security?.jwt_secret) secrets.push('security.jwt_secret')
  if (config.health?.metrics_token) secrets.push('health.metrics_token')
  if (urlHasPassword(config.database?.url)) secrets.push('database.url')
  if (urlHasPassword(config.amqp?.url)) secrets.push('amqp.url')
  return secrets
}

function urlHasPassword(url: string | undefined): boolean {
  if (!url) return false
  try {
    return new URL(url).password !== ''
  } catch {
    // Not a URL the parser takes: look for user:password@ by hand.
    return /^[a-z][a-z0-9+.-]*:\/\/[^/@:]*:[^/@]+@/i.test(url)
  }
}

/**
 * As ssh does with its keys: a config file that holds a secret must not be readable by group
 * or other, and no config file may be writable by other (someone else could inject settings,
 * e.g. a database URL or an interpreter). Throws an `AbortError` naming the file, its mode and
 * the fix. Not checked on Windows, where modes mean nothing.
 */
export function checkConfigFileMode(path: string, config: ConfigOverrides): void {
  if (process.platform === 'win32') return
  let mode: number
  try {
    mode = statSync(path).mode & 0o777
  } catch {
    return
  }
  const octal = formatMode(mode)
  const secrets = configSecrets(config)
  if (secrets.length > 0 && (mode & 0o077) !== 0) {
    throw new AbortError(
      `Config file ${path} holds a secret (${secrets.join(', ')}) but its mode is ${octal}: group or other can read it.`,
      {code: 'config_insecure', hint: `Make it readable by you alone: chmod 600 ${path}`},
    )
  }
  if ((mode & 0o002) !== 0) {
    throw new AbortError(`Config file ${path} is writable by anyone (mode ${octal}): another user could change attune's settings.`, {
      code: 'config_insecure',
      hint: `chmod 600 ${path} (or chmod o-w ${path})`,
    })
  }
}

function formatMode(mode: number): string {
  return mode.toString(8).padStart(4, '0')
}

/**
 * The environment variables that carry a secret (or a URL that may hold a password). Each can
 * also be given as `<NAME>_FILE`, the path of a file holding the value (the Docker and
 * Kubernetes secrets convention): the value then never sits in attune's environment.
 */
export const SECRET_VARIABLES = [
  'ATTUNE_DATABASE_URL',
  'DATABASE_URL',
  'ATTUNE_AMQP_URL',
  'ATTUNE_JWT_SECRET',
  'ATTUNE_JWT_SECRET_PREVIOUS',
  'ATTUNE__SECURITY__JWT_SECRET',
  'ATTUNE_METRICS_TOKEN',
] as const

/**
 * A secret from `NAME` or from the file `NAME_FILE` names (trailing newlines are dropped, as
 * `$(cat FILE)` drops them; the file must not be empty). Both set, a missing or unreadable file, or a file group
 * or other can read is an `AbortError` (exit 2) naming them, as a config file holding a secret
 * is refused when group or other can read it.
 */
export function secretFromEnv(env: NodeJS.ProcessEnv, name: (typeof SECRET_VARIABLES)[number]): string | undefined {
  const fileVariable = `${name}_FILE`
  const direct = env[name] || undefined
  const path = env[fileVariable] || undefined
  if (path === undefined) return direct
  if (direct !== undefined) {
    throw new AbortError(`Both ${name} and ${fileVariable} are set: use one of them.`, {
      code: 'env_conflict',
      hint: `Unset ${name} to read the value from ${path}, or unset ${fileVariable}.`,
    })
  }
  let text: string
  try {
    const mode = statSync(path).mode & 0o777
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new AbortError(`${fileVariable} names ${path}, whose mode is ${formatMode(mode)}: group or other can read the secret in it.`, {
        code: 'secret_file_insecure',
        hint: `Make it readable by attune's user alone: chmod 600 ${path} (Kubernetes: defaultMode 0400; Compose: mode 0400).`,
      })
    }
    text = readFileSync(path, 'utf8')
  } catch (error) {
    if (error instanceof AbortError) throw error
    const code = (error as NodeJS.ErrnoException).code ?? String(error)
    throw new AbortError(`${fileVariable} names ${path}, which cannot be read: ${code}`, {
      code: 'secret_file_unreadable',
      hint: `Point ${fileVariable} at a readable file, or unset it.`,
    })
  }
  const value = text.replace(/[\r\n]+$/, '')
  if (value === '') {
    throw new AbortError(`${fileVariable} names ${path}, which is empty.`, {code: 'secret_file_empty', hint: `Write the value of ${name} into it, or unset ${fileVariable}.`})
  }
  return value
}

function runAsFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const raw = env.ATTUNE_SENSOR_RUN_AS
  if (!raw) return undefined
  const problem = runAsSyntaxError(raw)
  if (problem) {
    throw new AbortError(`ATTUNE_SENSOR_RUN_AS must be user[:group] (names or numeric ids), got "${raw}": ${problem}`, {code: 'env_invalid'})
  }
  return raw
}

function numberFromEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0) {
    throw new AbortError(`${name} must be a positive number, got "${raw}"`, {code: 'env_invalid'})
  }
  return value
}

function enforcementsFromEnv(env: NodeJS.ProcessEnv): 'attune' | 'executor' | undefined {
  const raw = env.ATTUNE_ENFORCEMENTS
  if (!raw) return undefined
  if (raw === 'attune' || raw === 'executor') return raw
  throw new AbortError(`ATTUNE_ENFORCEMENTS must be attune or executor, got "${raw}"`, {code: 'env_invalid'})
}

function portFromEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 0 || value > 65_535) throw new AbortError(`${name} must be a port number from 0 to 65535, got "${raw}"`, {code: 'env_invalid'})
  return value
}

function integerFromEnv(env: NodeJS.ProcessEnv, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`
    throw new AbortError(`${name} must be a whole number ${range}, got "${raw}"`, {code: 'env_invalid'})
  }
  return value
}

function rangeFromEnv(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  const value = Number(raw)
  if (!Number.isFinite(value) || value < min || value > max) throw new AbortError(`${name} must be a number from ${min} to ${max}, got "${raw}"`, {code: 'env_invalid'})
  return value
}

const TRUE = new Set(['1', 'true', 'yes', 'on'])
const FALSE = new Set(['0', 'false', 'no', 'off'])

function booleanFromEnv(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  const lower = raw.trim().toLowerCase()
  if (TRUE.has(lower)) return true
  if (FALSE.has(lower)) return false
  throw new AbortError(`${name} must be true or false (or 1/0, yes/no, on/off), got "${raw}"`, {code: 'env_invalid'})
}

/** One of `choices`, in any case (`INFO` is `info`). */
function choiceFromEnv<T extends string>(env: NodeJS.ProcessEnv, name: string, choices: readonly T[]): T | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  const lower = raw.trim().toLowerCase()
  if ((choices as readonly string[]).includes(lower)) return lower as T
  throw new AbortError(`${name} must be one of ${choices.join(', ')}, got "${raw}"`, {code: 'env_invalid'})
}

function listFromEnv(env: NodeJS.ProcessEnv, name: string): string[] | undefined {
  const raw = env[name]
  if (!raw) return undefined
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
}

/** The `ATTUNE_*` (and `DATABASE_URL`) environment as config values; secrets also from `*_FILE`. */
export function configFromEnv(env: NodeJS.ProcessEnv): ConfigOverrides {
  const runtimes = env.ATTUNE_SENSOR_RUNTIMES
  return {
    home: env.ATTUNE_HOME || undefined,
    database: {url: secretFromEnv(env, 'ATTUNE_DATABASE_URL') ?? secretFromEnv(env, 'DATABASE_URL')},
    amqp: {url: secretFromEnv(env, 'ATTUNE_AMQP_URL')},
    auth: {jwt_secret: secretFromEnv(env, 'ATTUNE_JWT_SECRET'), jwt_secret_previous: secretFromEnv(env, 'ATTUNE_JWT_SECRET_PREVIOUS')},
    // Attune's own variable for its setting security.jwt_secret.
    security: {jwt_secret: secretFromEnv(env, 'ATTUNE__SECURITY__JWT_SECRET')},
    pipeline: {enforcements: enforcementsFromEnv(env)},
    api: {
      enabled: booleanFromEnv(env, 'ATTUNE_API_ENABLED'),
      host: env.ATTUNE_API_HOST || undefined,
      port: portFromEnv(env, 'ATTUNE_API_PORT'),
      body_limit: integerFromEnv(env, 'ATTUNE_API_BODY_LIMIT', 1),
      rate_limit: integerFromEnv(env, 'ATTUNE_API_RATE_LIMIT', 1),
    },
    daemon: {
      lease_seconds: rangeFromEnv(env, 'ATTUNE_LEASE_SECONDS', 2, 3600),
      shutdown_timeout: numberFromEnv(env, 'ATTUNE_SHUTDOWN_TIMEOUT'),
      name: env.ATTUNE_DAEMON_NAME || undefined,
      log_level: choiceFromEnv(env, 'ATTUNE_LOG_LEVEL', LOG_LEVELS),
      ui: booleanFromEnv(env, 'ATTUNE_UI'),
      packs: listFromEnv(env, 'ATTUNE_PACKS'),
      watch: booleanFromEnv(env, 'ATTUNE_WATCH'),
    },
    health: {host: env.ATTUNE_HEALTH_HOST || undefined, port: portFromEnv(env, 'ATTUNE_HEALTH_PORT'), metrics_token: secretFromEnv(env, 'ATTUNE_METRICS_TOKEN')},
    retention: {
      enabled: booleanFromEnv(env, 'ATTUNE_RETENTION_ENABLED'),
      check_interval_seconds: numberFromEnv(env, 'ATTUNE_RETENTION_CHECK_INTERVAL_SECONDS'),
      batch_size: integerFromEnv(env, 'ATTUNE_RETENTION_BATCH_SIZE', 1),
      ...Object.fromEntries(
        (['events', 'enforcements', 'outbox'] as const).map((table) => {
          const upper = table.toUpperCase()
          return [table, {max_age_seconds: integerFromEnv(env, `ATTUNE_RETENTION_${upper}_MAX_AGE_SECONDS`, 1), max_rows: integerFromEnv(env, `ATTUNE_RETENTION_${upper}_MAX_ROWS`, 1)}]
        }),
      ),
    },
    sensor: {
      timeout: numberFromEnv(env, 'ATTUNE_SENSOR_TIMEOUT'),
      poll_interval: numberFromEnv(env, 'ATTUNE_SENSOR_POLL_INTERVAL'),
      max_concurrent_sensors: integerFromEnv(env, 'ATTUNE_SENSOR_MAX_CONCURRENT_SENSORS', 1),
      max_restart_attempts: integerFromEnv(env, 'ATTUNE_SENSOR_MAX_RESTART_ATTEMPTS', 1),
      max_output_bytes: integerFromEnv(env, 'ATTUNE_SENSOR_MAX_OUTPUT_BYTES', 1),
      interpreters: {
        python: env.ATTUNE_SENSOR_INTERPRETERS_PYTHON || undefined,
        node: env.ATTUNE_SENSOR_INTERPRETERS_NODE || undefined,
        shell: env.ATTUNE_SENSOR_INTERPRETERS_SHELL || undefined,
      },
      run_as: runAsFromEnv(env),
      capabilities: {
        runtimes: runtimes
          ? runtimes
              .split(',')
              .map((name) => name.trim())
              .filter(Boolean)
          : undefined,
      },
    },
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Deep-merges layers left to right; `undefined` never overwrites a value. */
export function mergeConfig<T>(base: T, ...layers: Array<DeepPartial<T> | undefined>): T {
  const result: Record<string, unknown> = structuredClone(base) as Record<string, unknown>
  for (const layer of layers) {
    if (!layer) continue
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue
      result[key] = isPlainObject(value) && isPlainObject(result[key]) ? mergeConfig(result[key], value) : value
    }
  }
  return result as T
}

/** Finds the config file to read: explicit, then ./attune.yaml, then $ATTUNE_HOME/config.yaml. */
export function findConfigFile(options: {file?: string; env: NodeJS.ProcessEnv; cwd: string; home: string}): string | undefined {
  const explicit = options.file ?? (options.env.ATTUNE_CONFIG || undefined)
  if (explicit) {
    const path = resolve(options.cwd, explicit)
    if (!existsSync(path)) {
      throw new AbortError(`Config file not found: ${path}`, {code: 'config_missing', hint: 'Check --config-file / ATTUNE_CONFIG.'})
    }
    return path
  }
  for (const candidate of [join(options.cwd, 'attune.yaml'), join(options.home, 'config.yaml')]) {
    if (existsSync(candidate)) return candidate
  }
  return undefined
}

export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env
  const cwd = options.cwd ?? process.cwd()
  const fromEnv = configFromEnv(env)
  const home = resolve(cwd, options.overrides?.home ?? fromEnv.home ?? join(homedir(), '.attune'))
  const file = findConfigFile({file: options.file, env, cwd, home})
  const fromFile = file ? readConfigFile(file) : undefined
  const config = mergeConfig<AttuneConfig>({...DEFAULT_CONFIG, home}, fromFile, fromEnv, options.overrides)
  config.home = resolve(cwd, config.home)
  // Attune's setting is the fallback: attune's own (auth.jwt_secret, ATTUNE_JWT_SECRET) wins.
  config.auth.jwt_secret ??= config.security.jwt_secret
  const origins: LoadedConfig['origins'] = {}
  if (options.overrides?.sensor?.run_as !== undefined) origins['sensor.run_as'] = 'sensor.run_as'
  else if (fromEnv.sensor?.run_as !== undefined) origins['sensor.run_as'] = 'ATTUNE_SENSOR_RUN_AS'
  else if (fromFile?.sensor?.run_as !== undefined) origins['sensor.run_as'] = `sensor.run_as in ${file}`
  const sources: Record<string, string> = {}
  for (const key of settingKeys()) {
    const names = SETTING_NAMES[key]
    if (configValue(options.overrides, key) !== undefined) sources[key] = `flag:${names?.flag ?? key}`
    else if (configValue(fromEnv, key) !== undefined) sources[key] = `env:${names?.env.find((name) => env[name]) ?? key}`
    else if (configValue(fromFile, key) !== undefined) sources[key] = `file:${file}`
    else sources[key] = 'default'
  }
  // auth.jwt_secret falls back to security.jwt_secret (above).
  if (sources['auth.jwt_secret'] === 'default' && config.auth.jwt_secret !== undefined) sources['auth.jwt_secret'] = sources['security.jwt_secret']
  return {config, file, origins, sources}
}
