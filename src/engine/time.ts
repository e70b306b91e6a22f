import {AbortError} from './errors.js'

const UNITS: Record<string, number> = {s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000}

/**
 * A duration in milliseconds: a number and a unit (`s`, `m`, `h`, `d`, `w`), several of them
 * combined (`1h30m`), fractions allowed (`0.5h`). Undefined for anything else (no spaces, no
 * bare number, no other unit). Used by `--since` and by a trigger's `dedup.window`.
 */
export function parseDuration(value: string): number | undefined {
  const trimmed = value.trim()
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)([smhdw])/g)]
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== trimmed) return undefined
  return parts.reduce((sum, [, amount, unit]) => sum + Number(amount) * UNITS[unit], 0)
}

/**
 * Milliseconds written back as `parseDuration` reads them, largest units first: `10m`,
 * `1h30m`, `1d`, `1w2d`; a remainder under a second as a fraction of seconds (`1.5s`).
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '0s'
  let rest = Math.round(ms)
  let out = ''
  for (const unit of ['w', 'd', 'h', 'm'] as const) {
    const amount = Math.floor(rest / UNITS[unit])
    if (amount > 0) out += `${amount}${unit}`
    rest -= amount * UNITS[unit]
  }
  if (rest > 0) out += `${Number((rest / 1000).toFixed(3))}s`
  return out
}

/**
 * A `--since` value as a point in time: a duration back from now (`90s`, `15m`, `2h`, `7d`,
 * `1w`, or combined like `1h30m`) or an ISO 8601 timestamp. Errors name the flag.
 */
export function parseSince(value: string, now = Date.now(), what = '--since'): Date {
  const ms = parseDuration(value)
  if (ms !== undefined) return new Date(now - ms)
  const trimmed = value.trim()
  if (/^\d{4}-\d\d-\d\d/.test(trimmed)) {
    const time = Date.parse(trimmed)
    if (!Number.isNaN(time)) return new Date(time)
  }
  throw new AbortError(`${what} must be a duration like 15m, 2h, 7d or 1h30m, or an ISO timestamp; got "${value}"`, {code: 'flag_invalid'})
}
