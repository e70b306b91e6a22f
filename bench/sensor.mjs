// Per-poll cost of executeSensor() against the bare interpreter start, measured in one run.
// Targets (issue 2): poll mode <= 1.3x the bare start, persistent mode <= 0.1x,
// `attune --version` <= 2.5x `node -e 0`.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {executeSensor} from '../dist/engine/sensor/execute.js'
import {resolveInterpreter} from '../dist/engine/sensor/interpreters.js'
import {PersistentRunnerPool} from '../dist/engine/sensor/persistent.js'
import {formatRatio, interleaved, spawnBare} from './lib.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

export async function run({rounds = 25} = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'attune-bench-'))
  const figures = []
  const details = {}
  try {
    const sensors = {
      python: writeSensor(dir, 'bench.py', 'def poll_sensor(config):\n    return {"ok": True}\n'),
      node: writeSensor(dir, 'bench.cjs', 'exports.poll_sensor = () => ({ok: true})\n'),
      shell: writeSensor(dir, 'bench.sh', '#!/bin/bash\necho \'{"events": [{"ok": true}]}\'\n'),
    }
    const bare = {}
    for (const runtime of ['python', 'node', 'shell']) {
      const {path} = await resolveInterpreter(runtime)
      const args = runtime === 'python' ? ['-c', 'pass'] : runtime === 'node' ? ['-e', '0'] : ['-c', 'true']
      bare[runtime] = spawnBare(path, args)
      const sensor = {ref: `bench.${runtime}`, entrypoint: sensors[runtime]}
      const poll = async () => {
        const result = await executeSensor(sensor, {ref: 'bench.trigger'}, {})
        if (result.error) throw new Error(`${runtime}: ${result.error}`)
      }
      const {candidate, baseline} = await interleaved(poll, bare[runtime], {rounds})
      details[`${runtime}_poll_ms`] = round(candidate)
      details[`${runtime}_bare_start_ms`] = round(baseline)
      figures.push(formatRatio(`${runtime} poll / bare ${runtime} start`, candidate / baseline, 1.3))
    }
    for (const runtime of ['python', 'node']) {
      const runners = new PersistentRunnerPool()
      const sensor = {ref: `bench.persistent.${runtime}`, entrypoint: sensors[runtime], execution: 'persistent'}
      const poll = async () => {
        const result = await executeSensor(sensor, {ref: 'bench.trigger'}, {}, {runners})
        if (result.error) throw new Error(`${runtime} persistent: ${result.error}`)
      }
      const {candidate, baseline} = await interleaved(poll, bare[runtime], {rounds})
      runners.closeAll()
      details[`${runtime}_persistent_poll_ms`] = round(candidate)
      figures.push(formatRatio(`${runtime} persistent poll / bare ${runtime} start`, candidate / baseline, 0.1))
    }
    const cli = spawnBare(process.execPath, [join(ROOT, 'bin', 'run.js'), '--version'])
    const {candidate, baseline} = await interleaved(cli, spawnBare(process.execPath, ['-e', '0']), {rounds: Math.min(rounds, 15)})
    details.version_ms = round(candidate)
    details.node_start_ms = round(baseline)
    figures.push(formatRatio('attune --version / node -e 0', candidate / baseline, 2.5))
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
  return {name: 'sensor execution', figures, details}
}

function writeSensor(dir, name, body) {
  const path = join(dir, name)
  writeFileSync(path, body, {mode: 0o755})
  return path
}

function round(ms) {
  return Number(ms.toFixed(2))
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await run()
  console.log(JSON.stringify(result, null, 2))
}
