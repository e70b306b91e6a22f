import type {SensorRuntime} from './runtimes.js'

/** How a sensor is run: one process per poll, a runner kept warm, or a supervised process. */
export type ExecutionMode = 'poll' | 'persistent' | 'long_running'

/** What the engine needs to know to run a sensor (a subset of the `sensor` row). */
export interface SensorSpec {
  ref: string
  /** Absolute or cwd-relative path of the sensor's code. */
  entrypoint: string
  /** Runtime ref or alias (`python`, `core.nodejs`, ...); inferred from the file when absent. */
  runtime?: string
  execution?: ExecutionMode
  /** Extra environment variables the sensor definition declares. */
  env?: Record<string, string>
}

export interface TriggerSpec {
  ref: string
}

/** Where to find interpreters; unset entries are looked up on PATH. */
export interface InterpreterPaths {
  python?: string
  node?: string
  shell?: string
}

/** The outcome of one poll, exactly as SPEC §4 names it (snake_case, like every wire format). */
export interface SensorExecutionResult {
  sensor_ref: string
  trigger_ref: string
  runtime: SensorRuntime | string
  events: Array<Record<string, unknown>>
  count: number
  duration_ms: number
  exit_code: number | null
  signal: string | null
  stdout: string
  stderr: string
  error: string | null
  error_type: string | null
  traceback: string | null
  truncated: boolean
  warnings: string[]
}

/** `error_type` values the engine itself sets (a sensor's own exception types pass through). */
export const ENGINE_ERROR_TYPES = [
  'UnsupportedRuntime',
  'SensorNotFound',
  'SensorNotExecutable',
  'InterpreterNotFound',
  'Timeout',
  'OutputTooLarge',
  'InvalidOutput',
  'InvalidEvent',
  'NonZeroExit',
  'RunnerCrashed',
  /** `sensor.run_as`: that user cannot read (or execute) the sensor file. */
  'SensorNotReadable',
  /** `sensor.run_as`: that user cannot run the interpreter or read attune's wrapper. */
  'InterpreterNotAccessible',
] as const
