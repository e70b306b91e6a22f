import {PGLITE_EXTENSIONS} from './pglite-extensions.js'
import {PGlite, type Transaction} from '@electric-sql/pglite'
import {mkdirSync} from 'node:fs'
import {dirname} from 'node:path'
import {AbortError, errorMessage} from '../errors.js'
import {acquireDataDirLock, waitForDataDirLock} from './lock.js'
import {ensurePrivateDir, privatizeTree, PRIVATE_DIR_MODE} from './private.js'
import type {QueryResult, Queryable, Row, Store} from './types.js'

function wrap(db: PGlite | Transaction): Queryable {
  return {
    async query<T = Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
      const result = await db.query<T>(sql, params as unknown[])
      return {rows: result.rows, rowCount: result.affectedRows || result.rows.length}
    },
    async exec(sql: string): Promise<void> {
      await db.exec(sql)
    },
  }
}

/** The lock file that guards a PGlite data directory: next to it, not inside it. */
export function lockPathFor(dataDir: string): string {
  return `${dataDir.replace(/[/\\]+$/, '')}.lock`
}

export interface OpenPgliteOptions {
  /**
   * Wait this long for a live holder of the lock (on this host) to let go, instead of failing
   * at once: the daemon's database process, which must not lose to a short-lived command.
   */
  lockWaitMs?: number
  /** Called once if the wait for the lock begins, with the holder's pid. */
  onLockWait?: (pid: number | undefined) => void
  /** Runs once the lock is held, before the database is opened: throw to back off (the lock is released). */
  beforeOpen?: () => void
}

/**
 * Opens (creating if needed) the embedded database in `dataDir`, holding its lock file
 * for as long as the store is open. The data directory is private (private.ts): 0700, its
 * files 0600, fixed after PGlite opens it and again on close.
 */
export async function openPgliteStore(dataDir: string, options: OpenPgliteOptions = {}): Promise<Store> {
  // A missing parent (attune's home) is created private; an existing one is left to the caller.
  mkdirSync(dirname(dataDir), {recursive: true, mode: PRIVATE_DIR_MODE})
  const lock =
    options.lockWaitMs === undefined
      ? acquireDataDirLock(lockPathFor(dataDir), dataDir)
      : await waitForDataDirLock(lockPathFor(dataDir), dataDir, {timeoutMs: options.lockWaitMs, onWait: (holder) => options.onLockWait?.(holder?.pid)})
  try {
    options.beforeOpen?.()
  } catch (error) {
    lock.release()
    throw error
  }
  let db: PGlite
  try {
    ensurePrivateDir(dataDir)
    db = await PGlite.create({dataDir, extensions: PGLITE_EXTENSIONS})
    privatizeTree(dataDir)
  } catch (error) {
    lock.release()
    throw new AbortError(`Cannot open the embedded database in ${dataDir}: ${errorMessage(error)}`, {
      code: 'database_unavailable',
      cause: error,
    })
  }
  const store = storeOnPglite(db, dataDir)
  let closed = false
  return {
    ...store,
    async close(): Promise<void> {
      if (closed) return
      closed = true
      try {
        await db.close()
      } finally {
        privatizeTree(dataDir)
        lock.release()
      }
    },
  }
}

/** A store on a PGlite instance someone else opened and closes (`close()` does nothing). */
export function storeOnPglite(db: PGlite, location: string): Store {
  const queryable = wrap(db)
  return {
    kind: 'pglite',
    location,
    query: queryable.query,
    exec: queryable.exec,
    transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      // PGlite runs BEGIN/COMMIT itself and rolls back when fn throws.
      return db.transaction((tx) => fn(wrap(tx)))
    },
    async close(): Promise<void> {},
  }
}
