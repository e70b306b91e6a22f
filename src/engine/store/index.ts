import {homedir} from 'node:os'
import {join, resolve} from 'node:path'
import {AbortError} from '../errors.js'
import {secretFromEnv} from '../config.js'
import {connectToServedDatabase} from './embedded.js'
import {migrate, type MigrateResult} from './migrate.js'
import {openPgStore} from './pg.js'
import {embeddedOwner} from './owner.js'
import {openPgliteStore} from './pglite.js'
import {ensurePrivateDir, privatizeTree} from './private.js'
import type {FollowConnections} from './follow.js'
import type {Store} from './types.js'

export {DEFAULT_MIGRATIONS_DIR, migrate, migrationStatus, readMigrationFiles} from './migrate.js'
export type {AppliedMigration, MigrateResult, MigrationFile, MigrationStatus} from './migrate.js'
export {openPgStore, redactDatabaseUrl} from './pg.js'
export {lockPathFor, openPgliteStore} from './pglite.js'
export {acquireDataDirLock, waitForDataDirLock} from './lock.js'
export {claimEmbeddedDatabase, embeddedOwner, embeddedOwnerPath} from './owner.js'
export {ensurePrivateDir, keepTreePrivate, privatizeTree} from './private.js'
export {connectToServedDatabase, embeddedSocketPath, embeddedSocketUrl, serveEmbeddedDatabase} from './embedded.js'
export type {EmbeddedServer} from './embedded.js'
export type {DataDirLock} from './lock.js'
export {toJsonb} from './types.js'
export {claimKeys, idempotentTransaction, IDEMPOTENCY_RETENTION_MS, pruneIdempotencyKeys, releaseKeys, storedResult} from './idempotency.js'
export type {ClaimOutcome, IdempotentOutcome, KeyClaim} from './idempotency.js'
export type {QueryResult, Queryable, Row, Store, StoreKind} from './types.js'
export * from './queries.js'
export {headKey, listAll, listPage, parseCursor} from './list.js'
export type {ListFilters, ListSource, Page, PageRequest} from './list.js'
export {followList, GAP_WAIT_MS} from './follow.js'
export type {FollowConnections, FollowOptions} from './follow.js'
export * from './status.js'
export * from './sensor-logs.js'
export {upsertByRef} from './upsert.js'
export * from './retention.js'
export type {ColumnType, ColumnValue, RefTable, UpsertResult, UpsertStatus} from './upsert.js'

/** `$ATTUNE_HOME`, else `~/.attune`. */
export function resolveAttuneHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.ATTUNE_HOME || join(homedir(), '.attune'))
}

/** The database URL from the environment: `ATTUNE_DATABASE_URL`, else `DATABASE_URL` (each also as `*_FILE`). */
export function databaseUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return secretFromEnv(env, 'ATTUNE_DATABASE_URL') ?? secretFromEnv(env, 'DATABASE_URL')
}

/** The embedded database's data directory under a home. */
export function embeddedDataDir(home: string): string {
  return join(home, 'pgdata')
}

export interface OpenStoreOptions {
  /** A PostgreSQL URL; without one the embedded PGlite database is used. */
  databaseUrl?: string
  /** attune's home (embedded database in `<home>/pgdata`); defaults to `resolveAttuneHome()`. */
  home?: string
  /**
   * Apply pending migrations on open. Default: yes for the embedded database (commands
   * migrate it on first use), no for PostgreSQL (an operator runs `attune db migrate`).
   */
  migrate?: boolean
  /** Called with what the automatic migration applied, when it applied something. */
  onMigrated?: (result: MigrateResult) => void
  /** Called once when the command has to wait for a starting daemon (a line for stderr). */
  onWait?: (message: string) => void
  /** How long to wait for a starting daemon's socket (default 30 s). */
  daemonWaitMs?: number
}

