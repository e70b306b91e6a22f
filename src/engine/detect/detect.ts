import {constants} from 'node:fs'
import {access, open, realpath} from 'node:fs/promises'
import {isAbsolute} from 'node:path'
import {RE2JS} from 're2js'
import {findExecutable} from '../sensor/interpreters.js'
import {resolveRuntimeName, type SensorRuntime} from '../sensor/runtimes.js'
import {runCommand, type CommandOutcome} from './command.js'
import type {CommandCheck, RuntimeResult, RuntimeSpec, VerificationCommand} from './types.js'
import {compareVersions, extractVersion} from './version.js'

export const DEFAULT_CHECK_TIMEOUT_MS = 2000

export interface DetectOptions {
  /** Per-command timeout (default 2 s); a command's own `timeout` wins. */
  timeoutMs?: number
  /** Environment of the checks and the PATH they are looked up on (default: this process's). */
  env?: NodeJS.ProcessEnv
}

/** How the sensor executors run this runtime, if they can (`core.python` -> python). */
export function executorRuntime(spec: Pick<RuntimeSpec, 'ref' | 'name' | 'aliases'>): SensorRuntime | undefined {
  for (const candidate of [spec.ref, spec.name, ...spec.aliases]) {
    const runtime = resolveRuntimeName(candidate)
    if (runtime) return runtime
  }
  return undefined
}

/** Arguments that make an interpreter print its own path, seeing through shims (pyenv, asdf, nodenv). */
const SELF_PATH_ARGS: Partial<Record<SensorRuntime, string[]>> = {
  // -S: no site import, which is most of Python's start-up; sys.executable is known before it.
  python: ['-S', '-c', 'import sys; print(sys.executable)'],
  node: ['-p', 'process.execPath'],
}

/**
 * The environment verification commands run with: this process's, minus attune's own
 * settings (database URL, JWT secret, broker URL): a command from a database row has no
 * business seeing them. PATH, HOME and the PYENV_* / ASDF_* variables shims need stay.
 */
export function checkEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined || key.startsWith('ATTUNE_') || key === 'DATABASE_URL' || key === 'DATABASE_URL_FILE') continue
    clean[key] = value
  }
  return clean
}

/** Checks every runtime at once: detection takes about as long as the slowest check. */
export function detectRuntimes(specs: RuntimeSpec[], options: DetectOptions = {}): Promise<RuntimeResult[]> {
  return Promise.all(specs.map((spec) => checkRuntime(spec, options)))
}

function commandLine(command: Pick<VerificationCommand, 'binary' | 'args'>): string {
  return [command.binary, ...command.args].join(' ')
}

/**
 * Decides one runtime: `always_available` wins without running anything; invalid row data
 * makes it unavailable naming the problem; else the commands run in priority order and the
 * first that passes (exit code, pattern, `min_version`) decides. Optional commands never
 * make a runtime unavailable: a runtime whose commands are all optional stays available.
 */
export async function checkRuntime(spec: RuntimeSpec, options: DetectOptions = {}): Promise<RuntimeResult> {
  const base = {name: spec.name, label: spec.label, ref: spec.ref, aliases: spec.aliases, min_version: spec.min_version}
  const env = options.env ?? process.env
  if (spec.always_available) {
    // Nothing runs; the binary and its path are only looked up, for the report.
    for (const command of spec.commands) {
      const found = await findExecutable(command.binary, env.PATH ?? '')
      if (found) return {...base, available: true, binary: command.binary, path: found, version: null, reason: 'always available', checks: []}
    }
    return {...base, available: true, binary: null, path: null, version: null, reason: 'always available', checks: []}
  }
  const unavailable = (reason: string, checks: CommandCheck[] = []): RuntimeResult => ({
    ...base,
    available: false,
    binary: null,
    path: null,
    version: null,
    reason,
    checks,
  })
  if (spec.problems.length > 0) return unavailable(`invalid runtime data: ${spec.problems.join('; ')}`)
  if (spec.commands.length === 0) return unavailable('no verification commands and not always_available')

  const checks: CommandCheck[] = []
  for (const command of spec.commands) {
    const {check, path} = await runCheck(spec, command, options)
    checks.push(check)
    if (check.outcome !== 'passed') continue
    let reason = `${commandLine(command)} passed`
    if (spec.min_version && check.version === null) reason += ` (no version in its output: min_version ${spec.min_version} not checked)`
    return {...base, available: true, binary: command.binary, path, version: check.version, reason, checks}
  }
  const failures = checks.map((check) => `${check.binary}: ${check.reason}`).join('; ')
  if (spec.commands.every((command) => command.optional)) {
    return {...base, available: true, binary: null, path: null, version: null, reason: `optional checks failed (${failures})`, checks}
  }
  return unavailable(failures, checks)
}

