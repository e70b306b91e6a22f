// RFC 5545 recurrence rules for core.rruletimer: reads the trigger's structured parameters
// (freq, interval, by_day, ...) or a raw RRULE body into checked parts, and finds occurrences
// with the `rrule` package.
//
// Time zones: `rrule` is run in "floating" mode only. Its dates are UTC Dates whose UTC fields
// are the wall clock of the rule's zone, and this module turns each wall-clock occurrence into
// an instant with `zonedTimeToInstant`. The package's own TZID support is not used: it derives
// the offset from the host's local zone and at the floating time rather than the real instant,
// so its results depend on the machine and are an hour off around daylight-saving changes.
import {createRequire} from 'node:module'
import type * as RRuleModule from 'rrule'
import {zonedTimeToInstant, zoneOffsetMs} from './zone.js'

// `rrule` ships CommonJS with ESM typings and no `exports` map: Node's ESM loader cannot see its
// named exports, so it is loaded through `require` (the same build in Node, tsx and vitest).
const {RRule, Weekday} = createRequire(import.meta.url)('rrule') as typeof RRuleModule
type RRuleOptions = Partial<RRuleModule.Options>

/** The FREQ values of RFC 5545, coarsest first (the order of `rrule`'s `Frequency`). */
export const RRULE_FREQS = ['YEARLY', 'MONTHLY', 'WEEKLY', 'DAILY', 'HOURLY', 'MINUTELY', 'SECONDLY'] as const
export type RruleFreq = (typeof RRULE_FREQS)[number]

/** Week days as RFC 5545 writes them, Monday first (`rrule`'s numbering: MO = 0). */
export const RRULE_WEEKDAYS = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'] as const

/** The most occurrences a `count` may ask for: they are enumerated once when the rule is read. */
export const RRULE_MAX_COUNT = 100_000

const YEARLY = 0
const MONTHLY = 1
const WEEKLY = 2
const DAILY = 3
const HOURLY = 4
const MINUTELY = 5
const SECONDLY = 6

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
/** Days in 400 Gregorian years: the calendar, week days included, repeats with this period. */
const CYCLE_DAYS = 146_097
/** `rrule` stops iterating after this year. */
const MAX_YEAR = 9999

/** A BYDAY entry: a week day (0 = MO), with an ordinal for MONTHLY and YEARLY rules (`2TU`, `-1FR`). */
export interface ByDay {
  weekday: number
  n?: number
}

/** The checked parts of a recurrence rule. `until` is an instant (ms), not a wall time. */
export interface RruleParts {
  freq: RruleFreq
  interval: number
  count: number | null
  until: number | null
  byDay: ByDay[]
  byMonthDay: number[]
  byMonth: number[]
  byYearDay: number[]
  byWeekNo: number[]
  byHour: number[]
  byMinute: number[]
  bySecond: number[]
  bySetPos: number[]
  weekStart: number | null
}

/**
 * A problem with the rule: `part` is the structured parameter it belongs to (`by_hour`), `rule`
 * for a raw rule, or empty when it is the combination of parts (a rule that never matches).
 */
export class RrulePartError extends Error {
  constructor(
    readonly part: string,
    problem: string,
  ) {
    super(problem)
  }
}

/** Integer rule parts: parameter name, RRULE name, range; `zero` says whether 0 is allowed. */
const INTEGER_PARTS = [
  {param: 'by_month_day', key: 'BYMONTHDAY', field: 'byMonthDay', min: -31, max: 31, zero: false},
  {param: 'by_month', key: 'BYMONTH', field: 'byMonth', min: 1, max: 12, zero: false},
  {param: 'by_year_day', key: 'BYYEARDAY', field: 'byYearDay', min: -366, max: 366, zero: false},
  {param: 'by_week_no', key: 'BYWEEKNO', field: 'byWeekNo', min: -53, max: 53, zero: false},
  {param: 'by_hour', key: 'BYHOUR', field: 'byHour', min: 0, max: 23, zero: true},
  {param: 'by_minute', key: 'BYMINUTE', field: 'byMinute', min: 0, max: 59, zero: true},
  {param: 'by_second', key: 'BYSECOND', field: 'bySecond', min: 0, max: 59, zero: true},
  {param: 'by_set_pos', key: 'BYSETPOS', field: 'bySetPos', min: -366, max: 366, zero: false},
] as const


