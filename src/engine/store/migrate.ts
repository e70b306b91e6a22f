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
  /** The tables were already there (Attune's own migrations made them): recorded, not run. */
  adopted?: boolean
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

/**
 * The migration that creates Attune's own tables (pack, sensor, rule, event, ...). On a
 * database where Attune's migrations already ran it is not run but adopted: attune checks
 * that the columns it uses are there and records the adoption, changing nothing of Attune's.
 */
export const PLATFORM_MIGRATION = '001_attune_platform'

/**
 * The columns of Attune's tables that attune reads or writes: an Attune database missing one
 * (an older Attune) cannot be adopted, and `db migrate` names what is missing.
 */
export const REQUIRED_ATTUNE_COLUMNS: Record<string, readonly string[]> = {
  pack: ['id', 'ref', 'label', 'description', 'version', 'conf_schema', 'config', 'meta', 'tags', 'runtime_deps', 'dependencies', 'is_standard', 'storage_path', 'created', 'updated'],
  runtime: ['id', 'ref', 'pack', 'pack_ref', 'description', 'name', 'aliases', 'distributions', 'installation', 'execution_config', 'created', 'updated'],
  trigger: ['id', 'ref', 'pack', 'pack_ref', 'label', 'description', 'enabled', 'param_schema', 'out_schema', 'webhook_enabled', 'webhook_key', 'webhook_config', 'sensor', 'sensor_ref', 'created', 'updated'],
  sensor: ['id', 'ref', 'pack', 'pack_ref', 'label', 'description', 'entrypoint', 'runtime', 'runtime_ref', 'enabled', 'param_schema', 'config', 'created', 'updated'],
  action: ['id', 'ref', 'pack', 'pack_ref', 'label', 'description', 'entrypoint', 'runtime', 'param_schema', 'out_schema'],
  rule: ['id', 'ref', 'pack', 'pack_ref', 'label', 'description', 'action', 'action_ref', 'trigger', 'trigger_ref', 'conditions', 'action_params', 'trigger_params', 'enabled', 'created', 'updated'],
  event: ['id', 'trigger', 'trigger_ref', 'config', 'payload', 'source', 'source_ref', 'created', 'rule', 'rule_ref'],
  enforcement: ['id', 'rule', 'rule_ref', 'trigger_ref', 'config', 'event', 'status', 'payload', 'condition', 'conditions', 'created'],
  worker: ['id', 'name', 'worker_type', 'worker_role', 'host', 'status', 'capabilities', 'meta', 'last_heartbeat', 'created', 'updated'],
  identity: ['id', 'login', 'display_name', 'attributes', 'frozen', 'created', 'updated'],
  sensor_process: ['id', 'sensor', 'sensor_ref', 'worker', 'worker_name', 'status', 'pid', 'consecutive_failures', 'last_exit_code', 'last_signal', 'last_started_at', 'last_stopped_at', 'next_restart_at', 'stderr_excerpt', 'active_rule_count', 'meta'],
}

const BOOTSTRAP = `
CREATE SCHEMA IF NOT EXISTS attune_sensor;
CREATE TABLE IF NOT EXISTS attune_sensor.schema_migrations (
  version     text PRIMARY KEY,
  checksum    text NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT now(),
  -- true: the migration's tables were already there (Attune's own migrations made them).
  adopted     boolean NOT NULL DEFAULT false
);`

async function lock(tx: Queryable): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY])
}

async function appliedVersions(q: Queryable): Promise<Map<string, {checksum: string; applied_at: Date; adopted: boolean}>> {
  const {rows} = await q.query<{version: string; checksum: string; applied_at: Date; adopted: boolean}>(
    'SELECT version, checksum, applied_at, adopted FROM attune_sensor.schema_migrations',
  )
  return new Map(rows.map((row) => [row.version, row]))
}

function checkUnchanged(file: MigrationFile, recorded: {checksum: string; adopted?: boolean} | undefined): void {
  if (recorded && !recorded.adopted && recorded.checksum !== file.checksum) {
    throw new AbortError(`Migration ${file.version} was changed after it was applied (${file.path}).`, {
      code: 'migration_changed',
      hint: 'Applied migrations are immutable: restore the file and add a new migration instead.',
    })
  }
}

export interface AttuneSchemaState {
  /** Some of Attune's tables exist (its migrations ran, or attune's did). */
  present: boolean
  /** Attune's own bookkeeping (`attune._sqlx_migrations`) is there. */
  sqlx: boolean
  /** `table.column` that attune needs and the database lacks. */
  missing: string[]
}

