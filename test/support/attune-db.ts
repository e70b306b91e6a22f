/**
 * A database as an Attune deployment has it, built from Attune's own migrations in `../shared`
 * (read at test time, never copied here), and a catalog-based description of its schema.
 *
 * `buildAttuneDatabase` does what `sqlx migrate run` does (sqlx-postgres/src/migrate.rs):
 * per migration file, in version order, one transaction holding the file's SQL and the insert
 * of its `_sqlx_migrations` row (`success = TRUE`, `execution_time = -1`), then, after the
 * commit, an update of `execution_time` to the elapsed nanoseconds. The table is created with
 * sqlx's own definition, in schema `attune`. Checksums are sqlx's (SHA-384 of the ORIGINAL
 * file), taken from `sqlx_migrations.tsv`: the files applied here have the TimescaleDB
 * statements removed, so hashing them would give different values than a deployment holds.
 */
import {execFile} from 'node:child_process'
import {existsSync, readFileSync, readdirSync} from 'node:fs'
import {join} from 'node:path'
import {promisify} from 'node:util'
import pg from 'pg'
import {POSTGRES_BIN} from './postgres.js'
import {SHARED_DIR} from './shared.js'

/** The tables the sensor side of attune reads or writes in an Attune database. */
export const ATTUNE_SENSOR_TABLES = [
  'pack',
  'runtime',
  'trigger',
  'sensor',
  'action',
  'rule',
  'event',
  'enforcement',
  'worker',
  'identity',
  'sensor_process',
  'webhook_event_log',
] as const

export const ATTUNE_SCHEMA = 'attune'

/** sqlx's `_sqlx_migrations` (sqlx-postgres/src/migrate.rs, `ensure_migrations_table`). */
export const SQLX_MIGRATIONS_TABLE_DDL = `CREATE TABLE IF NOT EXISTS attune._sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
    success BOOLEAN NOT NULL,
    checksum BYTEA NOT NULL,
    execution_time BIGINT NOT NULL
)`

export interface AttuneMigration {
  /** From the file name's prefix, e.g. `20250101000001` (a string: BIGINT range). */
  version: string
  /** From `sqlx_migrations.tsv` (sqlx derives it from the file name: `_` → space). */
  description: string
  file: string
  /** Lower-case hex SHA-384 of the original file, from `sqlx_migrations.tsv`. */
  checksum: string
  /** sqlx's `-- no-transaction` directive on the first line. */
  noTransaction: boolean
}

export interface AttuneMigrationSource {
  /** Folder of `<version>_<name>.sql` files; default ../shared/attune/migrations-without-timescaledb. */
  migrationsDir?: string
  /** version, description, hex checksum per line; default ../shared/attune/sqlx_migrations.tsv. */
  checksumsFile?: string
}

function sources(options: AttuneMigrationSource = {}): {dir: string; tsv: string} {
  return {
    dir: options.migrationsDir ?? join(SHARED_DIR, 'attune', 'migrations-without-timescaledb'),
    tsv: options.checksumsFile ?? join(SHARED_DIR, 'attune', 'sqlx_migrations.tsv'),
  }
}

/** The migration files in version order, each with its tsv row; throws on any mismatch. */
export function attuneMigrations(options: AttuneMigrationSource = {}): AttuneMigration[] {
  const {dir, tsv} = sources(options)
  const recorded = new Map<string, {description: string; checksum: string}>()
  for (const line of readFileSync(tsv, 'utf8').split('\n')) {
    if (!line.trim()) continue
    const [version, description, checksum] = line.split('\t')
    if (!/^\d+$/.test(version ?? '') || !description || !/^[0-9a-f]{96}$/i.test(checksum ?? '')) {
      throw new Error(`${tsv}: not "version<TAB>description<TAB>sha384 hex": ${JSON.stringify(line)}`)
    }
    recorded.set(version, {description, checksum: checksum.toLowerCase()})
  }
  const migrations = readdirSync(dir)
    .filter((file) => file.endsWith('.sql'))
    .map((file) => {
      const match = /^(\d+)_(.+)\.sql$/.exec(file)
      if (!match) throw new Error(`${dir}/${file}: not named <version>_<description>.sql as sqlx wants`)
      const version = match[1]
      const row = recorded.get(version)
      if (!row) throw new Error(`${file}: version ${version} has no line in ${tsv}`)
      const fromName = match[2].replace(/_/g, ' ')
      if (fromName !== row.description) {
        throw new Error(`${file}: sqlx would record description "${fromName}", ${tsv} says "${row.description}"`)
      }
      const firstLine = readFileSync(join(dir, file), 'utf8').split('\n', 1)[0]
      return {version, description: row.description, file, checksum: row.checksum, noTransaction: firstLine.trim() === '-- no-transaction'}
    })
    .sort((a, b) => (BigInt(a.version) < BigInt(b.version) ? -1 : BigInt(a.version) > BigInt(b.version) ? 1 : 0))
  const missing = [...recorded.keys()].filter((version) => !migrations.some((migration) => migration.version === version))
  if (missing.length > 0) throw new Error(`${tsv} lists versions with no file in ${dir}: ${missing.join(', ')}`)
  return migrations
}