/**
 * Reads the structured parameters into rule parts. `parseUntil` reads `until` (an ISO 8601
 * time) into an instant or null when it is not one. Throws an `RrulePartError` naming the
 * parameter.
 */
export function partsFromParams(params: Record<string, unknown>, parseUntil: (value: string) => number | null): RruleParts {
  const freq = params.freq
  if (freq === undefined || freq === null) throw new RrulePartError('freq', `is required unless 'rule' is given: one of ${RRULE_FREQS.join(', ')}`)
  const parts = emptyParts(readFreq(freq, 'freq'))
  if (params.interval !== undefined) parts.interval = readPositive(params.interval, 'interval')
  if (params.count !== undefined) parts.count = readPositive(params.count, 'count')
  if (params.until !== undefined) {
    const until = params.until
    const instant = until instanceof Date ? until.getTime() : typeof until === 'string' && until.trim() !== '' ? parseUntil(until.trim()) : null
    if (instant === null || !Number.isFinite(instant)) {
      throw new RrulePartError('until', `${JSON.stringify(until)} is not an ISO 8601 date and time (e.g. 2026-12-31T23:59:59Z)`)
    }
    parts.until = instant
  }
  if (params.by_day !== undefined) {
    parts.byDay = readArray(params.by_day, 'by_day', 'strings like "MO", "2TU" or "-1FR"').map((token) => {
      if (typeof token !== 'string') throw new RrulePartError('by_day', `entries must be strings like "MO", "2TU" or "-1FR"; got ${JSON.stringify(token)}`)
      return readByDay(token, 'by_day')
    })
  }
  for (const part of INTEGER_PARTS) {
    const value = params[part.param]
    if (value === undefined) continue
    parts[part.field] = readArray(value, part.param, 'integers').map((entry) => readInteger(entry, part))
  }
  if (params.week_start !== undefined) parts.weekStart = readWeekday(params.week_start, 'week_start')
  return checkParts(parts)
}

/**
 * Reads a raw RRULE body (`FREQ=WEEKLY;INTERVAL=2;BYDAY=MO`, an `RRULE:` prefix allowed) into
 * rule parts. `parseUntil` reads an UNTIL without `Z` (a wall-clock time in the rule's zone).
 * Throws an `RrulePartError` whose message names the RRULE part.
 */
export function partsFromRule(rule: string, parseUntil: (wall: string) => number | null): RruleParts {
  const body = rule.trim().replace(/^RRULE:/i, '').trim()
  if (/(^|[\s;:])(DTSTART|TZID)\b/i.test(body)) throw new RrulePartError('rule', 'DTSTART and TZID do not belong in the rule: use the dtstart and timezone parameters')
  if (/[\r\n]/.test(body)) throw new RrulePartError('rule', 'must be one RRULE line (FREQ=...;...), without DTSTART or other lines')
  const seen = new Map<string, string>()
  for (const item of body.split(';')) {
    if (item.trim() === '') continue
    const eq = item.indexOf('=')
    const key = (eq < 0 ? item : item.slice(0, eq)).trim().toUpperCase()
    const value = eq < 0 ? '' : item.slice(eq + 1).trim()
    if (eq < 0 || value === '') throw new RrulePartError('rule', `part ${JSON.stringify(item.trim())} is not KEY=VALUE`)
    if (seen.has(key)) throw new RrulePartError('rule', `${key} is given twice`)
    seen.set(key, value)
  }
  const freq = seen.get('FREQ')
  if (freq === undefined) throw new RrulePartError('rule', `FREQ is required (e.g. FREQ=DAILY)`)
  const parts = emptyParts(readFreq(freq, 'rule', 'FREQ'))
  for (const [key, value] of seen) {
    const where = (problem: string) => new RrulePartError('rule', `${key}=${value}: ${problem}`)
    const integer = INTEGER_PARTS.find((part) => part.key === key)
    if (integer) {
      parts[integer.field] = value.split(',').map((entry) => {
        if (!/^[+-]?\d+$/.test(entry.trim())) throw where(`${JSON.stringify(entry)} is not an integer`)
        return readInteger(Number(entry.trim()), integer, key)
      })
      continue
    }
    switch (key) {
      case 'FREQ':
        break
      case 'INTERVAL':
      case 'COUNT': {
        if (!/^\d+$/.test(value)) throw where('must be an integer >= 1')
        const n = readPositive(Number(value), key === 'COUNT' ? 'count' : 'interval', key)
        if (key === 'COUNT') parts.count = n
        else parts.interval = n
        break
      }
      case 'UNTIL': {
        const until = parseRruleUntil(value, parseUntil)
        if (until === null) throw where('must be a date (20261231) or a date and time (20261231T235959Z)')
        parts.until = until
        break
      }
      case 'BYDAY':
        parts.byDay = value.split(',').map((token) => readByDay(token, 'rule', key))
        break
      case 'WKST':
        parts.weekStart = readWeekday(value, 'rule', key)
        break
      default:
        throw new RrulePartError('rule', `unknown or unsupported part ${key} (supported: FREQ, INTERVAL, COUNT, UNTIL, BYDAY, ${INTEGER_PARTS.map((part) => part.key).join(', ')}, WKST)`)
    }
  }
  return checkParts(parts, true)
}

