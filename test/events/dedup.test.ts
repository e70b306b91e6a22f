import {beforeEach, describe, expect, it} from 'vitest'
import {compileDedupKey, dedupClaimKey, DedupKeyError} from '../../src/engine/events/dedup.js'
import {EventPipeline} from '../../src/engine/events/index.js'
import {claimKeys, idempotentTransaction, pruneIdempotencyKeys, type Queryable, type Store} from '../../src/engine/store/index.js'
import {backends, useMigratedStore} from '../store/backends.js'
import {countingStore, insertRule, insertSensor, insertTrigger, tableCounts} from './helpers.js'

/** A trigger's dedup setting, as `pack register` stores it. */
async function setDedup(q: Queryable, triggerRef: string, key: string, windowMs: number): Promise<void> {
  await q.query(
    `INSERT INTO attune_sensor.trigger_settings (trigger, dedup_key, dedup_window_ms)
     VALUES ((SELECT id FROM attune.trigger WHERE ref = $1), $2, $3)
     ON CONFLICT (trigger) DO UPDATE SET dedup_key = EXCLUDED.dedup_key, dedup_window_ms = EXCLUDED.dedup_window_ms`,
    [triggerRef, key, windowMs],
  )
}

const TEN_MINUTES = 600_000
const poll = (events: unknown[], trigger = 'demo.hook') => ({trigger: {ref: trigger}, sensor: {ref: 'demo.hooks'}, events})
const storedIds = async (q: Queryable) => (await q.query<{id: number}>('SELECT id FROM attune.event ORDER BY id')).rows.map((row) => Number(row.id))

describe('dedup keys', () => {
  it('reads a payload field as rule conditions address it, payload. optional', () => {
    for (const key of ['id', 'payload.id', 'event.payload.id']) expect(compileDedupKey(key)({id: 'a-1'}, 't.x')).toBe('a-1')
    expect(compileDedupKey("headers['X-Delivery']")({headers: {'X-Delivery': 'd7'}}, 't.x')).toBe('d7')
    expect(compileDedupKey('items[0].id')({items: [{id: 3}]}, 't.x')).toBe('3')
  })

  it('gives numbers, booleans and objects their template text; the same text is the same key', () => {
    const key = compileDedupKey('id')
    expect(key({id: 42}, 't.x')).toBe('42')
    expect(key({id: '42'}, 't.x')).toBe('42')
    expect(key({id: true}, 't.x')).toBe('true')
    expect(key({id: {b: 1, a: [2]}}, 't.x')).toBe('{"a":[2],"b":1}')
    expect(compileDedupKey('payload')({b: 1, a: 2}, 't.x')).toBe('{"a":2,"b":1}')
  })

  it('finds no key for a missing, null or empty field (such events are never deduplicated)', () => {
    const key = compileDedupKey('payload.id')
    for (const payload of [{}, {id: null}, {id: ''}, {other: 1}]) expect(key(payload, 't.x')).toBeUndefined()
  })

  it('renders a template over the payload (and the trigger ref); no key when a field it reads is missing', () => {
    const key = compileDedupKey('{{ event.payload.repo }}#{{ event.payload.n }}@{{ event.trigger }}')
    expect(key({repo: 'acme/api', n: 7}, 'gh.push')).toBe('acme/api#7@gh.push')
    expect(key({repo: 'acme/api'}, 'gh.push')).toBeUndefined()
    expect(compileDedupKey('{{ event.payload.id }}')({id: 12}, 'gh.push')).toBe('12')
  })

  it.each([
    ['', /is empty/],
    ['payload..id', /bad field path "payload\.\.id": empty segment/],
    ['{{ pack.config.token }}', /template \{\{ pack\.config\.token \}\} cannot be used: a dedup key reads event\.payload/],
    ['{{ event.id }}', /cannot be used/],
    ['{{ event.trigger }}', /reads no payload field/],
    ['{{ event.payload.id', /has no complete \{\{ \.\.\. \}\} template/],
  ])('refuses %j, saying why', (key, message) => {
    expect(() => compileDedupKey(key)).toThrow(DedupKeyError)
    expect(() => compileDedupKey(key)).toThrow(message)
  })

  it('claims dedup:<trigger>:<value>, hashing long values so any payload fits the key column', () => {
    expect(dedupClaimKey('gh.push', 'd-1')).toBe('dedup:gh.push:d-1')
    expect(dedupClaimKey('gh.push', 'x'.repeat(201))).toMatch(/^dedup:gh\.push:sha256:[0-9a-f]{64}$/)
    // A value that looks like a hash is hashed too: it can never equal another value's hash.
    expect(dedupClaimKey('gh.push', 'sha256:abc')).not.toBe('dedup:gh.push:sha256:abc')
  })
})

