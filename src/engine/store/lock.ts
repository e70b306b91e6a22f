import {closeSync, openSync, readFileSync, rmSync, statSync, unlinkSync, writeSync} from 'node:fs'
import {AbortError} from '../errors.js'

/** A held lock; `release()` is idempotent. */
export interface DataDirLock {
  readonly path: string
  release(): void
}

// Paths this process holds: a second open in the same process would corrupt the data
// directory just as surely as a second process.
const held = new Set<string>()

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function readHolder(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim().split('\n')[0] ?? '', 10)
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/** Creates the file only if it does not exist (O_CREAT|O_EXCL), so exactly one creator wins. */
function tryCreate(path: string): boolean {
  let fd: number
  try {
    fd = openSync(path, 'wx', 0o644)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error
  }
  try {
    writeSync(fd, `${process.pid}\n`)
  } finally {
    closeSync(fd)
  }
  return true
}

function heldError(path: string, pid: number | undefined, what: string): AbortError {
  const holder = pid === process.pid ? `this process (pid ${pid})` : `process ${pid}`
  return new AbortError(`The embedded database ${what} is in use by ${holder} (lock file ${path}).`, {
    code: 'database_locked',
    hint:
      'PGlite can be opened by one process at a time. Stop that process (or use the daemon it belongs to), ' +
      'or point --database-url / ATTUNE_DATABASE_URL at a PostgreSQL server.',
  })
}

/**
 * Takes the lock file that guards an embedded data directory. The file holds the owner's pid;
 * a lock left by a process that no longer runs is taken over. Throws an `AbortError` naming
 * the holder when another live process (or this one) holds it.
 */
export function acquireDataDirLock(lockPath: string, what = lockPath): DataDirLock {
  if (held.has(lockPath)) throw heldError(lockPath, process.pid, what)
  for (let attempt = 0; attempt < 5; attempt++) {
    if (tryCreate(lockPath)) return holdLock(lockPath)
    const pid = readHolder(lockPath)
    if (pid === undefined) {
      // Being written right now, or garbage: garbage older than a few seconds is stale.
      if (ageMs(lockPath) < 2000) {
        sleepSync(50)
        continue
      }
    } else if (pid !== process.pid && isAlive(pid)) {
      throw heldError(lockPath, pid, what)
    }
    // Stale (dead pid, or our own pid left by an earlier run that reused it). Take it over
    // under a second O_EXCL file so two processes cannot both remove and recreate it.
    const takeover = `${lockPath}.takeover`
    if (!tryCreate(takeover)) {
      if (ageMs(takeover) > 10_000) rmSync(takeover, {force: true})
      sleepSync(50)
      continue
    }
    try {
      if (readHolder(lockPath) === pid) rmSync(lockPath, {force: true})
    } finally {
      rmSync(takeover, {force: true})
    }
  }
  throw heldError(lockPath, readHolder(lockPath), what)
}

function holdLock(path: string): DataDirLock {
  held.add(path)
  let released = false
  // A process that exits without closing the store should not leave a lock behind.
  const onExit = () => release()
  process.once('exit', onExit)
  function release(): void {
    if (released) return
    released = true
    held.delete(path)
    process.removeListener('exit', onExit)
    if (readHolder(path) === process.pid) {
      try {
        unlinkSync(path)
      } catch {
        // already gone
      }
    }
  }
  return {path, release}
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs
  } catch {
    return Number.POSITIVE_INFINITY
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}