/** The canonical RRULE body of some parts, UNTIL in UTC: `FREQ=WEEKLY;INTERVAL=2;BYDAY=MO`. */
export function ruleString(parts: RruleParts): string {
  const out = [`FREQ=${parts.freq}`]
  if (parts.interval !== 1) out.push(`INTERVAL=${parts.interval}`)
  if (parts.count !== null) out.push(`COUNT=${parts.count}`)
  if (parts.until !== null) out.push(`UNTIL=${new Date(parts.until).toISOString().replace(/[-:]|\.\d+/g, '')}`)
  if (parts.byDay.length > 0) out.push(`BYDAY=${parts.byDay.map((day) => `${day.n ?? ''}${RRULE_WEEKDAYS[day.weekday]}`).join(',')}`)
  for (const part of INTEGER_PARTS) {
    if (parts[part.field].length > 0) out.push(`${part.key}=${parts[part.field].join(',')}`)
  }
  if (parts.weekStart !== null) out.push(`WKST=${RRULE_WEEKDAYS[parts.weekStart]}`)
  return out.join(';')
}

/**
 * A rule ready to answer "what is the next occurrence after this instant": the parts with
 * `rrule`'s defaults made explicit, anchored at `dtstart` (an instant, whole seconds) in
 * `timezone`. `last` is the last occurrence of a COUNT rule (an instant), found once here.
 */
export interface Recurrence {
  parts: RruleParts
  timezone: string
  /** dtstart's wall clock in the zone (floating ms). */
  start: number
  options: RRuleOptions
  /** No occurrence is after this instant (UNTIL, or the COUNT-th occurrence); null: endless. */
  end: number | null
}

/**
 * Compiles checked parts. Throws an `RrulePartError` when the rule can never produce an
 * occurrence (30 February, a BYHOUR the interval never reaches, ...).
 */
export function compileRecurrence(parts: RruleParts, dtstart: number, timezone: string): Recurrence {
  const start = Math.floor(toFloating(dtstart, timezone) / SECOND) * SECOND
  checkGrid(parts, start)
  const options = explicitOptions(parts, start)
  if (!probe(parts, options, start)) {
    throw new RrulePartError('', `${ruleString({...parts, count: null, until: null})} never matches a date (no occurrence in a whole 400-year calendar cycle)`)
  }
  const recurrence: Recurrence = {parts, timezone, start, options, end: parts.until}
  if (parts.count !== null) {
    // COUNT counts from dtstart: enumerate once, then treat the last occurrence as the end, so
    // that later searches can start near the time asked about like those of other rules.
    let last = Number.NEGATIVE_INFINITY
    new RRule({...options, count: parts.count}, true).all((date) => {
      last = date.getTime()
      return true
    })
    recurrence.end = Number.isFinite(last) ? toInstant(last, timezone) : last
  }
  return recurrence
}