/** What of Attune's schema this database has (read-only). */
export async function inspectAttuneSchema(q: Queryable): Promise<AttuneSchemaState> {
  const {rows} = await q.query<{table_name: string; column_name: string}>(
    `SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = 'attune' AND table_name = ANY($1::text[])`,
    [Object.keys(REQUIRED_ATTUNE_COLUMNS)],
  )
  const {rows: sqlx} = await q.query<{present: boolean}>("SELECT to_regclass('attune._sqlx_migrations') IS NOT NULL AS present")
  const have = new Set(rows.map((row) => `${row.table_name}.${row.column_name}`))
  const tables = new Set(rows.map((row) => row.table_name))
  const missing: string[] = []
  for (const [table, columns] of Object.entries(REQUIRED_ATTUNE_COLUMNS)) {
    if (!tables.has(table)) {
      missing.push(`attune.${table} (table)`)
      continue
    }
    for (const column of columns) if (!have.has(`${table}.${column}`)) missing.push(`attune.${table}.${column}`)
  }
  return {present: tables.size > 0 || sqlx[0].present, sqlx: sqlx[0].present, missing}
}

/**
 * Applies the pending migrations in order, each once and in its own transaction, and
 * records each in `attune_sensor.schema_migrations`. Running it again applies nothing.
 * A migration whose file changed after it was applied is an error.
 *
 * On a database that already has Attune's tables (an Attune deployment), the platform
 * migration is adopted instead of run: only attune's own schema (`attune_sensor`) is added.
 * If a column attune needs is missing there, nothing is written and the error names it.
 */
export async function migrate(store: Store, options: {dir?: string} = {}): Promise<MigrateResult> {
  const files = readMigrationFiles(options.dir)
  const {rows: booted} = await store.query<{present: boolean}>("SELECT to_regclass('attune_sensor.schema_migrations') IS NOT NULL AS present")
  const before = booted[0].present ? await appliedVersions(store) : new Map<string, {checksum: string; applied_at: Date; adopted: boolean}>()
  for (const file of files) checkUnchanged(file, before.get(file.version))
  const platform = files.find((file) => file.version === PLATFORM_MIGRATION)
  if (platform && !before.has(platform.version)) {
    // Read-only check first: a database we cannot adopt is left exactly as it was.
    const state = await inspectAttuneSchema(store)
    if (state.present && state.missing.length > 0) {
      throw new AbortError(
        `This database has ${state.sqlx ? "Attune's schema" : "some of Attune's tables"}, but not all that attune needs: missing ${state.missing.join(', ')}.`,
        {
          code: 'attune_schema_incomplete',
          hint: "Upgrade the Attune deployment (run its migrations) so these columns exist, then run attune db migrate again. Nothing was changed.",
        },
      )
    }
  }
  await store.transaction(async (tx) => {
    await lock(tx)
    await tx.exec(BOOTSTRAP)
  })
  const applied: AppliedMigration[] = []
  for (const file of files) {
    if (before.has(file.version)) continue
    const started = performance.now()
    const didApply = await store.transaction(async (tx) => {
      await lock(tx)
      // Another process may have applied it while we waited for the lock.
      const {rows} = await tx.query('SELECT 1 FROM attune_sensor.schema_migrations WHERE version = $1', [file.version])
      if (rows.length > 0) return false
      let adopted = false
      if (file.version === PLATFORM_MIGRATION) {
        const state = await inspectAttuneSchema(tx)
        adopted = state.present && state.missing.length === 0
      }
      if (!adopted) await tx.exec(file.sql)
      await tx.query('INSERT INTO attune_sensor.schema_migrations (version, checksum, adopted) VALUES ($1, $2, $3)', [
        file.version,
        file.checksum,
        adopted,
      ])
      return adopted ? 'adopted' : 'applied'
    })
    if (didApply) applied.push({version: file.version, duration_ms: Math.round(performance.now() - started), ...(didApply === 'adopted' ? {adopted: true} : {})})
  }
  return {applied, already_applied: before.size}
}

/** Every known migration with when it was applied (null: pending). Creates nothing. */
export async function migrationStatus(store: Queryable, options: {dir?: string} = {}): Promise<MigrationStatus[]> {
  const files = readMigrationFiles(options.dir)
  const {rows} = await store.query<{exists: boolean}>(
    "SELECT to_regclass('attune_sensor.schema_migrations') IS NOT NULL AS exists",
  )
  const applied = rows[0]?.exists ? await appliedVersions(store) : new Map<string, {applied_at: Date}>()
  return files.map((file) => ({version: file.version, applied_at: applied.get(file.version)?.applied_at ?? null}))
}
