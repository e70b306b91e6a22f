// The timer sensor on a manual clock: exact schedules, payloads, catch-up, persistence and
// dynamic rules, with no real waiting.
import {describe, expect, it} from 'vitest'
import {
  MAX_TIMEOUT_CHUNK_MS,
  TimerConfigError,
  TimerSensor,
  type CronTimerPayload,
  type DatetimeTimerPayload,
  type IntervalTimerPayload,
  type RruleTimerPayload,
  type TimerPayload,
  type TimerRule,
  type TimerState,
  type TimerStateInput,
  type TimerStateReason,
} from '../../src/engine/timers/index.js'
import type {RuleRow} from '../../src/engine/store/queries.js'
import {ManualClock} from './clock.js'

const T0 = '2026-01-15T10:00:00.000Z'
const t0 = Date.parse(T0)
const iso = (ms: number) => new Date(ms).toISOString()

interface Rule extends TimerRule {
  label?: string
}

const every = (ref: string, interval: number, unit = 'seconds', extra: Partial<Rule> = {}): Rule => ({
  ref,
  trigger_ref: 'core.intervaltimer',
  trigger_params: {unit, interval},
  ...extra,
})
const cronRule = (ref: string, expression: string, timezone?: string): Rule => ({
  ref,
  trigger_ref: 'core.crontimer',
  trigger_params: timezone ? {expression, timezone} : {expression},
})
const once = (ref: string, fire_at: string): Rule => ({ref, trigger_ref: 'core.datetimetimer', trigger_params: {fire_at}})
const rruleRule = (ref: string, params: Record<string, unknown>): Rule => ({ref, trigger_ref: 'core.rruletimer', trigger_params: params})
const scheduled = (fires: {payload: TimerPayload}[]) => fires.map((fire) => (fire.payload as RruleTimerPayload).scheduled_at)

function harness(start = T0) {
  const clock = new ManualClock(start)
  const fires: {rule: Rule; payload: TimerPayload; state: TimerState; at: number}[] = []
  const states: {ref: string; state: TimerState; reason: TimerStateReason}[] = []
  const errors: {ref: string; error: Error}[] = []
  const sensor = new TimerSensor<Rule>({
    clock,
    onFire: (rule, payload, state) => {
      fires.push({rule, payload, state, at: clock.now()})
    },
    onState: (rule, state, reason) => {
      states.push({ref: rule.ref, state, reason})
    },
    onError: (rule, error) => {
      errors.push({ref: rule.ref, error})
    },
  })
  const firesOf = (ref: string) => fires.filter((fire) => fire.rule.ref === ref)
  return {clock, sensor, fires, states, errors, firesOf}
}