/** The first occurrence strictly after the instant `after`, or null when there is none. */
export function occurrenceAfter(recurrence: Recurrence, after: number): number | null {
  const {timezone, end} = recurrence
  if (end !== null && after >= end) return null
  // Wall time and instant move together except within a day of an offset change; `slack`
  // covers the size of that change (0 almost always, so the search starts right at `after`).
  const slack = Math.abs(zoneOffsetMs(timezone, after + DAY) - zoneOffsetMs(timezone, after - DAY))
  const from = toFloating(after, timezone) - slack - SECOND
  let best: number | null = null
  let stopAt = Number.POSITIVE_INFINITY
  iterate(recurrence, from, (floating) => {
    if (floating > stopAt) return false
    const instant = toInstant(floating, timezone)
    if (instant > after && (end === null || instant <= end) && (best === null || instant < best)) {
      best = instant
      // A later wall time can map to an earlier instant only around an offset change.
      const change = Math.abs(zoneOffsetMs(timezone, instant + DAY) - zoneOffsetMs(timezone, instant - DAY))
      stopAt = floating + change
    }
    return best === null || floating < stopAt
  })
  return best
}

/** Calls `visit` with each occurrence (floating ms) after the floating time `from`, in order. */
function iterate(recurrence: Recurrence, from: number, visit: (floating: number) => boolean): void {
  const options = rebase(recurrence, from)
  const until = recurrence.end === null ? null : new Date(toFloating(recurrence.end, recurrence.timezone) + DAY)
  new RRule({...options, ...(until ? {until} : {})}, true).all((date) => {
    const floating = date.getTime()
    if (floating <= from) return true
    return visit(floating)
  })
}

/** The instant at which the zone's wall clock shows the floating time (RFC 5545 §3.3.5). */
function toInstant(floating: number, timezone: string): number {
  const d = new Date(floating)
  const wall = {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    millisecond: d.getUTCMilliseconds(),
  }
  return zonedTimeToInstant(wall, timezone, 'earlier')
}

/** The zone's wall clock at an instant, as floating ms. */
function toFloating(instant: number, timezone: string): number {
  return instant + zoneOffsetMs(timezone, instant)
}

function emptyParts(freq: RruleFreq): RruleParts {
  return {
    freq,
    interval: 1,
    count: null,
    until: null,
    byDay: [],
    byMonthDay: [],
    byMonth: [],
    byYearDay: [],
    byWeekNo: [],
    byHour: [],
    byMinute: [],
    bySecond: [],
    bySetPos: [],
    weekStart: null,
  }
}

// In a raw rule every problem is the `rule` parameter's, and the message names the RRULE part.
function partError(param: string, key: string | undefined, problem: string): RrulePartError {
  return new RrulePartError(param, key ? `${key}: ${problem}` : problem)
}

function readFreq(value: unknown, param: string, key?: string): RruleFreq {
  const freq = typeof value === 'string' ? value.trim().toUpperCase() : value
  if (typeof freq !== 'string' || !(RRULE_FREQS as readonly string[]).includes(freq)) {
    throw partError(param, key, `must be one of ${RRULE_FREQS.join(', ')}; got ${JSON.stringify(value)}`)
  }
  return freq as RruleFreq
}

function readPositive(value: unknown, param: string, key?: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw partError(param, key, `must be an integer >= 1; got ${JSON.stringify(value)}`)
  return value
}

function readArray(value: unknown, param: string, what: string): unknown[] {
  if (!Array.isArray(value)) throw new RrulePartError(param, `must be a list of ${what}; got ${JSON.stringify(value)}`)
  return value
}

function readInteger(value: unknown, part: (typeof INTEGER_PARTS)[number], key?: string): number {
  const param = key ? 'rule' : part.param
  if (typeof value !== 'number' || !Number.isInteger(value)) throw partError(param, key, `entries must be integers; got ${JSON.stringify(value)}`)
  if (value < part.min || value > part.max || (value === 0 && !part.zero)) {
    const range = part.zero ? `${part.min}..${part.max}` : `${part.min}..-1 or 1..${part.max}`
    throw partError(param, key, `${value} is out of range (${range})`)
  }
  return value
}

function readWeekday(value: unknown, param: string, key?: string): number {
  const day = typeof value === 'string' ? value.trim().toUpperCase() : ''
  const index = (RRULE_WEEKDAYS as readonly string[]).indexOf(day)
  if (index < 0) throw partError(param, key, `must be one of ${RRULE_WEEKDAYS.join(', ')}; got ${JSON.stringify(value)}`)
  return index
}

