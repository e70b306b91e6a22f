/**
 * A sensor's whole process tree ends with it: descendants that called setsid (and left its
 * process group) or double-forked (and were reparented) included, at the timeout, at the
 * output cap, when the sensor exits leaving them behind, when a supervisor stops it, and at
 * shutdown. Once per mechanism: a cgroup per sensor process, and the ATTUNE_SENSOR_RUN marker.
 */
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {ringLogger} from '../../src/daemon/logger.js'
import {LongRunningSupervisor} from '../../src/daemon/supervisor.js'
import {executeSensor, planLaunch} from '../../src/engine/sensor/execute.js'
import {PersistentRunnerPool} from '../../src/engine/sensor/persistent.js'
import {killAllSensorProcesses} from '../../src/engine/sensor/process.js'
import {ownCgroupDir, sweepLeftovers, treeMechanism, useTreeTracking} from '../../src/engine/sensor/tree.js'
import {eventually, hasEnded, sensorDir} from '../support/sensors.js'

const files = sensorDir()
const trigger = {ref: 'tree.trigger'}
let counter = 0

useTreeTracking('auto')
const cgroupReason =
  process.platform !== 'linux'
    ? 'not Linux'
    : treeMechanism() === 'cgroup'
      ? undefined
      : `attune cannot create cgroups under ${ownCgroupDir() ?? 'a cgroup2 mount (none found)'} here`
if (cgroupReason) console.warn(`skipped: the cgroup variant of the process-tree tests: ${cgroupReason} (the marker variant runs)`)

afterAll(() => files.cleanup())

/** A shell script's path, and the file its escaped grandchild writes its pid to. */
function script(body: (pidFile: string) => string): {path: string; pidFile: string} {
  const pidFile = join(files.dir, `grandchild_${++counter}.pid`)
  return {path: files.write(`tree_${counter}.sh`, `#!/bin/bash\n${body(pidFile)}`), pidFile}
}

/** A grandchild in a session of its own (setsid), its output detached from the sensor's pipes. */
const escaped = (pidFile: string) => `setsid bash -c 'echo $$ > ${pidFile}; exec sleep 300' > /dev/null 2>&1 < /dev/null &`
/** The same, double-forked: its parent exits at once, so it is reparented away from the sensor. */
const doubleForked = (pidFile: string) => `( setsid bash -c 'echo $$ > ${pidFile}; exec sleep 300' > /dev/null 2>&1 < /dev/null & )`
const waitFor = (pidFile: string) => `while [ ! -s ${pidFile} ]; do sleep 0.05; done`

function grandchild(pidFile: string): number {
  return Number(readFileSync(pidFile, 'utf8').trim())
}

async function expectEnded(pid: number): Promise<void> {
  expect(await eventually(() => hasEnded(pid), 5000), `pid ${pid} survived`).toBe(true)
}

function run(path: string, options: Parameters<typeof executeSensor>[3] = {}) {
  return executeSensor({ref: 'tree.sensor', entrypoint: path}, trigger, {}, options)
}

