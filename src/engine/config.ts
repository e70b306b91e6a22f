import {Ajv, type ErrorObject} from 'ajv'
import {existsSync, readFileSync, statSync} from 'node:fs'
import {homedir} from 'node:os'
import {join, resolve} from 'node:path'
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
  /**
   * `watch`: restart a sensor whose file changed, register a pack whose YAML changed
   * (docs/daemon.md, "Changing a sensor while the daemon runs"); default on.
   */
  daemon: {health_port?: number; lease_seconds: number; shutdown_timeout: number; watch: boolean}
  /**
   * The daemon's HTTP API for sensors and webhooks (docs/api.md): on by default on
   * 127.0.0.1:9465; `port: 0` takes any free port. `body_limit` in bytes; `rate_limit` in
   * requests per second per token (or per client address without one).
   */
  api: {enabled: boolean; host: string; port: number; body_limit: number; rate_limit: number}
}

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
  daemon: {lease_seconds: 15, shutdown_timeout: 30, watch: true},
  api: {enabled: true, host: '127.0.0.1', port: 9465, body_limit: 1024 * 1024, rate_limit: 50},
}

const positive = {type: 'number', exclusiveMinimum: 0}
const positiveInteger = {type: 'integer', minimum: 1}
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
        health_port: {type: 'integer', minimum: 0, maximum: 65535},
        lease_seconds: positive,
        shutdown_timeout: positive,
        watch: {type: 'boolean'},
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

/** The settings in a config file that are secrets: JWT secrets, and URLs that carry a password. */
export function configSecrets(config: ConfigOverrides): string[] {
  const secrets: string[] = []
  if (config.auth?.jwt_secret) secrets.push('auth.jwt_secret')
  if (config.security?.jwt_secret) secrets.push('security.jwt_secret')
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
export const SECRET_VARIABLES = ['ATTUNE_DATABASE_URL', 'DATABASE_URL', 'ATTUNE_AMQP_URL', 'ATTUNE_JWT_SECRET', 'ATTUNE_JWT_SECRET_PREVIOUS', 'ATTUNE__SECURITY__JWT_SECRET'] as const

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

/** A yes/no variable: 1/true/yes/on or 0/false/no/off; unset or empty: undefined. */
function booleanFromEnv(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const raw = env[name]?.trim().toLowerCase()
  if (!raw) return undefined
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true
  if (['0', 'false', 'no', 'off'].includes(raw)) return false
  throw new AbortError(`${name} must be 1 or 0 (true/false, yes/no, on/off), got "${env[name]}"`, {code: 'env_invalid'})
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
    api: {host: env.ATTUNE_API_HOST || undefined, port: portFromEnv(env, 'ATTUNE_API_PORT')},
    daemon: {watch: booleanFromEnv(env, 'ATTUNE_WATCH')},
    sensor: {
      timeout: numberFromEnv(env, 'ATTUNE_SENSOR_TIMEOUT'),
      poll_interval: numberFromEnv(env, 'ATTUNE_SENSOR_POLL_INTERVAL'),
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
  return {config, file, origins}
}
