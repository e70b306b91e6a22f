import {mkdtempSync, rmSync, writeFileSync, existsSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {attune} from '../support/cli.js'
import {attuneJson, startDaemon, writePack, type DaemonProcess} from '../support/daemon.js'

const home = mkdtempSync(join(tmpdir(), 'attune-daemon-'))
const env = {ATTUNE_HOME: home, ATTUNE_SENSOR_TIMEOUT: '2', ATTUNE_JWT_SECRET: 'daemon-test-secret-0123456789-0123456789'}
const brokenFlag = join(home, 'flaky-is-broken')
const packDir = writePack(join(home, 'pack'), {
  'pack.yaml': 'ref: tt\n',
  'triggers/tick.yaml': 'ref: tt.tick\n',
  'triggers/lr.yaml': 'ref: tt.lr\n',
  'sensors/ticker.sh': '#!/bin/sh\necho \'{"events": [{"source": "ticker"}]}\'\n',
  'sensors/ticker.yaml': 'ref: tt.ticker\nrunner_type: shell\nentry_point: ticker.sh\ntrigger_types: [tt.tick]\npoll_interval: 1\n',
  'sensors/flaky.sh': `#!/bin/sh\nif [ -e ${brokenFlag} ]; then echo "upstream down" >&2; exit 1; fi\necho '{"events": []}'\n`,
  'sensors/flaky.yaml': 'ref: tt.flaky\nrunner_type: shell\nentry_point: flaky.sh\ntrigger_types: [tt.tick]\npoll_interval: 1\n',
  'sensors/hang.sh': '#!/bin/sh\nsleep 60\n',
  'sensors/hang.yaml': 'ref: tt.hang\nrunner_type: shell\nentry_point: hang.sh\ntrigger_types: [tt.tick]\npoll_interval: 1\n',
  'sensors/long.py':
    'import json, os, time\ntriggers = json.loads(os.environ["ATTUNE_SENSOR_TRIGGERS"])\nwhile True:\n    for t in triggers:\n        print(json.dumps({"trigger_ref": t["trigger_ref"], "trigger_instance_id": t["id"], "payload": {"rule": t["ref"]}}), flush=True)\n    time.sleep(0.5)\n',
  'sensors/long.yaml': 'ref: tt.long\nrunner_type: python\nentry_point: long.py\nexecution: long_running\ntrigger_types: [tt.lr]\n',
  'sensors/crashy.py': 'import sys, time\nprint("cannot reach upstream", file=sys.stderr, flush=True)\ntime.sleep(0.2)\nsys.exit(4)\n',
  'sensors/crashy.yaml': 'ref: tt.crashy\nrunner_type: python\nentry_point: crashy.py\nexecution: long_running\ntrigger_types: [tt.lr]\n',
  'rules/r.yaml': 'ref: tt.on_tick\ntrigger: {type: tt.tick}\nconditions:\n  - {field: payload.source, operator: equals, value: ticker}\naction: {ref: core.echo}\n---\nref: tt.on_lr\ntrigger: {type: tt.lr}\naction: {ref: core.echo}\n',
})
writeFileSync(brokenFlag, '')

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
let daemon: DaemonProcess
beforeAll(async () => {
  daemon = await startDaemon(['--packs', packDir], env)
})
afterAll(async () => {
  if (daemon?.process.exitCode === null) await daemon.stop('SIGKILL')
  rmSync(home, {recursive: true, force: true})
})

type Status = {
  sensors: Array<{ref: string; state: string; consecutive_failures: number; polls: number; failures: number; events: number; owner: string | null; last_poll: string | null; last_error: string | null}>
}
const status = () => attuneJson<Status>(['sensor', 'status'], env)
const sensorState = async (ref: string) => (await status()).sensors.find((sensor) => sensor.ref === ref)

describe('attune daemon (embedded database, real sensors)', () => {
  it('polls a 1 s sensor and stores events and enforcements, readable while it runs', async () => {
    await sleep(2500) // let a few polls happen
    const {events} = await attuneJson<{events: Array<{trigger_ref: string; source_ref: string; payload: unknown}>}>(['event', 'list', '--trigger', 'tt.tick'], env)
    expect(events.length).toBeGreaterThanOrEqual(2)
    expect(events[0]).toMatchObject({trigger_ref: 'tt.tick', source_ref: 'tt.ticker', payload: {source: 'ticker'}})
    const {enforcements} = await attuneJson<{enforcements: Array<{rule_ref: string}>}>(['enforcement', 'list', '--rule', 'tt.on_tick'], env)
    expect(enforcements.length).toBeGreaterThanOrEqual(2)
  })

  it('marks a sensor failed after 3 failures and recovers when it is fixed', async () => {
    await sleep(500)
    let flaky = await sensorState('tt.flaky')
    for (let i = 0; i < 40 && flaky?.state !== 'failed'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      flaky = await sensorState('tt.flaky')
    }
    expect(flaky).toMatchObject({state: 'failed', owner: expect.any(String)})
    expect(flaky!.consecutive_failures).toBeGreaterThanOrEqual(3)
    expect(flaky!.last_error).toContain('upstream down')
    rmSync(brokenFlag)
    for (let i = 0; i < 60 && flaky?.state !== 'running'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      flaky = await sensorState('tt.flaky')
    }
    expect(flaky).toMatchObject({state: 'running', consecutive_failures: 0})
  })

  it('does not let a hanging sensor delay the others', async () => {
    const hang = await sensorState('tt.hang')
    const ticker = await sensorState('tt.ticker')
    expect(hang!.last_error).toMatch(/timed out after 2 seconds/)
    // The ticker kept its 1 s pace while tt.hang timed out every poll.
    expect(ticker!.polls).toBeGreaterThan(hang!.polls * 1.5)
  })

  it('bootstraps a long-running sensor with the rules that exist when it starts', async () => {
    await sleep(1000)
    const {enforcements} = await attuneJson<{enforcements: Array<{rule_ref: string}>}>(['enforcement', 'list', '--rule', 'tt.on_lr'], env)
    expect(enforcements.length).toBeGreaterThan(0)
    // `sensor status` shows it as the supervisor sees it (it is never polled).
    let long = await sensorState('tt.long')
    for (let i = 0; i < 20 && !(long && long.events > 0); i++) {
      await sleep(250)
      long = await sensorState('tt.long')
    }
    expect(long).toMatchObject({state: 'running', polls: 0, failures: 0, owner: expect.any(String), last_error: null})
    expect(long!.events).toBeGreaterThan(0)
    expect(Date.parse(long!.last_poll!)).toBeLessThanOrEqual(Date.now())
  })

  it('serves /healthz and Prometheus /metrics', async () => {
    const health = await fetch(`http://127.0.0.1:${daemon.healthPort()}/healthz`)
    expect(health.status).toBe(200)
    const body = (await health.json()) as {status: string; database: {ok: boolean}; sensors: {total: number; failed_refs: string[]}}
    expect(body.status).toBe('ok')
    expect(body.database.ok).toBe(true)
    expect(body.sensors.total).toBe(6) // three polled, two long-running, and the core pack's timer sensor
    const metrics = await (await fetch(`http://127.0.0.1:${daemon.healthPort()}/metrics`)).text()
    for (const name of ['attune_sensor_polls_total', 'attune_events_total', 'attune_enforcements_total', 'attune_sensor_poll_duration_seconds_bucket', 'attune_sensors_failed', 'attune_outbox_pending']) {
      expect(metrics).toContain(name)
    }
    // Prometheus text format: every non-comment line is `name{labels} value`.
    for (const line of metrics.split('\n').filter((text) => text && !text.startsWith('#'))) {
      expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+-]+|NaN|\+Inf$/)
    }
  })

  it('serves /livez and /readyz for probes, and says where to look on other paths', async () => {
    const base = `http://127.0.0.1:${daemon.healthPort()}`
    const live = await fetch(`${base}/livez`)
    expect(live.status).toBe(200)
    expect(((await live.json()) as {status: string}).status).toBe('ok')
    const ready = await fetch(`${base}/readyz`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toMatchObject({status: 'ready', reasons: []})
    const missing = await fetch(`${base}/nope`)
    expect(missing.status).toBe(404)
    expect(((await missing.json()) as {error: string}).error).toMatch(/\/healthz.*\/livez.*\/readyz/)
    expect((await fetch(`${base}/healthz`, {method: 'POST'})).status).toBe(405)
  })

  it('marks a long-running sensor that keeps crashing failed: in status, /healthz and /metrics', async () => {
    let crashy = await sensorState('tt.crashy')
    for (let i = 0; i < 60 && crashy?.state !== 'failed'; i++) {
      await sleep(250)
      crashy = await sensorState('tt.crashy')
    }
    expect(crashy).toMatchObject({state: 'failed', last_error: 'exit code 4'})
    expect(crashy!.failures).toBeGreaterThanOrEqual(3)
    const health = (await (await fetch(`http://127.0.0.1:${daemon.healthPort()}/healthz`)).json()) as {sensors: {failed_refs: string[]}}
    expect(health.sensors.failed_refs).toContain('tt.crashy')
    const metrics = await (await fetch(`http://127.0.0.1:${daemon.healthPort()}/metrics`)).text()
    expect(Number(/^attune_sensors_failed (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1)
  })

  it('registers its worker row with the runtimes it detected', async () => {
    const {workers} = await attuneJson<{workers: Array<{name: string; status: string; capabilities: {runtimes: string[]; sensors: number}}>}>(['worker', 'list'], env)
    expect(workers).toHaveLength(1)
    expect(workers[0].status).toBe('active')
    expect(workers[0].capabilities.runtimes).toEqual(expect.arrayContaining(['python', 'node', 'shell', 'native']))
    expect(workers[0].capabilities.sensors).toBeGreaterThanOrEqual(4)
  })

  it('picks up a sensor registered while it runs', async () => {
    const extra = writePack(join(home, 'extra'), {
      'pack.yaml': 'ref: xx\n',
      'triggers/t.yaml': 'ref: xx.t\n',
      'sensors/s.sh': '#!/bin/sh\necho \'{"events": [{"late": true}]}\'\n',
      'sensors/s.yaml': 'ref: xx.late\nrunner_type: shell\nentry_point: s.sh\ntrigger_types: [xx.t]\npoll_interval: 1\n',
    })
    await attuneJson(['pack', 'register', extra], env)
    let found = false
    for (let i = 0; i < 40 && !found; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      found = (await attuneJson<{events: unknown[]}>(['event', 'list', '--trigger', 'xx.t'], env)).events.length > 0
    }
    expect(found).toBe(true)
  })

  it('stops cleanly on SIGTERM with exit 0, releasing the embedded database', async () => {
    const {exitCode} = await daemon.stop('SIGTERM')
    expect(exitCode).toBe(0)
    expect(daemon.logs.some((log) => log.msg === 'daemon stopped' && log.clean === true)).toBe(true)
    expect(existsSync(join(home, 'run', '.s.PGSQL.5432'))).toBe(false)
    // Every stored event has its outbox row, sent (the in-process bus confirms at once).
    const status = await attuneJson<Status>(['sensor', 'status'], env)
    expect(status.sensors.find((sensor) => sensor.ref === 'tt.ticker')!.polls).toBeGreaterThan(3)
    // A clean stop leaves its sensors stopped, not "running" on a daemon that is gone.
    expect(status.sensors.find((sensor) => sensor.ref === 'tt.ticker')).toMatchObject({state: 'stopped'})
    const table = await attune(['sensor', 'status'], {env})
    expect(table.stdout).toMatch(/tt\.ticker\s+stopped\s/)
    expect(table.stdout).not.toContain('(stale)')
  })
})
