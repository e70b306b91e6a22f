/**
 * The database of an Attune deployment, built from Attune's own migrations in ../shared (as sqlx
 * applies them), and the facts of ../shared/attune/README.md that attune's sensor side relies
 * on, each checked against the catalogs. Skipped with one line when ../shared or PostgreSQL 15
 * is missing (a failure under CI=true).
 */
import {createHash} from 'node:crypto'
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import pg from 'pg'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {
  ATTUNE_SENSOR_TABLES,
  PG_DUMP,
  buildAttuneDatabase,
  buildTimings,
  describeTable,
  pgDumpSchema,
  readSqlxMigrations,
  schemaDump,
  type TableInfo,
} from '../support/attune-db.js'
import {postgresSkipReason, startPostgres, type PostgresServer} from '../support/postgres.js'
import {SHARED_DIR, sharedPath} from '../support/shared.js'

const MIGRATIONS = sharedPath('attune/migrations-without-timescaledb')
const TSV = MIGRATIONS.skip ? MIGRATIONS : sharedPath('attune/sqlx_migrations.tsv')
const skip = MIGRATIONS.skip ?? TSV.skip ?? postgresSkipReason()
// sharedPath announces its own reason; say PostgreSQL's here, on one line too.
if (skip && !MIGRATIONS.skip && !TSV.skip) console.warn(`skipped: ${skip}`)

/** The tsv as written, parsed here on its own (not through the support module). */
function tsvRows(): Array<{version: string; description: string; checksum: string}> {
  return readFileSync(TSV.path, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      const [version, description, checksum] = line.split('\t')
      return {version, description, checksum}
    })
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({connectionString: url})
  await client.connect()
  try {
    return (await client.query<T>(sql, params)).rows
  } finally {
    await client.end()
  }
}

function column(table: TableInfo, name: string) {
  const found = table.columns.find((entry) => entry.name === name)
  if (!found) throw new Error(`${table.name} has no column ${name}: ${table.columns.map((entry) => entry.name).join(', ')}`)
  return found
}

function constraint(table: TableInfo, predicate: (definition: string) => boolean) {
  return table.constraints.filter((entry) => predicate(entry.definition))
}

/** Lines of `after` not in `before`, and the other way round (as multisets: lines repeat). */
function changedLines(before: string, after: string): {added: string[]; removed: string[]} {
  const minus = (from: string[], take: string[]) => {
    const counts = new Map<string, number>()
    for (const line of take) counts.set(line, (counts.get(line) ?? 0) + 1)
    return from.filter((line) => {
      const left = counts.get(line) ?? 0
      if (left === 0) return true
      counts.set(line, left - 1)
      return false
    })
  }
  const a = before.split('\n')
  const b = after.split('\n')
  return {added: minus(b, a), removed: minus(a, b)}
}

