import {mkdtempSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {attuneJson, startDaemon, writePack, type DaemonProcess} from '../support/daemon.js'
import {eventually} from '../support/sensors.js'

// "Edit, save, see it run": the daemon restarts a sensor whose file changed, keeps the old
// process when the new file does not load, and registers a pack whose YAML changed.
const home = mkdtempSync(join(tmpdir(), 'attune-reload-'))
const env = {ATTUNE_HOME: home, ATTUNE_SENSOR_TIMEOUT: '5', ATTUNE_JWT_SECRET: 'reload-test-secret-0123456789-0123456789'}
const longProgram = (marker: string) =>
  `import json, os, time\nMARK = ${JSON.stringify(marker)}\nwhile True:\n    print(json.dumps({"payload": {"marker": MARK, "env": os.environ.get("RL_ENV", ""), "pid": os.getpid()}}), flush=True)\n    time.sleep(0.25)\n`
const persModule = (marker: string) => `import os\ndef poll_sensor(config):\n    return {"marker": ${JSON.stringify(marker)}, "pid": os.getpid()}\n`
const longYaml = 'ref: rl.long\nrunner_type: python\nentry_point: long.py\nexecution: long_running\ntrigger_types: [rl.lr]\n'
const packDir = writePack(join(home, 'pack'), {
  'pack.yaml': 'ref: rl\n',
  'triggers/lr.yaml': 'ref: rl.lr\n',
  'triggers/poll.yaml': 'ref: rl.poll\n',
  'sensors/long.py': longProgram('long-v1'),
  'sensors/long.yaml': longYaml,
  'sensors/pers.py': persModule('pers-v1'),
  'sensors/pers.yaml': 'ref: rl.pers\nrunner_type: python\nentry_point: pers.py\nexecution: persistent\ntrigger_types: [rl.poll]\npoll_interval: 1\n',
})
const longFile = join(packDir, 'sensors', 'long.py')
const persFile = join(packDir, 'sensors', 'pers.py')

type Event = {id: number; payload: {marker: string; env?: string; pid: number}}
type Status = {sensors: Array<{ref: string; state: string; last_error: string | null}>}
const newest = async (trigger: string, limit = 3) => (await attuneJson<{events: Event[]}>(['event', 'list', '--trigger', trigger, '--limit', String(limit)], env)).events
const sensorState = async (ref: string) => (await attuneJson<Status>(['sensor', 'status'], env)).sensors.find((sensor) => sensor.ref === ref)

/** Waits until the newest events of `trigger` all satisfy `predicate`; returns them. */
async function waitEvents(trigger: string, predicate: (event: Event) => boolean, timeoutMs = 40_000): Promise<Event[]> {
  const deadline = Date.now() + timeoutMs
  let events: Event[] = []
  while (Date.now() < deadline) {
    events = await newest(trigger)
    if (events.length > 0 && events.every(predicate)) return events
    await new Promise((resolve) => setTimeout(resolve, 300))
  }
  throw new Error(`the newest ${trigger} events never matched: ${JSON.stringify(events)}\n${JSON.stringify(daemon.logs.slice(-20))}`)
}

let daemon: DaemonProcess
const logged = (predicate: (log: Record<string, unknown>) => boolean, timeoutMs = 20_000) => eventually(() => daemon.logs.some(predicate), timeoutMs)
const count = (predicate: (log: Record<string, unknown>) => boolean) => daemon.logs.filter(predicate).length
const started = (ref: string) => (log: Record<string, unknown>) => log.msg === 'long-running sensor started' && log.sensor === ref

beforeAll(async () => {
  daemon = await startDaemon(['--packs', packDir], env)
}, 90_000)
afterAll(async () => {
  if (daemon?.process.exitCode === null) await daemon.stop()
  rmSync(home, {recursive: true, force: true})
})

describe('the daemon applies a changed sensor file without a restart', () => {
  it('says it watches', () => {
    expect(daemon.logs.find((log) => log.msg === 'daemon started')).toMatchObject({watch: true})
  })

  it('restarts a long-running sensor whose file is rewritten: its new events carry the new marker; logged with the ref and the file', async () => {
    const first = await waitEvents('rl.lr', (event) => event.payload.marker === 'long-v1')
    writeFileSync(longFile, longProgram('long-v2, rewritten'))
    expect(await logged((log) => log.msg === 'sensor code changed: restarting' && log.sensor === 'rl.long' && log.file === longFile)).toBe(true)
    const second = await waitEvents('rl.lr', (event) => event.payload.marker === 'long-v2, rewritten')
    expect(second[0].payload.pid).not.toBe(first[0].payload.pid)
  }, 90_000)

  it('keeps the old process when the new file does not compile, logs the reason naming the file, and shows it in sensor status', async () => {
    const before = await waitEvents('rl.lr', (event) => event.payload.marker === 'long-v2, rewritten')
    const starts = count(started('rl.long'))
    writeFileSync(longFile, 'import json\nwhile True\n    print("no colon")\n')
    expect(await logged((log) => log.msg === 'sensor code changed but does not load: the running process is kept' && log.sensor === 'rl.long')).toBe(true)
    const error = daemon.logs.find((log) => log.msg === 'sensor code changed but does not load: the running process is kept' && log.sensor === 'rl.long')!
    expect(error).toMatchObject({level: 'error', file: longFile})
    expect(String(error.error)).toMatch(new RegExp(`${longFile}:2: SyntaxError`))
    // Events keep coming from the same process, with the old code.
    const after = await waitEvents('rl.lr', (event) => event.id > before[0].id + 3 && event.payload.marker === 'long-v2, rewritten')
    expect(after[0].payload.pid).toBe(before[0].payload.pid)
    expect(count(started('rl.long'))).toBe(starts)
    let state = await sensorState('rl.long')
    for (let i = 0; i < 20 && !state?.last_error?.includes('changed file not loaded'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 300))
      state = await sensorState('rl.long')
    }
    expect(state).toMatchObject({state: 'running'})
    expect(state!.last_error).toContain('changed file not loaded (the previous code still runs)')
    expect(state!.last_error).toContain('SyntaxError')
  }, 90_000)

  it('picks up an editor-style save (a temporary file renamed over the sensor file), and the note goes away', async () => {
    const temp = join(packDir, 'sensors', '.long.py.swp')
    writeFileSync(temp, longProgram('long-v3 from the editor'))
    renameSync(temp, longFile)
    await waitEvents('rl.lr', (event) => event.payload.marker === 'long-v3 from the editor')
    const state = await sensorState('rl.long')
    expect(state?.last_error ?? '').not.toContain('changed file not loaded')
  }, 90_000)

  it('replaces a persistent runner whose file changed, and keeps it when the new file does not import', async () => {
    await waitEvents('rl.poll', (event) => event.payload.marker === 'pers-v1')
    writeFileSync(persFile, persModule('pers-second version'))
    expect(await logged((log) => log.msg === 'sensor code changed: restarting' && log.sensor === 'rl.pers' && log.file === persFile)).toBe(true)
    const running = await waitEvents('rl.poll', (event) => event.payload.marker === 'pers-second version')
    writeFileSync(persFile, 'import os\ndef poll_sensor(config):\n    return {"marker": "never"\n')
    expect(await logged((log) => log.msg === 'sensor code changed but does not load: the running process is kept' && log.sensor === 'rl.pers')).toBe(true)
    const error = daemon.logs.find((log) => log.msg === 'sensor code changed but does not load: the running process is kept' && log.sensor === 'rl.pers')!
    expect(error).toMatchObject({level: 'error', file: persFile})
    expect(String(error.error)).toMatch(/SyntaxError/)
    // The runner started with the second version goes on polling.
    const after = await waitEvents('rl.poll', (event) => event.id > running[0].id + 2 && event.payload.marker === 'pers-second version')
    expect(after[0].payload.pid).toBe(running[0].payload.pid)
    let state = await sensorState('rl.pers')
    for (let i = 0; i < 20 && !state?.last_error?.includes('changed file not loaded'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 300))
      state = await sensorState('rl.pers')
    }
    expect(state!.last_error).toContain('changed file not loaded (the previous code still runs)')
    // Fixed: the runner is replaced and the note cleared.
    writeFileSync(persFile, persModule('pers-third'))
    await waitEvents('rl.poll', (event) => event.payload.marker === 'pers-third')
  }, 120_000)

  it('registers the pack again when a sensor YAML changes, and keeps the registered definition when it does not validate', async () => {
    writeFileSync(join(packDir, 'sensors', 'long.yaml'), `${longYaml}env: {RL_ENV: from-yaml}\n`)
    expect(await logged((log) => log.msg === 'pack files changed: registered again' && log.pack === packDir)).toBe(true)
    expect(await logged((log) => log.msg === 'sensor code changed: restarting' && log.sensor === 'rl.long' && String(log.file).endsWith('long.yaml'))).toBe(true)
    const withEnv = await waitEvents('rl.lr', (event) => event.payload.env === 'from-yaml')
    writeFileSync(join(packDir, 'sensors', 'long.yaml'), `${longYaml}env: {RL_ENV: [unclosed\n`)
    expect(await logged((log) => log.msg === 'pack files changed but do not validate: the registered definitions are kept')).toBe(true)
    const invalid = daemon.logs.find((log) => log.msg === 'pack files changed but do not validate: the registered definitions are kept')!
    expect(invalid).toMatchObject({level: 'error', pack: packDir, files: ['sensors/long.yaml']})
    expect(String(invalid.error)).toContain('long.yaml')
    const after = await waitEvents('rl.lr', (event) => event.id > withEnv[0].id + 3 && event.payload.env === 'from-yaml')
    expect(after[0].payload.pid).toBe(withEnv[0].payload.pid)
  }, 120_000)

  it('stops cleanly with the watches in place', async () => {
    const {exitCode} = await daemon.stop()
    expect(exitCode).toBe(0)
  }, 60_000)
})
