import {readFileSync} from 'node:fs'
import {afterAll, afterEach, describe, expect, it} from 'vitest'
import {executeSensor} from '../../src/engine/sensor/execute.js'
import {PersistentRunnerPool} from '../../src/engine/sensor/persistent.js'
import {runSensorPolls} from '../../src/engine/sensor/local.js'
import {eventually, isAlive, sensorDir} from '../support/sensors.js'

const files = sensorDir()
afterAll(() => files.cleanup())
let pool = new PersistentRunnerPool()
afterEach(() => {
  pool.closeAll()
  pool = new PersistentRunnerPool()
})

const trigger = {ref: 'test.trigger'}
const poll = (entrypoint: string, config: unknown = {}, timeoutMs = 10_000) =>
  executeSensor({ref: 'test.persistent', entrypoint, execution: 'persistent'}, trigger, config, {runners: pool, timeoutMs, killGraceMs: 300})

interface PersistentCase {
  runtime: string
  /** Counts polls in module state and reports its pid, so reuse of one process is visible. */
  counter: string
  /** Crashes the whole process on the poll whose config says crash. */
  crashes: string
  /** Hangs on the poll whose config says hang. */
  hangs: string
  /** Fails by throwing on the poll whose config says fail. */
  fails: string
  /** Logs once per poll. */
  logs: string
  ext: string
}

const cases: PersistentCase[] = [
  {
    runtime: 'python',
    ext: '.py',
    counter: 'import os\ncount = 0\ndef poll_sensor(config):\n    global count\n    count += 1\n    return {"count": count, "pid": os.getpid(), "config": config}\n',
    crashes: 'import os\ndef poll_sensor(config):\n    if config.get("crash"):\n        os._exit(9)\n    return {"pid": os.getpid()}\n',
    hangs: 'import os, time\ndef poll_sensor(config):\n    if config.get("hang"):\n        time.sleep(300)\n    return {"pid": os.getpid()}\n',
    fails: 'def poll_sensor(config):\n    if config.get("fail"):\n        raise KeyError("missing")\n    return {"ok": True}\n',
    logs: 'import sys\ndef poll_sensor(config):\n    print("poll", config["n"])\n    print("err", config["n"], file=sys.stderr)\n    return []\n',
  },
  {
    runtime: 'node',
    ext: '.cjs',
    counter: 'let count = 0\nexports.poll_sensor = async (config) => ({count: ++count, pid: process.pid, config})\n',
    crashes: 'exports.poll_sensor = (config) => { if (config.crash) process.exit(9); return {pid: process.pid} }\n',
    hangs: 'exports.poll_sensor = (config) => config.hang ? new Promise(() => setInterval(() => {}, 1000)) : {pid: process.pid}\n',
    fails: 'exports.poll_sensor = (config) => { if (config.fail) throw new Error("missing"); return {ok: true} }\n',
    logs: 'exports.poll_sensor = (config) => { console.log("poll", config.n); console.error("err", config.n); return [] }\n',
  },
]

