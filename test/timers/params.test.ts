import {describe, expect, it} from 'vitest'
import {AbortError} from '../../src/engine/errors.js'
import {
  isValidTimeZone,
  parseFireAt,
  parseTimerRule,
  TimerConfigError,
  zonedTimeToInstant,
  type CronSpec,
  type TimerRule,
} from '../../src/engine/timers/index.js'

const interval = (params: Record<string, unknown>): TimerRule => ({ref: 'test.every', trigger_ref: 'core.intervaltimer', trigger_params: params})
const cron = (params: Record<string, unknown>): TimerRule => ({ref: 'test.cron', trigger_ref: 'core.crontimer', trigger_params: params})
const datetime = (params: Record<string, unknown>): TimerRule => ({ref: 'test.once', trigger_ref: 'core.datetimetimer', trigger_params: params})

function failure(rule: TimerRule): TimerConfigError {
  try {
    parseTimerRule(rule)
  } catch (error) {
    expect(error).toBeInstanceOf(TimerConfigError)
    expect(error).toBeInstanceOf(AbortError)
    return error as TimerConfigError
  }
  throw new Error(`expected ${JSON.stringify(rule.trigger_params)} to fail`)
}

describe('interval parameters', () => {
  it('reads every unit into a period', () => {
    expect(parseTimerRule(interval({unit: 'seconds', interval: 5}))).toMatchObject({kind: 'interval', periodMs: 5_000})
    expect(parseTimerRule(interval({unit: 'minutes', interval: 2}))).toMatchObject({periodMs: 120_000})
    expect(parseTimerRule(interval({unit: 'hours', interval: 1}))).toMatchObject({periodMs: 3_600_000})
    expect(parseTimerRule(interval({unit: 'days', interval: 3}))).toMatchObject({periodMs: 3 * 86_400_000})
  })

  it('uses the trigger defaults (60 seconds)', () => {
    expect(parseTimerRule(interval({}))).toMatchObject({unit: 'seconds', interval: 60, periodMs: 60_000})
    expect(parseTimerRule({ref: 'test.bare', trigger_ref: 'core.intervaltimer'})).toMatchObject({periodMs: 60_000})
  })

  it('names the rule and the field of a bad value', () => {
    const unit = failure(interval({unit: 'weeks', interval: 1}))
    expect(unit.rule_ref).toBe('test.every')
    expect(unit.field).toBe('trigger_params.unit')
    expect(unit.message).toMatch(/^rule 'test\.every': trigger_params\.unit: must be one of seconds, minutes, hours, days; got "weeks"/)
    for (const bad of [0, -1, 1.5, '10', null]) {
      expect(failure(interval({unit: 'seconds', interval: bad})).field).toBe('trigger_params.interval')
    }
  })

  it('refuses a trigger that is not a timer', () => {
    const error = failure({ref: 'test.other', trigger_ref: 'examples.disk_full', trigger_params: {}})
    expect(error.field).toBe('trigger_ref')
  })
})

describe('cron parameters', () => {
  const runs = (spec: CronSpec, from: string, n: number) => spec.cron.nextRuns(n, new Date(from)).map((date) => date.toISOString())

  it('reads six fields with seconds', () => {
    const spec = parseTimerRule(cron({expression: '*/15 * * * * *'})) as CronSpec
    expect(spec).toMatchObject({kind: 'cron', expression: '*/15 * * * * *', timezone: 'UTC'})
    expect(runs(spec, '2026-01-01T00:00:01Z', 3)).toEqual(['2026-01-01T00:00:15.000Z', '2026-01-01T00:00:30.000Z', '2026-01-01T00:00:45.000Z'])
  })

  it('reads five fields as seconds 0, and nicknames', () => {
    const spec = parseTimerRule(cron({expression: '30 9 * * 1-5'})) as CronSpec
    expect(runs(spec, '2026-01-02T10:00:00Z', 2)).toEqual(['2026-01-05T09:30:00.000Z', '2026-01-06T09:30:00.000Z'])
    const daily = parseTimerRule(cron({expression: '@daily'})) as CronSpec
    expect(runs(daily, '2026-01-02T10:00:00Z', 1)).toEqual(['2026-01-03T00:00:00.000Z'])
  })

  it('reads ? in a day field as "any day", independent of when it is parsed', () => {
    const spec = parseTimerRule(cron({expression: '0 0 9 ? * MON'})) as CronSpec
    const mondays = runs(spec, '2026-01-01T00:00:00Z', 6)
    expect(mondays).toEqual([
      '2026-01-05T09:00:00.000Z',
      '2026-01-12T09:00:00.000Z',
      '2026-01-19T09:00:00.000Z',
      '2026-01-26T09:00:00.000Z',
      '2026-02-02T09:00:00.000Z',
      '2026-02-09T09:00:00.000Z',
    ])
    expect(failure(cron({expression: '? * * * * *'})).message).toMatch(/'\?' is only allowed/)
  })

  it('schedules in the time zone, across daylight saving time', () => {
    const spec = parseTimerRule(cron({expression: '0 0 9 * * *', timezone: 'Europe/Berlin'})) as CronSpec
    // CET (+1) before 29 March 2026, CEST (+2) after.
    expect(runs(spec, '2026-03-28T00:00:00Z', 2)).toEqual(['2026-03-28T08:00:00.000Z', '2026-03-29T07:00:00.000Z'])
    const ny = parseTimerRule(cron({expression: '0 30 8 * * 1-5', timezone: 'America/New_York'})) as CronSpec
    expect(runs(ny, '2026-07-01T00:00:00Z', 1)).toEqual(['2026-07-01T12:30:00.000Z'])
  })

  it('names the field of a bad expression or time zone', () => {
    for (const expression of ['61 * * * * *', '* * * *', '* * * * * * *', 'every minute', '0 0 12:00 * * *', '']) {
      const error = failure(cron({expression}))
      expect(error.field).toBe('trigger_params.expression')
      expect(error.message).toMatch(/^rule 'test\.cron': trigger_params\.expression: /)
    }
    expect(failure(cron({})).field).toBe('trigger_params.expression')
    expect(failure(cron({expression: '0 0 0 30 2 *'})).message).toMatch(/never fires/)
    const zone = failure(cron({expression: '* * * * * *', timezone: 'Mars/Olympus_Mons'}))
    expect(zone.field).toBe('trigger_params.timezone')
    expect(zone.message).toMatch(/unknown time zone "Mars\/Olympus_Mons"/)
  })
})

