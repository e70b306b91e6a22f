import {configValue, SETTING_NAMES, settingKeys, type LoadedConfig} from './config.js'
import {redactUrl} from './redact.js'

/** One setting as `attune config show` reports it. */
export interface ConfigSetting {
  /** The config file's key, dotted: `daemon.lease_seconds`. */
  key: string
  /** The effective value (null: unset); secrets are `***`, URLs without their password. */
  value: unknown
  /** Where it came from: `default`, `file:PATH`, `env:NAME` or `flag:--name`. */
  source: string
  secret: boolean
  /** The environment variables that set it (the first one set wins). */
  env: string[]
  /** The flag that sets it, on the commands that have it. */
  flag: string | null
}

export interface ConfigReport {
  /** The config file that was read (null: none). */
  file: string | null
  settings: ConfigSetting[]
  /** `ATTUNE_*` variables set in the environment that are no setting (a typo?): ignored. */
  ignored_env: string[]
}

/** `ATTUNE_*` variables that are not settings but mean something: the config file, and what attune gives sensors. */
const OTHER_VARIABLES = new Set([
  'ATTUNE_CONFIG',
  'ATTUNE_SENSOR_TRIGGERS',
  'ATTUNE_SENSOR_REF',
  'ATTUNE_SENSOR_ID',
  'ATTUNE_API_TOKEN',
  'ATTUNE_API_URL',
  'ATTUNE_MQ_URL',
  'ATTUNE_MQ_EXCHANGE',
])

/** Settings that are secrets: never shown. */
const SECRET_KEYS = new Set(['auth.jwt_secret', 'auth.jwt_secret_previous', 'security.jwt_secret', 'health.metrics_token'])
/** Settings that are URLs which may carry a password: shown without it. */
const URL_KEYS = new Set(['database.url', 'amqp.url'])

function shown(key: string, value: unknown): unknown {
  if (value === undefined || value === null) return null
  if (SECRET_KEYS.has(key)) return '***'
  if (URL_KEYS.has(key) && typeof value === 'string') return redactUrl(value, key)
  return value
}

/** The effective configuration, every setting with its value (secrets redacted) and its source. */
export function describeConfig(loaded: LoadedConfig, env: NodeJS.ProcessEnv = process.env): ConfigReport {
  const known = new Set([...Object.values(SETTING_NAMES).flatMap((names) => names.env), ...OTHER_VARIABLES])
  const ignored = Object.keys(env)
    .filter((name) => name.startsWith('ATTUNE_') && env[name] !== undefined && !known.has(name))
    .sort()
  const settings = settingKeys().map((key) => ({
    key,
    value: shown(key, configValue(loaded.config, key)),
    source: loaded.sources[key] ?? 'default',
    secret: SECRET_KEYS.has(key) || URL_KEYS.has(key),
    env: SETTING_NAMES[key]?.env ?? [],
    flag: SETTING_NAMES[key]?.flag ?? null,
  }))
  return {file: loaded.file ?? null, settings, ignored_env: ignored}
}
