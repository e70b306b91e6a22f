// Reads a timer rule's `trigger_params` into a schedule spec, or fails with an error that
// names the rule and the field. Nothing here arms a timer.
import {Cron} from 'croner'
import {AbortError, errorMessage} from '../errors.js'
import {compileRecurrence, partsFromParams, partsFromRule, RrulePartError, ruleString, type Recurrence} from './rrule.js'
import {TIMER_TRIGGERS, type TimerKind, type TimerRule} from './types.js'
import {isValidTimeZone, zonedTimeToInstant} from './zone.js'

/** Bad timer parameters: names the rule and the field (e.g. `trigger_params.expression`). */
export class TimerConfigError extends AbortError {
  /** The rule whose parameters are bad. */
  readonly rule_ref: string
  /** The bad field, as a path from the rule: `trigger_params.timezone`, `trigger_ref`. */
  readonly field: string

  constructor(ruleRef: string, field: string, problem: string) {
    super(`rule '${ruleRef}': ${field}: ${problem}`, {code: 'timer_invalid'})
    this.rule_ref = ruleRef
    this.field = field
  }
}

/** Seconds in one `unit` of an interval timer. */
export const INTERVAL_UNITS = {seconds: 1, minutes: 60, hours: 3600, days: 86_400} as const

/** An interval timer: fires every `periodMs`, counted from the previous scheduled time. */
export interface IntervalSpec {
  kind: 'interval'
  unit: keyof typeof INTERVAL_UNITS
  interval: number
  periodMs: number
}

/** A cron timer; `cron` is a paused croner job used only to compute run times. */
export interface CronSpec {
  kind: 'cron'
  expression: string
  timezone: string
  cron: Cron
}

/** A one-shot timer at the instant `fireAt` (ms since the epoch). */
export interface DatetimeSpec {
  kind: 'datetime'
  fireAt: number
  timezone: string
}

/**
 * A recurrence-rule timer (RFC 5545). `rule` is the canonical RRULE body the parameters make
 * (`FREQ=WEEKLY;INTERVAL=2;BYDAY=MO`), `dtstart` the anchor instant, `timezone` the zone whose
 * wall clock the rule follows; `recurrence` answers "next occurrence after".
 */
export interface RruleSpec {
  kind: 'rrule'
  rule: string
  dtstart: number
  timezone: string
  recurrence: Recurrence
}

/** A parsed timer schedule. */
export type TimerSpec = IntervalSpec | CronSpec | DatetimeSpec | RruleSpec

/** The timer kind of a trigger ref, or null when the timer sensor does not serve it. */
export function timerKind(triggerRef: string): TimerKind | null {
  return Object.hasOwn(TIMER_TRIGGERS, triggerRef) ? TIMER_TRIGGERS[triggerRef as keyof typeof TIMER_TRIGGERS] : null
}

/**
 * Parses a timer rule's parameters. Throws a `TimerConfigError` naming the rule and the field
 * for a trigger the sensor does not serve, a bad interval or unit, a cron expression croner
 * rejects or that never fires, an unknown time zone, an unreadable `fire_at`, or a recurrence
 * rule part that is bad or can never match.
 */
export function parseTimerRule(rule: TimerRule): TimerSpec {
  const kind = timerKind(rule.trigger_ref)
  const fail = (field: string, problem: string): never => {
    throw new TimerConfigError(rule.ref, field, problem)
  }
  if (!kind) fail('trigger_ref', `'${rule.trigger_ref}' is not a timer trigger (expected ${Object.keys(TIMER_TRIGGERS).join(', ')})`)
  const params = rule.trigger_params ?? {}
  if (typeof params !== 'object' || Array.isArray(params)) fail('trigger_params', 'must be an object')
  switch (kind) {
    case 'interval':
      return parseInterval(params, fail)
    case 'cron':
      return parseCron(params, fail)
    case 'rrule':
      return parseRrule(params, fail)
    default:
      return parseDatetime(params, fail)
  }
}

type Fail = (field: string, problem: string) => never

function parseTimeZone(params: Record<string, unknown>, fail: Fail): string {
  const timezone = params.timezone === undefined ? 'UTC' : params.timezone
  if (typeof timezone !== 'string' || !isValidTimeZone(timezone)) {
    fail('trigger_params.timezone', `unknown time zone ${JSON.stringify(timezone)} (use an IANA name such as UTC or Europe/Berlin)`)
  }
  return timezone as string
}

