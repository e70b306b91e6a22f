import {afterEach, describe, expect, it} from 'vitest'
import {ringLogger} from '../../src/daemon/logger.js'
import {DaemonMetrics} from '../../src/daemon/metrics.js'
import {PollScheduler, type PollOutcome, type SchedulerOptions} from '../../src/daemon/scheduler.js'
import {eventually} from '../support/sensors.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const ok = (durationMs = 1): PollOutcome => ({ok: true, events: 1, enforcements: 0, durationMs})
let schedulers: PollScheduler[] = []
afterEach(async () => {
  for (const scheduler of schedulers) await scheduler.stop(1000)
  schedulers = []
})

function scheduler(poll: SchedulerOptions['poll'], options: Partial<SchedulerOptions> = {}) {
  const logger = ringLogger()
  const instance = new PollScheduler({poll, maxConcurrent: 16, maxRestartAttempts: 3, maxBackoffMs: 60_000, logger, random: () => 0, ...options})
  schedulers.push(instance)
  return {instance, logger}
}

describe('PollScheduler', () => {
  it('polls each sensor on its interval, from the scheduled grid (no drift)', async () => {
    const starts: number[] = []
    const {instance} = scheduler(async () => {
      starts.push(performance.now())
      await sleep(30) // a poll that takes time must not push the next one later
      return ok()
    })
    instance.upsert({ref: 'a.one', intervalMs: 200, version: '1'})
    await sleep(2100)
    // Bounds that hold on a loaded machine (timers fire late, never early); the precise figure
    // is a benchmark (bench/timers.mjs).
    expect(starts.length).toBeGreaterThanOrEqual(5)
    expect(starts.length).toBeLessThanOrEqual(12)
    // With drift each gap would be the interval plus the poll's 30 ms (230 ms or more); on the
    // grid the average gap is the interval, and a late start is made up by the next one.
    const average = (starts.at(-1)! - starts[0]) / (starts.length - 1)
    expect(average).toBeGreaterThan(190)
    expect(average).toBeLessThan(226)
  })

  it('never runs two polls of one sensor at once, and counts the overruns', async () => {
    let running = 0
    let maxRunning = 0
    const metrics = new DaemonMetrics()
    const {instance} = scheduler(
      async () => {
        running++
        maxRunning = Math.max(maxRunning, running)
        await sleep(250)
        running--
        return ok(250)
      },
      {metrics},
    )
    instance.upsert({ref: 'a.slow', intervalMs: 50, version: '1'})
    await sleep(700)
    expect(maxRunning).toBe(1)
    const [status] = instance.snapshot()
    expect(status.overruns).toBeGreaterThanOrEqual(2) // 12 slots in 700 ms; fewer if the machine is loaded
    expect(await metrics.text()).toMatch(/attune_sensor_poll_overruns_total\{sensor="a.slow"\} \d+/)
  })

  it('keeps to the global concurrency bound', async () => {
    let running = 0
    let maxRunning = 0
    let polls = 0
    const {instance} = scheduler(
      async () => {
        running++
        polls++
        maxRunning = Math.max(maxRunning, running)
        await sleep(40)
        running--
        return ok(40)
      },
      {maxConcurrent: 3},
    )
    for (let i = 0; i < 10; i++) instance.upsert({ref: `a.s${i}`, intervalMs: 100, version: '1'})
    await sleep(600)
    expect(maxRunning).toBe(3)
    expect(polls).toBeGreaterThan(6)
  })

  it('marks a sensor failed after 3 consecutive failures, backs off, and recovers', async () => {
    let broken = true
    const times: number[] = []
    const {instance, logger} = scheduler(async () => {
      times.push(performance.now())
      return broken ? {ok: false, error: 'boom', events: 0, enforcements: 0, durationMs: 1} : ok()
    })
    instance.upsert({ref: 'a.flaky', intervalMs: 100, version: '1'})
    // The third consecutive failure marks it failed (polls at 0, 100, 200 ms on an idle machine).
    expect(await eventually(() => instance.snapshot()[0].consecutive_failures >= 3)).toBe(true)
    let [status] = instance.snapshot()
    expect(status.state).toBe('failed')
    expect(times.length).toBe(status.consecutive_failures)
    expect(status.last_error).toBe('boom')
    // Backoff: the gaps after failing grow (1×, 2×, 4× the interval: 700 ms for three). Without
    // backoff three gaps take 300 ms; load only makes gaps longer, so the bound cannot fail falsely.
    expect(await eventually(() => times.length >= 6, 5000)).toBe(true)
    const gaps = times.slice(3).map((time, index) => time - times[index + 2])
    expect(gaps[0] + gaps[1] + gaps[2]).toBeGreaterThan(550)
    broken = false
    expect(await eventually(() => instance.snapshot()[0].state === 'running', 5000)).toBe(true)
    ;[status] = instance.snapshot()
    expect(status.consecutive_failures).toBe(0)
    expect(status.failures).toBeGreaterThanOrEqual(4)
    expect(logger.records().map((record) => record.msg)).toContain('sensor recovered')
  })

  it('does not count infrastructure errors against the sensor', async () => {
    const {instance} = scheduler(async () => {
      throw new Error('database is down')
    })
    instance.upsert({ref: 'a.s', intervalMs: 30, version: '1'})
    await sleep(200)
    const [status] = instance.snapshot()
    expect(status.consecutive_failures).toBe(0)
    expect(status.state).toBe('starting')
  })

  it('pauses and resumes', async () => {
    let polls = 0
    const {instance} = scheduler(async () => {
      polls++
      return ok()
    })
    instance.upsert({ref: 'a.s', intervalMs: 30, version: '1'})
    await sleep(100)
    instance.pause()
    const atPause = polls
    await sleep(200)
    expect(polls).toBe(atPause)
    expect(instance.snapshot()[0].state).toBe('paused')
    instance.resume()
    expect(await eventually(() => polls > atPause + 2, 5000)).toBe(true)
  })

  it('restarts a changed sensor, ignores an unchanged one, and stops a removed one', async () => {
    const polled: string[] = []
    const {instance} = scheduler(async (ref) => {
      polled.push(ref)
      return ok()
    })
    instance.upsert({ref: 'a.s', intervalMs: 1000, version: '1'})
    await sleep(50)
    expect(polled).toEqual(['a.s']) // random() = 0: the first poll is immediate
    instance.upsert({ref: 'a.s', intervalMs: 1000, version: '1'})
    await sleep(50)
    expect(polled).toEqual(['a.s'])
    instance.upsert({ref: 'a.s', intervalMs: 1000, version: '2'})
    await sleep(50)
    expect(polled).toEqual(['a.s', 'a.s'])
    expect(instance.snapshot()[0].polls).toBe(2) // statistics survive a change
    instance.remove('a.s')
    expect(instance.refs()).toEqual([])
  })

  it('spreads first polls over the interval (jitter)', async () => {
    const firsts = new Map<string, number>()
    const started = performance.now()
    const {instance} = scheduler(
      async (ref) => {
        if (!firsts.has(ref)) firsts.set(ref, performance.now() - started)
        return ok()
      },
      {random: Math.random},
    )
    for (let i = 0; i < 40; i++) instance.upsert({ref: `a.s${i}`, intervalMs: 400, version: '1'})
    expect(await eventually(() => firsts.size === 40, 5000)).toBe(true)
    // Spread over the 400 ms interval; without jitter all 40 would start within a few ms.
    const times = [...firsts.values()]
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(150)
  })

  it('waits for polls in flight when stopped', async () => {
    let finished = false
    const {instance} = scheduler(async () => {
      await sleep(150)
      finished = true
      return ok()
    })
    instance.upsert({ref: 'a.s', intervalMs: 1000, version: '1'})
    await sleep(20)
    const result = await instance.stop(2000)
    expect(result.finished).toBe(true)
    expect(finished).toBe(true)
  })

  it('gives up waiting at the shutdown timeout', async () => {
    const {instance} = scheduler(() => new Promise<PollOutcome>(() => {}))
    instance.upsert({ref: 'a.s', intervalMs: 1000, version: '1'})
    await sleep(20)
    const result = await instance.stop(100)
    expect(result).toEqual({finished: false, inflight: 1})
  })

  it('polls again after a pause the sensors that were waiting for a concurrency slot', async () => {
    // Two slots, five sensors: three wait. A pause (the database went down) drops the waiting
    // polls; before the fix their entries stayed "queued" and skipped every later slot forever.
    const polled = new Set<string>()
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const {instance} = scheduler(
      async (ref) => {
        await gate
        polled.add(ref)
        return ok()
      },
      {maxConcurrent: 2},
    )
    for (let i = 0; i < 5; i++) instance.upsert({ref: `q.s${i}`, intervalMs: 100, version: '1'})
    await sleep(150)
    instance.pause()
    release()
    await sleep(50)
    polled.clear()
    instance.resume()
    expect(await eventually(() => polled.size === 5, 5000)).toBe(true)
    expect(instance.snapshot().every((status) => status.state === 'running')).toBe(true)
  })

  it('releases a poll at its deadline: reported, rescheduled, never left running; its late end changes nothing', async () => {
    let calls = 0
    const metrics = new DaemonMetrics()
    const {instance, logger} = scheduler(
      async () => {
        calls++
        if (calls === 1) await sleep(10_000) // hangs past the deadline
        return ok()
      },
      {deadlineMs: () => 200, metrics},
    )
    instance.upsert({ref: 'd.hang', intervalMs: 100, version: '1'})
    expect(await eventually(() => calls >= 3, 5000)).toBe(true)
    const [status] = instance.snapshot()
    expect(status.polls).toBeGreaterThanOrEqual(1)
    expect(logger.records().some((record) => record.msg === 'poll exceeded its deadline: rescheduled' && record.sensor === 'd.hang')).toBe(true)
    expect(await metrics.text()).toMatch(/attune_sensor_poll_deadlines_total\{sensor="d.hang"\} 1/)
  })

  it('reports a sensor stuck when no poll completed within 3x its interval, not while paused', async () => {
    let now = 1_000_000
    let hang = false
    const {instance} = scheduler(
      async () => {
        if (hang) await new Promise(() => {})
        return ok()
      },
      {now: () => now},
    )
    instance.upsert({ref: 's.one', intervalMs: 1000, version: '1'})
    now += 2500
    expect(instance.stuck()).toEqual([])
    now += 1000 // 3.5 intervals since it was added, no poll completed (the fake clock never fires the timer)
    expect(instance.stuck()).toEqual(['s.one'])
    expect(instance.snapshot()[0].stuck).toBe(true)
    instance.pause()
    expect(instance.stuck()).toEqual([])
    instance.resume() // the outage does not count against it
    expect(instance.stuck()).toEqual([])
    now += 3100
    expect(instance.stuck()).toEqual(['s.one'])
    hang = false
  })
})