describe('interval timer', () => {
  it('fires at start + k·interval with the trigger payload', () => {
    const {clock, sensor, fires} = harness()
    sensor.setRules([every('test.tick', 10)])
    clock.advance(35_000)
    expect(fires.map((fire) => fire.payload)).toEqual([1, 2, 3].map(
      (k): IntervalTimerPayload => ({
        type: 'interval',
        interval_seconds: 10,
        fired_at: iso(t0 + k * 10_000),
        scheduled_at: iso(t0 + k * 10_000),
        execution_count: k,
        sensor_ref: 'core.timer_sensor',
      }),
    ))
    expect(Object.keys(fires[0].payload)).toEqual(['type', 'interval_seconds', 'fired_at', 'scheduled_at', 'execution_count', 'sensor_ref'])
    expect(fires[2].state).toEqual({last_scheduled_at: iso(t0 + 30_000), execution_count: 3})
    sensor.stop()
  })

  it('does not drift when every wake is late: the next fire is counted from the schedule', () => {
    const {clock, sensor, fires} = harness()
    clock.wakeOffset = () => 37
    sensor.setRules([every('test.tick', 1)])
    clock.advance(100_500)
    expect(fires).toHaveLength(100)
    fires.forEach((fire, index) => {
      const slot = t0 + (index + 1) * 1000
      expect(fire.payload).toMatchObject({scheduled_at: iso(slot), fired_at: iso(slot + 37)})
    })
    sensor.stop()
  })

  it('waits again when a timer wakes early, and never fires before the scheduled time', () => {
    const {clock, sensor, fires} = harness()
    clock.wakeOffset = (delay) => (delay > 1 ? -1 : 0)
    sensor.setRules([every('test.tick', 2)])
    clock.advance(20_000)
    expect(fires).toHaveLength(10)
    for (const fire of fires) expect(fire.payload).toMatchObject({fired_at: (fire.payload as IntervalTimerPayload).scheduled_at})
    sensor.stop()
  })

  it('fires once for the latest slot after a blocked event loop, then keeps the grid', () => {
    const {clock, sensor, fires} = harness()
    sensor.setRules([every('test.tick', 10)])
    clock.advance(10_000)
    clock.jump(35_000) // nothing runs from 10 s to 45 s
    clock.advance(0)
    clock.advance(20_000)
    expect(fires.map((fire) => [(fire.payload as IntervalTimerPayload).scheduled_at, (fire.payload as IntervalTimerPayload).fired_at])).toEqual([
      [iso(t0 + 10_000), iso(t0 + 10_000)],
      [iso(t0 + 40_000), iso(t0 + 45_000)],
      [iso(t0 + 50_000), iso(t0 + 50_000)],
      [iso(t0 + 60_000), iso(t0 + 60_000)],
    ])
    expect(fires.map((fire) => fire.state.execution_count)).toEqual([1, 2, 3, 4])
    sensor.stop()
  })

  it('chunks long delays below the setTimeout limit and still fires on time', () => {
    const {clock, sensor, fires} = harness()
    sensor.setRules([every('test.daily', 3, 'days')])
    clock.advance(3 * 86_400_000 + 1)
    expect(fires).toHaveLength(1)
    expect(fires[0].payload).toMatchObject({scheduled_at: iso(t0 + 3 * 86_400_000), fired_at: iso(t0 + 3 * 86_400_000), interval_seconds: 259_200})
    expect(Math.max(...clock.delays)).toBeLessThanOrEqual(MAX_TIMEOUT_CHUNK_MS)
    expect(MAX_TIMEOUT_CHUNK_MS).toBeLessThan(2 ** 31 - 1)
    sensor.stop()
  })
})