describe.each([
  {mechanism: 'cgroup' as const, skip: cgroupReason},
  {mechanism: 'environ' as const, skip: process.platform === 'linux' ? undefined : 'not Linux'},
])('a sensor process tree ($mechanism)', ({mechanism, skip}) => {
  const leftovers: number[] = []
  beforeAll(() => useTreeTracking(mechanism === 'cgroup' ? 'auto' : 'environ'))
  afterEach(() => {
    for (const pid of leftovers.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // ended, as it should have
      }
    }
  })

  it.skipIf(skip)(`is tracked by ${mechanism}`, async () => {
    expect(treeMechanism()).toBe(mechanism)
    const {path} = script(() => `echo "{\\"events\\": [{\\"run\\": \\"$ATTUNE_SENSOR_RUN\\", \\"cgroup\\": \\"$(tr -d '\\n' < /proc/self/cgroup | sed 's/.*0:://')\\"}]}"`)
    const result = await run(path)
    expect(result.error, result.stderr).toBeNull()
    const [event] = result.events as Array<{run: string; cgroup: string}>
    expect(event.run).toMatch(/^\d+\.[0-9a-f]+\.\d+$/)
    if (mechanism === 'cgroup') expect(event.cgroup).toMatch(/\/attune\.\d+\.[0-9a-f]+\/run\.\d+$/)
  })

  it.skipIf(skip)('kills a setsid grandchild at the timeout', async () => {
    const {path, pidFile} = script((file) => `${escaped(file)}\n${waitFor(file)}\nsleep 300\n`)
    const result = await run(path, {timeoutMs: 1500, killGraceMs: 300})
    expect(result.error_type).toBe('Timeout')
    const pid = grandchild(pidFile)
    leftovers.push(pid)
    await expectEnded(pid)
  })

  it.skipIf(skip)('kills a double-forked grandchild at the timeout', async () => {
    const {path, pidFile} = script((file) => `${doubleForked(file)}\n${waitFor(file)}\nsleep 300\n`)
    const result = await run(path, {timeoutMs: 1500, killGraceMs: 300})
    expect(result.error_type).toBe('Timeout')
    const pid = grandchild(pidFile)
    leftovers.push(pid)
    await expectEnded(pid)
  })

  it.skipIf(skip)('kills a setsid grandchild at the output cap', async () => {
    const {path, pidFile} = script((file) => `${escaped(file)}\n${waitFor(file)}\nhead -c 4000000 /dev/zero | tr '\\0' x\nsleep 300\n`)
    const result = await run(path, {timeoutMs: 30_000, maxOutputBytes: 1024 * 1024, killGraceMs: 300})
    expect(result.error_type).toBe('OutputTooLarge')
    const pid = grandchild(pidFile)
    leftovers.push(pid)
    await expectEnded(pid)
  })

  it.skipIf(skip)('ends a finished sensor at once when a setsid leftover holds its output open', async () => {
    // Without the tree, the poll would wait for the leftover (300 s) and time out.
    const {path, pidFile} = script((file) => `setsid bash -c 'echo $$ > ${file}; exec sleep 300' &\n${waitFor(file)}\necho '{"events": [{"done": true}]}'\n`)
    const result = await run(path, {timeoutMs: 20_000})
    expect(result.error, result.stderr).toBeNull()
    expect(result.events).toEqual([{done: true}])
    const pid = grandchild(pidFile)
    leftovers.push(pid)
    await expectEnded(pid)
  })

  it.skipIf(skip)('ends what a finished sensor daemonized completely (double fork, no pipes)', async () => {
    const {path, pidFile} = script((file) => `${doubleForked(file)}\n${waitFor(file)}\necho '{"events": [{"done": true}]}'\n`)
    const result = await run(path)
    expect(result.error, result.stderr).toBeNull()
    const pid = grandchild(pidFile)
    leftovers.push(pid)
    // The cgroup sees it at the sensor's exit; the marker needs the periodic sweep (run here at once).
    if (mechanism === 'environ') expect(sweepLeftovers()).toBeGreaterThanOrEqual(1)
    await expectEnded(pid)
  })

  it.skipIf(skip)('kills what a persistent runner started with setsid at the timeout', async () => {
    const pidFile = join(files.dir, `runner_${++counter}.pid`)
    const path = files.write(
      `runner_${counter}.cjs`,
      `const {spawn} = require('node:child_process')\nexports.poll_sensor = async () => { spawn('bash', ['-c', 'echo $$ > ${pidFile}; exec sleep 300'], {detached: true, stdio: 'ignore'}); await new Promise(() => setInterval(() => {}, 1000)) }\n`,
    )
    const runners = new PersistentRunnerPool()
    try {
      const result = await executeSensor({ref: 'tree.runner', entrypoint: path, execution: 'persistent'}, trigger, {}, {runners, timeoutMs: 2000, killGraceMs: 300})
      expect(result.error_type).toBe('Timeout')
    } finally {
      runners.closeAll()
    }
    expect(await eventually(() => existsSync(pidFile), 5000)).toBe(true)
    const pid = grandchild(pidFile)
    leftovers.push(pid)
    await expectEnded(pid)
  })

  it.skipIf(skip)('kills what a long-running sensor started with setsid when it is stopped', async () => {
    const {path, pidFile} = script((file) => `${escaped(file)}\nsleep 300\n`)
    const plan = await planLaunch({ref: 'tree.long', entrypoint: path})
    if ('error' in plan) throw new Error(plan.error)
    const supervisor = new LongRunningSupervisor({
      sensor: {id: 1, ref: 'tree.long', triggerTypes: ['tree.trigger'], config: {}},
      plan,
      triggers: [],
      issueToken: async () => ({token: 'unused', expiresAt: new Date(Date.now() + 3_600_000)}),
      onEvent: async () => {},
      logger: ringLogger(),
      killGraceMs: 300,
    })
    await supervisor.start()
    try {
      expect(await eventually(() => existsSync(pidFile), 10_000)).toBe(true)
    } finally {
      await supervisor.stop()
    }
    const pid = grandchild(pidFile)
    leftovers.push(pid)
    await expectEnded(pid)
  })

  it.skipIf(skip)('kills every tree at shutdown (killAllSensorProcesses)', async () => {
    const {path, pidFile} = script((file) => `${doubleForked(file)}\n${waitFor(file)}\nsleep 300\n`)
    const polling = run(path, {timeoutMs: 60_000})
    expect(await eventually(() => existsSync(pidFile), 10_000)).toBe(true)
    killAllSensorProcesses()
    const result = await polling
    expect(result.error).not.toBeNull()
    const pid = grandchild(pidFile)
    leftovers.push(pid)
    await expectEnded(pid)
  })

  it.skipIf(skip)(mechanism === 'cgroup' ? 'removes each run\'s cgroup when it is done' : 'leaves no run cgroup behind (the marker needs none)', async () => {
    const base = ownCgroupDir()
    const parents = base ? readdirSync(base).filter((name) => name.startsWith(`attune.${process.pid}.`)) : []
    if (mechanism === 'cgroup') expect(parents.length).toBeGreaterThan(0)
    const runs = () => parents.flatMap((parent) => readdirSync(join(base!, parent)).filter((name) => name.startsWith('run.')))
    expect(await eventually(() => runs().length === 0, 5000), runs().join(' ')).toBe(true)
  })
})
