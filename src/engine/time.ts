import {AbortError} from './errors.js'

const UNITS: Record<string, number> = {s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000}

/**
 * A `--since` value as a point in time: a duration back from now (`90s`, `15m`, `2h`, `7d`,
 * `1w`, or combined like `1h30m`) or an ISO 8601 timestamp. Errors name the flag.
 */
export function parseSince(value: string, now = Date.now(), what = '--since'): Date {
  const trimmed = value.trim()
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)([smhdw])/g)]
  if (parts.length > 0 && parts.map((part) => part[0]).join('') === trimmed) {
    const ms = parts.reduce((sum, [, amount, unit]) => sum + Number(amount) * UNITS[unit], 0)
    return new Date(now - ms)
  }
  if (/^\d{4}-\d\d-\d\d/.test(trimmed)) {
    const time = Date.parse(trimmed)
    if (!Number.isNaN(time)) return new Date(time)
  }
  throw new AbortError(`${what} must be a duration like 15m, 2h, 7d or 1h30m, or an ISO timestamp; got "${value}"`, {code: 'flag_invalid'})
}
