import {hostname} from 'node:os'
import {join} from 'node:path'
import {AbortError} from '../errors.js'
import {liveHolder, tryLockFile, type DataDirLock, type Holder} from './lock.js'
import {ensurePrivateDir} from './private.js'

/**
 * Who owns the embedded database: a daemon, from the moment it starts until it has stopped
 * serving it. PGlite's own lock file (`pgdata.lock`) is held by whichever process has the data
 * directory open, and a daemon opens it in a child process, after a start-up that takes a
 * while (and, for a new database, after a second child that creates it): on that lock alone,
 * a command run meanwhile could take the database from the starting daemon. So the daemon
 * first writes `$ATTUNE_HOME/run/daemon.pid` (pid, host and start time, as the lock file), and
 * every other command looks there before it opens the data directory itself: while a live
 * daemon owns it, a command waits for the daemon's socket instead (store/index.ts).
 */

/** The owner file of a home's embedded database. */
export function embeddedOwnerPath(home: string): string {
  return join(home, 'run', 'daemon.pid')
}

/** The live daemon (of this host) that owns the embedded database of `home`, if any. */
export function embeddedOwner(home: string): Holder | undefined {
  return liveHolder(embeddedOwnerPath(home))
}

/** This process's claims, by owner file: claimed again in the same process, a claim is shared. */
const claims = new Map<string, {lock: DataDirLock; count: number}>()

/**
 * Makes this process (a daemon) the owner of the embedded database of `home` until `release()`
 * (or exit): from now on other commands wait for its socket instead of opening the database.
 * Call it first thing when a daemon starts on the embedded database. Claiming again in the same
 * process shares the claim (the file goes with the last release). Throws an `AbortError`
 * (`database_locked`) naming the daemon that owns it already.
 */
export function claimEmbeddedDatabase(home: string): DataDirLock {
  const path = embeddedOwnerPath(home)
  let claim = claims.get(path)
  if (claim) {
    claim.count++
  } else {
    ensurePrivateDir(home)
    ensurePrivateDir(join(home, 'run'))
    const attempt = tryLockFile(path)
    if (!('lock' in attempt)) throw ownedError(home, attempt.holder)
    claim = {lock: attempt.lock, count: 1}
    claims.set(path, claim)
  }
  const held = claim
  let released = false
  return {
    path,
    release() {
      if (released) return
      released = true
      if (--held.count > 0) return
      claims.delete(path)
      held.lock.release()
    },
  }
}

function ownedError(home: string, holder: Holder | undefined): AbortError {
  const path = embeddedOwnerPath(home)
  const elsewhere = holder?.host !== undefined && holder.host !== hostname()
  return new AbortError(`The embedded database ${join(home, 'pgdata')} is in use by process ${holder?.pid ?? '?'}: another attune daemon owns it (${path}).`, {
    code: 'database_locked',
    hint:
      'One daemon serves an ATTUNE_HOME: stop that one first, or give this one its own ATTUNE_HOME or a PostgreSQL database (--database-url).' +
      (elsewhere ? ` It runs on host ${holder?.host}, where its liveness cannot be checked from here: if it is gone, delete ${path}.` : ''),
  })
}
