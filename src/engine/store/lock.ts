import {closeSync, openSync, readFileSync, rmSync, statSync, unlinkSync, writeSync} from 'node:fs'
import {hostname} from 'node:os'
import {AbortError} from '../errors.js'

/** A held lock; `release()` is idempotent. */
export interface DataDirLock {
  readonly path: string
  release(): void
}

// Paths this process holds: a second open in the same process would corrupt the data
// directory just as surely as a second process.
const held = new Set<string>()

/**
 * Who holds a lock: the pid, the host it runs on, and the process's start time (Linux, from
 * /proc) so a pid reused by an unrelated process (common in containers) is not mistaken for
 * the holder. Older lock files hold only the pid.
 */
export interface Holder {
  pid: number
  host?: string
  start?: string
}

/** The start time of a process in clock ticks since boot (Linux), or undefined elsewhere. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Field 2 (the command) is in parentheses and may hold spaces: count from after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields[19] // field 22, starttime
  } catch {
    return undefined
  }
}

export function isAlive(holder: Holder): boolean {
  try {
    process.kill(holder.pid, 0)
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  if (holder.start === undefined) return true
  const start = processStartTime(holder.pid)
  return start === undefined || start === holder.start
}

function readHolder(path: string): Holder | undefined {
  try {
    const [pidLine, host, start] = readFileSync(path, 'utf8').split('\n').map((line) => line.trim())
    const pid = Number.parseInt(pidLine ?? '', 10)
    if (!Number.isInteger(pid) || pid <= 0) return undefined
    return {pid, ...(host ? {host} : {}), ...(start ? {start} : {})}
  } catch {
    return undefined
  }
}

const sameHolder = (a: Holder | undefined, b: Holder | undefined) => a?.pid === b?.pid && a?.host === b?.host && a?.start === b?.start

/** Creates the file only if it does not exist (O_CREAT|O_EXCL), so exactly one creator wins. */
function tryCreate(path: string): boolean {
  let fd: number
  try {
    fd = openSync(path, 'wx', 0o600)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error
  }
  try {
    writeSync(fd, `${process.pid}\n${hostname()}\n${processStartTime(process.pid) ?? ''}\n`)
  } finally {
    closeSync(fd)
  }
  return true
}

function heldError(path: string, holder: Holder | undefined, what: string): AbortError {
  const pid = holder?.pid
  const who = pid === process.pid && isOwn(holder) ? `this process (pid ${pid})` : `process ${pid}`
  const where = holder?.host && holder.host !== hostname() ? ` on host ${holder.host}` : ''
  return new AbortError(`The embedded database ${what} is in use by ${who}${where} (lock file ${path}).`, {
    code: 'database_locked',
    hint:
      'PGlite can be opened by one process at a time. Stop that process (or use the daemon it belongs to), ' +
      'or point --database-url / ATTUNE_DATABASE_URL at a PostgreSQL server.' +
      (where ? ` A lock written on another host cannot be checked from here: if that process is gone, delete ${path}.` : ''),
  })
}

/** The holder is this very process (not an earlier process that had the same pid). */
function isOwn(holder: Holder | undefined): boolean {
  return holder?.pid === process.pid && (holder.host === undefined || holder.host === hostname()) && (holder.start === undefined || holder.start === processStartTime(process.pid))
}

/**
 * Takes the lock file that guards an embedded data directory. The file holds the owner's pid,
 * host and start time; a lock left by a process that no longer runs is taken over. Throws an
 * `AbortError` naming the holder when another live process (or this one) holds it, or when
 * the holder is on another host (a shared volume), where its liveness cannot be checked.
 */
export function acquireDataDirLock(lockPath: string, what = lockPath): DataDirLock {
  if (held.has(lockPath)) throw heldError(lockPath, {pid: process.pid}, what)
  const attempt = tryLockFile(lockPath)
  if ('lock' in attempt) return attempt.lock
  throw heldError(lockPath, attempt.holder, what)
}

export interface LockWaitOptions {
  /** How long to wait for a live holder on this host to let go (default 30 s). */
  timeoutMs?: number
  /** Called once, when the lock is held and the wait begins. */
  onWait?: (holder: Holder | undefined) => void
}

/**
 * `acquireDataDirLock`, but a holder that is a live process of this host gets `timeoutMs` to
 * let go first (a short-lived command that happened to have the database open). A holder on
 * another host is an error at once; a holder that outlasts the wait is named in the error.
 */
export async function waitForDataDirLock(lockPath: string, what = lockPath, options: LockWaitOptions = {}): Promise<DataDirLock> {
  const timeoutMs = options.timeoutMs ?? 30_000
  const deadline = Date.now() + timeoutMs
  let waiting = false
  for (;;) {
    if (held.has(lockPath)) throw heldError(lockPath, {pid: process.pid}, what)
    const attempt = tryLockFile(lockPath)
    if ('lock' in attempt) return attempt.lock
    const {holder} = attempt
    const elsewhere = holder?.host !== undefined && holder.host !== hostname()
    if (elsewhere || Date.now() >= deadline) {
      const error = heldError(lockPath, holder, what)
      if (!waiting) throw error
      const seconds = Math.round(timeoutMs / 1000)
      throw new AbortError(`${error.message.replace(/\.$/, '')}: waited ${seconds} s for it to be released.`, {
        code: error.code,
        hint: `Let process ${holder?.pid ?? '?'} finish (or stop it), then try again. ${error.hint ?? ''}`.trim(),
      })
    }
    if (!waiting) {
      waiting = true
      options.onWait?.(holder)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/**
 * One go at a lock file (a few tries over a lock being written or taken over): the lock, or
 * the holder that keeps it (live, on another host, or unreadable). Never throws for a holder.
 */
export function tryLockFile(lockPath: string): {lock: DataDirLock} | {holder: Holder | undefined} {
  for (let attempt = 0; attempt < 5; attempt++) {
    if (tryCreate(lockPath)) return {lock: holdLock(lockPath)}
    const holder = readHolder(lockPath)
    if (holder === undefined) {
      // Being written right now, or garbage: garbage older than a few seconds is stale.
      if (ageMs(lockPath) < 2000) {
        sleepSync(50)
        continue
      }
    } else if (holder.host !== undefined && holder.host !== hostname()) {
      return {holder}
    } else if (holder.pid !== process.pid && isAlive(holder)) {
      return {holder}
    }
    // Stale (dead pid, a pid now used by another process, or our own pid left by an earlier
    // run that reused it). Take it over under a second O_EXCL file so two processes cannot
    // both remove and recreate it.
    const takeover = `${lockPath}.takeover`
    if (!tryCreate(takeover)) {
      if (ageMs(takeover) > 10_000) rmSync(takeover, {force: true})
      sleepSync(50)
      continue
    }
    try {
      if (sameHolder(readHolder(lockPath), holder)) rmSync(lockPath, {force: true})
    } finally {
      rmSync(takeover, {force: true})
    }
  }
  return {holder: readHolder(lockPath)}
}

/**
 * The live process of this host that holds the lock file, or undefined: no file, a stale one
 * (its process is gone), or one written on another host (its liveness cannot be checked here).
 */
export function liveHolder(lockPath: string): Holder | undefined {
  const holder = readHolder(lockPath)
  if (holder === undefined || (holder.host !== undefined && holder.host !== hostname())) return undefined
  if (isOwn(holder)) return holder
  return holder.pid !== process.pid && isAlive(holder) ? holder : undefined
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
    if (isOwn(readHolder(path))) {
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
