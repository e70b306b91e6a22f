import {constants} from 'node:fs'
import {access, stat} from 'node:fs/promises'
import {dirname, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {sensorEnvironment} from './environment.js'
import {resolveInterpreter} from './interpreters.js'
import {asErrorDocument, parseEventsDocument, type ParsedOutput} from './output.js'
import type {PersistentRunnerPool} from './persistent.js'
import {runSensorProcess} from './process.js'
import {accessProblem, describeIdentity, ensureSensorDirs, type SensorIdentity} from './run-as.js'
import {inferRuntime, resolveRuntimeName, type SensorRuntime} from './runtimes.js'
import type {InterpreterPaths, SensorExecutionResult, SensorSpec, TriggerSpec} from './types.js'

export const DEFAULT_TIMEOUT_MS = 30_000
export const DEFAULT_MAX_OUTPUT_BYTES = 10 * 1024 * 1024
export const DEFAULT_KILL_GRACE_MS = 2_000

export interface ExecuteSensorOptions {
  /** Wall-clock limit of one poll (default 30 s); the whole process group is killed past it. */
  timeoutMs?: number
  /** Cap per output stream (default 10 MB); past it the process is killed and `truncated` set. */
  maxOutputBytes?: number
  /** Time between SIGTERM and SIGKILL when a sensor is killed (default 2 s). */
  killGraceMs?: number
  interpreters?: InterpreterPaths
  /** Required for `execution: persistent`: the runners kept warm between polls. */
  runners?: PersistentRunnerPool
  /** Used instead of `process.env` as the source of the inherited variables (tests). */
  parentEnv?: NodeJS.ProcessEnv
  /**
   * `sensor.run_as`, resolved (`resolveRunAs`/`sensorRunAs`): the sensor process (a poll, a
   * persistent runner) runs as this user, with its own HOME and TMPDIR. Unset: as this process.
   */
  runAs?: SensorIdentity
}

export interface LaunchOptions {
  /** Check that this user can run the sensor, and carry it in the plan (see ExecuteSensorOptions.runAs). */
  runAs?: SensorIdentity
}

const WRAPPERS: Record<'python' | 'node', string> = {
  python: fileURLToPath(new URL('wrappers/python_wrapper.py', import.meta.url)),
  node: fileURLToPath(new URL('wrappers/node_wrapper.cjs', import.meta.url)),
}

/** What one poll produced before interpretation, for either execution mode. */
export interface RawPoll {
  exitCode: number | null
  signal: string | null
  stdout: string
  stderr: string
  /** The text holding the result document (fd 3 for wrappers, stdout otherwise). */
  document: string
  /** The sensor reported failure (non-zero exit, or a runner's `ok: false`). */
  failed: boolean
  timedOut: boolean
  truncated: boolean
  /** A failure of the process itself, already phrased: could not start, runner crashed. */
  processError?: {message: string; type: string}
  durationMs: number
  warnings?: string[]
}

/**
 * How a sensor file is started: interpreter + arguments (and the user it runs as), or an error
 * result's reason.
 */
export type LaunchPlan =
  | {runtime: SensorRuntime; file: string; args: string[]; entrypoint: string; wrapped: boolean; runAs?: SensorIdentity}
  | {runtime: string; error: string; errorType: string}

/**
 * Runs one poll of a sensor and returns its result. Never throws for anything the sensor
 * or its files do: every failure is a result with `error` set and no events (SPEC §4).
 */
export async function executeSensor(
  sensor: SensorSpec,
  trigger: TriggerSpec,
  config: unknown,
  options: ExecuteSensorOptions = {},
): Promise<SensorExecutionResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const started = performance.now()
  const plan = await planLaunch(sensor, options.interpreters, {runAs: options.runAs})
  if ('error' in plan) {
    return failedResult(sensor, trigger, plan.runtime, plan.error, plan.errorType, Math.round(performance.now() - started))
  }
  const env = sensorEnvironment({
    sensorRef: sensor.ref,
    triggerRef: trigger.ref,
    config,
    declared: sensor.env,
    parentEnv: options.parentEnv,
    runAs: plan.runAs,
  })
  const limits = {
    timeoutMs,
    maxOutputBytes: options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
    killGraceMs: options.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
  }
  const warnings: string[] = []
  let raw: RawPoll
  if (sensor.execution === 'persistent' && plan.wrapped && options.runners) {
    raw = await options.runners.poll({key: `${sensor.ref}\0${plan.entrypoint}`, plan, env, cwd: dirname(plan.entrypoint), limits}, config)
  } else {
    if (sensor.execution === 'persistent') {
      warnings.push(
        plan.wrapped
          ? 'persistent execution needs a runner pool here; ran as a one-off poll'
          : `persistent execution is available for python and node sensors; this ${plan.runtime} sensor ran as a one-off poll`,
      )
    }
    const outcome = await runSensorProcess({
      file: plan.file,
      args: plan.args,
      env,
      cwd: dirname(plan.entrypoint),
      resultChannel: plan.wrapped,
      runAs: plan.runAs,
      ...limits,
    })
    raw = {
      exitCode: outcome.exitCode,
      signal: outcome.signal,
      stdout: outcome.stdout.toString('utf8'),
      stderr: outcome.stderr.toString('utf8'),
      document: (plan.wrapped ? outcome.result : outcome.stdout).toString('utf8'),
      failed: outcome.exitCode !== 0,
      timedOut: outcome.timedOut,
      truncated: outcome.truncated,
      processError: outcome.spawnError && describeSpawnError(plan, outcome.spawnError),
      durationMs: outcome.durationMs,
    }
  }
  return interpretPoll(sensor, trigger, plan.runtime, raw, {timeoutMs, maxOutputBytes: limits.maxOutputBytes, wrapped: plan.wrapped, warnings})
}

