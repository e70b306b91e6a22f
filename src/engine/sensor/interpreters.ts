import {execFile} from 'node:child_process'
import {delimiter, resolve} from 'node:path'
import {promisify} from 'node:util'
import which from 'which'
import type {SensorRuntime} from './runtimes.js'
import type {InterpreterPaths} from './types.js'

const execFileAsync = promisify(execFile)

/**
 * Finds an executable file on PATH (or checks an explicit path), like `command -v`, with the
 * `which` package; returns an absolute path. Empty PATH entries are skipped (they would mean
 * the current directory), so an empty PATH finds nothing.
 */
export async function findExecutable(name: string, pathVariable = process.env.PATH ?? ''): Promise<string | undefined> {
  const path = pathVariable.split(delimiter).filter(Boolean).join(delimiter)
  if (!path && !name.includes('/')) return undefined
  const found = await which(name, {path, nothrow: true})
  return found === null ? undefined : resolve(found)
}

const resolvedPython = new Map<string, Promise<string | undefined>>()

/**
 * The real Python binary behind a name or shim (pyenv, asdf): asked of Python itself via
 * `sys.executable`, once per process, so every poll skips the shim's own start-up.
 */
export function realPythonPath(candidate: string): Promise<string | undefined> {
  let pending = resolvedPython.get(candidate)
  if (!pending) {
    pending = execFileAsync(candidate, ['-c', 'import sys; print(sys.executable)'], {timeout: 10_000})
      .then(({stdout}) => stdout.trim() || candidate)
      .catch(() => undefined)
    resolvedPython.set(candidate, pending)
  }
  return pending
}

export type InterpreterResolution = {path: string} | {error: string}

const resolved = new Map<string, Promise<InterpreterResolution>>()

/** Interpreter paths found by runtime detection (`attune runtime detect`), for this process. */
let detected: InterpreterPaths = {}

/**
 * Hands the executors the real interpreter paths runtime detection resolved (through shims),
 * so polls start the interpreter directly. Paths named in the config still win; a detected
 * path that has gone away falls back to the PATH lookup. Replaces earlier detected paths.
 */
export function useDetectedInterpreters(paths: InterpreterPaths): void {
  detected = {...paths}
  // Detection already asked Python for its own path: no need to ask again.
  if (paths.python) resolvedPython.set(paths.python, Promise.resolve(paths.python))
}

/** The interpreter paths detection handed over (empty when none ran in this process). */
export function detectedInterpreters(): InterpreterPaths {
  return {...detected}
}

/**
 * The program that runs a sensor of the given runtime (native sensors run themselves).
 * Remembered per process (per runtime, configured paths and PATH): a poll should not walk
 * PATH again each time.
 */
export function resolveInterpreter(runtime: SensorRuntime, configured: InterpreterPaths = {}): Promise<InterpreterResolution> {
  const key = JSON.stringify([runtime, configured, detected, process.env.PATH])
  let pending = resolved.get(key)
  if (!pending) {
    pending = lookUpInterpreter(runtime, configured)
    resolved.set(key, pending)
    // A failed lookup is not remembered: the interpreter may be installed in a moment.
    pending.then((result) => 'error' in result && resolved.delete(key))
  }
  return pending
}

async function lookUpInterpreter(runtime: SensorRuntime, configured: InterpreterPaths): Promise<InterpreterResolution> {
  switch (runtime) {
    case 'python': {
      const names = configured.python ? [configured.python] : [...(detected.python ? [detected.python] : []), 'python3', 'python']
      for (const name of names) {
        const found = await findExecutable(name)
        if (!found) continue
        const real = await realPythonPath(found)
        if (real) return {path: real}
      }
      return {error: `Python interpreter not found (looked for ${names.join(', ')} on PATH); install Python 3 or set sensor.interpreters.python`}
    }
    case 'node':
      if (configured.node) return {path: configured.node}
      if (detected.node && (await findExecutable(detected.node))) return {path: detected.node}
      return {path: process.execPath}
    case 'shell': {
      const names = configured.shell ? [configured.shell] : [...(detected.shell ? [detected.shell] : []), 'bash', 'sh']
      for (const name of names) {
        const found = await findExecutable(name)
        if (found) return {path: found}
      }
      return {error: `No shell found (looked for ${names.join(', ')} on PATH)`}
    }
    case 'native':
      return {path: ''}
  }
}