describe('cron timer', () => {
  it('fires on the expression with seconds, naming the next fire', () => {
    const {clock, sensor, fires} = harness('2026-01-15T10:00:03.000Z')
    sensor.setRules([cronRule('test.cron', '*/10 * * * * *')])
    clock.advanceTo('2026-01-15T10:00:31.000Z')
    expect(fires.map((fire) => fire.payload)).toEqual([10, 20, 30].map(
      (second, index): CronTimerPayload => ({
        type: 'cron',
        fired_at: `2026-01-15T10:00:${second}.000Z`,
        scheduled_at: `2026-01-15T10:00:${second}.000Z`,
        expression: '*/10 * * * * *',
        timezone: 'UTC',
        next_fire_at: `2026-01-15T10:00:${second + 10}.000Z`,
        execution_count: index + 1,
        sensor_ref: 'core.timer_sensor',
      }),
    ))
    expect(Object.keys(fires[0].payload)).toEqual(['type', 'fired_at', 'scheduled_at', 'expression', 'timezone', 'next_fire_at', 'execution_count', 'sensor_ref'])
    sensor.stop()
  })

  it('fires at the wall-clock time of its time zone', () => {
    const {clock, sensor, fires} = harness('2026-03-27T12:00:00.000Z')
    sensor.setRules([cronRule('test.morning', '0 0 9 * * *', 'Europe/Berlin')])
    clock.advanceTo('2026-03-31T00:00:00.000Z')
    expect(fires.map((fire) => (fire.payload as CronTimerPayload).scheduled_at)).toEqual([
      '2026-03-28T08:00:00.000Z',
      '2026-03-29T07:00:00.000Z',
      '2026-03-30T07:00:00.000Z',
    ])
    expect(fires[0].payload).toMatchObject({timezone: 'Europe/Berlin'})
    sensor.stop()
  })

  it('catches up once after a gap, for the latest missed run', () => {
    const {clock, sensor, fires} = harness('2026-01-15T10:05:30.000Z')
    sensor.setRules([cronRule('test.minutely', '0 * * * * *')], {'test.minutely': {last_scheduled_at: '2026-01-15T10:00:00.000Z', execution_count: 7}})
    clock.advanceTo('2026-01-15T10:06:00.000Z')
    expect(fires.map((fire) => [(fire.payload as CronTimerPayload).scheduled_at, (fire.payload as CronTimerPayload).fired_at, fire.state.execution_count])).toEqual([
      ['2026-01-15T10:05:00.000Z', '2026-01-15T10:05:30.000Z', 8],
      ['2026-01-15T10:06:00.000Z', '2026-01-15T10:06:00.000Z', 9],
    ])
    sensor.stop()
  })

  it('finds the latest run after a long gap quickly, even for an every-second expression', () => {
    const {clock, sensor, fires} = harness('2026-01-22T10:00:00.500Z')
    const started = performance.now()
    sensor.setRules([cronRule('test.second', '* * * * * *')], {'test.second': {last_scheduled_at: '2026-01-15T10:00:00.000Z', execution_count: 1}})
    clock.advance(0)
    expect(performance.now() - started).toBeLessThan(1000)
    expect(fires).toHaveLength(1)
    expect(fires[0].payload).toMatchObject({scheduled_at: '2026-01-22T10:00:00.000Z', next_fire_at: '2026-01-22T10:00:01.000Z', execution_count: 2})
    sensor.stop()
  })
})

describe('datetime timer', () => {
  it('fires once at fire_at', () => {
    const {clock, sensor, fires} = harness()
    clock.wakeOffset = () => 3
    sensor.setRules([once('test.once', '2026-01-15T10:00:05Z')])
    clock.advance(60_000)
    expect(fires.map((fire) => fire.payload)).toEqual([
      {
        type: 'one_shot',
        fire_at: '2026-01-15T10:00:05.000Z',
        fired_at: '2026-01-15T10:00:05.003Z',
        timezone: 'UTC',
        delay_ms: 3,
        sensor_ref: 'core.timer_sensor',
      } satisfies DatetimeTimerPayload,
    ])
    expect(Object.keys(fires[0].payload)).toEqual(['type', 'fire_at', 'fired_at', 'timezone', 'delay_ms', 'sensor_ref'])
    expect(clock.pending).toBe(0)
    expect(sensor.status()[0]).toMatchObject({next_fire_at: null, last_scheduled_at: '2026-01-15T10:00:05.000Z', execution_count: 1})
    sensor.stop()
  })

  it('never fires a fire_at that had passed before the rule was first seen', () => {
    const {clock, sensor, fires} = harness()
    sensor.setRules([once('test.past', '2026-01-15T09:00:00Z')])
    clock.advance(60_000)
    expect(fires).toHaveLength(0)
    expect(sensor.status()[0]).toMatchObject({next_fire_at: null, execution_count: 0})
    sensor.stop()
  })

  it('fires a missed fire_at at once when the stored state says it was armed and not fired', () => {
    const {clock, sensor, fires} = harness()
    sensor.setRules([once('test.missed', '2026-01-15T09:00:00Z')], new Map([['test.missed', {last_scheduled_at: null, execution_count: 0}]]))
    // Never inside setRules: the catch-up fire comes from its own timer.
    expect(fires).toHaveLength(0)
    clock.advance(0)
    expect(fires).toHaveLength(1)
    expect(fires[0].payload).toMatchObject({fire_at: '2026-01-15T09:00:00.000Z', fired_at: T0, delay_ms: 3_600_000})
    clock.advance(3_600_000)
    expect(fires).toHaveLength(1)
    sensor.stop()
  })

  it('does not fire again when the stored state says it fired', () => {
    const {clock, sensor, fires} = harness()
    const fired = {last_scheduled_at: '2026-01-15T09:00:00.000Z', execution_count: 1}
    sensor.setRules([once('test.done', '2026-01-15T09:00:00Z')], {'test.done': fired})
    clock.advance(60_000)
    expect(fires).toHaveLength(0)
    sensor.stop()
  })
})