/**
 * Resolves the runtime, checks the file, and finds the interpreter. With `runAs`, also checks
 * that this user can read the sensor file and the wrapper and run the interpreter, and prepares
 * its HOME and TMPDIR; the plan then carries it, so whoever starts the plan (a poll, a
 * persistent runner, the long-running supervisor) starts it as that user.
 */
export async function planLaunch(sensor: SensorSpec, interpreters?: InterpreterPaths, options: LaunchOptions = {}): Promise<LaunchPlan> {
  const plan = await planFor(sensor, interpreters)
  if ('error' in plan || !options.runAs) return plan
  const problem = await runAsProblem(plan, options.runAs)
  return problem ?? {...plan, runAs: options.runAs}
}

/** Why the sensor user cannot run this plan, phrased as an error result; undefined when it can. */
async function runAsProblem(plan: Extract<LaunchPlan, {file: string}>, runAs: SensorIdentity): Promise<LaunchPlan | undefined> {
  const who = `the sensor user ${describeIdentity(runAs)}`
  const hint = 'packs must be readable by it (world- or group-readable): see docs/security.md'
  const entry = await accessProblem(runAs, plan.entrypoint, plan.runtime === 'native' ? 'execute' : 'read')
  if (entry) {
    const verb = plan.runtime === 'native' ? 'executable' : 'readable'
    return {runtime: plan.runtime, error: `Sensor file ${plan.entrypoint} is not ${verb} by ${who}: ${entry}; ${hint}`, errorType: 'SensorNotReadable'}
  }
  if (plan.runtime !== 'native') {
    const interpreter = await accessProblem(runAs, plan.file, 'execute')
    if (interpreter) {
      return {
        runtime: plan.runtime,
        error: `The ${plan.runtime} interpreter ${plan.file} cannot be run by ${who}: ${interpreter}; install one it can run, or set sensor.interpreters.${plan.runtime}`,
        errorType: 'InterpreterNotAccessible',
      }
    }
  }
  if (plan.wrapped) {
    const wrapper = WRAPPERS[plan.runtime as 'python' | 'node']
    const problem = await accessProblem(runAs, wrapper, 'read')
    if (problem) {
      return {
        runtime: plan.runtime,
        error: `attune's ${plan.runtime} wrapper ${wrapper} is not readable by ${who}: ${problem}; install attune where every user can read it`,
        errorType: 'InterpreterNotAccessible',
      }
    }
  }
  const dirs = ensureSensorDirs(runAs)
  if (dirs) return {runtime: plan.runtime, error: `Cannot prepare the HOME and TMPDIR of ${who}: ${dirs}`, errorType: 'SpawnFailed'}
  return undefined
}

