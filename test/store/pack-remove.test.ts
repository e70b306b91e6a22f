import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {registerPacks, removePack} from '../../src/engine/packs/index.js'
import {AbortError} from '../../src/engine/errors.js'
import {backends, useMigratedStore} from './backends.js'
import {makePack, REPO, removeTempDirs} from './pack-files.js'

afterAll(removeTempDirs)

// Pack `lib` brings a runtime, a trigger and an action; pack `user` builds on all three: a
// sensor on lib's runtime emitting lib's trigger, a rule on lib's trigger running lib's action,
// an action on lib's runtime.
const LIB = {
  'pack.yaml': 'ref: lib\nversion: 1.0.0\n',
  'runtimes/sh.yaml': 'ref: lib.sh\nname: LibShell\ndistributions: {verification: {always_available: true}}\nexecution_config: {interpreter: {binary: sh}}\n',
  'triggers/tick.yaml': 'ref: lib.tick\n',
  'actions/act.yaml': 'ref: lib.act\nrunner_type: shell\nentry_point: act.sh\n',
  'actions/act.sh': '#!/bin/sh\n',
  'sensors/own.yaml': 'ref: lib.own\nrunner_type: shell\nentry_point: own.sh\ntrigger_types: [lib.tick]\n',
  'sensors/own.sh': '#!/bin/sh\necho \'{"events": []}\'\n',
  'rules/own.yaml': 'ref: lib.own_rule\ntrigger: {type: lib.tick}\naction: {ref: core.echo}\n',
}
const USER = {
  'pack.yaml': 'ref: user\nversion: 1.0.0\n',
  'sensors/s.yaml': 'ref: user.s\nrunner_type: lib.sh\nentry_point: s.sh\ntrigger_types: [user.t]\n',
  'sensors/s.sh': '#!/bin/sh\necho \'{"events": []}\'\n',
  'sensors/e.yaml': 'ref: user.e\nrunner_type: shell\nentry_point: s.sh\ntrigger_types: [lib.tick]\n',
  'triggers/t.yaml': 'ref: user.t\n',
  'rules/r.yaml': 'ref: user.r\ntrigger: {type: lib.tick}\naction: {ref: lib.act}\n---\nref: user.own\ntrigger: {type: user.t}\naction: {ref: user.a}\n',
  'actions/a.yaml': 'ref: user.a\nrunner_type: lib.sh\nentry_point: a.sh\n',
  'actions/a.sh': '#!/bin/sh\n',
}

for (const backend of backends()) {
  describe(`pack remove (${backend.name})`, () => {
    const store = useMigratedStore(backend, {
      setup: async (store) => {
        const report = await registerPacks(store, [join(REPO, 'packs', 'core'), makePack('lib', LIB), makePack('user', USER)])
        expect(report.items.filter((item) => item.status === 'skipped')).toEqual([])
      },
    })
    const refs = async (table: string, pack: string) =>
      (await store.query<{ref: string}>(`SELECT ref FROM attune."${table}" WHERE pack_ref = $1 ORDER BY ref`, [pack])).rows.map((row) => row.ref)

    it.skipIf(backend.skip)("refuses while other packs' rows use it, naming each", async () => {
      const refused = await removePack(store, 'lib').catch((error: unknown) => error)
      expect(refused).toBeInstanceOf(AbortError)
      expect((refused as AbortError).code).toBe('pack_in_use')
      const message = (refused as AbortError).message
      expect(message).toContain('action user.a (pack user) uses runtime lib.sh')
      expect(message).toContain('rule user.r (pack user) uses trigger lib.tick')
      expect(message).toContain('rule user.r (pack user) uses action lib.act')
      expect(message).toContain('sensor user.s (pack user) uses runtime lib.sh')
      expect(message).toContain('sensor user.e (pack user) uses trigger lib.tick')
      expect(await refs('sensor', 'lib')).toEqual(['lib.own'])
    })

    it.skipIf(backend.skip)('--dry-run --force reports everything and changes nothing', async () => {
      const report = await removePack(store, 'lib', {dryRun: true, force: true})
      expect(report.dry_run).toBe(true)
      expect(report.removed).toEqual({runtimes: ['lib.sh'], triggers: ['lib.tick'], sensors: ['lib.own'], actions: ['lib.act'], rules: ['lib.own_rule']})
      expect(report.dependents.map((item) => `${item.kind} ${item.ref}: ${item.with_force}`)).toEqual([
        'action user.a: runtime unset',
        'rule user.r: deleted',
        'rule user.r: deleted',
        'sensor user.e: deleted',
        'sensor user.s: deleted',
      ])
      expect(await refs('rule', 'user')).toEqual(['user.own', 'user.r'])
      expect(await refs('runtime', 'lib')).toEqual(['lib.sh'])
    })

    it.skipIf(backend.skip)("--force removes the pack and the other packs' rules and sensors that used it; their actions lose the runtime", async () => {
      const before = (await store.query<{n: number}>('SELECT count(*)::int AS n FROM attune_sensor.outbox')).rows[0].n
      const report = await removePack(store, 'lib', {force: true})
      expect(report.rule_messages).toBe(2) // lib.own_rule and user.r were enabled: announced as disabled
      expect((await store.query<{n: number}>('SELECT count(*)::int AS n FROM attune_sensor.outbox')).rows[0].n).toBe(before + 2)
      for (const table of ['runtime', 'trigger', 'sensor', 'action', 'rule']) expect(await refs(table, 'lib')).toEqual([])
      expect((await store.query('SELECT 1 FROM attune.pack WHERE ref = $1', ['lib'])).rows).toEqual([])
      expect(await refs('sensor', 'user')).toEqual([])
      expect(await refs('rule', 'user')).toEqual(['user.own'])
      const {rows} = await store.query<{ref: string; runtime: number | null}>("SELECT ref, runtime FROM attune.action WHERE pack_ref = 'user'")
      expect(rows).toEqual([{ref: 'user.a', runtime: null}])
      // Attune's settings rows went with their sensors.
      expect((await store.query('SELECT 1 FROM attune_sensor.sensor_settings st LEFT JOIN attune.sensor s ON s.id = st.sensor WHERE s.id IS NULL')).rows).toEqual([])
    })

    it.skipIf(backend.skip)('refuses core and an unknown pack', async () => {
      await expect(removePack(store, 'core')).rejects.toMatchObject({code: 'pack_protected'})
      await expect(removePack(store, 'usr')).rejects.toMatchObject({code: 'pack_not_found', message: "Unknown pack 'usr' (did you mean 'user'?)"})
    })
  })
}
