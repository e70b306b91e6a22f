/**
 * Retention (src/engine/store/retention.ts) on both backends: what goes by age and by count,
 * what is always kept (unsent outbox rows, unexpired keys, enforcements of kept events, rows
 * whose message is not yet published), and a dry run that counts exactly what a real run then
 * deletes while changing nothing.
 */
import {describe, expect, it} from 'vitest'
import {pruneStore, tableRowCounts, uniformLimits, type Store} from '../../src/engine/store/index.js'
import {backends, useMigratedStore} from './backends.js'

/** An event `ageSeconds` old; returns its id. */
async function event(store: Store, ageSeconds: number, trigger = 'rt.t'): Promise<number> {
  const {rows} = await store.query<{id: number}>(
    `INSERT INTO attune.event (trigger_ref, payload, created) VALUES ($1, '{}'::jsonb, now() - make_interval(secs => $2)) RETURNING id`,
    [trigger, ageSeconds],
  )
  return Number(rows[0].id)
}

async function enforcement(store: Store, eventId: number | null, ageSeconds: number): Promise<number> {
  const {rows} = await store.query<{id: number}>(
    `INSERT INTO attune.enforcement (rule_ref, trigger_ref, event, payload, created)
     VALUES ('rt.r', 'rt.t', $1, '{}'::jsonb, now() - make_interval(secs => $2)) RETURNING id`,
    [eventId, ageSeconds],
  )
  return Number(rows[0].id)
}

let messages = 0
/** An outbox row: sent `sentSecondsAgo` ago, or unsent (null), created `ageSeconds` ago. */
async function outbox(store: Store, sentSecondsAgo: number | null, ageSeconds: number, payload: Record<string, number> = {}): Promise<number> {
  const {rows} = await store.query<{id: number}>(
    `INSERT INTO attune_sensor.outbox (exchange, routing_key, message_id, message, sent_at, created)
     VALUES ('attune.events', 'event.created', $1, $2::jsonb,
             CASE WHEN $3::float8 IS NULL THEN NULL ELSE now() - make_interval(secs => $3::float8) END,
             now() - make_interval(secs => $4)) RETURNING id`,
    [`m-${++messages}`, JSON.stringify({payload}), sentSecondsAgo, ageSeconds],
  )
  return Number(rows[0].id)
}

async function key(store: Store, name: string, createdSecondsAgo: number, expiresInSeconds: number | null): Promise<void> {
  await store.query(
    `INSERT INTO attune_sensor.idempotency (key, result, created, expires)
     VALUES ($1, '{}'::jsonb, now() - make_interval(secs => $2),
             CASE WHEN $3::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $3::float8) END)`,
    [name, createdSecondsAgo, expiresInSeconds],
  )
}

async function ids(store: Store, table: string): Promise<number[]> {
  const {rows} = await store.query<{id: number}>(`SELECT id FROM ${table} ORDER BY id`)
  return rows.map((row) => Number(row.id))
}

async function keys(store: Store): Promise<string[]> {
  const {rows} = await store.query<{key: string}>('SELECT key FROM attune_sensor.idempotency ORDER BY key')
  return rows.map((row) => row.key)
}

const HOUR = 3600
const DAY = 86_400