function parseInterval(params: Record<string, unknown>, fail: Fail): IntervalSpec {
  // Defaults follow packs/core/triggers/intervaltimer.yaml.
  const unit = params.unit === undefined ? 'seconds' : params.unit
  if (typeof unit !== 'string' || !Object.hasOwn(INTERVAL_UNITS, unit)) {
    fail('trigger_params.unit', `must be one of ${Object.keys(INTERVAL_UNITS).join(', ')}; got ${JSON.stringify(unit)}`)
  }
  const interval = params.interval === undefined ? 60 : params.interval
  if (typeof interval !== 'number' || !Number.isInteger(interval) || interval < 1) {
    fail('trigger_params.interval', `must be an integer >= 1; got ${JSON.stringify(interval)}`)
  }
  const seconds = INTERVAL_UNITS[unit as keyof typeof INTERVAL_UNITS] * (interval as number)
  // Beyond this a Date cannot hold the next fire; no real timer needs it.
  if (seconds > 100 * 365 * 86_400) fail('trigger_params.interval', 'must be at most 100 years')
  return {kind: 'interval', unit: unit as IntervalSpec['unit'], interval: interval as number, periodMs: seconds * 1000}
}

// Fields of a 6-field expression, for messages; a 5-field one has no seconds.
const CRON_FIELDS = ['second', 'minute', 'hour', 'day of month', 'month', 'day of week']
const CRON_NICKNAMES = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@hourly'])

function parseCron(params: Record<string, unknown>, fail: Fail): CronSpec {
  const expression = params.expression
  if (typeof expression !== 'string' || expression.trim() === '') {
    fail('trigger_params.expression', `is required: a cron expression like "0 */5 * * * *"`)
  }
  const timezone = parseTimeZone(params, fail)
  const pattern = toCronerPattern(expression as string, fail)
  let cron: Cron
  try {
    // Paused and without a function: croner never arms a timer of its own for this job.
    // sloppyRanges: Quartz's and Attune's start/step (`0/5`, `/10`) stay valid, as before croner 10.
    cron = new Cron(pattern, {timezone, paused: true, sloppyRanges: true})
  } catch (error) {
    return fail('trigger_params.expression', `${JSON.stringify(expression)}: ${errorMessage(error).replace(/^CronPattern: /, '')}`)
  }
  let first: Date | null
  try {
    first = cron.nextRun(new Date())
  } catch (error) {
    return fail('trigger_params.timezone', errorMessage(error))
  }
  if (!first) fail('trigger_params.expression', `${JSON.stringify(expression)} never fires (no matching date before the year 3000)`)
  return {kind: 'cron', expression: expression as string, timezone, cron}
}

/**
 * Checks the shape croner would otherwise guess at, and maps Quartz's `?` ("no specific
 * value", allowed in the day fields by the core pack's trigger) to `*`: croner reads `?` as
 * "the value at the moment the job is created", which would make the schedule depend on when
 * the daemon started.
 */
