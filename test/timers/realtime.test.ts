// The timer sensor on real timers. The schedule is asserted exactly (scheduled_at is
// start + k·interval); wall-clock lateness only loosely, since these run on loaded machines
// (the precise figures belong to bench/timers.mjs). The tests run concurrently: ~5 s in all.
import {describe, expect, it} from 'vitest'
import {TimerSensor, type TimerClock, type TimerPayload, type TimerRule} from '../../src/engine/timers/index.js'

const LOOSE_MS = 100

interface Fire {
  payload: TimerPayload & {scheduled_at: string}
  /** The clock's time when onFire ran. */
  at: number
}

function run(rule: TimerRule, count: number, clock?: TimerClock) {
  const fires: Fire[] = []
  let resolve!: () => void
  const done = new Promise<void>((ok) => {
    resolve = ok
  })
  const sensor = new TimerSensor({
    clock,
    onFire: (_rule, payload) => {
      fires.push({payload: payload as Fire['payload'], at: (clock ?? Date).now()})
      if (fires.length === count) {
        sensor.stop()
        resolve()
      }
    },
  })
  const before = (clock ?? Date).now()
  sensor.setRules([rule])
  const after = (clock ?? Date).now()
  return {fires, done, before, after}
}

/**
 * Real timers with time running `factor` times faster: a 1 s interval (the trigger's
 * smallest) becomes 200 ms of real time at factor 5, so 20 fires take 4 s.
 */
function fastClock(factor: number): TimerClock {
  const origin = Date.now()
  const start = performance.now()
  return {
    now: () => origin + Math.floor((performance.now() - start) * factor),
    setTimeout: (callback, ms) => setTimeout(callback, ms / factor),
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  }
}

const scheduled = (fire: Fire) => Date.parse(fire.payload.scheduled_at)

describe.concurrent('timers on real timers', () => {
  it('an interval timer at 200 ms (real) fires 20 times on the grid without drift', async () => {
    const factor = 5
    const clock = fastClock(factor)
    const {fires, done, before, after} = run({ref: 'test.fast', trigger_ref: 'core.intervaltimer', trigger_params: {unit: 'seconds', interval: 1}}, 20, clock)
    await done
    const first = scheduled(fires[0])
    expect(first).toBeGreaterThanOrEqual(before + 1000)
    expect(first).toBeLessThanOrEqual(after + 1000)
    expect(fires.map(scheduled)).toEqual(fires.map((_, k) => first + k * 1000))
    for (const fire of fires) {
      expect(fire.at).toBeGreaterThanOrEqual(scheduled(fire))
      expect((fire.at - scheduled(fire)) / factor).toBeLessThan(LOOSE_MS)
    }
    const drift = (fires[19].at - fires[0].at - 19 * 1000) / factor
    expect(Math.abs(drift)).toBeLessThan(LOOSE_MS)
  })

  it('an interval timer at 1 s on the system clock fires on start + k·1 s', async () => {
    const {fires, done, before, after} = run({ref: 'test.second', trigger_ref: 'core.intervaltimer', trigger_params: {unit: 'seconds', interval: 1}}, 5)
    await done
    const first = scheduled(fires[0])
    expect(first).toBeGreaterThanOrEqual(before + 1000)
    expect(first).toBeLessThanOrEqual(after + 1000)
    expect(fires.map(scheduled)).toEqual([0, 1, 2, 3, 4].map((k) => first + k * 1000))
    for (const fire of fires) {
      expect(Date.parse(fire.payload.fired_at)).toBeGreaterThanOrEqual(scheduled(fire))
      expect(fire.at - scheduled(fire)).toBeLessThan(LOOSE_MS)
    }
  })

  it('a cron timer every second fires on whole seconds', async () => {
    const {fires, done} = run({ref: 'test.cron', trigger_ref: 'core.crontimer', trigger_params: {expression: '* * * * * *'}}, 4)
    await done
    const first = scheduled(fires[0])
    expect(first % 1000).toBe(0)
    expect(fires.map(scheduled)).toEqual([0, 1, 2, 3].map((k) => first + k * 1000))
    for (const fire of fires) expect(fire.at - scheduled(fire)).toBeLessThan(LOOSE_MS)
  })

  it('leaves no timer handle behind after stop()', async () => {
    const timeouts = () => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length
    const baseline = timeouts()
    const sensor = new TimerSensor({onFire: () => {}})
    sensor.setRules([
      {ref: 'test.a', trigger_ref: 'core.intervaltimer', trigger_params: {unit: 'days', interval: 30}},
      {ref: 'test.b', trigger_ref: 'core.crontimer', trigger_params: {expression: '0 0 0 1 1 *'}},
      {ref: 'test.c', trigger_ref: 'core.datetimetimer', trigger_params: {fire_at: '2099-01-01T00:00:00Z'}},
    ])
    expect(timeouts()).toBeGreaterThanOrEqual(baseline + 3)
    sensor.stop()
    expect(timeouts()).toBeLessThanOrEqual(baseline)
  })
})
