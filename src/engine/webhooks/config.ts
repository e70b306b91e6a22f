/**
 * A trigger's webhook settings: Attune's columns `trigger.webhook_enabled` and
 * `trigger.webhook_config` (jsonb). The config keys are the ones Attune's receiver reads
 * (crates/api/src/routes/webhooks.rs, by path: `hmac/enabled`, `hmac/secret`,
 * `hmac/algorithm`, `rate_limit/enabled`, `rate_limit/requests`, `rate_limit/window_seconds`,
 * `ip_whitelist/enabled`, `ip_whitelist/ips`, `payload_size_limit_kb`), plus attune's
 * `body_as_payload`. Pack files are checked against them (`checkWebhookConfig`); the receiver
 * reads a stored config with `readWebhookConfig`, which fails closed on anything it cannot use.
 */
import {isIP} from 'node:net'
import {didYouMean} from '../suggest.js'

export const HMAC_ALGORITHMS = ['sha256', 'sha512', 'sha1'] as const
export type HmacAlgorithm = (typeof HMAC_ALGORITHMS)[number]

/** `trigger.webhook_config` as written (every field optional, as Attune stores it). */
export interface WebhookConfig {
  hmac?: {enabled?: boolean; secret?: string; algorithm?: string}
  rate_limit?: {enabled?: boolean; requests?: number; window_seconds?: number}
  ip_whitelist?: {enabled?: boolean; ips?: string[]}
  /** Requests with a larger body are refused (413). */
  payload_size_limit_kb?: number
  /**
   * attune's addition: the whole request body becomes the event payload, for senders that
   * cannot wrap it in Attune's `{"payload": ...}` (GitHub, Stripe, ...). Default false.
   */
  body_as_payload?: boolean
}

/** The webhook fields a trigger file may set (absent: the database's values are kept). */
export interface TriggerWebhookSettings {
  /** Set when the trigger file has `webhook_enabled`. */
  webhook_enabled?: boolean
  /** Set when the trigger file has `webhook_config` (or `webhook_enabled`: then `{}` by default). */
  webhook_config?: WebhookConfig
}

type Path = Array<string | number>
export interface WebhookConfigProblem {
  path: Path
  message: string
}

