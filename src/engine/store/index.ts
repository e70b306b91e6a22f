import {homedir} from 'node:os'
import {join, resolve} from 'node:path'
import {AbortError} from '../errors.js'
import {connectToServedDatabase} from './embedded.js'
import {migrate, type MigrateResult} from './migrate.js'
import {openPgStore} from './pg.js'
import {openPgliteStore} from './pglite.js'
import {ensurePrivateDir, privatizeTree} from './private.js'
import type {Store} from './types.js'

export {DEFAULT_MIGRATIONS_DIR, migrate, migrationStatus, readMigrationFiles} from './migrate.js'
export type {AppliedMigration, MigrateResult, MigrationFile, MigrationStatus} from './migrate.js'
export {openPgStore, redactDatabaseUrl} from './pg.js'
export {lockPathFor, openPgliteStore} from './pglite.js'
export {acquireDataDirLock} from './lock.js'
export {ensurePrivateDir, keepTreePrivate, privatizeTree} from './private.js'
export {connectToServedDatabase, embeddedSocketPath, embeddedSocketUrl, serveEmbeddedDatabase} from './embedded.js'
export type {EmbeddedServer} from './embedded.js'
export type {DataDirLock} from './lock.js'
export {toJsonb} from './types.js'
export {claimKeys, idempotentTransaction, IDEMPOTENCY_RETENTION_MS, pruneIdempotencyKeys, releaseKeys, storedResult} from './idempotency.js'
export type {ClaimOutcome, IdempotentOutcome, KeyClaim} from './idempotency.js'
export type {QueryResult, Queryable, Row, Store, StoreKind} from './types.js'
export * from './queries.js'
export * from './status.js'
export {upsertByRef} from './upsert.js'
export type {ColumnType, ColumnValue, RefTable, UpsertResult, UpsertStatus} from './upsert.js'

/** `$ATTUNE_HOME`, else `~/.attune`. */
export function resolveAttuneHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.ATTUNE_HOME || join(homedir(), '.attune'))
}

/** The database URL from the environment: `ATTUNE_DATABASE_URL`, else `DATABASE_URL`. */
export function databaseUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.ATTUNE_DATABASE_URL || env.DATABASE_URL || undefined
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
}

/**
 * Opens the store: PostgreSQL when a URL is given, else PGlite in `$ATTUNE_HOME/pgdata`
 * (guarded by a lock file: a second process gets an `AbortError` naming the holder).
 * The caller must `close()` it.
 */
export async function openStore(options: OpenStoreOptions = {}): Promise<Store> {
  const store = options.databaseUrl ? await openPgStore(options.databaseUrl) : await openEmbedded(options.home ?? resolveAttuneHome())
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
 * The embedded database: opened directly, or, while a daemon holds it, through the socket the
 * daemon serves it on (so `attune event list` works next to a running daemon).
 */
async function openEmbedded(home: string): Promise<Store> {
  ensurePrivateDir(home)
  try {
    return await openPgliteStore(embeddedDataDir(home))
  } catch (error) {
    if (!(error instanceof AbortError) || error.code !== 'database_locked') throw error
    const served = await connectToServedDatabase(home)
    if (served) return served
    throw error
  }
}
