// Runtime detection (issue 4): wall time of detecting the core pack's runtimes, divided by the
// slowest single verification command measured in the same run, alternately, round by round.
// Target <= 1.5x: the checks run in parallel, so detection costs about its slowest check
// (seed 002 reports 100-300 ms for the sequential original). The sequential sum is a detail.
import {fileURLToPath} from 'node:url'
import {detectRuntimes, runCommand, runtimeSpec} from '../dist/engine/detect/index.js'
import {loadPack} from '../dist/engine/packs/index.js'
import {findExecutable} from '../dist/engine/sensor/interpreters.js'
import {formatRatio, median, timeOnce} from './lib.mjs'

const CORE = fileURLToPath(new URL('../packs/core', import.meta.url))

export async function run({rounds = 15, warmup = 3} = {}) {
  const pack = await loadPack(CORE)
  const specs = pack.runtimes.map(runtimeSpec)
  // The commands detection runs: the first of each runtime that is not always available
  // (on a machine where it passes, that is the only one it runs).
  const commands = []
  for (const spec of specs) {
    if (spec.always_available || spec.commands.length === 0) continue
    const command = spec.commands[0]
    const file = await findExecutable(command.binary)
    if (file) commands.push({label: [command.binary, ...command.args].join(' '), file, args: command.args})
  }
  if (commands.length === 0) throw new Error('no core runtime binary found on PATH (python3, node)')

  const detection = []
  const single = new Map(commands.map((command) => [command.label, []]))
  for (let round = 0; round < warmup + rounds; round++) {
    let results
    const wall = await timeOnce(async () => {
      results = await detectRuntimes(specs)
    })
    const times = []
    for (const command of commands) {
      times.push([command.label, await timeOnce(() => runCommand(command.file, command.args, 5000))])
    }
    if (round < warmup) continue
    detection.push(wall)
    for (const [label, time] of times) single.get(label).push(time)
    const missing = results.filter((result) => !result.available).map((result) => `${result.name}: ${result.reason}`)
    if (missing.length > 0) throw new Error(`core runtimes unavailable: ${missing.join('; ')}`)
  }

  const medians = Object.fromEntries([...single].map(([label, times]) => [label, round(median(times))]))
  const slowest = Math.max(...Object.values(medians))
  const wall = median(detection)
  const details = {
    detection_ms: round(wall),
    slowest_command_ms: slowest,
    sequential_sum_ms: round(Object.values(medians).reduce((sum, value) => sum + value, 0)),
    command_ms: medians,
    runtimes: specs.length,
  }
  return {
    name: 'runtime detection',
    figures: [formatRatio('detect core runtimes / slowest single check', wall / slowest, 1.5)],
    details,
  }
}

function round(value) {
  return Math.round(value * 10) / 10
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(await run(), null, 2))
}