function readByDay(token: string, param: string, key?: string): ByDay {
  const match = /^([+-]?\d{1,2})?([A-Z]{2})$/.exec(token.trim().toUpperCase())
  const weekday = match ? (RRULE_WEEKDAYS as readonly string[]).indexOf(match[2]) : -1
  if (!match || weekday < 0) {
    throw partError(param, key, `${JSON.stringify(token)} is not a week day (${RRULE_WEEKDAYS.join(', ')}, optionally with an ordinal: 2TU, -1FR)`)
  }
  if (match[1] === undefined) return {weekday}
  const n = Number(match[1])
  if (n === 0 || Math.abs(n) > 53) throw partError(param, key, `${JSON.stringify(token)}: the ordinal must be -53..-1 or 1..53`)
  return {weekday, n}
}

/** UNTIL as RFC 5545 writes it: a date, a UTC date-time (`Z`), or a wall-clock date-time. */
function parseRruleUntil(value: string, parseWall: (wall: string) => number | null): number | null {
  const match = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z)?)?$/i.exec(value)
  if (!match) return null
  const [, y, mo, d, h = '00', mi = '00', s = '00', z] = match
  return parseWall(`${y}-${mo}-${d}T${h}:${mi}:${s}${z ? 'Z' : ''}`)
}

/** The rules of RFC 5545 §3.3.10 on which parts go together; names the offending parameter. */
function checkParts(parts: RruleParts, raw = false): RruleParts {
  const fail = (param: string, key: string, problem: string): never => {
    throw raw ? new RrulePartError('rule', `${key}: ${problem}`) : new RrulePartError(param, problem)
  }
  const freq = RRULE_FREQS.indexOf(parts.freq)
  if (parts.count !== null && parts.until !== null) fail('count', 'COUNT', `count and until cannot both be given (RFC 5545 §3.3.10); keep one`)
  if (parts.count !== null && parts.count > RRULE_MAX_COUNT) fail('count', 'COUNT', `must be at most ${RRULE_MAX_COUNT}; use until for a longer schedule`)
  const unitSeconds = [365.25 * 86_400, 30.44 * 86_400, 7 * 86_400, 86_400, 3600, 60, 1][freq]
  if (parts.interval * unitSeconds > 1000 * 365.25 * 86_400) fail('interval', 'INTERVAL', `${parts.interval} ${parts.freq.toLowerCase()} periods is more than 1000 years`)
  if (parts.byWeekNo.length > 0 && freq !== YEARLY) fail('by_week_no', 'BYWEEKNO', 'is only allowed with freq YEARLY')
  if (parts.byYearDay.length > 0 && (freq === MONTHLY || freq === WEEKLY || freq === DAILY)) fail('by_year_day', 'BYYEARDAY', `is not allowed with freq ${parts.freq}`)
  if (parts.byMonthDay.length > 0 && freq === WEEKLY) fail('by_month_day', 'BYMONTHDAY', 'is not allowed with freq WEEKLY')
  for (const day of parts.byDay) {
    if (day.n === undefined) continue
    const token = `${day.n}${RRULE_WEEKDAYS[day.weekday]}`
    if (freq !== MONTHLY && freq !== YEARLY) fail('by_day', 'BYDAY', `${token}: an ordinal is only allowed with freq MONTHLY or YEARLY`)
    if (freq === YEARLY && parts.byWeekNo.length > 0) fail('by_day', 'BYDAY', `${token}: an ordinal is not allowed together with by_week_no`)
    if ((freq === MONTHLY || parts.byMonth.length > 0) && Math.abs(day.n) > 5) fail('by_day', 'BYDAY', `${token}: a month has at most 5 of each week day`)
  }
  if (parts.bySetPos.length > 0) {
    const others = parts.byDay.length + parts.byMonthDay.length + parts.byMonth.length + parts.byYearDay.length + parts.byWeekNo.length + parts.byHour.length + parts.byMinute.length + parts.bySecond.length
    if (others === 0) fail('by_set_pos', 'BYSETPOS', 'needs another by_* part to pick from')
  }
  return parts
}

/**
 * Sub-daily rules with a time filter: `rrule` walks them with its own skipping, which keeps the
 * grid (and ends) only in these cases. Also refuses a filter the grid never reaches, on which
 * `rrule` would loop forever.
 */