async function planFor(sensor: SensorSpec, interpreters?: InterpreterPaths): Promise<LaunchPlan> {
  const entrypoint = resolve(sensor.entrypoint)
  let runtime: SensorRuntime | undefined
  if (sensor.runtime) {
    runtime = resolveRuntimeName(sensor.runtime)
    if (!runtime) return {runtime: sensor.runtime, error: `Unsupported sensor runtime: ${sensor.runtime}`, errorType: 'UnsupportedRuntime'}
  }
  let info
  try {
    info = await stat(entrypoint)
  } catch {
    return {runtime: runtime ?? 'unknown', error: `Sensor file not found: ${entrypoint}`, errorType: 'SensorNotFound'}
  }
  if (!info.isFile()) return {runtime: runtime ?? 'unknown', error: `Sensor entrypoint is not a file: ${entrypoint}`, errorType: 'SensorNotFound'}
  runtime ??= await inferRuntime(entrypoint)
  if (!runtime) {
    return {
      runtime: 'unknown',
      error: `Cannot tell the runtime of ${entrypoint}: no known extension (.py .js .mjs .cjs .sh .bash), no shebang, not executable`,
      errorType: 'UnsupportedRuntime',
    }
  }
  if (runtime === 'native') {
    try {
      await access(entrypoint, constants.X_OK)
    } catch {
      return {runtime, error: `Native sensor is not executable: ${entrypoint} (chmod +x it)`, errorType: 'SensorNotExecutable'}
    }
    return {runtime, file: entrypoint, args: [], entrypoint, wrapped: false}
  }
  const interpreter = await resolveInterpreter(runtime, interpreters)
  if ('error' in interpreter) return {runtime, error: interpreter.error, errorType: 'InterpreterNotFound'}
  switch (runtime) {
    case 'python':
      // -u: unbuffered, so a sensor killed at its timeout still leaves the logs it printed.
      return {runtime, file: interpreter.path, args: ['-u', WRAPPERS.python, entrypoint], entrypoint, wrapped: true}
    case 'node':
      return {runtime, file: interpreter.path, args: [WRAPPERS.node, entrypoint], entrypoint, wrapped: true}
    case 'shell':
      return {runtime, file: interpreter.path, args: [entrypoint], entrypoint, wrapped: false}
  }
}

/** The argv of a persistent runner for a wrapped plan. */
export function persistentArgs(plan: Extract<LaunchPlan, {file: string}>): string[] {
  return plan.runtime === 'python' ? ['-u', WRAPPERS.python, '--persistent', plan.entrypoint] : [WRAPPERS.node, '--persistent', plan.entrypoint]
}

/** The argv that loads a wrapped sensor as a runner would, without polling it (`checkSensorCode`). */
export function checkArgs(plan: Extract<LaunchPlan, {file: string}>): string[] {
  return plan.runtime === 'python' ? ['-u', WRAPPERS.python, '--check', plan.entrypoint] : [WRAPPERS.node, '--check', plan.entrypoint]
}

export function describeSpawnError(plan: Extract<LaunchPlan, {file: string}>, error: {code: string; message: string}): {message: string; type: string} {
  if (plan.runtime === 'native' && error.code === 'EACCES') {
    return {message: `Native sensor is not executable: ${plan.file} (chmod +x it)`, type: 'SensorNotExecutable'}
  }
  if (error.code === 'ENOENT') {
    const what = plan.runtime === 'native' ? 'Native sensor (or its #! interpreter)' : `${plan.runtime} interpreter`
    return {message: `${what} not found: ${plan.file}`, type: 'InterpreterNotFound'}
  }
  return {message: `Could not start the sensor: ${error.message}`, type: 'SpawnFailed'}
}

