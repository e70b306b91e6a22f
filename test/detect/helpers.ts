import {chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {delimiter, join} from 'node:path'
import {runtimeSpec, type RuntimeRowLike} from '../../src/engine/detect/index.js'

/** A temp dir for fake binaries; `path()` puts it first on PATH (or alone, with `only`). */
export function binDir(prefix = 'attune-detect-bin-') {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return {
    dir,
    /** Writes an executable `sh` script `name` with the given body. */
    fake(name: string, body: string): string {
      const file = join(dir, name)
      writeFileSync(file, `#!/bin/sh\n${body}\n`)
      chmodSync(file, 0o755)
      return file
    },
    path(options: {only?: boolean} = {}): string {
      // /bin and /usr/bin stay reachable for `sh` and `sleep` in the fakes' bodies.
      return options.only ? [dir, '/usr/bin', '/bin'].join(delimiter) : [dir, process.env.PATH ?? ''].join(delimiter)
    },
    env(options: {only?: boolean} = {}): NodeJS.ProcessEnv {
      return {...process.env, PATH: this.path(options)}
    },
    cleanup(): void {
      rmSync(dir, {recursive: true, force: true})
    },
  }
}

/** A runtime spec from the same data a runtime YAML holds. */
export function spec(row: Partial<RuntimeRowLike> & {distributions: unknown}) {
  return runtimeSpec({ref: 'test.sensor.thing', name: 'Thing', runtime_type: 'sensor', aliases: ['thing'], ...row})
}

/** A verification command entry. */
export function command(binary: string, extra: Record<string, unknown> = {}) {
  return {binary, args: ['--version'], exit_code: 0, priority: 1, ...extra}
}

/** Whether a process is still running (a zombie waiting to be reaped counts as gone). */
export function isRunning(pid: number): boolean {
  const stat = `/proc/${pid}/stat`
  if (!existsSync(stat)) return false
  try {
    const state = readFileSync(stat, 'utf8').replace(/^.*\) /s, '')[0]
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}
