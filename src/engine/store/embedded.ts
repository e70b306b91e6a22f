import {PGLITE_EXTENSIONS} from './pglite-extensions.js'
import {PGLiteSocketServer} from '@electric-sql/pglite-socket'
import {PGlite} from '@electric-sql/pglite'
import {existsSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {AbortError, errorMessage} from '../errors.js'
import {acquireDataDirLock, waitForDataDirLock} from './lock.js'
import {migrate} from './migrate.js'
import {openPgStore} from './pg.js'
import {lockPathFor, storeOnPglite} from './pglite.js'
import {ensurePrivateDir, keepTreePrivate, privatizeTree} from './private.js'
import {useSessionQueue} from './socket-queue.js'
import type {Store} from './types.js'

/**
 * Sharing the embedded database (SPEC §7): PGlite is one Postgres session in one process, so
 * while the daemon holds it, it serves it on a Unix socket under `$ATTUNE_HOME/run` (from a
 * child process of its own: see embedded-process.ts) and every other command connects there
 * with `pg`. The daemon itself uses the socket too: all sessions then go through the socket
 * server's queue (socket-queue.ts), which keeps one client's query or transaction from
 * interleaving with another's.
 */

const SOCKET_NAME = '.s.PGSQL.5432'

export function embeddedSocketDir(home: string): string {
  return join(home, 'run')
}

/** `pg` finds the socket from its directory (`host`) and the port in the file name. */
export function embeddedSocketUrl(home: string): string {
  return `postgresql://postgres@localhost:5432/postgres?host=${encodeURIComponent(embeddedSocketDir(home))}`
}

export function embeddedSocketPath(home: string): string {
  return join(embeddedSocketDir(home), SOCKET_NAME)
}

export interface EmbeddedServer {
  /** The URL to connect with `pg` (through the socket). */
  url: string
  socketPath: string
  /** The process serving it, when that is a child process (the daemon's). */
  pid?: number
  close(): Promise<void>
}

export interface ServeOptions {
  maxConnections?: number
  /**
   * How long to wait for a process that holds the data directory's lock (a short-lived
   * command) to let go; without it a held lock fails at once.
   */
  lockWaitMs?: number
  /** Called once if the wait for the lock begins, with the holder's pid. */
  onLockWait?: (pid: number | undefined) => void
}

/**
 * Opens the embedded database in `$home/pgdata` (taking its lock), applies pending migrations,
 * and only then serves it on the socket: a socket that exists is a database ready to use. A
 * socket left by a daemon that died is replaced.
 */
export async function serveEmbeddedDatabase(home: string, options: ServeOptions = {}): Promise<EmbeddedServer> {
  const dataDir = join(home, 'pgdata')
  ensurePrivateDir(home)
  const lock =
    options.lockWaitMs === undefined
      ? acquireDataDirLock(lockPathFor(dataDir), dataDir)
      : await waitForDataDirLock(lockPathFor(dataDir), dataDir, {timeoutMs: options.lockWaitMs, onWait: (holder) => options.onLockWait?.(holder?.pid)})
  let db: PGlite | undefined
  let server: PGLiteSocketServer | undefined
  let stopPrivatizing = () => {}
  try {
    ensurePrivateDir(dataDir)
    db = await PGlite.create({dataDir, extensions: PGLITE_EXTENSIONS})
    privatizeTree(dataDir)
    await migrate(storeOnPglite(db, dataDir))
    privatizeTree(dataDir)
    const socketPath = embeddedSocketPath(home)
    ensurePrivateDir(embeddedSocketDir(home))
    // We hold the lock, so a socket file here belongs to a process that is gone.
    rmSync(socketPath, {force: true})
    server = new PGLiteSocketServer({db, path: socketPath, maxConnections: options.maxConnections ?? 64})
    // Whole queries and transactions of one client at a time (socket-queue.ts).
    useSessionQueue(server, db)
    await server.start()
    const url = embeddedSocketUrl(home)
    // PGlite keeps writing files 0666 (new relations, WAL segments) while it serves.
    stopPrivatizing = keepTreePrivate(dataDir)
    const running = {db, server}
    let closed = false
    return {
      url,
      socketPath,
      async close() {
        if (closed) return
        closed = true
        stopPrivatizing()
        try {
          await running.server.stop()
          await running.db.close()
        } finally {
          privatizeTree(dataDir)
          rmSync(socketPath, {force: true})
          lock.release()
        }
      },
    }
  } catch (error) {
    stopPrivatizing()
    await server?.stop().catch(() => {})
    await db?.close().catch(() => {})
    lock.release()
    if (error instanceof AbortError) throw error
    throw new AbortError(`Cannot serve the embedded database in ${dataDir}: ${errorMessage(error)}`, {code: 'database_unavailable', cause: error})
  }
}

/** A store on the daemon's socket, when a daemon serves the embedded database; else undefined. */
export async function connectToServedDatabase(home: string): Promise<Store | undefined> {
  if (!existsSync(embeddedSocketPath(home))) return undefined
  try {
    // One connection: see serveEmbeddedDatabase (PGlite is a single session behind the socket).
    return await openPgStore(embeddedSocketUrl(home), {max: 1, location: `${join(home, 'pgdata')} (served by the daemon)`, embedded: true})
  } catch {
    return undefined
  }
}