function formatSeconds(ms: number): string {
  const seconds = ms / 1000
  return Number.isInteger(seconds) ? String(seconds) : seconds.toFixed(1)
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${formatSeconds((bytes / (1024 * 1024)) * 1000)} MB` : `${bytes} bytes`
}

/** The last lines of stderr, enough to say why a process failed. */
export function stderrTail(stderr: string, lines = 20, chars = 2000): string {
  const tail = stderr.trimEnd().split('\n').slice(-lines).join('\n')
  return tail.length > chars ? tail.slice(-chars) : tail
}

/** Turns a raw poll into the result: one place decides what counts as which failure. */
export function interpretPoll(
  sensor: SensorSpec,
  trigger: TriggerSpec,
  runtime: string,
  raw: RawPoll,
  context: {timeoutMs: number; maxOutputBytes: number; wrapped: boolean; warnings?: string[]},
): SensorExecutionResult {
  const result: SensorExecutionResult = {
    sensor_ref: sensor.ref,
    trigger_ref: trigger.ref,
    runtime,
    events: [],
    count: 0,
    duration_ms: raw.durationMs,
    exit_code: raw.exitCode,
    signal: raw.signal,
    stdout: raw.stdout,
    stderr: raw.stderr,
    error: null,
    error_type: null,
    traceback: null,
    truncated: raw.truncated,
    warnings: [...(context.warnings ?? []), ...(raw.warnings ?? [])],
  }
  const fail = (message: string, type: string, traceback: string | null = null) => {
    result.error = message
    result.error_type = type
    result.traceback = traceback
    return result
  }
  if (raw.processError) return fail(raw.processError.message, raw.processError.type)
  if (raw.timedOut) return fail(`Sensor execution timed out after ${formatSeconds(context.timeoutMs)} seconds`, 'Timeout')
  if (raw.truncated) {
    return fail(`Sensor output exceeded the ${formatBytes(context.maxOutputBytes)} limit; the sensor was stopped`, 'OutputTooLarge')
  }
  if (raw.failed) {
    const document = tryParseJson(raw.document)
    const errorDocument = asErrorDocument(document) ?? lastLineErrorDocument(raw.document)
    if (errorDocument) return fail(errorDocument.message, errorDocument.type, errorDocument.traceback)
    const how = raw.signal ? `was killed by ${raw.signal}` : `exited with code ${raw.exitCode}`
    const tail = stderrTail(raw.stderr)
    return fail(tail ? `Sensor ${how}: ${tail}` : `Sensor ${how}`, 'NonZeroExit')
  }
  if (context.wrapped && raw.document.trim() === '') {
    return fail('The sensor wrapper returned no result (did the sensor close file descriptor 3?)', 'InvalidOutput')
  }
  const parsed: ParsedOutput = parseEventsDocument(raw.document, {lastLineFallback: !context.wrapped})
  result.warnings.push(...parsed.warnings)
  if (parsed.error) return fail(parsed.error.message, parsed.error.type, parsed.error.traceback)
  result.events = parsed.events
  result.count = parsed.events.length
  return result
}

function tryParseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

function lastLineErrorDocument(text: string) {
  const last = text.trim().split('\n').at(-1)
  return last ? asErrorDocument(tryParseJson(last)) : undefined
}

function failedResult(
  sensor: SensorSpec,
  trigger: TriggerSpec,
  runtime: string,
  error: string,
  errorType: string,
  durationMs: number,
): SensorExecutionResult {
  return {
    sensor_ref: sensor.ref,
    trigger_ref: trigger.ref,
    runtime,
    events: [],
    count: 0,
    duration_ms: durationMs,
    exit_code: null,
    signal: null,
    stdout: '',
    stderr: '',
    error,
    error_type: errorType,
    traceback: null,
    truncated: false,
    warnings: [],
  }
}
