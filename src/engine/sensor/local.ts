import {access, stat} from 'node:fs/promises'
import {basename, extname, resolve} from 'node:path'
import {AbortError} from '../errors.js'
import {executeSensor, type ExecuteSensorOptions} from './execute.js'
import {PersistentRunnerPool} from './persistent.js'
import {FileWatcher} from './watch.js'
import {accessProblem, describeIdentity, type SensorIdentity} from './run-as.js'
import {inferRuntime, RUNTIME_ALIASES, resolveRuntimeName} from './runtimes.js'
import type {SensorExecutionResult, SensorSpec, TriggerSpec} from './types.js'

/**
 * Running a sensor file outside any pack, as `attune sensor test` does: the same
 * `executeSensor()` the daemon uses, with the input checks a command line needs first.
 */

export interface LocalSensorInput {
  file: string
  runtime?: string
  sensorRef?: string
  triggerRef?: string
  env?: Record<string, string>
  persistent?: boolean
  /** `sensor.run_as`: the file must be readable (a native one executable) by this user. */
  runAs?: SensorIdentity
}

/** `./sensors/disk_usage.sh` -> `local.disk_usage`: a ref that says where it came from. */
export function defaultSensorRef(file: string): string {
  const name = basename(file, extname(file)).replace(/[^A-Za-z0-9_]+/g, '_') || 'sensor'
  return `local.${name}`
}

const REF = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/

/** Validates the input and returns the sensor and trigger to run; bad input is an AbortError (exit 2). */
export async function prepareLocalSensor(input: LocalSensorInput): Promise<{sensor: SensorSpec; trigger: TriggerSpec}> {
  const file = resolve(input.file)
  let info
  try {
    info = await stat(file)
  } catch {
    throw new AbortError(`Sensor file not found: ${input.file}`, {code: 'sensor_not_found'})
  }
  if (!info.isFile()) throw new AbortError(`Not a file: ${input.file}`, {code: 'sensor_not_found'})
  try {
    await access(file)
  } catch {
    throw new AbortError(`Cannot read sensor file: ${input.file}`, {code: 'sensor_unreadable'})
  }
  if (input.runtime !== undefined && !resolveRuntimeName(input.runtime)) {
    throw new AbortError(`Unsupported sensor runtime: ${input.runtime}`, {
      code: 'runtime_unknown',
      hint: `Known runtimes: ${Object.keys(RUNTIME_ALIASES).join(', ')}`,
    })
  }
  if (input.runtime === undefined && !(await inferRuntime(file))) {
    // The engine would report this as a failed poll; from a command line it is bad input.
    throw new AbortError(`Cannot tell the runtime of ${input.file}: no known extension (.py .js .mjs .cjs .sh .bash), no shebang, not executable`, {
      code: 'runtime_unknown',
      hint: `Pass --runtime (${Object.keys(RUNTIME_ALIASES).join(', ')}), add a shebang line, or make it executable.`,
    })
  }
  if (input.runAs) {
    // A native sensor is executed, anything else read by its interpreter.
    const native = input.runtime === undefined ? (await inferRuntime(file)) === 'native' : resolveRuntimeName(input.runtime) === 'native'
    const problem = await accessProblem(input.runAs, file, native ? 'execute' : 'read')
    if (problem) {
      throw new AbortError(`Sensor file ${input.file} is not ${native ? 'executable' : 'readable'} by the sensor user ${describeIdentity(input.runAs)} (${input.runAs.source}): ${problem}`, {
        code: 'sensor_unreadable',
        hint: 'Sensor files must be readable by the sensor user: make them world-readable (chmod o+r, and o+x on each directory above) or group-readable by its group; see docs/security.md.',
      })
    }
  }
  const sensorRef = input.sensorRef ?? defaultSensorRef(file)
  if (!REF.test(sensorRef)) throw new AbortError(`--sensor-ref must look like pack.name, got "${sensorRef}"`)
  const triggerRef = input.triggerRef ?? `${sensorRef}_event`
  if (!REF.test(triggerRef)) throw new AbortError(`--trigger-ref must look like pack.name, got "${triggerRef}"`)
  return {
    sensor: {ref: sensorRef, entrypoint: file, runtime: input.runtime, env: input.env, execution: input.persistent ? 'persistent' : 'poll'},
    trigger: {ref: triggerRef},
  }
}

export interface SensorTestRun {
  runs: SensorExecutionResult[]
  /** How many persistent runners were started (1 when every poll reused the first). */
  runner_starts: number
}

/** Polls a sensor `repeat` times (through one runner pool when persistent); calls `onPoll` after each. */
export async function runSensorPolls(
  sensor: SensorSpec,
  trigger: TriggerSpec,
  config: unknown,
  options: ExecuteSensorOptions & {repeat: number; runners?: PersistentRunnerPool; onPoll?: (result: SensorExecutionResult, index: number) => void},
): Promise<SensorTestRun> {
  const ownPool = sensor.execution === 'persistent' && !options.runners
  const runners = options.runners ?? (sensor.execution === 'persistent' ? new PersistentRunnerPool() : undefined)
  const runs: SensorExecutionResult[] = []
  try {
    for (let index = 0; index < options.repeat; index++) {
      const result = await executeSensor(sensor, trigger, config, {...options, runners})
      runs.push(result)
      options.onPoll?.(result, index)
    }
  } finally {
    if (ownPool) runners?.closeAll()
  }
  const runnerStarts = runners ? [...runners.starts.values()].reduce((sum, count) => sum + count, 0) : 0
  return {runs, runner_starts: runnerStarts}
}

/**
 * Calls `onChange` (debounced) when a file is saved, changed or not (`sensor test --watch`),
 * through the daemon's watcher: its folder is watched, since editors often save by writing a
 * new file and renaming it over the old one. The watch keeps the process alive until `close`.
 */
export function watchFile(file: string, onChange: () => void, debounceMs = 150): {close(): void} {
  const watcher = new FileWatcher({onChange: () => onChange(), debounceMs, compareContent: false, persistent: true})
  watcher.set({files: [file], folders: []})
  return watcher
}
