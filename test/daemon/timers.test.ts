import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {attuneJson, startDaemon, writePack, type DaemonProcess} from '../support/daemon.js'

const home = mkdtempSync(join(tmpdir(), 'attune-daemon-timers-'))
const env = {ATTUNE_HOME: home}
let daemon: DaemonProcess | undefined
afterAll(async () => {
  if (daemon?.process.exitCode === null) await daemon.stop('SIGKILL')
  rmSync(home, {recursive: true, force: true})
})

const rules = writePack(join(home, 'timers'), {
  'pack.yaml': 'ref: tm\n',
  'rules/every_second.yaml': 'ref: tm.every_second\ntrigger: {type: core.intervaltimer, parameters: {unit: seconds, interval: 1}}\naction: {ref: core.echo}\n',
})
const second = writePack(join(home, 'timers2'), {
  'pack.yaml': 'ref: tm2\n',
  'rules/every_two.yaml': 'ref: tm2.every_two_seconds\ntrigger: {type: core.intervaltimer, parameters: {unit: seconds, interval: 2}}\naction: {ref: core.echo}\n',
})

type Event = {id: number; payload: {scheduled_at: string; fired_at: string; execution_count: number; interval_seconds: number}}
type Enforcement = {rule_ref: string; event: number}
const events = async () => (await attuneJson<{events: Event[]}>(['event', 'list', '--trigger', 'core.intervaltimer', '--limit', '1000'], env)).events.reverse()
const enforcements = async (rule: string) => (await attuneJson<{enforcements: Enforcement[]}>(['enforcement', 'list', '--rule', rule, '--limit', '1000'], env)).enforcements

describe('the builtin timer sensor in the daemon', () => {
  it('fires an interval timer on the grid for 30 fires, and adds a timer for a rule enabled meanwhile', async () => {
    daemon = await startDaemon(['--packs', 'packs/core', '--packs', rules], env)
    await new Promise((resolve) => setTimeout(resolve, 5000))
    await attuneJson(['pack', 'register', second], env)
    await new Promise((resolve) => setTimeout(resolve, 27_500))
    const all = await events()
    const fast = all.filter((event) => event.payload.interval_seconds === 1)
    expect(fast.length).toBeGreaterThanOrEqual(30)
    const first = Date.parse(fast[0].payload.scheduled_at)
    fast.slice(0, 30).forEach((event, k) => {
      // The schedule is exact: t0 + k·interval, never drifting with lateness.
      expect(Date.parse(event.payload.scheduled_at)).toBe(first + k * 1000)
      expect(event.payload.execution_count).toBe(k + 1)
      // Lateness is loose here (a loaded CI machine); precise figures are in the benchmark.
      expect(Date.parse(event.payload.fired_at) - Date.parse(event.payload.scheduled_at)).toBeLessThan(250)
    })
    // The rule registered while running got its own timer, and each fire enforces only its own rule.
    const slow = all.filter((event) => event.payload.interval_seconds === 2)
    expect(slow.length).toBeGreaterThanOrEqual(8)
    // (The timers keep firing while we read: compare by event, not by count.)
    const slowEvents = new Set((await enforcements('tm2.every_two_seconds')).map((row) => row.event))
    const fastEvents = new Set((await enforcements('tm.every_second')).map((row) => row.event))
    for (const event of slow) expect(slowEvents.has(event.id) && !fastEvents.has(event.id)).toBe(true)
    for (const event of fast) expect(fastEvents.has(event.id) && !slowEvents.has(event.id)).toBe(true)

    // `sensor status` counts the timer sensor's fires as its polls and shows the next fire.
    type Row = {ref: string; state: string; polls: number; events: number; failures: number; owner: string | null; last_poll: string | null; next_poll: string | null}
    const {sensors} = await attuneJson<{sensors: Row[]}>(['sensor', 'status'], env)
    const timer = sensors.find((row) => row.ref === 'core.timer_sensor')!
    expect(timer).toMatchObject({state: 'running', failures: 0, owner: expect.any(String)})
    expect(timer.polls).toBeGreaterThanOrEqual(30) // its fires so far (the state is written once a second)
    expect(timer.events).toBe(timer.polls)
    expect(Date.parse(timer.next_poll!)).toBeGreaterThan(Date.parse(timer.last_poll!))
  }, 120_000) // 33 s of fires, then several CLI reads: slow on a loaded machine

  it('resumes after a restart without repeating or bursting slots', async () => {
    await daemon!.stop('SIGTERM')
    const before = (await events()).filter((event) => event.payload.interval_seconds === 1)
    await new Promise((resolve) => setTimeout(resolve, 2500))
    daemon = await startDaemon([], env)
    await new Promise((resolve) => setTimeout(resolve, 3500))
    await daemon.stop('SIGTERM')
    const after = (await events()).filter((event) => event.payload.interval_seconds === 1)
    const slots = after.map((event) => event.payload.scheduled_at)
    expect(new Set(slots).size).toBe(slots.length) // no slot fired twice
    const resumed = after.slice(before.length)
    expect(resumed.length).toBeGreaterThanOrEqual(3)
    // The count continues; the missed slots collapse into one catch-up fire, not a burst.
    expect(resumed[0].payload.execution_count).toBe(before.at(-1)!.payload.execution_count + 1)
    expect(resumed.length).toBeLessThanOrEqual(6)
  }, 120_000)
})