function checkGrid(parts: RruleParts, start: number): void {
  const freq = RRULE_FREQS.indexOf(parts.freq)
  const d = new Date(start)
  const k = parts.interval
  if (freq === HOURLY && parts.byHour.length > 0) {
    const g = gcd(k, 24)
    if (!parts.byHour.some((hour) => mod(hour - d.getUTCHours(), g) === 0)) {
      throw new RrulePartError('by_hour', `never matches: every ${k} hours from dtstart (hour ${d.getUTCHours()}) only reaches hours ≡ ${d.getUTCHours() % g} (mod ${g})`)
    }
  }
  if (freq === MINUTELY && (parts.byHour.length > 0 || parts.byMinute.length > 0)) {
    if (60 % k !== 0) throw new RrulePartError('interval', `must divide 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) when freq is MINUTELY with by_hour or by_minute; got ${k}`)
    if (parts.byMinute.length > 0 && !parts.byMinute.some((minute) => mod(minute - d.getUTCMinutes(), k) === 0)) {
      throw new RrulePartError('by_minute', `never matches: every ${k} minutes from dtstart (minute ${d.getUTCMinutes()}) only reaches minutes ≡ ${d.getUTCMinutes() % k} (mod ${k})`)
    }
  }
  if (freq === SECONDLY && (parts.byHour.length > 0 || parts.byMinute.length > 0 || parts.bySecond.length > 0)) {
    if (60 % k !== 0) throw new RrulePartError('interval', `must divide 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) when freq is SECONDLY with by_hour, by_minute or by_second; got ${k}`)
    if (parts.bySecond.length > 0 && !parts.bySecond.some((second) => mod(second - d.getUTCSeconds(), k) === 0)) {
      throw new RrulePartError('by_second', `never matches: every ${k} seconds from dtstart (second ${d.getUTCSeconds()}) only reaches seconds ≡ ${d.getUTCSeconds() % k} (mod ${k})`)
    }
  }
  // A period of a DAILY or sub-daily rule always has the same number of candidates.
  if (freq >= DAILY && parts.bySetPos.length > 0) {
    const size = [
      freq === DAILY ? Math.max(parts.byHour.length, 1) : 1,
      freq <= HOURLY ? Math.max(parts.byMinute.length, 1) : 1,
      freq <= MINUTELY ? Math.max(parts.bySecond.length, 1) : 1,
    ].reduce((a, b) => a * b)
    if (!parts.bySetPos.some((pos) => Math.abs(pos) <= size)) {
      throw new RrulePartError('by_set_pos', `never matches: each ${parts.freq.toLowerCase()} period has only ${size} candidate${size === 1 ? '' : 's'}`)
    }
  }
}

/**
 * The `rrule` options of the parts with the defaults `rrule` would take from dtstart written
 * out (day of month, week day, hour, minute, second), so that the same rule can start from
 * another period without changing its occurrences.
 */
function explicitOptions(parts: RruleParts, start: number): RRuleOptions {
  const freq = RRULE_FREQS.indexOf(parts.freq)
  const d = new Date(start)
  const list = (values: number[]) => (values.length > 0 ? values : undefined)
  const options: RRuleOptions = {
    freq,
    interval: parts.interval,
    dtstart: new Date(start),
    wkst: parts.weekStart ?? 0,
    bymonth: list(parts.byMonth),
    bymonthday: list(parts.byMonthDay),
    byyearday: list(parts.byYearDay),
    byweekno: list(parts.byWeekNo),
    byweekday: parts.byDay.length > 0 ? parts.byDay.map((day) => new Weekday(day.weekday, day.n)) : undefined,
    byhour: list(parts.byHour) ?? (freq < HOURLY ? [d.getUTCHours()] : undefined),
    byminute: list(parts.byMinute) ?? (freq < MINUTELY ? [d.getUTCMinutes()] : undefined),
    bysecond: list(parts.bySecond) ?? (freq < SECONDLY ? [d.getUTCSeconds()] : undefined),
    bysetpos: list(parts.bySetPos),
  }
  const dayPart = parts.byWeekNo.length + parts.byYearDay.length + parts.byMonthDay.length + parts.byDay.length > 0
  if (!dayPart) {
    if (freq === YEARLY) {
      options.bymonth ??= [d.getUTCMonth() + 1]
      options.bymonthday = [d.getUTCDate()]
    } else if (freq === MONTHLY) {
      options.bymonthday = [d.getUTCDate()]
    } else if (freq === WEEKLY) {
      options.byweekday = [(d.getUTCDay() + 6) % 7]
    }
  }
  return options
}