describe.each(backends())('event deduplication on $name', (backend) => {
  const store = useMigratedStore(backend, {resetEach: true})

  beforeEach(async () => {
    if (backend.skip) return
    await insertTrigger(store, 'demo.hook')
    await insertTrigger(store, 'demo.other')
    await insertSensor(store, 'demo.hooks', 'demo.hook')
    await setDedup(store, 'demo.hook', 'payload.delivery', TEN_MINUTES)
  })

  it.skipIf(backend.skip)('stores a duplicate within the window once, and answers it with the first event’s id', async () => {
    await insertRule(store, 'demo.all', 'demo.hook', {all: []})
    const pipeline = new EventPipeline(store)
    const first = await pipeline.persist(poll([{delivery: 'd-1', attempt: 1}]))
    expect(first).toMatchObject({duplicates: [], deduplicated: 0, messages: 2})
    expect(first.events[0].duplicate).toBeUndefined()

    const retry = await pipeline.persist(poll([{delivery: 'd-1', attempt: 2}]))
    expect(retry.deduplicated).toBe(1)
    expect(retry.duplicates).toEqual([{poll: 0, index: 0, trigger_ref: 'demo.hook', key: 'd-1', event_id: first.events[0].id}])
    expect(retry.events).toEqual([
      {id: first.events[0].id, poll: 0, index: 0, trigger_ref: 'demo.hook', message_id: first.events[0].message_id, enforcements: [], duplicate: true},
    ])
    // No event row, no enforcement, no message for the duplicate.
    expect(retry).toMatchObject({enforcements: [], messages: 0})
    expect(await tableCounts(store)).toEqual({event: 1, enforcement: 1, outbox: 2})
    expect((await store.query('SELECT payload FROM attune.event')).rows[0].payload).toEqual({delivery: 'd-1', attempt: 1})
    // Another pipeline (another daemon) sees the same key.
    const elsewhere = await new EventPipeline(store).persist(poll([{delivery: 'd-1', attempt: 3}]))
    expect(elsewhere.events[0]).toMatchObject({id: first.events[0].id, duplicate: true})
  })

  it.skipIf(backend.skip)('stores an event again once the window has passed since the first', async () => {
    await setDedup(store, 'demo.hook', 'delivery', 1000)
    const pipeline = new EventPipeline(store)
    const first = await pipeline.persist(poll([{delivery: 'd-1'}]))
    expect((await pipeline.persist(poll([{delivery: 'd-1'}]))).deduplicated).toBe(1)
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const later = await pipeline.persist(poll([{delivery: 'd-1'}]))
    expect(later.deduplicated).toBe(0)
    expect(later.events[0].id).not.toBe(first.events[0].id)
    // The window now runs from the second stored event.
    const again = await pipeline.persist(poll([{delivery: 'd-1'}]))
    expect(again.events[0]).toMatchObject({id: later.events[0].id, duplicate: true})
    expect(await storedIds(store)).toEqual([first.events[0].id, later.events[0].id])
  })

  it.skipIf(backend.skip)('stores every event without the key field (missing, null or empty)', async () => {
    const pipeline = new EventPipeline(store)
    const events = [{other: 1}, {delivery: null}, {delivery: ''}, {other: 1}]
    const result = await pipeline.persist(poll(events))
    const again = await pipeline.persist(poll(events))
    expect([result.deduplicated, again.deduplicated]).toEqual([0, 0])
    expect(await tableCounts(store)).toMatchObject({event: 8})
  })

  it.skipIf(backend.skip)('sorts out two keys in one batch: the first event of each key is stored, the others name it', async () => {
    await insertRule(store, 'demo.all', 'demo.hook', {all: []})
    const pipeline = new EventPipeline(store)
    const result = await pipeline.persist([
      poll([{delivery: 'a', n: 0}, {delivery: 'b', n: 1}, {delivery: 'a', n: 2}, {n: 3}]),
      poll([{delivery: 'b', n: 4}, {delivery: 'c', n: 5}]),
      poll([{delivery: 'a', n: 6}], 'demo.other'), // another trigger: no dedup, and keys are per trigger
    ])
    const ids = result.events.map((event) => event.id)
    expect(result.events.map((event) => [event.poll, event.index, event.duplicate ?? false])).toEqual([
      [0, 0, false],
      [0, 1, false],
      [0, 2, true],
      [0, 3, false],
      [1, 0, true],
      [1, 1, false],
      [2, 0, false],
    ])
    expect(ids[2]).toBe(ids[0])
    expect(ids[4]).toBe(ids[1])
    expect(result.duplicates).toEqual([
      {poll: 0, index: 2, trigger_ref: 'demo.hook', key: 'a', event_id: ids[0]},
      {poll: 1, index: 0, trigger_ref: 'demo.hook', key: 'b', event_id: ids[1]},
    ])
    expect(result.deduplicated).toBe(2)
    expect(result.enforcements.map((enforcement) => enforcement.event_id)).toEqual([ids[0], ids[1], ids[3], ids[5]])
    expect(await tableCounts(store)).toEqual({event: 5, enforcement: 4, outbox: 9})
    const payloads = (await store.query<{payload: {n: number}}>('SELECT payload FROM attune.event ORDER BY id')).rows.map((row) => row.payload.n)
    expect(payloads).toEqual([0, 1, 3, 5, 6])
  })

  it.skipIf(backend.skip)('takes a template key, and keys of different triggers never collide', async () => {
    await setDedup(store, 'demo.hook', '{{ event.payload.repo }}#{{ event.payload.n }}', TEN_MINUTES)
    await setDedup(store, 'demo.other', '{{ event.payload.repo }}#{{ event.payload.n }}', TEN_MINUTES)
    const pipeline = new EventPipeline(store)
    const result = await pipeline.persist([
      poll([{repo: 'acme/api', n: 1}, {repo: 'acme/api', n: '1'}, {repo: 'acme/web', n: 1}]),
      poll([{repo: 'acme/api', n: 1}], 'demo.other'),
    ])
    expect(result.events.map((event) => event.duplicate ?? false)).toEqual([false, true, false, false])
    expect(result.duplicates.map((d) => d.key)).toEqual(['acme/api#1'])
  })

  it.skipIf(backend.skip)('costs no round trip for triggers without dedup, and applies a setting registered meanwhile at the next batch', async () => {
    await insertRule(store, 'demo.all', 'demo.other', {all: []})
    const counting = countingStore(store)
    const pipeline = new EventPipeline(counting.store)
    await pipeline.persist(poll([{delivery: 'x'}], 'demo.other'))
    counting.reset()
    await pipeline.persist(poll([{delivery: 'x'}], 'demo.other'))
    // As before deduplication existed: rule check + event ids + insert.
    expect(counting.count()).toBe(3)
    expect(pipeline.dedup.loads).toBe(0)

    // Another process registers dedup for demo.other: the insert statement notices and the
    // batch is written again with the setting.
    await setDedup(store, 'demo.other', 'delivery', TEN_MINUTES)
    const first = await pipeline.persist(poll([{delivery: 'x'}], 'demo.other'))
    expect(first.deduplicated).toBe(0)
    expect(pipeline.dedup.loads).toBe(1)
    counting.reset()
    const second = await pipeline.persist(poll([{delivery: 'x'}], 'demo.other'))
    expect(second.events[0]).toMatchObject({id: first.events[0].id, duplicate: true})
    // Rule check + event ids + the claim + the first event's answer + insert; the setting came from the cache.
    expect(counting.count()).toBe(5)
    expect(pipeline.dedup.loads).toBe(1)

    // ... and a setting removed meanwhile stops deduplicating at the next batch.
    await store.query("DELETE FROM attune_sensor.trigger_settings WHERE trigger = (SELECT id FROM attune.trigger WHERE ref = 'demo.other')")
    expect((await pipeline.persist(poll([{delivery: 'x'}], 'demo.other'))).deduplicated).toBe(0)
    expect(await tableCounts(store)).toMatchObject({event: 4})
  })

  it.skipIf(backend.skip)('releases the keys of a write whose settings changed under it, and claims them again', async () => {
    const pipeline = new EventPipeline(store)
    await pipeline.persist(poll([{delivery: 'warm'}]))
    // The cached setting reads `delivery`; the stored one now reads `id`.
    await setDedup(store, 'demo.hook', 'id', TEN_MINUTES)
    const result = await pipeline.persist(poll([{delivery: 'd-9', id: 'i-1'}, {delivery: 'd-9', id: 'i-2'}]))
    expect(result.deduplicated).toBe(0)
    const keys = (await store.query<{key: string}>("SELECT key FROM attune_sensor.idempotency WHERE key LIKE 'dedup:%' ORDER BY key")).rows.map((row) => row.key)
    expect(keys).toEqual(['dedup:demo.hook:i-1', 'dedup:demo.hook:i-2', 'dedup:demo.hook:warm'])
  })

  it.skipIf(backend.skip)('claims keys with the caller’s transaction: rolled back, they are free again', async () => {
    const pipeline = new EventPipeline(store)
    await expect(
      store.transaction(async (tx) => {
        const result = await pipeline.persistIn(tx, [poll([{delivery: 'd-1'}])])
        expect(result.deduplicated).toBe(0)
        throw new Error('caller gives up')
      }),
    ).rejects.toThrow('caller gives up')
    const result = await pipeline.persist(poll([{delivery: 'd-1'}]))
    expect(result.deduplicated).toBe(0)
    expect(await tableCounts(store)).toMatchObject({event: 1})
  })

  it.skipIf(backend.skip)('answers a retried write under its idempotency key with the first answer, duplicates included', async () => {
    const pipeline = new EventPipeline(store)
    const stored = await pipeline.persist(poll([{delivery: 'd-1'}]))
    const first = await pipeline.persist(poll([{delivery: 'd-1'}, {delivery: 'd-2'}]), {idempotencyKey: 'poll:demo.hooks:1'})
    const retry = await pipeline.persist(poll([{delivery: 'd-1'}, {delivery: 'd-2'}]), {idempotencyKey: 'poll:demo.hooks:1'})
    expect(retry.replayed).toBe(true)
    expect(retry.duplicates).toEqual(first.duplicates)
    expect(retry.events.map((event) => event.id)).toEqual([stored.events[0].id, first.events[1].id])
    expect(await tableCounts(store)).toMatchObject({event: 2})
  })

  it.skipIf(backend.skip)('deduplicates when Attune’s executor creates the enforcements too', async () => {
    const pipeline = new EventPipeline(store, {enforcements: 'executor'})
    const first = await pipeline.persist(poll([{delivery: 'd-1'}, {delivery: 'd-1'}]))
    expect(first.events.map((event) => [event.id, event.duplicate ?? false])).toEqual([
      [first.events[0].id, false],
      [first.events[0].id, true],
    ])
    expect(await tableCounts(store)).toEqual({event: 1, enforcement: 0, outbox: 1})
  })

  it.skipIf(backend.skip)('previews which events would be dropped, without claiming anything', async () => {
    const pipeline = new EventPipeline(store)
    const stored = await pipeline.persist(poll([{delivery: 'd-1'}]))
    const preview = await pipeline.preview(store, [poll([{delivery: 'd-1'}, {delivery: 'd-2'}, {delivery: 'd-2'}, {other: 1}])])
    expect(preview.events.map((event) => event.dedup)).toEqual([
      {key: 'd-1', duplicate: true, event_id: stored.events[0].id},
      {key: 'd-2', duplicate: false},
      {key: 'd-2', duplicate: true},
      undefined,
    ])
    expect((await pipeline.persist(poll([{delivery: 'd-2'}]))).deduplicated).toBe(0)
  })

  it.skipIf(backend.skip)('warns about a stored key that does not compile, and stores the events', async () => {
    await setDedup(store, 'demo.hook', '{{ pack.config.x }}', TEN_MINUTES)
    const pipeline = new EventPipeline(store)
    const result = await pipeline.persist(poll([{delivery: 'd-1'}, {delivery: 'd-1'}]))
    expect(result.deduplicated).toBe(0)
    expect(result.warnings).toEqual([expect.stringMatching(/^trigger demo\.hook: dedup key "\{\{ pack\.config\.x \}\}" .*not deduplicated/)])
  })

  it.skipIf(backend.skip)('prunes dedup keys past their window and idempotency keys past a day, and keeps the others', async () => {
    await claimKeys(store, [
      {key: 'dedup:demo.hook:old', result: {event_id: 1}, ttlMs: 1},
      {key: 'dedup:demo.hook:live', result: {event_id: 2}, ttlMs: TEN_MINUTES},
      {key: 'poll:demo.hooks:recent', result: {}},
    ])
    await store.query("INSERT INTO attune_sensor.idempotency (key, result, created) VALUES ('poll:demo.hooks:old', '{}', now() - interval '25 hours')")
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(await pruneIdempotencyKeys(store)).toBe(2)
    const keys = (await store.query<{key: string}>('SELECT key FROM attune_sensor.idempotency ORDER BY key')).rows.map((row) => row.key)
    expect(keys).toEqual(['dedup:demo.hook:live', 'poll:demo.hooks:recent'])
  })

  it.skipIf(backend.skip)('lets an idempotent write take over its key once expired (one mechanism: key, first answer, expiry)', async () => {
    await store.query("INSERT INTO attune_sensor.idempotency (key, result, created) VALUES ('api:k', '{\"n\": 1}', now() - interval '25 hours')")
    const outcome = await idempotentTransaction(store, 'api:k', async () => ({n: 2}))
    expect(outcome).toEqual({result: {n: 2}, replayed: false})
    expect(await idempotentTransaction(store, 'api:k', async () => ({n: 3}))).toEqual({result: {n: 2}, replayed: true})
  })
})