export interface BuildTiming {
  version: string
  /** What was recorded as execution_time, in ns. */
  executionTimeNs: bigint
}

/** Database name → timings of its last build (for reports; not part of the schema). */
export const buildTimings = new Map<string, {totalMs: number; migrations: BuildTiming[]}>()

/**
 * Creates database `name` on `server` and migrates it as sqlx does for an Attune deployment.
 * Returns its URL.
 */
export async function buildAttuneDatabase(
  server: {createDatabase(name: string): Promise<string>},
  name: string,
  options: AttuneMigrationSource = {},
): Promise<string> {
  const started = process.hrtime.bigint()
  const migrations = attuneMigrations(options)
  const {dir} = sources(options)
  const url = await server.createDatabase(name)
  const client = new pg.Client({connectionString: url})
  await client.connect()
  const timings: BuildTiming[] = []
  try {
    // sqlx creates its table before the first migration runs; a deployment keeps it in
    // `attune` (the schema must therefore exist first: 001 creates it IF NOT EXISTS).
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${ATTUNE_SCHEMA}`)
    await client.query(SQLX_MIGRATIONS_TABLE_DDL)
    for (const migration of migrations) {
      const sql = readFileSync(join(dir, migration.file), 'utf8')
      const start = process.hrtime.bigint()
      const record = () =>
        client.query(
          `INSERT INTO attune._sqlx_migrations (version, description, success, checksum, execution_time)
           VALUES ($1, $2, TRUE, $3, -1)`,
          [migration.version, migration.description, Buffer.from(migration.checksum, 'hex')],
        )
      try {
        if (migration.noTransaction) {
          await client.query('SET search_path TO attune, public')
          await client.query(sql)
          await record()
        } else {
          await client.query('BEGIN')
          await client.query('SET LOCAL search_path TO attune, public')
          // Simple query protocol (no parameters): the whole file, many statements, as sqlx sends it.
          await client.query(sql)
          await record()
          await client.query('COMMIT')
        }
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {})
        const message = error instanceof Error ? error.message : String(error)
        throw new Error(`migration ${migration.file} failed: ${message}`, {cause: error})
      }
      // The files `SET search_path` (session-wide, it outlives the commit): start each one
      // from the connection's own setting, as a fresh sqlx connection would.
      await client.query('RESET search_path')
      const elapsed = process.hrtime.bigint() - start
      await client.query('UPDATE attune._sqlx_migrations SET execution_time = $1 WHERE version = $2', [
        elapsed.toString(),
        migration.version,
      ])
      timings.push({version: migration.version, executionTimeNs: elapsed})
    }
  } finally {
    await client.end()
  }
  buildTimings.set(name, {totalMs: Number(process.hrtime.bigint() - started) / 1e6, migrations: timings})
  return url
}

export interface SqlxMigrationRow {
  version: string
  description: string
  installedOn: Date
  success: boolean
  /** Lower-case hex. */
  checksum: string
  executionTime: string
}

export async function readSqlxMigrations(url: string): Promise<SqlxMigrationRow[]> {
  return withClient(url, async (client) => {
    const {rows} = await client.query<{
      version: string
      description: string
      installed_on: Date
      success: boolean
      checksum: string
      execution_time: string
    }>(`SELECT version::text, description, installed_on, success, encode(checksum, 'hex') AS checksum,
               execution_time::text
          FROM attune._sqlx_migrations ORDER BY version`)
    return rows.map((row) => ({
      version: row.version,
      description: row.description,
      installedOn: row.installed_on,
      success: row.success,
      checksum: row.checksum,
      executionTime: row.execution_time,
    }))
  })
}

// ---------------------------------------------------------------------------------------------
// Schema description from the catalogs
// ---------------------------------------------------------------------------------------------

export interface ColumnInfo {
  name: string
  /** format_type(), schema-qualified when not in pg_catalog, e.g. `attune.worker_type_enum`. */
  type: string
  notNull: boolean
  /** pg_get_expr() of the default, or null. */
  default: string | null
  /** 'a' (ALWAYS) / 'd' (BY DEFAULT) for identity columns, else ''. */
  identity: string
  /** 's' for stored generated columns, else ''. */
  generated: string
}

export interface ConstraintInfo {
  name: string
  /** p primary key, u unique, c check, f foreign key, x exclusion, t trigger. */
  type: string
  definition: string
  columns: string[]
}

export interface IndexInfo {
  name: string
  definition: string
  unique: boolean
  primary: boolean
  /** The WHERE of a partial index, or null. */
  predicate: string | null
}

export interface TriggerInfo {
  name: string
  definition: string
  /** O origin/local, D disabled, R replica, A always. */
  enabled: string
}

export interface TableInfo {
  name: string
  /** r table, p partitioned table. */
  kind: string
  columns: ColumnInfo[]
  primaryKey: string[]
  constraints: ConstraintInfo[]
  indexes: IndexInfo[]
  triggers: TriggerInfo[]
}

async function withClient<T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({connectionString: url})
  await client.connect()
  try {
    // Only pg_catalog on the path: every other name in a definition comes schema-qualified,
    // so `attune.x` and `public.x` can never look alike.
    await client.query('SET search_path TO pg_catalog')
    return await run(client)
  } finally {
    await client.end()
  }
}

async function tableInfo(client: pg.Client, table: string): Promise<TableInfo> {
  const rel = await client.query<{oid: number; relkind: string}>(
    `SELECT c.oid, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
    [ATTUNE_SCHEMA, table],
  )
  if (rel.rows.length === 0) throw new Error(`no table ${ATTUNE_SCHEMA}.${table}`)
  const {oid, relkind} = rel.rows[0]
  const columns = await client.query<{name: string; type: string; not_null: boolean; default: string | null; identity: string; generated: string}>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
            pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity::text AS identity, a.attgenerated::text AS generated
       FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [oid],
  )
  const constraints = await client.query<{name: string; type: string; definition: string; columns: string[] | null}>(
    `SELECT c.conname AS name, c.contype::text AS type, pg_get_constraintdef(c.oid, true) AS definition,
            (SELECT array_agg(a.attname::text ORDER BY k.ord)
               FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS columns
       FROM pg_constraint c
      WHERE c.conrelid = $1
      ORDER BY c.conname COLLATE "C", c.contype`,
    [oid],
  )
  const indexes = await client.query<{name: string; definition: string; unique: boolean; primary: boolean; predicate: string | null}>(
    `SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS definition, i.indisunique AS unique,
            i.indisprimary AS primary, pg_get_expr(i.indpred, i.indrelid, true) AS predicate
       FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
      WHERE i.indrelid = $1
      ORDER BY ic.relname COLLATE "C"`,
    [oid],
  )
  const triggers = await client.query<{name: string; definition: string; enabled: string}>(
    `SELECT t.tgname AS name, pg_get_triggerdef(t.oid, true) AS definition, t.tgenabled::text AS enabled
       FROM pg_trigger t
      WHERE t.tgrelid = $1 AND NOT t.tgisinternal
      ORDER BY t.tgname COLLATE "C"`,
    [oid],
  )
  const primary = constraints.rows.find((row) => row.type === 'p')
  return {
    name: table,
    kind: relkind,
    columns: columns.rows.map((row) => ({
      name: row.name,
      type: row.type,
      notNull: row.not_null,
      default: row.default,
      identity: row.identity,
      generated: row.generated,
    })),
    primaryKey: primary?.columns ?? [],
    constraints: constraints.rows.map((row) => ({name: row.name, type: row.type, definition: row.definition, columns: row.columns ?? []})),
    indexes: indexes.rows,
    triggers: triggers.rows,
  }
}