/** True for a `#!` script: a shim or wrapper (pyenv, asdf), not the interpreter itself. */
async function isScript(path: string): Promise<boolean> {
  let handle
  try {
    handle = await open(path, 'r')
    const head = Buffer.alloc(2)
    await handle.read(head, 0, 2, 0)
    return head.toString('latin1') === '#!'
  } catch {
    return false
  } finally {
    await handle?.close()
  }
}

async function realPath(path: string): Promise<string> {
  try {
    return await realpath(path)
  } catch {
    return path
  }
}

/** The interpreter's own answer to "where are you", when it is an absolute path to an executable. */
async function selfPath(outcome: CommandOutcome): Promise<string | undefined> {
  const line = outcome.stdout.trim().split('\n')[0]?.trim() ?? ''
  if (outcome.exitCode !== 0 || !isAbsolute(line)) return undefined
  try {
    await access(line, constants.X_OK)
    return line
  } catch {
    return undefined
  }
}

function firstLine(text: string): string {
  const line = text.trim().split('\n')[0] ?? ''
  return line.length > 120 ? `${line.slice(0, 119)}…` : line
}

async function runCheck(spec: RuntimeSpec, command: VerificationCommand, options: DetectOptions): Promise<{check: CommandCheck; path: string | null}> {
  const env = checkEnvironment(options.env ?? process.env)
  const check: CommandCheck = {
    binary: command.binary,
    args: command.args,
    priority: command.priority,
    optional: command.optional,
    outcome: 'failed',
    found_at: null,
    exit_code: null,
    version: null,
    reason: null,
    duration_ms: 0,
  }
  const done = (outcome: CommandCheck['outcome'], reason: string | null) => {
    check.outcome = outcome
    check.reason = reason
    return {check, path: null}
  }

  let pattern: RE2JS | undefined
  if (command.pattern !== undefined) {
    try {
      pattern = RE2JS.compile(command.pattern)
    } catch (error) {
      return done('invalid', `invalid pattern ${JSON.stringify(command.pattern)}: ${error instanceof Error ? error.message : String(error)}`)
    }
  }
  const found = await findExecutable(command.binary, env.PATH ?? '')
  if (!found) return done('not_found', command.binary.includes('/') ? 'not found or not executable' : 'not found on PATH')
  check.found_at = found

  const timeoutMs = command.timeout !== undefined ? command.timeout * 1000 : (options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS)
  // A script in the interpreter's place is a shim (pyenv, asdf): only the interpreter knows
  // where it really is, so it is asked first, and the check then runs against that
  // interpreter: the one the executors will start. The shim's start-up (~60 ms for pyenv) is
  // paid once, not twice. A binary is the interpreter already and is kept as found (a venv's
  // symlink included).
  const runtime = executorRuntime(spec)
  const pathArgs = command.path_args ?? (runtime ? SELF_PATH_ARGS[runtime] : undefined)
  const started = performance.now()
  const shim = await isScript(found)
  let real: string | undefined
  if (pathArgs && shim) {
    const probe = await runCommand(found, pathArgs, timeoutMs, env)
    if (probe.timedOut) return done('timeout', `timed out after ${timeoutMs / 1000} s (killed) when asked for its own path`)
    real = await selfPath(probe)
  }

  const outcome = await runCommand(real ?? found, command.args, timeoutMs, env)
  check.duration_ms = Math.round(performance.now() - started)
  check.exit_code = outcome.exitCode
  if (outcome.spawnError) return done('failed', `cannot run ${real ?? found}: ${outcome.spawnError}`)
  if (outcome.timedOut) return done('timeout', `timed out after ${timeoutMs / 1000} s (killed)`)
  if (outcome.exitCode !== command.exit_code) {
    const detail = firstLine(outcome.stderr) || firstLine(outcome.stdout)
    const how = outcome.exitCode === null ? `killed by ${outcome.signal}` : `exit code ${outcome.exitCode}`
    return done('failed', `${how} (expected ${command.exit_code})${detail ? `: ${detail}` : ''}`)
  }
  let matched: string
  if (pattern) {
    const stream = [outcome.stdout, outcome.stderr].find((text) => pattern.test(text))
    if (stream === undefined) {
      const shown = firstLine(outcome.stdout) || firstLine(outcome.stderr)
      return done('failed', `output does not match ${JSON.stringify(command.pattern)}${shown ? `: ${JSON.stringify(shown)}` : ' (no output)'}`)
    }
    matched = stream
  } else {
    matched = outcome.stdout.trim() ? outcome.stdout : outcome.stderr
  }
  check.version = extractVersion(matched, pattern)
  if (spec.min_version && check.version !== null && compareVersions(check.version, spec.min_version) < 0) {
    return done('failed', `version ${check.version} is older than min_version ${spec.min_version}`)
  }
  check.outcome = 'passed'
  const path = real ?? (shim ? await realPath(found) : found)
  return {check, path}
}