/** The start (floating ms) of the period of the frequency that holds `start`. */
function periodStart(freq: number, start: number, weekStart: number): number {
  const d = new Date(start)
  switch (freq) {
    case YEARLY:
      return Date.UTC(d.getUTCFullYear(), 0, 1)
    case MONTHLY:
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
    case WEEKLY: {
      const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())
      return day - mod((d.getUTCDay() + 6) % 7 - weekStart, 7) * DAY
    }
    case DAILY:
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())
    case HOURLY:
      return start - (start % HOUR)
    case MINUTELY:
      return start - (start % MINUTE)
    default:
      return start
  }
}

/** `start` moved by `n` units of the frequency (years, months, weeks, days, ...). */
function shiftPeriods(freq: number, start: number, n: number): number {
  const d = new Date(start)
  switch (freq) {
    case YEARLY:
      return Date.UTC(d.getUTCFullYear() + n, d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds())
    case MONTHLY:
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds())
    default:
      return start + n * [0, 0, 7 * DAY, DAY, HOUR, MINUTE, SECOND][freq]
  }
}

/** Units of the frequency in one 400-year calendar cycle. */
const CYCLE_UNITS = [400, 4800, CYCLE_DAYS / 7, CYCLE_DAYS, CYCLE_DAYS * 24, CYCLE_DAYS * 1440, CYCLE_DAYS * 86_400]

/**
 * The options with dtstart moved to the start of a period shortly before the floating time
 * `from`, so `rrule` (which always iterates from dtstart) has little to walk. With the defaults
 * explicit, the periods after dtstart do not depend on it; COUNT is already `end`.
 */
function rebase(recurrence: Recurrence, from: number): RRuleOptions {
  const {parts, options, start} = recurrence
  if (from <= start) return options
  const freq = RRULE_FREQS.indexOf(parts.freq)
  const first = periodStart(freq, start, parts.weekStart ?? 0)
  let periods: number
  if (freq === YEARLY) periods = new Date(from).getUTCFullYear() - new Date(first).getUTCFullYear()
  else if (freq === MONTHLY) periods = (new Date(from).getUTCFullYear() - new Date(first).getUTCFullYear()) * 12 + new Date(from).getUTCMonth() - new Date(first).getUTCMonth()
  else periods = Math.floor((from - first) / shiftPeriods(freq, 0, 1))
  const n = Math.floor(periods / parts.interval) - 1
  if (n < 1) return options
  return {...options, dtstart: new Date(shiftPeriods(freq, first, n * parts.interval))}
}

/**
 * Whether the rule (without COUNT and UNTIL) has any occurrence. The calendar repeats every
 * 400 years, so the occurrences repeat with a period of `lcm(cycle, interval)` units; a search
 * that starts on the rule's grid that long before `rrule`'s last year covers a whole period and
 * ends (at that year) within a second or two even when nothing matches.
 */
function probe(parts: RruleParts, options: RRuleOptions, start: number): boolean {
  const freq = RRULE_FREQS.indexOf(parts.freq)
  const first = periodStart(freq, start, parts.weekStart ?? 0)
  const cycle = CYCLE_UNITS[freq]
  const periodYears = (400 * parts.interval) / gcd(cycle, parts.interval)
  const target = MAX_YEAR - Math.ceil(periodYears) - 1
  const d = new Date(first)
  let units: number
  if (freq === YEARLY) units = target - d.getUTCFullYear()
  else if (freq === MONTHLY) units = (target - d.getUTCFullYear()) * 12 - d.getUTCMonth()
  else units = Math.floor((Date.UTC(target, 0, 1) - first) / shiftPeriods(freq, 0, 1))
  const n = Math.floor(units / parts.interval)
  const dtstart = n >= 1 ? shiftPeriods(freq, first, n * parts.interval) : start
  return new RRule({...options, dtstart: new Date(dtstart)}, true).after(new Date(dtstart), true) !== null
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b]
  return a
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n
}