describe('rrule timer', () => {
  it('fires daily at 09:00 Berlin time across the change to summer time, with Attune\'s payload', () => {
    const {clock, sensor, fires} = harness('2026-03-27T12:00:00.000Z')
    clock.wakeOffset = () => 4
    sensor.setRules([rruleRule('test.morning', {freq: 'DAILY', by_hour: [9], by_minute: [0], by_second: [0], dtstart: '2026-03-01T09:00:00', timezone: 'Europe/Berlin'})])
    clock.advanceTo('2026-03-31T00:00:00.000Z')
    expect(fires.map((fire) => fire.payload)).toEqual(
      ['2026-03-28T08:00:00.000Z', '2026-03-29T07:00:00.000Z', '2026-03-30T07:00:00.000Z'].map(
        (at, index): RruleTimerPayload => ({
          type: 'rrule',
          fired_at: iso(Date.parse(at) + 4),
          scheduled_at: at,
          delay_ms: 4,
          execution_count: index + 1,
          sensor_ref: 'core.timer_sensor',
        }),
      ),
    )
    expect(Object.keys(fires[0].payload)).toEqual(['type', 'fired_at', 'scheduled_at', 'delay_ms', 'execution_count', 'sensor_ref'])
    expect(sensor.status()[0]).toMatchObject({kind: 'rrule', next_fire_at: '2026-03-31T07:00:00.000Z', execution_count: 3, error: null})
    sensor.stop()
  })

  it('fires every 5 minutes at seconds 0 and 30 without drift, the first occurrence after the start', () => {
    const {clock, sensor, fires} = harness('2026-01-15T10:06:10.000Z')
    clock.wakeOffset = () => 37
    sensor.setRules([rruleRule('test.grid', {freq: 'MINUTELY', interval: 5, by_second: [0, 30], dtstart: '2026-01-15T08:02:00Z'})])
    clock.advanceTo('2026-01-15T10:23:00.000Z')
    expect(scheduled(fires)).toEqual(['10:07:00', '10:07:30', '10:12:00', '10:12:30', '10:17:00', '10:17:30', '10:22:00', '10:22:30'].map((time) => `2026-01-15T${time}.000Z`))
    expect(fires.map((fire) => (fire.payload as RruleTimerPayload).delay_ms)).toEqual(Array(8).fill(37))
    sensor.stop()
  })

  it('stops after COUNT occurrences and reports no next fire, like a datetime timer that fired', () => {
    const {clock, sensor, fires, errors} = harness()
    sensor.setRules([rruleRule('test.thrice', {freq: 'HOURLY', count: 3, dtstart: '2026-01-15T09:30:00Z'})])
    clock.advance(5 * 3_600_000)
    // 09:30, 10:30, 11:30; 09:30 is before the start: the timer fires the remaining two.
    expect(scheduled(fires)).toEqual(['2026-01-15T10:30:00.000Z', '2026-01-15T11:30:00.000Z'])
    expect(clock.pending).toBe(0)
    expect(errors).toEqual([])
    expect(sensor.status()[0]).toMatchObject({kind: 'rrule', next_fire_at: null, last_scheduled_at: '2026-01-15T11:30:00.000Z', execution_count: 2, error: null})
    sensor.stop()
  })

  it('fires at UNTIL itself and not after it', () => {
    const {clock, sensor, fires} = harness()
    sensor.setRules([rruleRule('test.until', {rule: 'FREQ=MINUTELY;INTERVAL=20;UNTIL=20260115T110000Z', dtstart: '2026-01-15T10:00:00Z'})])
    clock.advance(3 * 3_600_000)
    expect(scheduled(fires)).toEqual(['10:20', '10:40', '11:00'].map((time) => `2026-01-15T${time}:00.000Z`))
    expect(clock.pending).toBe(0)
    sensor.stop()
  })

  it('does not arm a rule that is exhausted before it is first seen', () => {
    const {clock, sensor, fires, errors} = harness()
    sensor.setRules([rruleRule('test.over', {freq: 'DAILY', until: '2026-01-01T00:00:00Z', dtstart: '2025-12-01T00:00:00Z'})])
    clock.advance(86_400_000)
    expect([fires, errors, clock.pending]).toEqual([[], [], 0])
    expect(sensor.status()[0]).toMatchObject({next_fire_at: null, execution_count: 0, error: null})
    sensor.stop()
  })

  it('keeps a rule with a bad rule out, naming the field, and runs the others', () => {
    const {clock, sensor, errors, fires} = harness()
    sensor.setRules([rruleRule('test.bad', {rule: 'FREQ=DAILY;BYHOUR=24', dtstart: T0}), rruleRule('test.good', {freq: 'SECONDLY', interval: 2, dtstart: T0})])
    expect(errors.map((error) => [error.ref, (error.error as TimerConfigError).field])).toEqual([['test.bad', 'trigger_params.rule']])
    clock.advance(4_000)
    expect(fires.map((fire) => fire.rule.ref)).toEqual(['test.good', 'test.good'])
    expect(sensor.status().find((status) => status.rule_ref === 'test.bad')).toMatchObject({kind: 'rrule', next_fire_at: null, error: expect.stringMatching(/BYHOUR: 24 is out of range/)})
    sensor.stop()
  })

  it('resumes across restarts and moves without a doubled or lost occurrence, and catches up once', () => {
    const store = new Map<string, TimerStateInput>()
    const clock = new ManualClock('2026-01-15T10:00:00.000Z')
    const seen: [string, number][] = []
    const daemon = () =>
      new TimerSensor<Rule>({
        clock,
        onFire: (_rule, payload) => {
          seen.push([(payload as RruleTimerPayload).scheduled_at, (payload as RruleTimerPayload).execution_count])
        },
        onState: (rule, state) => {
          store.set(rule.ref, state)
        },
      })
    // Every 10 minutes from 10:05, five times: 10:05 ... 10:45.
    const rules = [rruleRule('test.tick', {freq: 'MINUTELY', interval: 10, count: 5, dtstart: '2026-01-15T10:05:00Z'})]
    const first = daemon()
    first.setRules(rules, store)
    clock.advanceTo('2026-01-15T10:16:00.000Z')
    first.stop()
    // Restart at once: the next daemon continues after the stored 10:15.
    const second = daemon()
    second.setRules(rules, store)
    clock.advanceTo('2026-01-15T10:26:00.000Z')
    second.stop()
    // Nobody runs it from 10:26 to 10:41: one catch-up fire for 10:35 (10:35 is the latest missed).
    clock.jump(15 * 60_000)
    const third = daemon()
    third.setRules(rules, store)
    clock.advanceTo('2026-01-15T12:00:00.000Z')
    expect(clock.pending).toBe(0)
    third.stop()
    // Another restart after the last occurrence: exhausted, nothing more.
    const fourth = daemon()
    fourth.setRules(rules, store)
    clock.advanceTo('2026-01-16T12:00:00.000Z')
    fourth.stop()
    expect(seen).toEqual([
      ['2026-01-15T10:05:00.000Z', 1],
      ['2026-01-15T10:15:00.000Z', 2],
      ['2026-01-15T10:25:00.000Z', 3],
      ['2026-01-15T10:35:00.000Z', 4],
      ['2026-01-15T10:45:00.000Z', 5],
    ])
    expect(store.get('test.tick')).toEqual({last_scheduled_at: '2026-01-15T10:45:00.000Z', execution_count: 5})
    expect(clock.pending).toBe(0)
  })
})

