import {copyFileSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {migrate, migrationStatus, readMigrationFiles, type MigrateResult, type Store} from '../../src/engine/store/index.js'
import {backends} from './backends.js'

const EXPECTED_TABLES = [
  'enforcement',
  'event',
  'identity',
  'outbox',
  'pack',
  'rule',
  'runtime',
  'schema_migrations',
  'sensor',
  'sensor_lease',
  'sensor_state',
  'timer_state',
  'trigger',
  'worker',
]

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
    const {rows} = await store.query<{table_name: string}>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'attune' ORDER BY table_name",
    )
    expect(rows.map((r) => r.table_name)).toEqual(EXPECTED_TABLES)
    const status = await migrationStatus(store)
    expect(status.every((s) => s.applied_at instanceof Date)).toBe(true)
  })

  it.skipIf(backend.skip)('applies nothing when run again', async () => {
    const again = await migrate(store)
    expect(again.applied).toEqual([])
    expect(again.already_applied).toBe(readMigrationFiles().length)
  })

  it.skipIf(backend.skip)('has the columns, keys and indexes the daemon relies on', async () => {
    const {rows: columns} = await store.query<{column_name: string}>(
      "SELECT column_name FROM information_schema.columns WHERE table_schema = 'attune' AND table_name = 'sensor'",
    )
    expect(columns.map((c) => c.column_name)).toEqual(
      expect.arrayContaining(['ref', 'pack', 'pack_ref', 'entrypoint', 'runtime', 'runtime_ref', 'trigger', 'trigger_ref',
        'enabled', 'param_schema', 'config', 'poll_interval', 'execution', 'env', 'created', 'updated']),
    )
    const {rows: indexes} = await store.query<{indexname: string}>(
      "SELECT indexname FROM pg_indexes WHERE schemaname = 'attune'",
    )
    expect(indexes.map((i) => i.indexname)).toEqual(
      expect.arrayContaining(['sensor_enabled_idx', 'rule_trigger_ref_enabled_idx', 'event_trigger_ref_created_idx',
        'outbox_unsent_idx', 'enforcement_rule_event_key']),
    )
    // unique (rule, event) on enforcement
    await store.exec(`
      INSERT INTO attune.trigger (ref, label) VALUES ('t.x', 'X');
      INSERT INTO attune.rule (ref, label, action_ref, trigger_ref) VALUES ('t.r', 'R', 'core.echo', 't.x');
      INSERT INTO attune.event (trigger_ref) VALUES ('t.x');
      INSERT INTO attune.enforcement (rule, rule_ref, trigger_ref, event) VALUES (1, 't.r', 't.x', 1);`)
    await expect(
      store.query("INSERT INTO attune.enforcement (rule, rule_ref, trigger_ref, event) VALUES (1, 't.r', 't.x', 1)"),
    ).rejects.toThrow(/enforcement_rule_event_key/)
    // updated is maintained by the database
    const before = (await store.query<{updated: Date}>("SELECT updated FROM attune.rule WHERE ref = 't.r'")).rows[0]
    await store.query("UPDATE attune.rule SET enabled = false WHERE ref = 't.r'")
    const after = (await store.query<{updated: Date; id: number}>("SELECT id, updated FROM attune.rule WHERE ref = 't.r'")).rows[0]
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
      await expect(migrate(store, {dir})).rejects.toThrow(/Migration 001_initial was changed after it was applied/)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
