import {copyFileSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {migrate, migrationStatus, readMigrationFiles, type MigrateResult, type Store} from '../../src/engine/store/index.js'
import {backends} from './backends.js'

/** Attune's tables that the sensor side reads or writes (schema attune). */
const ATTUNE_TABLES = ['action', 'enforcement', 'event', 'identity', 'pack', 'rule', 'runtime', 'sensor', 'sensor_process', 'trigger', 'webhook_event_log', 'worker']
/** attune's own (schema attune_sensor). */
const OWN_TABLES = ['idempotency', 'outbox', 'schema_migrations', 'sensor_lease', 'sensor_log', 'sensor_settings', 'sensor_state', 'timer_state', 'trigger_settings']

describe.each(backends())('migrations on $name', (backend) => {
  let store: Store
  let fromEmpty: MigrateResult

  beforeAll(async () => {
    if (backend.skip) return
    store = await backend.open()
    fromEmpty = await migrate(store)
  })
  afterAll(async () => {
    await store?.close()
    await backend.cleanup()
  })

  it.skipIf(backend.skip)('applies every migration to an empty database, in order', async () => {
    const files = readMigrationFiles()
    expect(fromEmpty.already_applied).toBe(0)
    expect(fromEmpty.applied.map((m) => m.version)).toEqual(files.map((f) => f.version))
    const tables = async (schema: string) =>
      (await store.query<{table_name: string}>('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name', [schema])).rows.map(
        (r) => r.table_name,
      )
    expect(await tables('attune')).toEqual(ATTUNE_TABLES)
    expect(await tables('attune_sensor')).toEqual(OWN_TABLES)
    expect(fromEmpty.applied.some((m) => m.adopted)).toBe(false)
    const status = await migrationStatus(store)
    expect(status.every((s) => s.applied_at instanceof Date)).toBe(true)
  })

  it.skipIf(backend.skip)('applies nothing when run again', async () => {
    const again = await migrate(store)
    expect(again.applied).toEqual([])
    expect(again.already_applied).toBe(readMigrationFiles().length)
  })

  it.skipIf(backend.skip)('has Attune’s columns, enums, keys and indexes, and generates Attune’s webhook keys', async () => {
    const {rows: columns} = await store.query<{column_name: string}>(
      "SELECT column_name FROM information_schema.columns WHERE table_schema = 'attune' AND table_name = 'sensor' ORDER BY ordinal_position",
    )
    expect(columns.map((c) => c.column_name).slice(0, 10)).toEqual(['id', 'ref', 'pack', 'pack_ref', 'label', 'description', 'entrypoint', 'runtime', 'runtime_ref', 'enabled'])
    const {rows: indexes} = await store.query<{indexname: string}>("SELECT indexname FROM pg_indexes WHERE schemaname IN ('attune', 'attune_sensor')")
    expect(indexes.map((i) => i.indexname)).toEqual(expect.arrayContaining(['uq_enforcement_rule_event', 'idx_rule_trigger_enabled', 'outbox_unsent_idx', 'event_pkey']))
    await store.exec(`
      INSERT INTO attune.pack (ref, label, version) VALUES ('tp', 'T', '1.0.0');
      INSERT INTO attune.trigger (ref, pack, label) VALUES ('tp.x', 1, 'X');
      INSERT INTO attune.action (ref, pack, pack_ref, label, entrypoint) VALUES ('tp.a', 1, 'tp', 'A', 'a.sh');
      INSERT INTO attune.rule (ref, pack, pack_ref, label, action, action_ref, trigger_ref, enabled) VALUES ('tp.r', 1, 'tp', 'R', 1, 'tp.a', 'tp.x', true);
      INSERT INTO attune.event (trigger_ref) VALUES ('tp.x');
      INSERT INTO attune.enforcement (rule, rule_ref, trigger_ref, event, payload) VALUES (1, 'tp.r', 'tp.x', 1, '{}');`)
    // The partial unique index: one enforcement per (rule, event) ...
    await expect(
      store.query("INSERT INTO attune.enforcement (rule, rule_ref, trigger_ref, event, payload) VALUES (1, 'tp.r', 'tp.x', 1, '{}')"),
    ).rejects.toThrow(/uq_enforcement_rule_event/)
    // ... but only where both are set.
    await store.query("INSERT INTO attune.enforcement (rule, rule_ref, trigger_ref, event, payload) VALUES (NULL, 'tp.r', 'tp.x', 1, '{}'), (NULL, 'tp.r', 'tp.x', 1, '{}')")
    await expect(store.query("INSERT INTO attune.enforcement (rule_ref, trigger_ref, payload, status) VALUES ('tp.r', 'tp.x', '{}', 'bogus')")).rejects.toThrow(/enforcement_status_enum/)
    await expect(store.query("INSERT INTO attune.pack (ref, label, version) VALUES ('bad', 'B', '1.0')")).rejects.toThrow(/pack_version_semver/)
    await expect(store.query("INSERT INTO attune.trigger (ref, label) VALUES ('Up.x', 'U')")).rejects.toThrow(/trigger_ref_lowercase/)
    const {rows: keys} = await store.query<{key: string}>('SELECT attune.generate_webhook_key() AS key')
    expect(keys[0].key).toMatch(/^wh_[0-9a-f]{32}$/)
    // updated is maintained by the database
    const before = (await store.query<{updated: Date}>("SELECT updated FROM attune.rule WHERE ref = 'tp.r'")).rows[0]
    await store.query("UPDATE attune.rule SET enabled = false WHERE ref = 'tp.r'")
    const after = (await store.query<{updated: Date; id: number}>("SELECT id, updated FROM attune.rule WHERE ref = 'tp.r'")).rows[0]
    expect(after.updated.getTime()).toBeGreaterThanOrEqual(before.updated.getTime())
    expect(after.id).toBe(1) // int8 ids are numbers on both backends
  })

  it.skipIf(backend.skip)('applies a later migration once, and refuses an applied migration that was edited', async () => {
    const [initial] = readMigrationFiles()
    const dir = mkdtempSync(join(tmpdir(), 'attune-migrations-'))
    try {
      copyFileSync(initial.path, join(dir, `${initial.version}.sql`))
      writeFileSync(join(dir, '002_extra.sql'), 'CREATE TABLE attune.extra_test (id bigserial PRIMARY KEY);\n')
      writeFileSync(join(dir, 'README.md'), 'not a migration')
      expect((await migrate(store, {dir})).applied.map((m) => m.version)).toEqual(['002_extra'])
      expect((await migrate(store, {dir})).applied).toEqual([])
      writeFileSync(join(dir, `${initial.version}.sql`), '-- edited\n')
      await expect(migrate(store, {dir})).rejects.toThrow(/Migration 001_attune_platform was changed after it was applied/)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