describe('persistence across restarts and moves', () => {
  it('reports an armed state for a new timer, then the state of every fire', () => {
    const {clock, sensor, states, fires} = harness()
    sensor.setRules([every('test.tick', 5)])
    clock.advance(10_000)
    expect(states).toEqual([
      {ref: 'test.tick', reason: 'armed', state: {last_scheduled_at: null, execution_count: 0}},
      {ref: 'test.tick', reason: 'fired', state: {last_scheduled_at: iso(t0 + 5_000), execution_count: 1}},
      {ref: 'test.tick', reason: 'fired', state: {last_scheduled_at: iso(t0 + 10_000), execution_count: 2}},
    ])
    expect(fires.map((fire) => fire.state)).toEqual(states.slice(1).map((entry) => entry.state))
    sensor.stop()
  })

  it('resumes an interval timer at last_scheduled_at + interval, counting on', () => {
    const {clock, sensor, fires, states} = harness()
    sensor.setRules([every('test.tick', 10)], {'test.tick': {last_scheduled_at: new Date(t0 - 4_000), execution_count: 41}})
    expect(states).toEqual([])
    clock.advance(20_000)
    expect(fires.map((fire) => [(fire.payload as IntervalTimerPayload).scheduled_at, fire.state.execution_count])).toEqual([
      [iso(t0 + 6_000), 42],
      [iso(t0 + 16_000), 43],
    ])
    sensor.stop()
  })

  it('catches up a fire missed while no daemon owned the timer once, not in a burst', () => {
    const {clock, sensor, fires} = harness()
    // Last fire 55 s ago on a 10 s interval: 5 slots missed, the latest at t0 - 5 s.
    sensor.setRules([every('test.tick', 10)], {'test.tick': {last_scheduled_at: iso(t0 - 55_000), execution_count: 3}})
    clock.advance(10_000)
    expect(fires.map((fire) => [(fire.payload as IntervalTimerPayload).scheduled_at, (fire.payload as IntervalTimerPayload).fired_at])).toEqual([
      [iso(t0 - 5_000), T0],
      [iso(t0 + 5_000), iso(t0 + 5_000)],
    ])
    expect(fires.map((fire) => fire.state.execution_count)).toEqual([4, 5])
    sensor.stop()
  })

  it('moves between daemons without losing or doubling a scheduled time', () => {
    const store = new Map<string, TimerStateInput>()
    const clock = new ManualClock(T0)
    const seen: string[] = []
    const daemon = () =>
      new TimerSensor<Rule>({
        clock,
        onFire: (_rule, payload) => {
          seen.push((payload as IntervalTimerPayload).scheduled_at)
        },
        onState: (rule, state) => {
          store.set(rule.ref, state)
        },
      })
    const rules = [every('test.tick', 1)]
    const first = daemon()
    first.setRules(rules, store)
    clock.advance(3_500)
    first.stop()
    // Lease moves at once: the next daemon continues the grid.
    const second = daemon()
    second.setRules(rules, store)
    clock.advance(2_000)
    second.stop()
    // Lease moves after 2.7 s of no owner: one catch-up fire for the latest slot.
    clock.jump(2_700)
    const third = daemon()
    third.setRules(rules, store)
    clock.advance(1_000)
    third.stop()
    expect(seen).toEqual([1, 2, 3, 4, 5, 8, 9].map((k) => iso(t0 + k * 1000)))
    expect(store.get('test.tick')).toEqual({last_scheduled_at: iso(t0 + 9_000), execution_count: 7})
    expect(clock.pending).toBe(0)
  })

  it('never fires a slot twice when the stored time is in the future (clock skew between hosts)', () => {
    const {clock, sensor, fires} = harness()
    sensor.setRules([every('test.tick', 10)], {'test.tick': {last_scheduled_at: iso(t0 + 2_000), execution_count: 9}})
    clock.advance(12_000)
    expect(fires.map((fire) => (fire.payload as IntervalTimerPayload).scheduled_at)).toEqual([iso(t0 + 12_000)])
    sensor.stop()
  })

  it('reports an unreadable stored state and starts fresh', () => {
    const {clock, sensor, fires, errors} = harness()
    sensor.setRules([every('test.tick', 10)], {'test.tick': {last_scheduled_at: 'yesterday', execution_count: 3}})
    expect(errors).toHaveLength(1)
    expect(errors[0].error.message).toMatch(/state\.last_scheduled_at/)
    clock.advance(10_000)
    expect(fires[0].state).toEqual({last_scheduled_at: iso(t0 + 10_000), execution_count: 1})
    sensor.stop()
  })
})