/**
 * Opens the store: PostgreSQL when a URL is given, else PGlite in `$ATTUNE_HOME/pgdata`
 * (guarded by a lock file: a second process gets an `AbortError` naming the holder), or the
 * daemon's socket while a daemon owns the embedded database (see `openEmbedded`).
 * The caller must `close()` it.
 */
export async function openStore(options: OpenStoreOptions = {}): Promise<Store> {
  const store = options.databaseUrl ? await openPgStore(options.databaseUrl) : await openEmbedded(options.home ?? resolveAttuneHome(), options)
  if (options.migrate ?? store.kind === 'pglite') {
    try {
      const result = await migrate(store)
      if (store.kind === 'pglite') privatizeTree(store.location)
      if (result.applied.length > 0) options.onMigrated?.(result)
    } catch (error) {
      await store.close()
      throw error
    }
  }
  return store
}

/**
 * The connections `followList` polls on. PostgreSQL: a connection kept open. The embedded
 * database: the daemon's socket while a daemon serves it; without a daemon the follower must
 * not keep the database (its lock would lock every other command out), so it opens it
 * directly only for its first read and then waits for a daemon.
 */
export function followConnections(options: OpenStoreOptions = {}): FollowConnections {
  if (options.databaseUrl) {
    const url = options.databaseUrl
    return {shared: () => openPgStore(url), once: () => openPgStore(url)}
  }
  const home = options.home ?? resolveAttuneHome()
  return {
    shared: () => connectToServedDatabase(home),
    once: () => openStore(options),
  }
}

/** How long a command waits for a starting daemon to serve the embedded database. */
export const DAEMON_START_WAIT_MS = 30_000

/**
 * The embedded database: opened directly, or, while a daemon owns it, through the socket the
 * daemon serves it on (so `attune event list` works next to a running daemon). A daemon owns
 * it from the moment it starts (owner.ts), before its database process has the data directory
 * open: a command never opens the directory then, but waits up to `daemonWaitMs` (30 s) for
 * the socket, saying so once through `onWait`, and then fails with `daemon_starting`.
 */
async function openEmbedded(home: string, options: OpenStoreOptions): Promise<Store> {
  ensurePrivateDir(home)
  const waitMs = options.daemonWaitMs ?? DAEMON_START_WAIT_MS
  const deadline = Date.now() + waitMs
  let noticed = false
  for (;;) {
    const owner = embeddedOwner(home)
    if (owner === undefined) {
      try {
        return await openPgliteStore(embeddedDataDir(home), {
          // A daemon that claimed the database between the look above and the lock: leave it be.
          beforeOpen: () => {
            if (embeddedOwner(home) !== undefined) throw new DaemonClaimed()
          },
        })
      } catch (error) {
        if (error instanceof DaemonClaimed) continue
        if (!(error instanceof AbortError) || error.code !== 'database_locked') throw error
        // Held by a process that serves it (a daemon, or serveEmbeddedDatabase in a test).
        const served = await connectToServedDatabase(home)
        if (served) return served
        if (embeddedOwner(home) === undefined) throw error
        continue
      }
    }
    // A daemon owns it: its socket, once it is there.
    const served = await connectToServedDatabase(home)
    if (served) return served
    if (Date.now() >= deadline) {
      throw new AbortError(
        `The daemon (pid ${owner.pid}) is starting: it does not serve the embedded database in ${home} yet (waited ${Math.round(waitMs / 1000)} s for its socket).`,
        {
          code: 'daemon_starting',
          hint: `Run the command again once the daemon is up (its /healthz answers), or stop it (kill ${owner.pid}) to use the database without it.`,
        },
      )
    }
    if (!noticed) {
      noticed = true
      options.onWait?.(`The daemon (pid ${owner.pid}) is starting: waiting up to ${Math.round(waitMs / 1000)} s for it to serve the embedded database…`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** A daemon claimed the embedded database just as this process took its lock. */
class DaemonClaimed extends Error {}
export * from './inspect.js'