function toCronerPattern(expression: string, fail: Fail): string {
  const trimmed = expression.trim()
  if (CRON_NICKNAMES.has(trimmed.toLowerCase())) return trimmed.toLowerCase()
  const fields = trimmed.split(/\s+/)
  if (fields.length !== 5 && fields.length !== 6) {
    fail('trigger_params.expression', `${JSON.stringify(expression)} has ${fields.length} fields; expected 6 (sec min hour dom month dow) or 5 (seconds 0)`)
  }
  const names = fields.length === 6 ? CRON_FIELDS : CRON_FIELDS.slice(1)
  return fields
    .map((field, index) => {
      // A ':' would make croner read the whole pattern as a one-shot date.
      if (!/^[0-9A-Za-z*,\-/#?]+$/.test(field)) {
        fail('trigger_params.expression', `${JSON.stringify(expression)}: bad ${names[index]} field ${JSON.stringify(field)}`)
      }
      if (!field.includes('?')) return field
      const dayField = names[index] === 'day of month' || names[index] === 'day of week'
      if (!dayField || field !== '?') {
        fail('trigger_params.expression', `${JSON.stringify(expression)}: '?' is only allowed as the whole day-of-month or day-of-week field`)
      }
      return '*'
    })
    .join(' ')
}

// ISO 8601 date, optional time, optional offset; the offset decides whether `timezone` applies.
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i

function parseDatetime(params: Record<string, unknown>, fail: Fail): DatetimeSpec {
  const timezone = parseTimeZone(params, fail)
  const value = params.fire_at
  if (value instanceof Date && !Number.isNaN(value.getTime())) return {kind: 'datetime', fireAt: value.getTime(), timezone}
  if (typeof value !== 'string' || value.trim() === '') {
    return fail('trigger_params.fire_at', 'is required: an ISO 8601 time like 2026-12-31T23:59:59Z')
  }
  const fireAt = parseFireAt(value.trim(), timezone)
  if (fireAt === null) fail('trigger_params.fire_at', `${JSON.stringify(value)} is not an ISO 8601 date and time (e.g. 2026-12-31T23:59:59Z)`)
  return {kind: 'datetime', fireAt: fireAt as number, timezone}
}

/**
 * An ISO 8601 time as ms since the epoch. With `Z` or an offset it is absolute; without one
 * it is a wall-clock time in `timezone`. Null when it is not a valid date and time.
 */
export function parseFireAt(value: string, timezone: string): number | null {
  const match = ISO.exec(value)
  if (!match) return null
  const [, y, mo, d, h = '0', mi = '0', s = '0', fraction = '', offset] = match
  const wall = {
    year: Number(y),
    month: Number(mo),
    day: Number(d),
    hour: Number(h),
    minute: Number(mi),
    second: Number(s),
    millisecond: Math.floor(Number(`0.${fraction || '0'}`) * 1000),
  }
  const daysInMonth = new Date(Date.UTC(wall.year, wall.month, 0)).getUTCDate()
  if (wall.month < 1 || wall.month > 12 || wall.day < 1 || wall.day > daysInMonth) return null
  if (wall.hour > 23 || wall.minute > 59 || wall.second > 59) return null
  if (!offset) return zonedTimeToInstant(wall, timezone)
  const utc = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second, wall.millisecond)
  if (offset.toUpperCase() === 'Z') return utc
  const [, sign, oh, om = '0'] = /^([+-])(\d{2}):?(\d{2})?$/.exec(offset) ?? []
  if (Number(oh) > 23 || Number(om) > 59) return null
  const minutes = Number(oh) * 60 + Number(om)
  return utc - (sign === '-' ? -1 : 1) * minutes * 60_000
}

/**
 * core.rruletimer, as Attune's core pack defines it: the structured parts (`freq`, `interval`,
 * `count`, `until`, `by_day`, `by_month_day`, `by_month`, `by_year_day`, `by_week_no`,
 * `by_hour`, `by_minute`, `by_second`, `by_set_pos`, `week_start`) or a raw `rule` that
 * overrides them, anchored at `dtstart` in `timezone` (default UTC). `dtstart` and `until`
 * without an offset are wall-clock times in `timezone`, as `fire_at` is.
 */
function parseRrule(params: Record<string, unknown>, fail: Fail): RruleSpec {
  const timezone = parseTimeZone(params, fail)
  const raw = params.rule
  if (raw !== undefined && raw !== null && typeof raw !== 'string') fail('trigger_params.rule', `must be an RRULE string like "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO"; got ${JSON.stringify(raw)}`)
  const useRule = typeof raw === 'string' && raw.trim().replace(/^RRULE:/i, '').trim() !== ''
  const value = params.dtstart
  let dtstart: number | null = null
  if (value instanceof Date && !Number.isNaN(value.getTime())) dtstart = value.getTime()
  else if (typeof value === 'string' && value.trim() !== '') dtstart = parseFireAt(value.trim(), timezone)
  if (dtstart === null) {
    const problem = value === undefined || value === null || value === '' ? 'is required' : `${JSON.stringify(value)} is not`
    fail('trigger_params.dtstart', `${problem}: an ISO 8601 date and time anchoring the recurrence (e.g. 2026-05-04T09:00:00Z)`)
  }
  const fieldOf = (error: RrulePartError) => (useRule ? 'trigger_params.rule' : error.part ? `trigger_params.${error.part}` : 'trigger_params')
  try {
    const parts = useRule
      ? partsFromRule(raw as string, (wall) => parseFireAt(wall, timezone))
      : partsFromParams(params, (text) => parseFireAt(text, timezone))
    const recurrence = compileRecurrence(parts, dtstart as number, timezone)
    return {kind: 'rrule', rule: ruleString(parts), dtstart: dtstart as number, timezone, recurrence}
  } catch (error) {
    if (!(error instanceof RrulePartError)) throw error
    const prefix = useRule ? `${JSON.stringify((raw as string).trim())}: ` : ''
    return fail(fieldOf(error), `${prefix}${error.message}`)
  }
}