describe('dynamic rules', () => {
  it('starts new rules, stops removed and disabled ones, restarts changed ones', () => {
    const {clock, sensor, firesOf} = harness()
    sensor.setRules([every('test.a', 10), every('test.b', 10)])
    expect(clock.pending).toBe(2)
    clock.advance(10_000)
    // b removed, c added, a changed: a restarts from now (t0 + 15 s) with a fresh count.
    clock.advance(5_000)
    sensor.setRules([every('test.a', 4), every('test.c', 10)])
    expect(clock.pending).toBe(2)
    clock.advance(10_000)
    expect(firesOf('test.a').map((fire) => [(fire.payload as IntervalTimerPayload).scheduled_at, fire.state.execution_count])).toEqual([
      [iso(t0 + 10_000), 1],
      [iso(t0 + 19_000), 1],
      [iso(t0 + 23_000), 2],
    ])
    expect(firesOf('test.b')).toHaveLength(1)
    expect(firesOf('test.c').map((fire) => (fire.payload as IntervalTimerPayload).scheduled_at)).toEqual([iso(t0 + 25_000)])
    sensor.setRules([every('test.a', 4), every('test.c', 10, 'seconds', {enabled: false})])
    expect(sensor.status().map((status) => status.rule_ref)).toEqual(['test.a'])
    expect(clock.pending).toBe(1)
    sensor.stop()
  })

  it('keeps the schedule when only other fields of the rule change, and hands back the new rule', () => {
    const {clock, sensor, fires} = harness()
    sensor.setRules([every('test.a', 10, 'seconds', {label: 'old'})])
    clock.advance(6_000)
    // Same parameters in another key order: not a change.
    sensor.upsertRule({ref: 'test.a', trigger_ref: 'core.intervaltimer', trigger_params: {interval: 10, unit: 'seconds'}, label: 'new'})
    clock.advance(4_000)
    expect(fires).toHaveLength(1)
    expect(fires[0].rule.label).toBe('new')
    expect(fires[0].payload).toMatchObject({scheduled_at: iso(t0 + 10_000)})
    sensor.stop()
  })

  it('adds and removes single rules', () => {
    const {clock, sensor, firesOf} = harness()
    sensor.upsertRule(every('test.a', 1))
    sensor.upsertRule(cronRule('test.b', '* * * * * *'))
    clock.advance(2_000)
    expect(sensor.removeRule('test.a')).toBe(true)
    expect(sensor.removeRule('test.a')).toBe(false)
    clock.advance(2_000)
    expect(firesOf('test.a')).toHaveLength(2)
    expect(firesOf('test.b')).toHaveLength(4)
    sensor.stop()
  })

  it('takes the store\'s rule rows as they are and hands the same object back', () => {
    const clock = new ManualClock(T0)
    const fired: RuleRow[] = []
    const sensor = new TimerSensor<RuleRow>({clock, onFire: (rule) => void fired.push(rule)})
    const row: RuleRow = {
      id: 7,
      ref: 'examples.heartbeat',
      pack: 2,
      pack_ref: 'examples',
      label: 'Heartbeat',
      description: null,
      action: null,
      action_ref: 'core.echo',
      trigger: 3,
      trigger_ref: 'core.intervaltimer',
      conditions: {all: []},
      action_params: {},
      trigger_params: {unit: 'seconds', interval: 10},
      enabled: true,
      created: new Date(t0),
      updated: new Date(t0),
    }
    sensor.setRules([row])
    clock.advance(10_000)
    expect(fired).toEqual([row])
    expect(fired[0]).toBe(row)
    sensor.stop()
  })

  it('ignores rules of other triggers', () => {
    const {clock, sensor, errors} = harness()
    sensor.setRules([{ref: 'examples.disk', trigger_ref: 'examples.disk_full', trigger_params: {}}, every('test.a', 1)])
    expect(sensor.size).toBe(1)
    expect(errors).toEqual([])
    expect(clock.pending).toBe(1)
    sensor.stop()
  })

  it('stops every timer on stop(), and stays stopped', () => {
    const {clock, sensor, fires} = harness()
    sensor.setRules([every('test.a', 1), cronRule('test.b', '* * * * * *'), once('test.c', '2027-01-01T00:00:00Z')])
    expect(clock.pending).toBe(3)
    sensor.stop()
    expect(clock.pending).toBe(0)
    sensor.setRules([every('test.a', 1)])
    sensor.upsertRule(every('test.d', 1))
    clock.advance(10_000)
    expect(fires).toHaveLength(0)
    expect(clock.pending).toBe(0)
    expect(sensor.status()).toEqual([])
  })

  it('lets onFire remove its own rule (a one-shot done, a rule disabled)', () => {
    const clock = new ManualClock(T0)
    let count = 0
    const sensor: TimerSensor<Rule> = new TimerSensor<Rule>({
      clock,
      onFire: (rule) => {
        count++
        sensor.removeRule(rule.ref)
      },
    })
    sensor.setRules([every('test.a', 1)])
    clock.advance(5_000)
    expect(count).toBe(1)
    expect(clock.pending).toBe(0)
  })
})

