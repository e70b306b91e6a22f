import {chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

/** A temp directory for sensor files, removed by `cleanup()`. */
export function sensorDir(): {dir: string; write(name: string, content: string, mode?: number): string; cleanup(): void} {
  const dir = mkdtempSync(join(tmpdir(), 'attune-sensors-'))
  return {
    dir,
    write(name, content, mode) {
      const path = join(dir, name)
      writeFileSync(path, content)
      if (mode !== undefined) chmodSync(path, mode)
      return path
    },
    cleanup() {
      rmSync(dir, {recursive: true, force: true})
    },
  }
}

/** True while a process with this pid exists (zombies of other parents included). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Polls `predicate` until it holds or `timeoutMs` passes; returns its last value. */
export async function eventually(predicate: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (predicate()) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return predicate()
}

/** Gone, or a zombie waiting for its new parent to reap it: either way it runs no more. */
export function hasEnded(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z'
  } catch {
    return true
  }
}