describe.skipIf(skip)('an Attune deployment database (../shared/attune migrations, as sqlx applies them)', () => {
  let server: PostgresServer
  let url: string
  const tables = new Map<string, TableInfo>()
  const table = (name: string): TableInfo => {
    const found = tables.get(name)
    if (!found) throw new Error(`not described: ${name}`)
    return found
  }

  beforeAll(async () => {
    server = await startPostgres()
    url = await buildAttuneDatabase(server, 'attune_a')
    const timing = buildTimings.get('attune_a')
    console.info(`built an Attune database from ${MIGRATIONS.path} in ${timing?.totalMs.toFixed(0)} ms`)
    for (const name of ATTUNE_SENSOR_TABLES) tables.set(name, await describeTable(url, name))
  })
  afterAll(async () => {
    await server?.stop()
  })

  describe('_sqlx_migrations', () => {
    it('has sqlx own table definition in schema attune', async () => {
      const migrations = await describeTable(url, '_sqlx_migrations')
      expect(migrations.columns.map(({name, type, notNull, default: value}) => ({name, type, notNull, default: value}))).toEqual([
        {name: 'version', type: 'bigint', notNull: true, default: null},
        {name: 'description', type: 'text', notNull: true, default: null},
        {name: 'installed_on', type: 'timestamp with time zone', notNull: true, default: 'now()'},
        {name: 'success', type: 'boolean', notNull: true, default: null},
        {name: 'checksum', type: 'bytea', notNull: true, default: null},
        {name: 'execution_time', type: 'bigint', notNull: true, default: null},
      ])
      expect(migrations.primaryKey).toEqual(['version'])
      // Nowhere else: sqlx finds it through the search_path `attune, public`.
      const elsewhere = await query(url, `SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                           WHERE c.relname = '_sqlx_migrations' AND n.nspname <> 'attune'`)
      expect(elsewhere).toEqual([])
    })

    it('records the 11 migrations with the versions, descriptions and checksums of sqlx_migrations.tsv', async () => {
      const expected = tsvRows()
      expect(expected).toHaveLength(11)
      const rows = await readSqlxMigrations(url)
      expect(rows.map(({version, description, checksum}) => ({version, description, checksum}))).toEqual(expected)
      for (const row of rows) {
        expect(row.success).toBe(true)
        // Nanoseconds, updated after the commit (sqlx writes -1 first).
        expect(BigInt(row.executionTime)).toBeGreaterThan(0n)
        expect(row.installedOn).toBeInstanceOf(Date)
      }
      // The checksum column holds the 48 raw bytes of the SHA-384, not its hex text.
      const lengths = await query<{n: number}>(url, 'SELECT DISTINCT octet_length(checksum) AS n FROM attune._sqlx_migrations')
      expect(lengths).toEqual([{n: 48}])
    })

    it.skipIf(!existsSync(join(SHARED_DIR, 'attune', 'migrations')))(
      "has sqlx's checksums: SHA-384 of the original files (TimescaleDB statements included)",
      () => {
        for (const row of tsvRows()) {
          const file = join(SHARED_DIR, 'attune', 'migrations', `${row.version}_${row.description.replace(/ /g, '_')}.sql`)
          expect(createHash('sha384').update(readFileSync(file)).digest('hex'), file).toBe(row.checksum)
        }
      },
    )
  })

  describe('the facts of ../shared/attune/README.md the sensor side relies on', () => {
    it('keeps every table in schema attune, the sensor tables included', async () => {
      const rows = await query<{table_name: string}>(
        url,
        `SELECT table_name FROM information_schema.tables WHERE table_schema = 'attune' AND table_type = 'BASE TABLE'`,
      )
      const names = rows.map((row) => row.table_name)
      for (const name of ATTUNE_SENSOR_TABLES) expect(names).toContain(name)
      const publicTables = await query(url, `SELECT 1 FROM information_schema.tables WHERE table_schema = 'public'`)
      expect(publicTables).toEqual([])
    })

    it('event: primary key (id, created), no updated, nullable payload, rule and rule_ref, no FK can point at it', async () => {
      const event = table('event')
      expect(event.primaryKey).toEqual(['id', 'created'])
      expect(event.columns.map((entry) => entry.name)).not.toContain('updated')
      expect(column(event, 'payload')).toMatchObject({type: 'jsonb', notNull: false})
      expect(column(event, 'created')).toMatchObject({type: 'timestamp with time zone', notNull: true, default: 'now()'})
      expect(column(event, 'trigger_ref')).toMatchObject({type: 'text', notNull: true})
      expect(column(event, 'rule')).toMatchObject({type: 'bigint', notNull: false})
      expect(column(event, 'rule_ref')).toMatchObject({type: 'text', notNull: false})
      expect(constraint(event, (definition) => definition === 'FOREIGN KEY (rule) REFERENCES attune.rule(id) ON DELETE SET NULL')).toHaveLength(1)
      const referencing = await query(url, `SELECT conname FROM pg_constraint WHERE confrelid = 'attune.event'::regclass`)
      expect(referencing).toEqual([])
      expect(event.triggers.map((entry) => entry.name)).toContain('event_created_notify')
    })

    it('enforcement: status and condition enums, partial unique (rule, event), config jsonb, resolved_at, event without FK', async () => {
      const enforcement = table('enforcement')
      expect(column(enforcement, 'status')).toMatchObject({
        type: 'attune.enforcement_status_enum',
        notNull: true,
        default: "'created'::attune.enforcement_status_enum",
      })
      expect(column(enforcement, 'condition')).toMatchObject({
        type: 'attune.enforcement_condition_enum',
        notNull: true,
        default: "'all'::attune.enforcement_condition_enum",
      })
      const labels = await query<{typname: string; labels: string[]}>(
        url,
        `SELECT t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
           FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
          WHERE t.typnamespace = 'attune'::regnamespace AND t.typname IN ('enforcement_status_enum', 'enforcement_condition_enum')
          GROUP BY t.typname ORDER BY t.typname`,
      )
      expect(labels).toEqual([
        {typname: 'enforcement_condition_enum', labels: ['any', 'all']},
        {typname: 'enforcement_status_enum', labels: ['created', 'processed', 'disabled']},
      ])
      const unique = enforcement.indexes.find((index) => index.name === 'uq_enforcement_rule_event')
      expect(unique).toMatchObject({unique: true, predicate: 'rule IS NOT NULL AND event IS NOT NULL'})
      expect(unique?.definition).toBe(
        'CREATE UNIQUE INDEX uq_enforcement_rule_event ON attune.enforcement USING btree (rule, event) WHERE ((rule IS NOT NULL) AND (event IS NOT NULL))',
      )
      // The only uniqueness besides the primary key: no UNIQUE constraint on (rule, event).
      expect(enforcement.constraints.filter((entry) => entry.type === 'u')).toEqual([])
      expect(column(enforcement, 'config')).toMatchObject({type: 'jsonb', notNull: false})
      expect(column(enforcement, 'payload')).toMatchObject({type: 'jsonb', notNull: true, default: null})
      expect(column(enforcement, 'rule_ref')).toMatchObject({notNull: true, default: null})
      expect(column(enforcement, 'trigger_ref')).toMatchObject({notNull: true, default: null})
      expect(column(enforcement, 'resolved_at')).toMatchObject({type: 'timestamp with time zone', notNull: false})
      expect(constraint(enforcement, (definition) => definition.includes('(event)'))).toEqual([])
      expect(constraint(enforcement, (definition) => definition === 'FOREIGN KEY (rule) REFERENCES attune.rule(id) ON DELETE SET NULL')).toHaveLength(1)
      expect(enforcement.triggers.map((entry) => entry.name)).toEqual(['enforcement_created_notify', 'enforcement_status_changed_notify'])
    })

    it('pack: tags, runtime_deps and dependencies text[]; version NOT NULL with a semver CHECK; no path/enabled', () => {
      const pack = table('pack')
      for (const name of ['tags', 'runtime_deps', 'dependencies']) {
        expect(column(pack, name)).toMatchObject({type: 'text[]', notNull: true, default: 'ARRAY[]::text[]'})
      }
      expect(column(pack, 'version')).toMatchObject({type: 'text', notNull: true, default: null})
      expect(constraint(pack, (definition) => definition.startsWith('CHECK (version ~'))).toHaveLength(1)
      for (const name of ['conf_schema', 'config', 'meta']) expect(column(pack, name)).toMatchObject({type: 'jsonb', notNull: true, default: "'{}'::jsonb"})
      const names = pack.columns.map((entry) => entry.name)
      expect(names).not.toContain('path')
      expect(names).not.toContain('enabled')
      expect(names).toContain('storage_path')
    })

    it('runtime: no runtime_type, aliases text[], distributions NOT NULL without default, auto_detected, detection_config', () => {
      const runtime = table('runtime')
      const names = runtime.columns.map((entry) => entry.name)
      expect(names).not.toContain('runtime_type')
      expect(column(runtime, 'aliases')).toMatchObject({type: 'text[]', notNull: true})
      expect(column(runtime, 'distributions')).toMatchObject({type: 'jsonb', notNull: true, default: null})
      expect(column(runtime, 'name')).toMatchObject({type: 'text', notNull: true, default: null})
      expect(column(runtime, 'auto_detected')).toMatchObject({type: 'boolean', notNull: true, default: 'false'})
      expect(column(runtime, 'detection_config')).toMatchObject({type: 'jsonb', notNull: true})
      expect(names).toContain('installers')
    })

    it('trigger: sensor (FK, ON DELETE SET NULL) and sensor_ref, is_adhoc, webhook_enabled, webhook_key varchar(64) unique, webhook_config jsonb', () => {
      const trigger = table('trigger')
      expect(column(trigger, 'sensor')).toMatchObject({type: 'bigint', notNull: false})
      expect(column(trigger, 'sensor_ref')).toMatchObject({type: 'text', notNull: false})
      expect(constraint(trigger, (definition) => definition === 'FOREIGN KEY (sensor) REFERENCES attune.sensor(id) ON DELETE SET NULL')).toHaveLength(1)
      expect(column(trigger, 'is_adhoc')).toMatchObject({type: 'boolean', notNull: true, default: 'false'})
      expect(column(trigger, 'webhook_enabled')).toMatchObject({type: 'boolean', notNull: true, default: 'false'})
      expect(column(trigger, 'webhook_key')).toMatchObject({type: 'character varying(64)', notNull: false})
      expect(constraint(trigger, (definition) => definition === 'UNIQUE (webhook_key)')).toHaveLength(1)
      expect(column(trigger, 'webhook_config')).toMatchObject({type: 'jsonb', default: "'{}'::jsonb"})
      expect(constraint(trigger, (definition) => definition.includes("'^[^.]+\\.[^.]+$'"))).toHaveLength(1)
    })

    it('generate_webhook_key() returns wh_ and 32 hex digits', async () => {
      const rows = await query<{key: string; type: string}>(
        url,
        `SELECT attune.generate_webhook_key() AS key, pg_typeof(attune.generate_webhook_key())::text AS type FROM generate_series(1, 20)`,
      )
      for (const row of rows) {
        expect(row.key).toMatch(/^wh_[0-9a-f]{32}$/)
        expect(row.type).toBe('character varying')
      }
      expect(new Set(rows.map((row) => row.key)).size).toBe(20)
    })

    it('sensor: runtime NOT NULL FK, enabled NOT NULL without default, none of the old columns, placement columns', () => {
      const sensor = table('sensor')
      expect(column(sensor, 'runtime')).toMatchObject({type: 'bigint', notNull: true, default: null})
      expect(column(sensor, 'runtime_ref')).toMatchObject({type: 'text', notNull: true, default: null})
      expect(constraint(sensor, (definition) => definition === 'FOREIGN KEY (runtime) REFERENCES attune.runtime(id) ON DELETE CASCADE')).toHaveLength(1)
      expect(column(sensor, 'enabled')).toMatchObject({type: 'boolean', notNull: true, default: null})
      expect(column(sensor, 'entrypoint')).toMatchObject({notNull: true, default: null})
      const names = sensor.columns.map((entry) => entry.name)
      for (const gone of ['trigger_ref', 'trigger_types', 'poll_interval', 'execution', 'env']) expect(names).not.toContain(gone)
      for (const present of ['runtime_version_constraint', 'worker_selector', 'worker_tolerations', 'worker_affinity']) expect(names).toContain(present)
    })

    it('rule: pack and pack_ref NOT NULL, action FK, action_params/trigger_params/conditions jsonb', () => {
      const rule = table('rule')
      expect(column(rule, 'pack')).toMatchObject({type: 'bigint', notNull: true})
      expect(column(rule, 'pack_ref')).toMatchObject({type: 'text', notNull: true})
      expect(constraint(rule, (definition) => definition === 'FOREIGN KEY (action) REFERENCES attune.action(id) ON DELETE SET NULL')).toHaveLength(1)
      expect(column(rule, 'action_ref')).toMatchObject({notNull: true, default: null})
      expect(column(rule, 'enabled')).toMatchObject({type: 'boolean', notNull: true, default: null})
      for (const name of ['action_params', 'trigger_params', 'conditions']) expect(column(rule, name).type).toBe('jsonb')
      expect(column(rule, 'conditions')).toMatchObject({notNull: true, default: "'[]'::jsonb"})
    })

    it('action: pack NOT NULL, rules reference it', () => {
      const action = table('action')
      expect(column(action, 'pack')).toMatchObject({type: 'bigint', notNull: true})
      expect(column(action, 'entrypoint')).toMatchObject({notNull: true, default: null})
    })

    it('worker: worker_type NOT NULL without default, worker_role {action, sensor}, status {active, inactive, busy, error}', async () => {
      const worker = table('worker')
      expect(column(worker, 'worker_type')).toMatchObject({type: 'attune.worker_type_enum', notNull: true, default: null})
      expect(column(worker, 'worker_role')).toMatchObject({type: 'attune.worker_role_enum', notNull: true, default: null})
      expect(column(worker, 'status')).toMatchObject({type: 'attune.worker_status_enum', notNull: true, default: "'active'::attune.worker_status_enum"})
      expect(column(worker, 'capabilities')).toMatchObject({type: 'jsonb', notNull: false})
      for (const name of ['host', 'port', 'runtime']) expect(worker.columns.map((entry) => entry.name)).toContain(name)
      expect(constraint(worker, (definition) => definition === 'UNIQUE (name)')).toHaveLength(1)
      const labels = await query<{typname: string; labels: string[]}>(
        url,
        `SELECT t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
           FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
          WHERE t.typnamespace = 'attune'::regnamespace AND t.typname LIKE 'worker\\_%'
          GROUP BY t.typname ORDER BY t.typname`,
      )
      expect(labels).toEqual([
        {typname: 'worker_role_enum', labels: ['action', 'sensor']},
        {typname: 'worker_status_enum', labels: ['active', 'inactive', 'busy', 'error']},
        {typname: 'worker_type_enum', labels: ['local', 'remote', 'container']},
      ])
    })

    it('identity: login UNIQUE, attributes jsonb', () => {
      const identity = table('identity')
      expect(constraint(identity, (definition) => definition === 'UNIQUE (login)')).toHaveLength(1)
      expect(column(identity, 'attributes')).toMatchObject({type: 'jsonb', notNull: true, default: "'{}'::jsonb"})
    })

    it('sensor_process: NOT NULL sensor/worker FKs and their refs, unique per (sensor, worker), status enum', () => {
      const process = table('sensor_process')
      for (const name of ['sensor_ref', 'worker_name']) expect(column(process, name)).toMatchObject({type: 'text', notNull: true, default: null})
      expect(constraint(process, (definition) => definition === 'FOREIGN KEY (sensor) REFERENCES attune.sensor(id) ON DELETE CASCADE')).toHaveLength(1)
      expect(constraint(process, (definition) => definition === 'FOREIGN KEY (worker) REFERENCES attune.worker(id) ON DELETE CASCADE')).toHaveLength(1)
      expect(column(process, 'status')).toMatchObject({type: 'attune.sensor_process_status_enum', default: "'starting'::attune.sensor_process_status_enum"})
      const unique = process.indexes.filter((index) => index.unique && !index.primary).map((index) => index.name)
      expect(unique).toEqual(['ux_sensor_process_sensor_ref_worker_name', 'ux_sensor_process_sensor_worker'])
      expect(constraint(process, (definition) => definition === 'CHECK (pid IS NULL OR pid > 0)')).toHaveLength(1)
    })

    it('webhook_event_log: trigger_id NOT NULL FK, status_code NOT NULL', () => {
      const log = table('webhook_event_log')
      expect(column(log, 'trigger_id')).toMatchObject({notNull: true})
      expect(column(log, 'status_code')).toMatchObject({type: 'integer', notNull: true, default: null})
      expect(column(log, 'webhook_key')).toMatchObject({type: 'character varying(64)', notNull: true})
    })

    it('idempotent writes need the exact conflict targets: (rule, event) WITH its predicate; event has no unique id', async () => {
      const client = new pg.Client({connectionString: url})
      await client.connect()
      const attempt = async (sql: string, params: unknown[] = []) => {
        await client.query('SAVEPOINT attempt')
        try {
          const result = await client.query(sql, params)
          await client.query('RELEASE SAVEPOINT attempt')
          return result.rowCount
        } catch (error) {
          await client.query('ROLLBACK TO SAVEPOINT attempt')
          return (error as Error).message
        }
      }
      try {
        await client.query('BEGIN')
        await client.query('SET LOCAL search_path TO attune, public')
        const {rows: [{id: pack}]} = await client.query(`INSERT INTO pack (ref, label, version) VALUES ('core', 'Core', '1.0.0') RETURNING id`)
        const {rows: [{id: rule}]} = await client.query(
          `INSERT INTO rule (ref, pack, pack_ref, label, action_ref, trigger_ref, enabled)
           VALUES ('core.r', $1, 'core', 'R', 'core.echo', 'core.t', true) RETURNING id`,
          [pack],
        )
        const {rows: [{id: event, created, created_text: createdText}]} = await client.query(
          `INSERT INTO event (trigger_ref, payload, created) VALUES ('core.t', '{}', '2026-06-01 12:00:00.123456+00')
           RETURNING id, created, created::text AS created_text`,
        )
        const enforcement = `INSERT INTO enforcement (rule, rule_ref, trigger_ref, event, payload) VALUES ($1, 'core.r', 'core.t', $2, '{}')`
        expect(await attempt(`${enforcement} ON CONFLICT (rule, event) DO NOTHING`, [rule, event])).toMatch(
          /no unique or exclusion constraint matching the ON CONFLICT specification/,
        )
        const target = 'ON CONFLICT (rule, event) WHERE rule IS NOT NULL AND event IS NOT NULL DO NOTHING'
        expect(await attempt(`${enforcement} ${target}`, [rule, event])).toBe(1)
        expect(await attempt(`${enforcement} ${target}`, [rule, event])).toBe(0)
        // An event's id alone is no conflict target; (id, created) is.
        expect(await attempt(`INSERT INTO event (id, created, trigger_ref) VALUES ($1, $2, 'core.t') ON CONFLICT (id) DO NOTHING`, [event, created])).toMatch(
          /no unique or exclusion constraint/,
        )
        const again = `INSERT INTO event (id, created, trigger_ref) VALUES ($1, $2, 'core.t') ON CONFLICT (id, created) DO NOTHING`
        expect(await attempt(again, [event, createdText])).toBe(0)
        // `created` has microseconds; a JS Date keeps milliseconds: the key read back into a Date
        // is another key, and the same id goes in twice (nothing else makes id unique).
        expect((created as Date).toISOString()).toBe('2026-06-01T12:00:00.123Z')
        expect(await attempt(again, [event, created])).toBe(1)
        expect((await client.query('SELECT count(*)::int AS n FROM event WHERE id = $1', [event])).rows[0].n).toBe(2)
        // A semver CHECK on pack.version, a NOT NULL without default on worker.worker_type.
        expect(await attempt(`INSERT INTO pack (ref, label, version) VALUES ('other', 'O', '1.0')`)).toMatch(/pack_version_semver/)
        expect(await attempt(`INSERT INTO worker (name, worker_role) VALUES ('w', 'sensor')`)).toMatch(/null value in column "worker_type"/)
      } finally {
        await client.query('ROLLBACK')
        await client.end()
      }
    })

    it('worker and sensor_process have their history triggers, which write worker_history / sensor_process_history', async () => {
      expect(table('worker').triggers.map((entry) => entry.definition)).toContain(
        'CREATE TRIGGER worker_history_trigger AFTER INSERT OR DELETE OR UPDATE ON attune.worker FOR EACH ROW EXECUTE FUNCTION attune.record_worker_history()',
      )
      expect(table('sensor_process').triggers.map((entry) => entry.definition)).toContain(
        'CREATE TRIGGER sensor_process_history_trigger AFTER INSERT OR DELETE OR UPDATE ON attune.sensor_process FOR EACH ROW EXECUTE FUNCTION attune.record_sensor_process_history()',
      )
      // The trigger functions name their history tables unqualified and set no search_path of
      // their own: a session without `attune` on its search_path cannot write these tables.
      const config = await query<{proname: string; proconfig: string[] | null}>(
        url,
        `SELECT proname, proconfig FROM pg_proc WHERE pronamespace = 'attune'::regnamespace
            AND proname IN ('record_worker_history', 'record_sensor_process_history') ORDER BY proname`,
      )
      expect(config).toEqual([
        {proname: 'record_sensor_process_history', proconfig: null},
        {proname: 'record_worker_history', proconfig: null},
      ])
      await expect(
        query(url, `INSERT INTO attune.worker (name, worker_type, worker_role) VALUES ('w0', 'local', 'sensor')`),
      ).rejects.toThrow(/relation "worker_history" does not exist/)

      // What they do: one history row per insert, per real change, none for a heartbeat-only update.
      const client = new pg.Client({connectionString: url})
      await client.connect()
      try {
        await client.query('BEGIN')
        await client.query('SET LOCAL search_path TO attune, public')
        const {rows: [{id: runtime}]} = await client.query(`INSERT INTO attune.runtime (ref, name, distributions) VALUES ('core.sh', 'Shell', '{}') RETURNING id`)
        const {rows: [{id: sensor}]} = await client.query(
          `INSERT INTO attune.sensor (ref, label, entrypoint, runtime, runtime_ref, enabled) VALUES ('core.s', 'S', 's.sh', $1, 'core.sh', true) RETURNING id`,
          [runtime],
        )
        const {rows: [{id: worker}]} = await client.query(
          `INSERT INTO attune.worker (name, worker_type, worker_role) VALUES ('w1', 'local', 'sensor') RETURNING id`,
        )
        await client.query(`UPDATE attune.worker SET last_heartbeat = now() WHERE id = $1`, [worker])
        await client.query(`UPDATE attune.worker SET status = 'inactive' WHERE id = $1`, [worker])
        const workerHistory = await client.query(`SELECT operation, changed_fields FROM attune.worker_history WHERE entity_id = $1 ORDER BY operation`, [worker])
        expect(workerHistory.rows).toEqual([
          {operation: 'INSERT', changed_fields: []},
          {operation: 'UPDATE', changed_fields: ['status']},
        ])
        const {rows: [{id: process}]} = await client.query(
          `INSERT INTO attune.sensor_process (sensor, sensor_ref, worker, worker_name) VALUES ($1, 'core.s', $2, 'w1') RETURNING id`,
          [sensor, worker],
        )
        await client.query(`UPDATE attune.sensor_process SET status = 'running', pid = 42 WHERE id = $1`, [process])
        const processHistory = await client.query(
          `SELECT operation, entity_ref, worker_name, changed_fields FROM attune.sensor_process_history WHERE entity_id = $1 ORDER BY operation`,
          [process],
        )
        expect(processHistory.rows).toEqual([
          {operation: 'INSERT', entity_ref: 'core.s', worker_name: 'w1', changed_fields: []},
          {operation: 'UPDATE', entity_ref: 'core.s', worker_name: 'w1', changed_fields: ['status', 'pid']},
        ])
      } finally {
        await client.query('ROLLBACK')
        await client.end()
      }
    })
  })

  describe('schemaDump', () => {
    let other: string
    beforeAll(async () => {
      other = await buildAttuneDatabase(server, 'attune_b')
    })

    it('is the same for two databases built alike (the whole schema and the sensor tables)', async () => {
      const [a, b] = await Promise.all([schemaDump(url), schemaDump(other)])
      expect(b).toBe(a)
      expect(a).toContain('enum enforcement_status_enum (created, processed, disabled)')
      expect(a).toContain('function generate_webhook_key() returns character varying')
      expect(await schemaDump(other, {tables: ATTUNE_SENSOR_TABLES})).toBe(await schemaDump(url, {tables: ATTUNE_SENSOR_TABLES}))
      expect(await schemaDump(url, {tables: ['event']})).toContain('  constraint event_pkey [p] PRIMARY KEY (id, created)\n')
    })

    it.skipIf(!existsSync(PG_DUMP))("agrees with pg_dump's view: the same for both builds", async () => {
      const [a, b] = await Promise.all([pgDumpSchema(url), pgDumpSchema(other)])
      expect(b).toBe(a)
      expect(a).toContain('CREATE TABLE attune.enforcement')
    })

    it('shows one changed default, NOT NULL, CHECK, index predicate, FK action or trigger', async () => {
      const changes: Array<[string, string]> = [
        ['ALTER TABLE attune.worker ALTER COLUMN status SET DEFAULT \'inactive\'', "  column status attune.worker_status_enum NOT NULL DEFAULT 'inactive'::attune.worker_status_enum"],
        ['ALTER TABLE attune.event ALTER COLUMN trigger_ref DROP NOT NULL', '  column trigger_ref text'],
        [
          'ALTER TABLE attune.pack DROP CONSTRAINT pack_ref_format, ADD CONSTRAINT pack_ref_format CHECK (ref ~ \'^[a-z][a-z0-9_]+$\')',
          "  constraint pack_ref_format [c] CHECK (ref ~ '^[a-z][a-z0-9_]+$'::text)",
        ],
        [
          'DROP INDEX attune.uq_enforcement_rule_event; CREATE UNIQUE INDEX uq_enforcement_rule_event ON attune.enforcement (rule, event) WHERE rule IS NOT NULL',
          '  index CREATE UNIQUE INDEX uq_enforcement_rule_event ON attune.enforcement USING btree (rule, event) WHERE (rule IS NOT NULL)',
        ],
        [
          'ALTER TABLE attune.trigger DROP CONSTRAINT trigger_sensor_fk, ADD CONSTRAINT trigger_sensor_fk FOREIGN KEY (sensor) REFERENCES attune.sensor(id) ON DELETE CASCADE',
          '  constraint trigger_sensor_fk [f] FOREIGN KEY (sensor) REFERENCES attune.sensor(id) ON DELETE CASCADE',
        ],
        ['ALTER TABLE attune.sensor_process DISABLE TRIGGER sensor_process_history_trigger', '  trigger [D] CREATE TRIGGER sensor_process_history_trigger AFTER INSERT OR DELETE OR UPDATE ON attune.sensor_process FOR EACH ROW EXECUTE FUNCTION attune.record_sensor_process_history()'],
        ["ALTER TYPE attune.enforcement_status_enum ADD VALUE 'failed'", 'enum enforcement_status_enum (created, processed, disabled, failed)'],
      ]
      const reference = await schemaDump(url)
      let before = reference
      for (const [sql, line] of changes) {
        await query(other, sql)
        const after = await schemaDump(other)
        const diff = changedLines(before, after)
        expect(diff.added, sql).toEqual([line])
        expect(diff.removed, sql).toHaveLength(1)
        expect(await schemaDump(other, {tables: ATTUNE_SENSOR_TABLES}), sql).not.toBe(await schemaDump(url, {tables: ATTUNE_SENSOR_TABLES}))
        before = after
      }
      expect(before).not.toBe(reference)
    })
  })
})