describe.each(cases)('persistent $runtime runner', (rt) => {
  const write = (name: string, body: string) => files.write(`persistent_${rt.runtime}_${name}${rt.ext}`, body)

  it('imports the sensor once and serves every poll from one process', async () => {
    const file = write('counter', rt.counter)
    const results = []
    for (let n = 0; n < 4; n++) results.push(await poll(file, {n}))
    for (const result of results) expect(result.error).toBeNull()
    expect(results.map((result) => result.events[0].count)).toEqual([1, 2, 3, 4])
    expect(results.map((result) => (result.events[0].config as {n: number}).n)).toEqual([0, 1, 2, 3])
    expect(new Set(results.map((result) => result.events[0].pid)).size).toBe(1)
    expect([...pool.starts.values()]).toEqual([1])
  })

  it('reports a crash as a failed poll and starts a fresh runner next time', async () => {
    const file = write('crashes', rt.crashes)
    const first = await poll(file)
    const crashed = await poll(file, {crash: true})
    const after = await poll(file)
    expect(first.error).toBeNull()
    expect(crashed.error_type).toBe('RunnerCrashed')
    expect(crashed.error).toMatch(/exited with code 9/)
    expect(crashed.exit_code).toBe(9)
    expect(after.error).toBeNull()
    expect(after.events[0].pid).not.toBe(first.events[0].pid)
    expect(after.warnings.join()).toMatch(/started a new one/)
  })

  it('kills a hanging runner at the timeout and recovers', async () => {
    const file = write('hangs', rt.hangs)
    const first = await poll(file, {}, 1000)
    const hung = await poll(file, {hang: true}, 1000)
    expect(hung.error).toBe('Sensor execution timed out after 1 seconds')
    expect(hung.error_type).toBe('Timeout')
    const oldPid = first.events[0].pid as number
    expect(await eventually(() => !isAlive(oldPid))).toBe(true)
    const after = await poll(file, {}, 5000)
    expect(after.error).toBeNull()
    expect(after.events[0].pid).not.toBe(oldPid)
  })

  it('keeps serving after a poll that raised', async () => {
    const file = write('fails', rt.fails)
    const failed = await poll(file, {fail: true})
    const next = await poll(file)
    expect(failed.error).toMatch(/missing/)
    expect(failed.traceback).toBeTruthy()
    expect(next.error).toBeNull()
    expect([...pool.starts.values()]).toEqual([1])
  })

  it('attributes each poll its own logs', async () => {
    const file = write('logs', rt.logs)
    const results = []
    for (let n = 1; n <= 3; n++) results.push(await poll(file, {n}))
    expect(results.map((result) => result.stdout)).toEqual(['poll 1\n', 'poll 2\n', 'poll 3\n'])
    expect(results.map((result) => result.stderr)).toEqual(['err 1\n', 'err 2\n', 'err 3\n'])
  })

  it('reports an import failure and imports afresh on the next poll', async () => {
    const file = write('fixed_later', rt.runtime === 'python' ? 'def poll_sensor(config)\n' : 'exports.poll_sensor = (\n')
    const broken = await poll(file)
    expect(broken.error_type).toBe('SyntaxError')
    files.write(`persistent_${rt.runtime}_fixed_later${rt.ext}`, rt.runtime === 'python' ? 'def poll_sensor(config):\n    return {"fixed": True}\n' : 'exports.poll_sensor = () => ({fixed: true})\n')
    const fixed = await poll(file)
    expect(fixed.error).toBeNull()
    expect(fixed.events).toEqual([{fixed: true}])
  })
})

describe('persistent runner limits', () => {
  it('kills a runner whose reply exceeds the cap', async () => {
    const file = files.write('huge_reply.py', 'def poll_sensor(config):\n    return {"blob": "x" * 3000000}\n')
    const result = await executeSensor({ref: 'test.huge', entrypoint: file, execution: 'persistent'}, trigger, {}, {runners: pool, maxOutputBytes: 1024 * 1024})
    expect(result.truncated).toBe(true)
    expect(result.error_type).toBe('OutputTooLarge')
  })

  it('does not leave runner processes behind after closeAll', async () => {
    const file = files.write('pid.py', 'import os\ndef poll_sensor(config):\n    return {"pid": os.getpid()}\n')
    const result = await poll(file)
    const pid = result.events[0].pid as number
    expect(isAlive(pid)).toBe(true)
    pool.closeAll()
    expect(await eventually(() => !isAlive(pid))).toBe(true)
  })

  it('runs shell sensors as one-off polls with a warning', async () => {
    const file = files.write('shell_persistent.sh', '#!/bin/sh\necho \'{"events": [{"a": 1}]}\'\n')
    const result = await poll(file)
    expect(result.error).toBeNull()
    expect(result.warnings.join()).toMatch(/available for python and node/)
  })

  it('serialises overlapping polls of one sensor', async () => {
    const file = files.write('overlap.py', 'import time, os\ndef poll_sensor(config):\n    start = time.time()\n    time.sleep(0.2)\n    return {"start": start, "end": time.time()}\n')
    const [a, b] = await Promise.all([poll(file), poll(file)])
    const spans = [a, b].map((result) => result.events[0] as {start: number; end: number}).sort((x, y) => x.start - y.start)
    expect(spans[1].start).toBeGreaterThanOrEqual(spans[0].end)
  })

  it('runSensorPolls counts runner starts', async () => {
    const file = files.write('repeat.cjs', 'exports.poll_sensor = () => ({t: Date.now()})\n')
    const run = await runSensorPolls({ref: 'test.repeat', entrypoint: file, execution: 'persistent'}, trigger, {}, {repeat: 5})
    expect(run.runs).toHaveLength(5)
    expect(run.runner_starts).toBe(1)
    expect(readFileSync(file, 'utf8')).toContain('poll_sensor')
  })
})
