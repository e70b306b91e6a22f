import {createHash} from 'node:crypto'
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {AbortError} from '../errors.js'
import type {Queryable, Store} from './types.js'

/** `migrations/` at the package root (the same relative path from src/ and dist/). */
export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations/', import.meta.url))

export interface MigrationFile {
  /** The file name without `.sql`, e.g. `001_initial`: the key recorded once applied. */
  version: string
  path: string
  sql: string
  checksum: string
}

export interface AppliedMigration {
  version: string
  duration_ms: number
}

export interface MigrateResult {
  /** What this run applied, in order (empty when the database was up to date). */
  applied: AppliedMigration[]
  /** How many were applied before this run. */
  already_applied: number
}

export interface MigrationStatus {
  version: string
  applied_at: Date | null
}

const FILE_PATTERN = /^(\d+)_[A-Za-z0-9_.-]+\.sql$/
// Serialises migration runs of several processes on one PostgreSQL (two daemons starting).
const LOCK_KEY = 0x6174746e // 'attn'

/** Lists `NNN_name.sql` files in numeric order; other files are ignored. */
export function readMigrationFiles(dir = DEFAULT_MIGRATIONS_DIR): MigrationFile[] {
  const names = readdirSync(dir).filter((name) => FILE_PATTERN.test(name))
  names.sort((a, b) => Number(FILE_PATTERN.exec(a)![1]) - Number(FILE_PATTERN.exec(b)![1]) || a.localeCompare(b))
  const seen = new Map<number, string>()
  return names.map((name) => {
    const number = Number(FILE_PATTERN.exec(name)![1])
    const other = seen.get(number)
    if (other) throw new AbortError(`Two migrations share the number ${number}: ${other} and ${name} in ${dir}`)
    seen.set(number, name)
    const path = join(dir, name)
    // Line endings are normalised so a CRLF checkout has the same checksum.
    const sql = readFileSync(path, 'utf8').replace(/\r\n/g, '\n')
    return {version: name.slice(0, -'.sql'.length), path, sql, checksum: createHash('sha256').update(sql).digest('hex')}
  })
}

const BOOTSTRAP = `
CREATE SCHEMA IF NOT EXISTS attune;
CREATE TABLE IF NOT EXISTS attune.schema_migrations (
  version     text PRIMARY KEY,
  checksum    text NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT now()
);`

async function lock(tx: Queryable): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY])
}

async function appliedVersions(q: Queryable): Promise<Map<string, {checksum: string; applied_at: Date}>> {
  const {rows} = await q.query<{version: string; checksum: string; applied_at: Date}>(
    'SELECT version, checksum, applied_at FROM attune.schema_migrations',
  )
  return new Map(rows.map((row) => [row.version, row]))
}

function checkUnchanged(file: MigrationFile, recorded: {checksum: string} | undefined): void {
  if (recorded && recorded.checksum !== file.checksum) {
    throw new AbortError(`Migration ${file.version} was changed after it was applied (${file.path}).`, {
      code: 'migration_changed',
      hint: 'Applied migrations are immutable: restore the file and add a new migration instead.',
    })
  }
}

/**
 * Applies the pending migrations in order, each once and in its own transaction, and
 * records each in `attune.schema_migrations`. Running it again applies nothing.
 * A migration whose file changed after it was applied is an error.
 */
export async function migrate(store: Store, options: {dir?: string} = {}): Promise<MigrateResult> {
  const files = readMigrationFiles(options.dir)
  await store.transaction(async (tx) => {
    await lock(tx)
    await tx.exec(BOOTSTRAP)
  })
  const before = await appliedVersions(store)
  for (const file of files) checkUnchanged(file, before.get(file.version))
  const applied: AppliedMigration[] = []
  for (const file of files) {
    if (before.has(file.version)) continue
    const started = performance.now()
    const didApply = await store.transaction(async (tx) => {
      await lock(tx)
      // Another process may have applied it while we waited for the lock.
      const {rows} = await tx.query('SELECT 1 FROM attune.schema_migrations WHERE version = $1', [file.version])
      if (rows.length > 0) return false
      await tx.exec(file.sql)
      await tx.query('INSERT INTO attune.schema_migrations (version, checksum) VALUES ($1, $2)', [
        file.version,
        file.checksum,
      ])
      return true
    })
    if (didApply) applied.push({version: file.version, duration_ms: Math.round(performance.now() - started)})
  }
  return {applied, already_applied: before.size}
}

/** Every known migration with when it was applied (null: pending). Creates nothing. */
export async function migrationStatus(store: Queryable, options: {dir?: string} = {}): Promise<MigrationStatus[]> {
  const files = readMigrationFiles(options.dir)
  const {rows} = await store.query<{exists: boolean}>(
    "SELECT to_regclass('attune.schema_migrations') IS NOT NULL AS exists",
  )
  const applied = rows[0]?.exists ? await appliedVersions(store) : new Map<string, {applied_at: Date}>()
  return files.map((file) => ({version: file.version, applied_at: applied.get(file.version)?.applied_at ?? null}))
}
