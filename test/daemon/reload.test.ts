import {existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
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
  `import json, os, sys, time\nMARK = ${JSON.stringify(marker)}\nwhile True:\n    print(json.dumps({"payload": {"marker": MARK, "env": os.environ.get("RL_ENV", ""), "pid": os.getpid()}}), flush=True)\n    print("marker=%s env=%s pid=%d" % (MARK, os.environ.get("RL_ENV", ""), os.getpid()), file=sys.stderr, flush=True)\n    time.sleep(0.25)\n`
// Each poll also appends `marker pid` to a file: the test waits on it instead of listing events.
const pollTrace = join(home, 'polls.txt')
const persModule = (marker: string) =>
  `import os\ndef poll_sensor(config):\n    with open(${JSON.stringify(pollTrace)}, "a") as trace:\n        trace.write("%s %d\\n" % (${JSON.stringify(marker)}, os.getpid()))\n    return {"marker": ${JSON.stringify(marker)}, "pid": os.getpid()}\n`
/** The polls traced after the first `from` ones: [marker, pid]. */
const polls = (from = 0) => (existsSync(pollTrace) ? readFileSync(pollTrace, 'utf8').trim().split('\n').slice(from) : []).map((line) => {
  const at = line.lastIndexOf(' ')
  return {marker: line.slice(0, at), pid: Number(line.slice(at + 1))}
})
async function waitPoll(marker: string, from = 0, timeoutMs = 40_000): Promise<{pid: number; index: number}> {
  let found: {pid: number; index: number} | undefined
  const ok = await eventually(() => {
    const index = polls(from).findIndex((poll) => poll.marker === marker)
    if (index !== -1) found = {pid: polls(from)[index].pid, index: from + index}
    return index !== -1
  }, timeoutMs)
  if (!ok || !found) throw new Error(`rl.pers never polled with ${marker}: ${JSON.stringify(polls().slice(-5))}\n${JSON.stringify(daemon.logs.slice(-20))}`)
  return found
}
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
/**
 * The long-running sensor also logs `marker=M env=E pid=P` on stderr (the daemon logs it as
 * `sensor log`): waiting on the daemon's log is much cheaper than listing events with the CLI.
 * Returns the pid of the first line logged after `from` (a log index) that matches.
 */
async function waitLongLog(pattern: RegExp, from = 0, timeoutMs = 40_000): Promise<{pid: number; index: number}> {
  let found: {pid: number; index: number} | undefined
  const ok = await eventually(() => {
    for (let index = from; index < daemon.logs.length; index++) {
      const log = daemon.logs[index]
      if (log.msg === 'sensor log' && log.sensor === 'rl.long' && pattern.test(String(log.line))) {
        found = {pid: Number(/pid=(\d+)/.exec(String(log.line))?.[1]), index}
        return true
      }
    }
    return false
  }, timeoutMs)
  if (!ok || !found) throw new Error(`rl.long never logged ${pattern}:\n${JSON.stringify(daemon.logs.slice(-20))}`)
  return found
}
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
    const first = await waitLongLog(/^marker=long-v1 /)
    writeFileSync(longFile, longProgram('long-v2, rewritten'))
    expect(await logged((log) => log.msg === 'sensor code changed: restarting' && log.sensor === 'rl.long' && log.file === longFile)).toBe(true)
    const second = await waitLongLog(/^marker=long-v2, rewritten /, first.index)
    expect(second.pid).not.toBe(first.pid)
    // And the events stored are the new code's.
    const events = await waitEvents('rl.lr', (event) => event.payload.marker === 'long-v2, rewritten')
    expect(events[0].payload.pid).toBe(second.pid)
  }, 90_000)

  it('keeps the old process when the new file does not compile, logs the reason naming the file, and shows it in sensor status', async () => {
    const before = await waitLongLog(/^marker=long-v2, rewritten /)
    const starts = count(started('rl.long'))
    writeFileSync(longFile, 'import json\nwhile True\n    print("no colon")\n')
    expect(await logged((log) => log.msg === 'sensor code changed but does not load: the running process is kept' && log.sensor === 'rl.long')).toBe(true)
    const error = daemon.logs.find((log) => log.msg === 'sensor code changed but does not load: the running process is kept' && log.sensor === 'rl.long')!
    expect(error).toMatchObject({level: 'error', file: longFile})
    expect(String(error.error)).toMatch(new RegExp(`${longFile}:2: SyntaxError`))
    // The same process goes on, with the old code, and its events are stored.
    const errorAt = daemon.logs.indexOf(error)
    const after = await waitLongLog(/^marker=long-v2, rewritten /, errorAt + 1)
    expect(after.pid).toBe(before.pid)
    const stored = await waitLongLog(/^marker=long-v2, rewritten /, after.index + 4)
    expect(stored.pid).toBe(before.pid)
    const events = await newest('rl.lr')
    expect(events.map((event) => [event.payload.marker, event.payload.pid])).toEqual(events.map(() => ['long-v2, rewritten', before.pid]))
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
    await waitLongLog(/^marker=long-v3 from the editor /)
    let state = await sensorState('rl.long')
    for (let i = 0; i < 20 && state?.last_error?.includes('changed file not loaded'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 300))
      state = await sensorState('rl.long')
    }
    expect(state?.last_error ?? '').not.toContain('changed file not loaded')
  }, 90_000)

  it('replaces a persistent runner whose file changed, and keeps it when the new file does not import', async () => {
    const first = await waitPoll('pers-v1')
    writeFileSync(persFile, persModule('pers-second version'))
    expect(await logged((log) => log.msg === 'sensor code changed: restarting' && log.sensor === 'rl.pers' && log.file === persFile)).toBe(true)
    const second = await waitPoll('pers-second version', first.index)
    expect(second.pid).not.toBe(first.pid)
    await waitEvents('rl.poll', (event) => event.payload.marker === 'pers-second version' && event.payload.pid === second.pid)
    writeFileSync(persFile, 'import os\ndef poll_sensor(config):\n    return {"marker": "never"\n')
    expect(await logged((log) => log.msg === 'sensor code changed but does not load: the running process is kept' && log.sensor === 'rl.pers')).toBe(true)
    const error = daemon.logs.find((log) => log.msg === 'sensor code changed but does not load: the running process is kept' && log.sensor === 'rl.pers')!
    expect(error).toMatchObject({level: 'error', file: persFile})
    expect(String(error.error)).toMatch(new RegExp(`${persFile}:3: SyntaxError`))
    // The runner started with the second version goes on polling, and its events are stored.
    const tracedAtError = polls().length
    const after = await waitPoll('pers-second version', tracedAtError + 1)
    expect(after.pid).toBe(second.pid)
    const events = await waitEvents('rl.poll', (event) => event.payload.marker === 'pers-second version')
    expect(events[0].payload.pid).toBe(second.pid)
    expect(polls(tracedAtError).every((poll) => poll.marker === 'pers-second version')).toBe(true)
    let state = await sensorState('rl.pers')
    for (let i = 0; i < 20 && !state?.last_error?.includes('changed file not loaded'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 300))
      state = await sensorState('rl.pers')
    }
    expect(state!.last_error).toContain('changed file not loaded (the previous code still runs)')
    // Fixed: the runner is replaced.
    writeFileSync(persFile, persModule('pers-third'))
    await waitPoll('pers-third', tracedAtError)
  }, 120_000)

  it('registers the pack again when a sensor YAML changes, and keeps the registered definition when it does not validate', async () => {
    writeFileSync(join(packDir, 'sensors', 'long.yaml'), `${longYaml}env: {RL_ENV: from-yaml}\n`)
    expect(await logged((log) => log.msg === 'pack files changed: registered again' && log.pack === packDir)).toBe(true)
    expect(await logged((log) => log.msg === 'sensor code changed: restarting' && log.sensor === 'rl.long' && String(log.file).endsWith('long.yaml'))).toBe(true)
    const withEnv = await waitLongLog(/ env=from-yaml /)
    writeFileSync(join(packDir, 'sensors', 'long.yaml'), `${longYaml}env: {RL_ENV: [unclosed\n`)
    const startsWithEnv = count(started('rl.long'))
    expect(await logged((log) => log.msg === 'pack files changed but do not validate: the registered definitions are kept')).toBe(true)
    const invalid = daemon.logs.find((log) => log.msg === 'pack files changed but do not validate: the registered definitions are kept')!
    expect(invalid).toMatchObject({level: 'error', pack: packDir, files: ['sensors/long.yaml']})
    expect(String(invalid.error)).toContain('long.yaml')
    const after = await waitLongLog(/ env=from-yaml /, daemon.logs.indexOf(invalid) + 4)
    expect(after.pid).toBe(withEnv.pid)
    expect(count(started('rl.long'))).toBe(startsWithEnv)
  }, 120_000)

  it('stops cleanly with the watches in place', async () => {
    const {exitCode} = await daemon.stop()
    expect(exitCode).toBe(0)
  }, 60_000)
})