describe.each(backends())('retention on $name', (backend) => {
  const store = useMigratedStore(backend, {resetEach: true})

  it.skipIf(backend.skip)('prunes by age: old events with their enforcements, old sent outbox rows, expired keys', async () => {
    const oldEvent = await event(store, 40 * DAY)
    const newEvent = await event(store, HOUR)
    const oldEnforcement = await enforcement(store, oldEvent, 40 * DAY)
    const newEnforcement = await enforcement(store, newEvent, HOUR)
    const oldSent = await outbox(store, 2 * DAY, 2 * DAY)
    const newSent = await outbox(store, 60, 60)
    const oldUnsent = await outbox(store, null, 90 * DAY)
    await key(store, 'idem-old', 2 * DAY, null) // an idempotent write's key: a day, then expired
    await key(store, 'idem-new', 60, null)
    await key(store, 'dedup:rt.t:expired', 60, -1)
    await key(store, 'dedup:rt.t:live', 40 * DAY, 3600) // old but its window is still open

    const result = await pruneStore(store, {events: {max_age_seconds: 30 * DAY}, enforcements: {max_age_seconds: 30 * DAY}, outbox: {max_age_seconds: DAY}})
    expect(result.pruned).toEqual({events: 1, enforcements: 1, outbox: 1, keys: 2})
    expect(result.complete).toBe(true)
    expect(await ids(store, 'attune.event')).toEqual([newEvent])
    expect(await ids(store, 'attune.enforcement')).toEqual([newEnforcement])
    expect(await ids(store, 'attune_sensor.outbox')).toEqual([newSent, oldUnsent])
    expect(await keys(store)).toEqual(['dedup:rt.t:live', 'idem-new'])
    expect(oldEnforcement).not.toBe(newEnforcement)
    expect(oldSent).not.toBe(newSent)
  })

  it.skipIf(backend.skip)('prunes by count: only the newest N of each table stay, in batches', async () => {
    const events: number[] = []
    for (let i = 0; i < 7; i++) events.push(await event(store, (10 - i) * 60))
    const sent: number[] = []
    for (let i = 0; i < 5; i++) sent.push(await outbox(store, (10 - i) * 60, (10 - i) * 60))
    const unsent = await outbox(store, null, 3600)

    // Batches of 2 rows: several statements per table, the same outcome.
    const result = await pruneStore(store, uniformLimits({max_rows: 3}), {batchSize: 2})
    expect(result.pruned).toMatchObject({events: 4, outbox: 2})
    expect(await ids(store, 'attune.event')).toEqual(events.slice(4))
    expect(await ids(store, 'attune_sensor.outbox')).toEqual([...sent.slice(2), unsent])

    // Age or count, whichever prunes more: max_rows 3 keeps 3, the age (5.5 min) keeps the two newest.
    const both = await pruneStore(store, uniformLimits({max_rows: 3, max_age_seconds: 330}))
    expect(both.pruned.events).toBe(1)
    expect(await ids(store, 'attune.event')).toEqual(events.slice(5))
  })

  it.skipIf(backend.skip)('keeps an enforcement while its event is kept, and prunes it once the event is gone', async () => {
    const keptEvent = await event(store, HOUR)
    const oldEnforcementOfKeptEvent = await enforcement(store, keptEvent, 40 * DAY)
    const orphan = await enforcement(store, 999_999, 40 * DAY) // its event was pruned long ago
    const noEvent = await enforcement(store, null, 40 * DAY)
    const oldEvent = await event(store, 40 * DAY)
    const enforcementOfOldEvent = await enforcement(store, oldEvent, 40 * DAY)

    const limits = {events: {max_age_seconds: 30 * DAY}, enforcements: {max_age_seconds: 30 * DAY}, outbox: {}}
    const result = await pruneStore(store, limits)
    expect(result.pruned).toMatchObject({events: 1, enforcements: 3})
    expect(await ids(store, 'attune.enforcement')).toEqual([oldEnforcementOfKeptEvent])
    expect(await ids(store, 'attune.event')).toEqual([keptEvent])
    expect([orphan, noEvent, enforcementOfOldEvent]).toHaveLength(3)
  })

  it.skipIf(backend.skip)('keeps events and enforcements whose message is not yet published', async () => {
    const pendingEvent = await event(store, 40 * DAY)
    const pendingEnforcement = await enforcement(store, null, 40 * DAY)
    const publishedEvent = await event(store, 40 * DAY)
    await outbox(store, null, 40 * DAY, {event_id: pendingEvent})
    await outbox(store, null, 40 * DAY, {enforcement_id: pendingEnforcement, event_id: 424_242})
    await outbox(store, 40 * DAY, 40 * DAY, {event_id: publishedEvent})

    const result = await pruneStore(store, uniformLimits({max_age_seconds: HOUR}))
    expect(result.pruned).toMatchObject({events: 1, enforcements: 0, outbox: 1})
    expect(await ids(store, 'attune.event')).toEqual([pendingEvent])
    expect(await ids(store, 'attune.enforcement')).toEqual([pendingEnforcement])
  })

  it.skipIf(backend.skip)('a dry run counts exactly what a real run deletes, and changes nothing', async () => {
    const oldEvent = await event(store, 2 * DAY)
    await enforcement(store, oldEvent, 2 * DAY)
    await event(store, 60)
    await outbox(store, 2 * DAY, 2 * DAY)
    await outbox(store, null, 2 * DAY)
    await key(store, 'dedup:rt.t:gone', 10, -5)
    const before = await tableRowCounts(store)
    expect(before).toEqual({'attune.event': 2, 'attune.enforcement': 1, 'attune_sensor.outbox': 2, 'attune_sensor.idempotency': 1})

    const dry = await pruneStore(store, uniformLimits({max_age_seconds: DAY}), {dryRun: true})
    expect(dry.dry_run).toBe(true)
    expect(dry.pruned).toEqual({events: 1, enforcements: 1, outbox: 1, keys: 1})
    expect(await tableRowCounts(store)).toEqual(before)

    const real = await pruneStore(store, uniformLimits({max_age_seconds: DAY}))
    expect(real.pruned).toEqual(dry.pruned)
    expect(await tableRowCounts(store)).toEqual({'attune.event': 1, 'attune.enforcement': 0, 'attune_sensor.outbox': 1, 'attune_sensor.idempotency': 0})
  })

  it.skipIf(backend.skip)('without limits it prunes only expired keys; shouldStop cuts a prune short', async () => {
    await event(store, 400 * DAY)
    await outbox(store, 400 * DAY, 400 * DAY)
    await key(store, 'idem-old', 2 * DAY, null)
    const none = await pruneStore(store, {events: {max_age_seconds: null}, enforcements: {}, outbox: {max_rows: null}})
    expect(none.pruned).toEqual({events: 0, enforcements: 0, outbox: 0, keys: 1})

    const stopped = await pruneStore(store, uniformLimits({max_age_seconds: 1}), {shouldStop: () => true})
    expect(stopped.complete).toBe(false)
    expect(stopped.pruned).toEqual({events: 0, enforcements: 0, outbox: 0, keys: 0})
    expect(await ids(store, 'attune.event')).toHaveLength(1)
  })
})