describe('datetime parameters', () => {
  it('reads an absolute time', () => {
    expect(parseTimerRule(datetime({fire_at: '2026-12-31T23:59:59Z'}))).toEqual({kind: 'datetime', fireAt: Date.parse('2026-12-31T23:59:59Z'), timezone: 'UTC'})
    expect(parseFireAt('2026-06-15T15:00:00-05:00', 'UTC')).toBe(Date.parse('2026-06-15T20:00:00Z'))
    expect(parseFireAt('2026-06-15T15:00:00.250+0530', 'UTC')).toBe(Date.parse('2026-06-15T09:30:00.250Z'))
  })

  it('reads a time without offset in the rule time zone (the offset wins when both are given)', () => {
    expect(parseFireAt('2026-06-15T15:00:00', 'America/New_York')).toBe(Date.parse('2026-06-15T19:00:00Z'))
    expect(parseFireAt('2026-01-15T15:00:00', 'America/New_York')).toBe(Date.parse('2026-01-15T20:00:00Z'))
    expect(parseFireAt('2026-01-15', 'Asia/Tokyo')).toBe(Date.parse('2026-01-14T15:00:00Z'))
    const spec = parseTimerRule(datetime({fire_at: '2026-06-15T15:00:00Z', timezone: 'America/New_York'}))
    expect(spec).toEqual({kind: 'datetime', fireAt: Date.parse('2026-06-15T15:00:00Z'), timezone: 'America/New_York'})
  })

  it('refuses a date that does not exist or is not ISO 8601', () => {
    for (const fire_at of ['2026-02-30T10:00:00Z', '2026-13-01T00:00:00Z', '2026-01-01T24:00:00Z', 'tomorrow', '01/02/2026', 42]) {
      expect(failure(datetime({fire_at})).field).toBe('trigger_params.fire_at')
    }
    expect(failure(datetime({})).field).toBe('trigger_params.fire_at')
    expect(failure(datetime({fire_at: '2026-01-01T00:00:00Z', timezone: 'Nowhere'})).field).toBe('trigger_params.timezone')
  })
})

describe('time zones', () => {
  it('validates IANA names', () => {
    expect(isValidTimeZone('UTC')).toBe(true)
    expect(isValidTimeZone('Europe/Berlin')).toBe(true)
    expect(isValidTimeZone('Europe/Atlantis')).toBe(false)
    expect(isValidTimeZone('')).toBe(false)
  })

  it('moves a time in a spring-forward gap forward and takes the second of a doubled time', () => {
    const wall = (day: number, month: number, hour: number, minute: number) => ({year: 2026, month, day, hour, minute, second: 0, millisecond: 0})
    // Berlin: 29 March 2026 02:00 CET -> 03:00 CEST; 25 October 2026 03:00 CEST -> 02:00 CET.
    expect(new Date(zonedTimeToInstant(wall(29, 3, 2, 30), 'Europe/Berlin')).toISOString()).toBe('2026-03-29T01:30:00.000Z')
    expect(new Date(zonedTimeToInstant(wall(25, 10, 2, 30), 'Europe/Berlin')).toISOString()).toBe('2026-10-25T01:30:00.000Z')
    // New York: 1 November 2026 02:00 EDT -> 01:00 EST.
    expect(new Date(zonedTimeToInstant(wall(1, 11, 1, 30), 'America/New_York')).toISOString()).toBe('2026-11-01T06:30:00.000Z')
    expect(new Date(zonedTimeToInstant(wall(1, 11, 12, 0), 'America/New_York')).toISOString()).toBe('2026-11-01T17:00:00.000Z')
  })
})
