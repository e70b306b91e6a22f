import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {PackError, readPack, registerPacks} from '../../src/engine/packs/index.js'
import {getTrigger, listTriggers} from '../../src/engine/store/index.js'
import {backends, useMigratedStore} from './backends.js'
import {makePack, removeTempDirs, writeFiles} from './pack-files.js'

afterAll(removeTempDirs)

const PACK_YAML = 'ref: hooks\nlabel: Hooks\nversion: 1.0.0\n'
const trigger = (dedup: string) => `ref: hooks.push\nlabel: Push\n${dedup}`

describe('a trigger file’s dedup', () => {
  it('reads key and window', async () => {
    const dir = makePack('hooks', {'pack.yaml': PACK_YAML, 'triggers/push.yaml': trigger('dedup:\n  key: payload.delivery_id\n  window: 1h30m\n')})
    const {pack, problems} = await readPack(dir)
    expect(problems).toEqual([])
    expect(pack!.triggers[0].dedup).toEqual({key: 'payload.delivery_id', window_ms: 5_400_000})
  })

  it('is optional', async () => {
    const dir = makePack('hooks', {'pack.yaml': PACK_YAML, 'triggers/push.yaml': trigger('')})
    expect((await readPack(dir)).pack!.triggers[0].dedup).toBeNull()
  })

  it.each([
    ['a window without unit', 'dedup: {key: id, window: 600}\n', 3, 'dedup.window', 'must be a duration such as 30s, 10m, 1h or 1d (with its unit), got 600'],
    ['a window that is no duration', 'dedup: {key: id, window: soon}\n', 3, 'dedup.window', 'must be a duration such as 30s, 10m, 1h or 1d, got "soon"'],
    ['a window under a second', 'dedup: {key: id, window: 0s}\n', 3, 'dedup.window', 'must be from 1s to 366d, got "0s"'],
    ['a window over a year', 'dedup: {key: id, window: 400d}\n', 3, 'dedup.window', 'must be from 1s to 366d, got "400d"'],
    ['no window', 'dedup:\n  key: id\n', 4, 'dedup.window', 'is required: how long a key is remembered, a duration such as 30s, 10m, 1h or 1d'],
    ['no key', 'dedup:\n  window: 10m\n', 4, 'dedup.key', 'is required: the payload field (payload.id) or template that identifies an event'],
    ['a key that is no string', 'dedup:\n  key: [id]\n  window: 10m\n', 4, 'dedup.key', 'must be a string: a payload field such as payload.id, or a template such as "{{ event.payload.id }}"'],
    ['a bad field path', 'dedup:\n  key: payload..id\n  window: 10m\n', 4, 'dedup.key', expect.stringContaining('bad field path "payload..id": empty segment')],
    ['a template reading the pack config', 'dedup:\n  key: "{{ pack.config.token }}"\n  window: 10m\n', 4, 'dedup.key', expect.stringContaining('a dedup key reads event.payload.<field> (and event.trigger) only')],
    ['dedup that is no mapping', 'dedup: payload.id\n', 3, 'dedup', 'must be a mapping: {key: <payload field or template>, window: <duration such as 10m>}'],
  ])('refuses %s, naming file, line and key', async (_what, dedup, line, field, message) => {
    const dir = makePack('hooks', {'pack.yaml': PACK_YAML, 'triggers/push.yaml': trigger(dedup)})
    const {problems} = await readPack(dir)
    expect(problems).toEqual([{file: join(dir, 'triggers/push.yaml'), line, field, message}])
  })

  it('names an unknown key inside dedup with the closest known one', async () => {
    const dir = makePack('hooks', {'pack.yaml': PACK_YAML, 'triggers/push.yaml': trigger('dedup:\n  key: id\n  windw: 10m\n')})
    const {problems} = await readPack(dir)
    expect(problems).toContainEqual({file: join(dir, 'triggers/push.yaml'), line: 5, field: 'dedup.windw', message: 'unknown key "windw" (did you mean "window"?)'})
  })
})

describe.each(backends())('dedup settings registered on $name', (backend) => {
  const store = useMigratedStore(backend, {resetEach: true})

  it.skipIf(backend.skip)('stores them beside Attune’s trigger row, shows them, and reports their changes', async () => {
    const dir = makePack('hooks', {'pack.yaml': PACK_YAML, 'triggers/push.yaml': trigger('dedup: {key: delivery_id, window: 10m}\n'), 'triggers/plain.yaml': 'ref: hooks.plain\n'})
    const created = await registerPacks(store, [dir], {coreWhenEmpty: false})
    expect(created.items.filter((item) => item.kind === 'trigger').map((item) => item.status)).toEqual(['created', 'created'])
    const listed = await listTriggers(store, {pack: 'hooks'})
    expect(listed.map((row) => [row.ref, row.dedup])).toEqual([
      ['hooks.plain', null],
      ['hooks.push', {key: 'delivery_id', window: '10m', window_ms: 600_000}],
    ])
    expect((await getTrigger(store, 'hooks.push'))?.dedup).toEqual({key: 'delivery_id', window: '10m', window_ms: 600_000})
    // Attune's table is as Attune defines it: the setting lives in attune_sensor.
    const {rows} = await store.query<{dedup_key: string; dedup_window_ms: string}>('SELECT dedup_key, dedup_window_ms::text FROM attune_sensor.trigger_settings')
    expect(rows).toEqual([{dedup_key: 'delivery_id', dedup_window_ms: '600000'}])

    const unchanged = await registerPacks(store, [dir], {coreWhenEmpty: false})
    expect(unchanged.summary).toMatchObject({created: 0, updated: 0})

    writeFiles(dir, {'triggers/push.yaml': trigger('dedup: {key: delivery_id, window: 1h}\n')})
    const changed = await registerPacks(store, [dir], {coreWhenEmpty: false})
    expect(changed.items.find((item) => item.ref === 'hooks.push')).toMatchObject({status: 'updated', changed: ['dedup']})
    expect((await getTrigger(store, 'hooks.push'))?.dedup).toMatchObject({window: '1h', window_ms: 3_600_000})

    writeFiles(dir, {'triggers/push.yaml': trigger('')})
    const removed = await registerPacks(store, [dir], {coreWhenEmpty: false})
    expect(removed.items.find((item) => item.ref === 'hooks.push')).toMatchObject({status: 'updated', changed: ['dedup']})
    expect((await getTrigger(store, 'hooks.push'))?.dedup).toBeNull()
    expect((await store.query('SELECT * FROM attune_sensor.trigger_settings')).rows).toEqual([])
  })

  it.skipIf(backend.skip)('registers nothing from a pack with a bad dedup, and the settings go with a pruned trigger', async () => {
    const bad = makePack('hooks', {'pack.yaml': PACK_YAML, 'triggers/push.yaml': trigger('dedup: {key: id, window: forever}\n')})
    await expect(registerPacks(store, [bad], {coreWhenEmpty: false})).rejects.toBeInstanceOf(PackError)
    expect(await listTriggers(store)).toEqual([])

    const dir = makePack('hooks', {'pack.yaml': PACK_YAML, 'triggers/push.yaml': trigger('dedup: {key: id, window: 10m}\n')})
    await registerPacks(store, [dir], {coreWhenEmpty: false})
    writeFiles(dir, {'triggers/push.yaml': 'ref: hooks.other\n'})
    await registerPacks(store, [dir], {coreWhenEmpty: false, prune: true})
    expect((await store.query('SELECT * FROM attune_sensor.trigger_settings')).rows).toEqual([])
  })
})