const KEYS: Record<string, readonly string[]> = {
  '': ['hmac', 'rate_limit', 'ip_whitelist', 'payload_size_limit_kb', 'body_as_payload'],
  hmac: ['enabled', 'secret', 'algorithm'],
  rate_limit: ['enabled', 'requests', 'window_seconds'],
  ip_whitelist: ['enabled', 'ips'],
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

const isPositiveInteger = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value > 0

/**
 * Every problem of a `webhook_config` as written in a pack file, with the path below
 * `webhook_config`: unknown keys (with the closest known one), wrong types, and settings that
 * are enabled but incomplete (Attune would silently skip such a check; attune refuses them).
 */
export function checkWebhookConfig(value: unknown): WebhookConfigProblem[] {
  const problems: WebhookConfigProblem[] = []
  const fail = (path: Path, message: string) => problems.push({path, message})
  if (!isPlainObject(value)) {
    fail([], 'must be a mapping (hmac, rate_limit, ip_whitelist, payload_size_limit_kb, body_as_payload)')
    return problems
  }
  const unknown = (path: Path, data: Record<string, unknown>, known: readonly string[]) => {
    for (const key of Object.keys(data)) if (!known.includes(key)) fail([...path, key], `unknown key "${key}"${didYouMean(key, known)}`)
  }
  unknown([], value, KEYS[''])
  const section = (key: 'hmac' | 'rate_limit' | 'ip_whitelist'): Record<string, unknown> | undefined => {
    const data = value[key]
    if (data === undefined || data === null) return undefined
    if (!isPlainObject(data)) {
      fail([key], `must be a mapping (${KEYS[key].join(', ')})`)
      return undefined
    }
    unknown([key], data, KEYS[key])
    if (data.enabled !== undefined && typeof data.enabled !== 'boolean') fail([key, 'enabled'], 'must be true or false')
    return data
  }

  const hmac = section('hmac')
  if (hmac) {
    if (hmac.secret !== undefined && (typeof hmac.secret !== 'string' || hmac.secret.length === 0)) fail(['hmac', 'secret'], 'must be a non-empty string')
    if (hmac.algorithm !== undefined && !(HMAC_ALGORITHMS as readonly unknown[]).includes(hmac.algorithm)) {
      fail(['hmac', 'algorithm'], `must be one of ${HMAC_ALGORITHMS.join(', ')}`)
    }
    if (hmac.enabled === true) {
      if (hmac.secret === undefined) fail(['hmac', 'secret'], 'is required when hmac.enabled is true (the shared secret the sender signs with)')
      if (hmac.algorithm === undefined) fail(['hmac', 'algorithm'], `is required when hmac.enabled is true (${HMAC_ALGORITHMS.join(', ')})`)
    }
  }

  const rate = section('rate_limit')
  if (rate) {
    for (const key of ['requests', 'window_seconds'] as const) {
      if (rate[key] !== undefined && !isPositiveInteger(rate[key])) fail(['rate_limit', key], 'must be a whole number greater than 0')
      else if (rate[key] === undefined && rate.enabled === true) fail(['rate_limit', key], 'is required when rate_limit.enabled is true')
    }
  }

  const allow = section('ip_whitelist')
  if (allow) {
    if (allow.ips !== undefined) {
      if (!Array.isArray(allow.ips)) fail(['ip_whitelist', 'ips'], 'must be a list of IP addresses or CIDR blocks')
      else {
        allow.ips.forEach((entry, index) => {
          const problem = typeof entry === 'string' ? cidrProblem(entry) : 'must be an IP address or a CIDR block (a string)'
          if (problem) fail(['ip_whitelist', 'ips', index], problem)
        })
      }
    }
    if (allow.enabled === true && (!Array.isArray(allow.ips) || allow.ips.length === 0)) {
      fail(['ip_whitelist', 'ips'], 'must list at least one IP address or CIDR block when ip_whitelist.enabled is true')
    }
  }

  if (value.payload_size_limit_kb !== undefined && !isPositiveInteger(value.payload_size_limit_kb)) fail(['payload_size_limit_kb'], 'must be a whole number of KB greater than 0')
  if (value.body_as_payload !== undefined && typeof value.body_as_payload !== 'boolean') fail(['body_as_payload'], 'must be true or false')
  return problems
}

/** Why `entry` is not an IP address or a CIDR block (`10.0.0.0/8`, `2001:db8::/32`); undefined when it is one. */
export function cidrProblem(entry: string): string | undefined {
  const [address, prefix, ...rest] = entry.trim().split('/')
  const version = isIP(address)
  if (version === 0 || rest.length > 0) return `'${entry}' is not an IP address or a CIDR block`
  if (prefix === undefined) return undefined
  const max = version === 4 ? 32 : 128
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return `'${entry}' has an invalid prefix length (0 to ${max} for IPv${version})`
  return undefined
}

/**
 * Reads `webhook_enabled` and `webhook_config` of a trigger file; problems go to `fail` with
 * their path in the file. A file with `webhook_enabled` manages the config too (`{}` when it
 * has none), so removing `webhook_config` from the file removes it from the database.
 */
export function readTriggerWebhookSettings(data: Record<string, unknown>, fail: (path: Path, message: string) => void): TriggerWebhookSettings {
  const settings: TriggerWebhookSettings = {}
  const enabled = data.webhook_enabled
  if (enabled !== undefined && enabled !== null) {
    if (typeof enabled === 'boolean') settings.webhook_enabled = enabled
    else fail(['webhook_enabled'], 'must be true or false')
  }
  const config = data.webhook_config
  if (config !== undefined && config !== null) {
    const problems = checkWebhookConfig(config)
    for (const problem of problems) fail(['webhook_config', ...problem.path], problem.message)
    if (problems.length === 0) settings.webhook_config = config as WebhookConfig
  } else if (settings.webhook_enabled !== undefined) {
    settings.webhook_config = {}
  }
  return settings
}

/** The settings the receiver applies, read from a stored config (whatever wrote it). */
export interface EffectiveWebhookConfig {
  /** Null: no signature needed. `secret`/`algorithm` undefined: enabled but unusable (refused). */
  hmac: {secret?: string; algorithm?: HmacAlgorithm} | null
  rateLimit: {requests: number; windowSeconds: number} | null
  /** Null: any address. */
  ipWhitelist: string[] | null
  payloadSizeLimitBytes: number | null
  bodyAsPayload: boolean
  /** Settings that are ignored because they are invalid (logged by the receiver). */
  ignored: string[]
}

/**
 * Reads a stored `webhook_config` the way Attune's receiver does (`enabled` flags default to
 * false), except that an enabled check it cannot apply fails closed: HMAC without a secret or
 * with an unknown algorithm refuses every request (Attune would skip the check), as does an
 * enabled allow-list without addresses. An invalid rate limit is ignored, as Attune ignores it.
 */
export function readWebhookConfig(stored: unknown): EffectiveWebhookConfig {
  const config = isPlainObject(stored) ? stored : {}
  const part = (key: string) => (isPlainObject(config[key]) ? (config[key] as Record<string, unknown>) : {})
  const hmac = part('hmac')
  const rate = part('rate_limit')
  const allow = part('ip_whitelist')
  const ignored: string[] = []
  let rateLimit: EffectiveWebhookConfig['rateLimit'] = null
  if (rate.enabled === true) {
    if (isPositiveInteger(rate.requests) && isPositiveInteger(rate.window_seconds)) rateLimit = {requests: rate.requests, windowSeconds: rate.window_seconds}
    else ignored.push('rate_limit (requests and window_seconds must be whole numbers greater than 0)')
  }
  const limit = config.payload_size_limit_kb
  return {
    hmac:
      hmac.enabled === true
        ? {
            secret: typeof hmac.secret === 'string' && hmac.secret.length > 0 ? hmac.secret : undefined,
            algorithm: (HMAC_ALGORITHMS as readonly unknown[]).includes(hmac.algorithm) ? (hmac.algorithm as HmacAlgorithm) : undefined,
          }
        : null,
    rateLimit,
    ipWhitelist: allow.enabled === true ? (Array.isArray(allow.ips) ? allow.ips.filter((ip): ip is string => typeof ip === 'string') : []) : null,
    payloadSizeLimitBytes: typeof limit === 'number' && Number.isInteger(limit) && limit > 0 ? limit * 1024 : null,
    bodyAsPayload: config.body_as_payload === true,
    ignored,
  }
}

/** A copy of a webhook config safe to print: the HMAC secret is `***`. */
export function redactWebhookConfig<T>(config: T): T {
  if (!isPlainObject(config) || !isPlainObject(config.hmac) || config.hmac.secret === undefined) return config
  return {...config, hmac: {...config.hmac, secret: '***'}} as T
}