/** One table of schema `attune`: columns in order, constraints, indexes and triggers. */
export async function describeTable(url: string, table: string): Promise<TableInfo> {
  return withClient(url, (client) => tableInfo(client, table))
}

export interface SchemaDumpOptions {
  /** Only these tables (in this order is irrelevant: output is sorted); default all of `attune`. */
  tables?: readonly string[]
}

function renderTable(table: TableInfo): string[] {
  const lines = [`table ${table.name}${table.kind === 'p' ? ' (partitioned)' : ''}`]
  for (const column of table.columns) {
    let line = `  column ${column.name} ${column.type}`
    if (column.notNull) line += ' NOT NULL'
    if (column.identity) line += ` IDENTITY(${column.identity})`
    if (column.generated) line += ` GENERATED(${column.generated})`
    if (column.default !== null) line += ` DEFAULT ${column.default}`
    lines.push(line)
  }
  for (const constraint of table.constraints) lines.push(`  constraint ${constraint.name} [${constraint.type}] ${constraint.definition}`)
  for (const index of table.indexes) lines.push(`  index ${index.definition}`)
  for (const trigger of table.triggers) lines.push(`  trigger [${trigger.enabled}] ${trigger.definition}`)
  return lines
}

/**
 * A deterministic text description of schema `attune` from the catalogs: extensions, enum
 * types with their labels, functions (name, arguments, result), views and sequences, then per
 * table its columns (in order: type, NOT NULL, default), constraints, indexes and triggers.
 * With `tables`, only those tables (types and functions are always included).
 */
