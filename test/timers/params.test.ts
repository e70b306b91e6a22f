import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import type * as RRuleModule from 'rrule'
import {describe, expect, it} from 'vitest'
import {parse as parseYaml} from 'yaml'
import {AbortError} from '../../src/engine/errors.js'
import {ATTUNE_CORE_PACK} from '../store/pack-files.js'
import {
  isValidTimeZone,
  occurrenceAfter,
  parseFireAt,
  parseTimerRule,
  timerKind,
  TimerConfigError,
  zonedTimeToInstant,
  type CronSpec,
  type RruleSpec,
  type TimerRule,
} from '../../src/engine/timers/index.js'

const interval = (params: Record<string, unknown>): TimerRule => ({ref: 'test.every', trigger_ref: 'core.intervaltimer', trigger_params: params})
const cron = (params: Record<string, unknown>): TimerRule => ({ref: 'test.cron', trigger_ref: 'core.crontimer', trigger_params: params})
const datetime = (params: Record<string, unknown>): TimerRule => ({ref: 'test.once', trigger_ref: 'core.datetimetimer', trigger_params: params})
const rrule = (params: Record<string, unknown>): TimerRule => ({ref: 'test.rrule', trigger_ref: 'core.rruletimer', trigger_params: params})

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

  it("reads Quartz's start/step (0/5) as from the start, every step", () => {
    // croner 10+ rejects these unless asked to accept them (sloppyRanges): they must stay valid.
    const minutes = parseTimerRule(cron({expression: '0 0/20 * * * *'})) as CronSpec
    expect(runs(minutes, '2026-01-01T00:00:01Z', 3)).toEqual(['2026-01-01T00:20:00.000Z', '2026-01-01T00:40:00.000Z', '2026-01-01T01:00:00.000Z'])
    const seconds = parseTimerRule(cron({expression: '5/20 * * * * *'})) as CronSpec
    expect(runs(seconds, '2026-01-01T00:00:00Z', 3)).toEqual(['2026-01-01T00:00:05.000Z', '2026-01-01T00:00:25.000Z', '2026-01-01T00:00:45.000Z'])
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

describe('rrule parameters', () => {
  const spec = (params: Record<string, unknown>) => parseTimerRule(rrule(params)) as RruleSpec
  /** The next `n` fire times after `from`, each computed from the previous one. */
  const next = (rule: RruleSpec, from: string, n: number) => {
    const out: string[] = []
    let at = Date.parse(from)
    for (let i = 0; i < n; i++) {
      const run = occurrenceAfter(rule.recurrence, at)
      if (run === null) break
      out.push(new Date(run).toISOString())
      at = run
    }
    return out
  }

  it('serves core.rruletimer and assembles the structured parts into an RRULE as Attune does', () => {
    expect(timerKind('core.rruletimer')).toBe('rrule')
    const biweekly = spec({freq: 'WEEKLY', interval: 2, by_day: ['MO'], dtstart: '2026-05-04T13:00:00Z', timezone: 'America/New_York'})
    expect(biweekly).toMatchObject({kind: 'rrule', rule: 'FREQ=WEEKLY;INTERVAL=2;BYDAY=MO', dtstart: Date.parse('2026-05-04T13:00:00Z'), timezone: 'America/New_York'})
    const lastWeekday = spec({freq: 'monthly', by_day: ['MO', 'TU', 'WE', 'TH', 'FR'], by_set_pos: [-1], by_hour: [17], by_minute: [0], dtstart: '2026-05-29T17:00:00Z'})
    expect(lastWeekday.rule).toBe('FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=17;BYMINUTE=0;BYSETPOS=-1')
    expect(next(lastWeekday, '2026-05-01T00:00:00Z', 3)).toEqual(['2026-05-29T17:00:00.000Z', '2026-06-30T17:00:00.000Z', '2026-07-31T17:00:00.000Z'])
    expect(spec({freq: 'DAILY', until: '2026-12-31T23:59:59Z', dtstart: '2026-05-01T00:00:00Z'}).rule).toBe('FREQ=DAILY;UNTIL=20261231T235959Z')
    // A raw rule overrides the parts; its RRULE: prefix is dropped.
    const raw = spec({rule: 'RRULE:FREQ=MONTHLY;BYDAY=2TU;BYHOUR=15;BYMINUTE=0', freq: 'DAILY', dtstart: '2026-05-12T15:00:00Z'})
    expect(raw.rule).toBe('FREQ=MONTHLY;BYDAY=2TU;BYHOUR=15;BYMINUTE=0')
    expect(next(raw, '2026-05-01T00:00:00Z', 3)).toEqual(['2026-05-12T15:00:00.000Z', '2026-06-09T15:00:00.000Z', '2026-07-14T15:00:00.000Z'])
  })

  it.skipIf(ATTUNE_CORE_PACK.skip)('reads every example of the Attune core pack trigger (../shared)', () => {
    const trigger = parseYaml(readFileSync(join(ATTUNE_CORE_PACK.path, 'triggers', 'rruletimer.yaml'), 'utf8')) as {examples: {parameters: Record<string, unknown>}[]}
    const firsts = trigger.examples.map((example) => next(spec(example.parameters), '2026-05-01T00:00:00Z', 2))
    expect(firsts).toEqual([
      ['2026-05-04T13:00:00.000Z', '2026-05-18T13:00:00.000Z'],
      ['2026-05-01T12:00:00.000Z', '2026-05-29T12:00:00.000Z'],
      ['2026-05-12T15:00:00.000Z', '2026-06-09T15:00:00.000Z'],
      ['2026-05-29T17:00:00.000Z', '2026-06-30T17:00:00.000Z'],
      ['2026-05-01T09:00:00.000Z', '2026-05-15T09:00:00.000Z'],
    ])
  })

  it('keeps the wall-clock time of its time zone across daylight saving time', () => {
    // 09:00 in Berlin: CET (+1) before 29 March 2026, CEST (+2) after.
    const berlin = spec({freq: 'DAILY', dtstart: '2026-03-27T08:00:00Z', timezone: 'Europe/Berlin'})
    expect(next(berlin, '2026-03-27T12:00:00Z', 3)).toEqual(['2026-03-28T08:00:00.000Z', '2026-03-29T07:00:00.000Z', '2026-03-30T07:00:00.000Z'])
    // A dtstart without offset is a wall-clock time in the zone, as fire_at is.
    expect(spec({freq: 'DAILY', dtstart: '2026-03-27T09:00:00', timezone: 'Europe/Berlin'}).dtstart).toBe(Date.parse('2026-03-27T08:00:00Z'))
    // New York, 8 March 2026: 02:00 EST -> 03:00 EDT; 02:30 does not exist and moves to 03:30.
    const ny = spec({freq: 'DAILY', dtstart: '2026-03-06T07:30:00Z', timezone: 'America/New_York'})
    expect(next(ny, '2026-03-06T08:00:00Z', 3)).toEqual(['2026-03-07T07:30:00.000Z', '2026-03-08T07:30:00.000Z', '2026-03-09T06:30:00.000Z'])
    // Every 30 minutes of wall-clock time over the gap: no instant twice.
    const half = spec({freq: 'MINUTELY', interval: 30, dtstart: '2026-03-08T05:00:00Z', timezone: 'America/New_York'})
    expect(next(half, '2026-03-08T06:00:00Z', 4)).toEqual(['2026-03-08T06:30:00.000Z', '2026-03-08T07:00:00.000Z', '2026-03-08T07:30:00.000Z', '2026-03-08T08:00:00.000Z'])
    // 1 November 2026: 01:00-02:00 happens twice; RFC 5545 takes the first.
    const hourly = spec({freq: 'HOURLY', dtstart: '2026-11-01T03:00:00Z', timezone: 'America/New_York'})
    expect(next(hourly, '2026-11-01T03:30:00Z', 3)).toEqual(['2026-11-01T04:00:00.000Z', '2026-11-01T05:00:00.000Z', '2026-11-01T07:00:00.000Z'])
  })

  it('runs every N minutes with BYSECOND on the grid of dtstart', () => {
    const rule = spec({freq: 'MINUTELY', interval: 5, by_second: [0, 30], dtstart: '2026-01-15T10:02:00Z'})
    expect(next(rule, '2026-01-15T10:06:00Z', 4)).toEqual(['2026-01-15T10:07:00.000Z', '2026-01-15T10:07:30.000Z', '2026-01-15T10:12:00.000Z', '2026-01-15T10:12:30.000Z'])
  })

  it('ends after COUNT occurrences counted from dtstart, and at UNTIL (inclusive)', () => {
    const counted = spec({freq: 'DAILY', count: 3, dtstart: '2026-01-15T10:00:00Z'})
    expect(next(counted, '2026-01-01T00:00:00Z', 5)).toEqual(['2026-01-15T10:00:00.000Z', '2026-01-16T10:00:00.000Z', '2026-01-17T10:00:00.000Z'])
    expect(next(counted, '2026-01-16T12:00:00Z', 5)).toEqual(['2026-01-17T10:00:00.000Z'])
    const until = spec({freq: 'HOURLY', interval: 6, until: '2026-01-16T10:00:00Z', dtstart: '2026-01-15T10:00:00Z'})
    expect(next(until, '2026-01-15T10:00:00Z', 9)).toEqual(['2026-01-15T16:00:00.000Z', '2026-01-15T22:00:00.000Z', '2026-01-16T04:00:00.000Z', '2026-01-16T10:00:00.000Z'])
    const rawUntil = spec({rule: 'FREQ=DAILY;UNTIL=20260117T100000Z', dtstart: '2026-01-15T10:00:00Z'})
    expect(next(rawUntil, '2026-01-15T10:00:00Z', 5)).toEqual(['2026-01-16T10:00:00.000Z', '2026-01-17T10:00:00.000Z'])
  })

  it('finds the next occurrence exactly as the rrule package does, and quickly long after dtstart', () => {
    const {RRule} = createRequire(import.meta.url)('rrule') as typeof RRuleModule
    // The package itself walks every occurrence from dtstart: dense rules start a few days back.
    const cases: [Record<string, unknown>, Partial<RRuleModule.Options>, string][] = [
      [{freq: 'SECONDLY', interval: 7}, {freq: RRule.SECONDLY, interval: 7}, '2026-01-13T11:22:33Z'],
      [{freq: 'MINUTELY', interval: 15, by_hour: [9, 17], by_second: [5]}, {freq: RRule.MINUTELY, interval: 15, byhour: [9, 17], bysecond: [5]}, '2026-01-01T11:22:33Z'],
      [{freq: 'HOURLY', interval: 5, by_day: ['MO', 'FR']}, {freq: RRule.HOURLY, interval: 5, byweekday: [0, 4]}, '2025-11-29T11:22:33Z'],
      [{freq: 'DAILY', interval: 3, by_hour: [8, 20]}, {freq: RRule.DAILY, interval: 3, byhour: [8, 20]}, '2020-02-29T11:22:33Z'],
      [{freq: 'WEEKLY', interval: 3, by_day: ['TU', 'SU'], week_start: 'SU'}, {freq: RRule.WEEKLY, interval: 3, byweekday: [1, 6], wkst: 6}, '2020-02-29T11:22:33Z'],
      [{freq: 'MONTHLY', interval: 5, by_month_day: [-1, 10]}, {freq: RRule.MONTHLY, interval: 5, bymonthday: [-1, 10]}, '2020-02-29T11:22:33Z'],
      [{freq: 'YEARLY', by_week_no: [1, 27], by_day: ['WE']}, {freq: RRule.YEARLY, byweekno: [1, 27], byweekday: [2]}, '2020-02-29T11:22:33Z'],
    ]
    for (const [params, options, start] of cases) {
      const dtstart = new Date(start)
      const rule = spec({...params, dtstart: start})
      const reference = new RRule({...options, dtstart}, true)
      for (const from of [start, '2026-01-15T10:00:00Z', '2026-01-15T17:44:59Z']) {
        const ours = occurrenceAfter(rule.recurrence, Date.parse(from))
        expect(ours === null ? null : new Date(ours).toISOString(), `${rule.rule} after ${from}`).toBe(reference.after(new Date(from))?.toISOString() ?? null)
      }
    }
    // Years of every-second occurrences are not walked one by one.
    const dense = spec({freq: 'SECONDLY', interval: 3, dtstart: '2016-01-01T00:00:00Z'})
    const started = performance.now()
    expect(occurrenceAfter(dense.recurrence, Date.parse('2026-01-15T10:00:00.500Z'))).toBe(Date.parse('2026-01-15T10:00:03Z'))
    expect(performance.now() - started).toBeLessThan(200)
  })

  it('names the field of a bad part', () => {
    const at = {dtstart: '2026-01-15T10:00:00Z'}
    const fields: [Record<string, unknown>, string, RegExp][] = [
      [{...at}, 'trigger_params.freq', /is required unless 'rule' is given/],
      [{...at, freq: 'FORTNIGHTLY'}, 'trigger_params.freq', /must be one of YEARLY, MONTHLY/],
      [{...at, freq: 'DAILY', interval: 0}, 'trigger_params.interval', /integer >= 1; got 0/],
      [{...at, freq: 'DAILY', count: 2.5}, 'trigger_params.count', /integer >= 1/],
      [{...at, freq: 'DAILY', count: 3, until: '2026-02-01T00:00:00Z'}, 'trigger_params.count', /count and until cannot both be given/],
      [{...at, freq: 'DAILY', until: 'next week'}, 'trigger_params.until', /not an ISO 8601/],
      [{...at, freq: 'DAILY', by_hour: [25]}, 'trigger_params.by_hour', /25 is out of range \(0\.\.23\)/],
      [{...at, freq: 'MONTHLY', by_month_day: [0]}, 'trigger_params.by_month_day', /0 is out of range/],
      [{...at, freq: 'DAILY', by_minute: '0'}, 'trigger_params.by_minute', /must be a list of integers/],
      [{...at, freq: 'WEEKLY', by_day: ['XX']}, 'trigger_params.by_day', /"XX" is not a week day/],
      [{...at, freq: 'WEEKLY', by_day: ['2TU']}, 'trigger_params.by_day', /only allowed with freq MONTHLY or YEARLY/],
      [{...at, freq: 'MONTHLY', by_week_no: [3]}, 'trigger_params.by_week_no', /only allowed with freq YEARLY/],
      [{...at, freq: 'WEEKLY', week_start: 'MONDAY'}, 'trigger_params.week_start', /must be one of MO, TU/],
      [{...at, freq: 'DAILY', by_set_pos: [1]}, 'trigger_params.by_set_pos', /needs another by_\* part/],
      [{...at, freq: 'HOURLY', interval: 24, by_hour: [3]}, 'trigger_params.by_hour', /never matches/],
      [{...at, freq: 'MINUTELY', interval: 7, by_minute: [0]}, 'trigger_params.interval', /must divide 60/],
      [{...at, freq: 'YEARLY', by_month: [2], by_month_day: [30]}, 'trigger_params', /FREQ=YEARLY;BYMONTHDAY=30;BYMONTH=2 never matches a date/],
      [{freq: 'DAILY'}, 'trigger_params.dtstart', /is required/],
      [{freq: 'DAILY', dtstart: '2026-02-30T10:00:00Z'}, 'trigger_params.dtstart', /"2026-02-30T10:00:00Z" is not/],
      [{...at, freq: 'DAILY', timezone: 'Mars/Olympus_Mons'}, 'trigger_params.timezone', /unknown time zone/],
      [{...at, rule: 'this is not a valid rrule'}, 'trigger_params.rule', /not KEY=VALUE/],
      [{...at, rule: 'FREQ=DAILY;BYHOUR=9;FOO=1'}, 'trigger_params.rule', /unknown or unsupported part FOO/],
      [{...at, rule: 'FREQ=DAILY;BYHOUR=24'}, 'trigger_params.rule', /"FREQ=DAILY;BYHOUR=24": BYHOUR: 24 is out of range/],
      [{...at, rule: 'INTERVAL=2'}, 'trigger_params.rule', /FREQ is required/],
      [{...at, rule: 'DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY'}, 'trigger_params.rule', /DTSTART and TZID do not belong in the rule/],
      [{...at, rule: 'FREQ=DAILY;COUNT=2;UNTIL=20260301T000000Z'}, 'trigger_params.rule', /count and until cannot both be given/],
    ]
    for (const [params, field, message] of fields) {
      const error = failure(rrule(params))
      expect([error.field, error.message], JSON.stringify(params)).toEqual([field, expect.stringMatching(message)])
      expect(error.message).toMatch(new RegExp(`^rule 'test\\.rrule': ${field.replace('.', '\\.')}: `))
    }
  })
})