// Two sessions at once: PostgreSQL only (PGlite is one session).
const postgres = backends()[1]
describe.skipIf(postgres.skip)('deduplication across concurrent transactions on postgres', () => {
  const store = useMigratedStore(postgres, {resetEach: true})
  beforeEach(async () => {
    await insertTrigger(store, 'demo.hook')
    await insertSensor(store, 'demo.hooks', 'demo.hook')
    await setDedup(store, 'demo.hook', 'delivery', TEN_MINUTES)
  })

  /** Runs a first write that holds its transaction open until `end` is called. */
  function openFirstWrite(s: Store, events: unknown[], outcome: 'commit' | 'rollback') {
    let end: () => void = () => {}
    let stored: Awaited<ReturnType<EventPipeline['persistIn']>> | undefined
    const wrote = new Promise<void>((resolve) => {
      void s
        .transaction(async (tx) => {
          stored = await new EventPipeline(s).persistIn(tx, [poll(events)])
          resolve()
          await new Promise<void>((release) => (end = release))
          if (outcome === 'rollback') throw new Error('first writer rolls back')
        })
        .catch(() => {})
    })
    return {wrote, end: () => end(), stored: () => stored!}
  }

  it.skipIf(postgres.skip)('makes a second writer of the same key wait for the first, then answers it with the first’s id', async () => {
    const first = openFirstWrite(store, [{delivery: 'd-1', from: 'first'}], 'commit')
    await first.wrote
    const second = new EventPipeline(store).persist(poll([{delivery: 'd-1', from: 'second'}]))
    let settled = false
    void second.finally(() => (settled = true))
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(settled).toBe(false) // waits on the key's row lock
    first.end()
    const result = await second
    expect(result.events[0]).toMatchObject({id: first.stored().events[0].id, duplicate: true})
    expect((await store.query('SELECT payload FROM attune.event')).rows.map((row) => row.payload)).toEqual([{delivery: 'd-1', from: 'first'}])
  })

  it.skipIf(postgres.skip)('stores the second writer’s event when the first rolls back', async () => {
    const first = openFirstWrite(store, [{delivery: 'd-1', from: 'first'}], 'rollback')
    await first.wrote
    const second = new EventPipeline(store).persist(poll([{delivery: 'd-1', from: 'second'}]))
    await new Promise((resolve) => setTimeout(resolve, 200))
    first.end()
    const result = await second
    expect(result.deduplicated).toBe(0)
    expect((await store.query('SELECT payload FROM attune.event')).rows.map((row) => row.payload)).toEqual([{delivery: 'd-1', from: 'second'}])
  })

  it.skipIf(postgres.skip)('stores one event when many writers (pipelines, as daemons) race on one key', async () => {
    const results = await Promise.all(
      Array.from({length: 8}, (_, i) => new EventPipeline(store).persist(poll([{delivery: 'race', writer: i}, {delivery: `own-${i}`}]))),
    )
    const stored = results.filter((result) => !result.events[0].duplicate)
    expect(stored).toHaveLength(1)
    const firstId = stored[0].events[0].id
    expect(results.every((result) => result.events[0].id === firstId)).toBe(true)
    expect(results.reduce((sum, result) => sum + result.deduplicated, 0)).toBe(7)
    expect(await tableCounts(store)).toMatchObject({event: 9})
  })

  it.skipIf(postgres.skip)('never deadlocks two writers claiming the same keys in opposite orders', async () => {
    const keys = Array.from({length: 50}, (_, i) => ({delivery: `k-${i}`}))
    const [a, b] = await Promise.all([new EventPipeline(store).persist(poll(keys)), new EventPipeline(store).persist(poll([...keys].reverse()))])
    expect(a.deduplicated + b.deduplicated).toBe(50)
    expect(await tableCounts(store)).toMatchObject({event: 50})
  })
})