export async function schemaDump(url: string, options: SchemaDumpOptions = {}): Promise<string> {
  return withClient(url, async (client) => {
    const lines: string[] = []
    const extensions = await client.query<{name: string; schema: string}>(
      `SELECT e.extname AS name, n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        ORDER BY e.extname COLLATE "C"`,
    )
    for (const row of extensions.rows) lines.push(`extension ${row.name} in ${row.schema}`)
    const enums = await client.query<{name: string; labels: string[]}>(
      `SELECT t.typname AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
         FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_enum e ON e.enumtypid = t.oid
        WHERE n.nspname = $1
        GROUP BY t.typname ORDER BY t.typname COLLATE "C"`,
      [ATTUNE_SCHEMA],
    )
    for (const row of enums.rows) lines.push(`enum ${row.name} (${row.labels.join(', ')})`)
    const domains = await client.query<{name: string; base: string; not_null: boolean; default: string | null}>(
      `SELECT t.typname AS name, format_type(t.typbasetype, t.typtypmod) AS base, t.typnotnull AS not_null, t.typdefault AS default
         FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = $1 AND t.typtype = 'd' ORDER BY t.typname COLLATE "C"`,
      [ATTUNE_SCHEMA],
    )
    for (const row of domains.rows) lines.push(`domain ${row.name} ${row.base}${row.not_null ? ' NOT NULL' : ''}${row.default === null ? '' : ` DEFAULT ${row.default}`}`)
    const functions = await client.query<{name: string; kind: string; args: string; result: string | null}>(
      `SELECT p.proname AS name, p.prokind::text AS kind, pg_get_function_identity_arguments(p.oid) AS args,
              pg_get_function_result(p.oid) AS result
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = $1
        ORDER BY p.proname COLLATE "C", pg_get_function_identity_arguments(p.oid) COLLATE "C"`,
      [ATTUNE_SCHEMA],
    )
    for (const row of functions.rows) {
      lines.push(`${row.kind === 'p' ? 'procedure' : 'function'} ${row.name}(${row.args})${row.result ? ` returns ${row.result}` : ''}`)
    }
    const relations = await client.query<{name: string; kind: string}>(
      `SELECT c.relname AS name, c.relkind::text AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
        ORDER BY c.relname COLLATE "C"`,
      [ATTUNE_SCHEMA],
    )
    if (!options.tables) {
      for (const row of relations.rows.filter((relation) => relation.kind === 'S')) lines.push(`sequence ${row.name}`)
      for (const row of relations.rows.filter((relation) => relation.kind === 'v' || relation.kind === 'm')) {
        const view = await client.query<{definition: string}>(
          `SELECT pg_get_viewdef(c.oid, true) AS definition FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relname = $2`,
          [ATTUNE_SCHEMA, row.name],
        )
        lines.push(`${row.kind === 'm' ? 'materialized view' : 'view'} ${row.name} AS ${view.rows[0].definition.replace(/\s+/g, ' ').trim()}`)
      }
    }
    const existing = relations.rows.filter((relation) => relation.kind === 'r' || relation.kind === 'p').map((relation) => relation.name)
    let tables = existing
    if (options.tables) {
      const missing = options.tables.filter((table) => !existing.includes(table))
      if (missing.length > 0) throw new Error(`schema ${ATTUNE_SCHEMA} has no table ${missing.join(', ')}`)
      tables = [...new Set(options.tables)].sort()
    }
    for (const table of tables) lines.push(...renderTable(await tableInfo(client, table)))
    return lines.join('\n') + '\n'
  })
}

export const PG_DUMP = join(POSTGRES_BIN, 'pg_dump')

/** pg_dump's own view of schema `attune` (schema only, no owners or grants), when pg_dump is present. */
export async function pgDumpSchema(url: string): Promise<string> {
  if (!existsSync(PG_DUMP)) throw new Error(`${PG_DUMP} not found`)
  const {stdout} = await promisify(execFile)(
    PG_DUMP,
    ['--schema-only', `--schema=${ATTUNE_SCHEMA}`, '--no-owner', '--no-privileges', '--dbname', url],
    {maxBuffer: 64 * 1024 * 1024},
  )
  // Version banners differ between hosts, and newer pg_dump wraps its output in
  // `\restrict <random key>` / `\unrestrict <key>`: neither says anything about the schema.
  return stdout
    .split('\n')
    .filter((line) => !/^-- Dumped (from|by) /.test(line) && !/^\\(un)?restrict /.test(line))
    .join('\n')
}