describe('errors', () => {
  it('keeps a rule with bad parameters out of the timers, names it, and runs the others', () => {
    const {clock, sensor, errors, fires} = harness()
    sensor.setRules([cronRule('test.bad', '* * * *'), cronRule('test.zone', '* * * * * *', 'Nowhere/City'), every('test.good', 1)])
    expect(errors.map((error) => [error.ref, (error.error as TimerConfigError).field])).toEqual([
      ['test.bad', 'trigger_params.expression'],
      ['test.zone', 'trigger_params.timezone'],
    ])
    clock.advance(2_000)
    expect(fires.map((fire) => fire.rule.ref)).toEqual(['test.good', 'test.good'])
    const status = sensor.status()
    expect(status.find((entry) => entry.rule_ref === 'test.bad')).toMatchObject({kind: 'cron', next_fire_at: null, error: expect.stringMatching(/^rule 'test\.bad': trigger_params\.expression/)})
    expect(status.find((entry) => entry.rule_ref === 'test.good')).toMatchObject({next_fire_at: iso(t0 + 3_000), error: null})
    // The same bad rule again is not reported twice; a fixed one starts.
    sensor.setRules([cronRule('test.bad', '* * * *'), cronRule('test.zone', '* * * * * *', 'Europe/Paris'), every('test.good', 1)])
    expect(errors).toHaveLength(2)
    clock.advance(1_000)
    expect(fires.filter((fire) => fire.rule.ref === 'test.zone')).toHaveLength(1)
    sensor.stop()
  })

  it('reports a throwing or rejecting onFire and keeps the schedule', async () => {
    const clock = new ManualClock(T0)
    const errors: string[] = []
    let calls = 0
    const sensor = new TimerSensor<Rule>({
      clock,
      onFire: () => {
        calls++
        if (calls === 1) throw new Error('store down')
        if (calls === 2) return Promise.reject(new Error('store still down'))
      },
      onError: (_rule, error) => {
        errors.push(error.message)
      },
    })
    sensor.setRules([every('test.a', 1)])
    clock.advance(3_000)
    await new Promise((resolve) => setImmediate(resolve))
    expect(calls).toBe(3)
    expect(errors).toEqual(['store down', 'store still down'])
    sensor.stop()
  })
})
