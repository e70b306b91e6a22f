import {beforeEach, describe, expect, it} from 'vitest'
import {
  LocalBus,
  OutboxRelay,
  pruneSentOutbox,
  publishRuleLifecycle,
  topicMatches,
  type Envelope,
  type PublishOptions,
  type PublishResult,
  type WireMessage,
} from '../../src/engine/bus/index.js'
import {EventPipeline} from '../../src/engine/events/index.js'
import {insertRule, insertTrigger} from '../events/helpers.js'
import type {Store} from '../../src/engine/store/index.js'
import {backends, useMigratedStore} from '../store/backends.js'

/** The in-process bus, refusing the messages whose ids are in `refuse` (a broker nacking them). */
class RefusingBus extends LocalBus {
  refuse = new Set<string>()
  override async publish(messages: readonly WireMessage[], options?: PublishOptions): Promise<PublishResult> {
    const result = await super.publish(messages.filter((m) => !this.refuse.has(m.message_id)), options)
    for (const m of messages) if (this.refuse.has(m.message_id)) result.failed.push({message_id: m.message_id, error: 'nacked by test'})
    return result
  }
}

function collect(bus: LocalBus, exchange = 'attune.events', pattern = '#'): Envelope[] {
  const got: Envelope[] = []
  bus.subscribe(exchange, pattern, (envelope) => {
    got.push(envelope)
  })
  return got
}

describe('topic patterns', () => {
  it('follows AMQP topic rules', () => {
    expect(topicMatches('event.*', 'event.created')).toBe(true)
    expect(topicMatches('*.created', 'enforcement.created')).toBe(true)
    expect(topicMatches('rule.*', 'rule.created.x')).toBe(false)
    expect(topicMatches('#', 'a.b.c')).toBe(true)
    expect(topicMatches('rule.#', 'rule')).toBe(true)
    expect(topicMatches('event.created', 'event.deleted')).toBe(false)
  })
})

describe.each(backends())('outbox relay on $name', (backend) => {
  const store = useMigratedStore(backend, {resetEach: true})
  let pipeline: EventPipeline

  beforeEach(async () => {
    if (backend.skip) return
    await insertTrigger(store, 'demo.tick')
    await insertRule(store, 'demo.all', 'demo.tick', {all: []})
    pipeline = new EventPipeline(store)
  })

  const produce = (n: number) => pipeline.persist({trigger: {ref: 'demo.tick'}, events: Array.from({length: n}, (_, i) => ({i}))})
  const unsent = async () => (await store.query<{n: number}>('SELECT count(*)::int AS n FROM attune_sensor.outbox WHERE sent_at IS NULL')).rows[0].n

  it.skipIf(backend.skip)('publishes every row in outbox order, marks it sent, and routes by exchange and key', async () => {
    const stored = await produce(3)
    const bus = new LocalBus()
    const events = collect(bus, 'attune.events', 'event.*')
    const executions = collect(bus, 'attune.executions', 'enforcement.created')
    const nothing = collect(bus, 'attune.events', 'enforcement.#')
    const relay = new OutboxRelay(store, bus, {batchSize: 2})
    expect(await relay.flush()).toEqual({sent: 6, pending: 0, error: null})
    expect(events.map((e) => e.message_id)).toEqual(stored.events.map((e) => e.message_id))
    expect(executions.map((e) => e.message_id)).toEqual(stored.enforcements.map((e) => e.message_id))
    expect(executions.map((e) => (e.payload as {event_id: number}).event_id)).toEqual(stored.events.map((e) => e.id))
    expect(nothing).toEqual([])
    expect(await unsent()).toBe(0)
    expect(await relay.flush()).toEqual({sent: 0, pending: 0, error: null})
    expect(relay.stats.sent).toBe(6)
  })

  it.skipIf(backend.skip)('keeps unconfirmed rows and republishes them with the same message_id and a retry count', async () => {
    const stored = await produce(2)
    const bus = new RefusingBus()
    const got = collect(bus, 'attune.events')
    const refused = stored.events[1].message_id
    bus.refuse.add(refused)
    const relay = new OutboxRelay(store, bus, {backoff: {initialMs: 10, maxMs: 20}})
    const first = await relay.flush({timeoutMs: 100})
    expect(first.error).toMatch(/1 of .* messages were not confirmed: nacked by test/)
    expect(first.pending).toBe(1)
    const {rows} = await store.query<{attempts: number; last_error: string; sent_at: Date | null}>(
      'SELECT attempts, last_error, sent_at FROM attune_sensor.outbox WHERE message_id = $1',
      [refused],
    )
    expect(rows[0].attempts).toBeGreaterThanOrEqual(1)
    expect(rows[0]).toMatchObject({last_error: 'nacked by test', sent_at: null})

    expect(relay.stats.last_error_source).toBe('broker')
    bus.refuse.clear()
    const second = await relay.flush()
    expect(second).toEqual({sent: 1, pending: 0, error: null})
    const retried = got.filter((e) => e.message_id === refused)
    expect(retried).toHaveLength(1)
    expect(retried[0].headers.retry_count).toBe(rows[0].attempts)
    expect(got.filter((e) => e.message_id !== refused).every((e) => e.headers.retry_count === 0)).toBe(true)
    expect(relay.stats).toMatchObject({last_error: null, last_error_source: null})
  })

  it.skipIf(backend.skip)('says a round that failed on the database failed on the database, not on the broker', async () => {
    await produce(1)
    const failing: Store = {...store, transaction: () => Promise.reject(new Error('connection terminated unexpectedly'))}
    const relay = new OutboxRelay(failing, new LocalBus(), {backoff: {initialMs: 10, maxMs: 20}})
    const result = await relay.flush({timeoutMs: 100})
    expect(result.error).toMatch(/connection terminated/)
    expect(relay.stats).toMatchObject({last_error: 'connection terminated unexpectedly', last_error_source: 'database'})
  })

  it.skipIf(backend.skip)('never hands a row to two relays at once', async () => {
    await produce(200)
    const bus = new LocalBus()
    const got = collect(bus, 'attune.events')
    const [a, b] = [new OutboxRelay(store, bus, {batchSize: 50}), new OutboxRelay(store, bus, {batchSize: 50})]
    const results = await Promise.all([a.flush(), b.flush()])
    expect(results[0].sent + results[1].sent).toBe(400)
    expect(got).toHaveLength(200)
    expect(new Set(got.map((e) => e.message_id)).size).toBe(200)
  })

  /** Another relay in the middle of a round: it holds one row's lock until its transaction ends (and dies). */
  async function anotherRelayHoldsARow() {
    const [busy] = (await produce(1)).events
    const bus = new LocalBus()
    const got = collect(bus, 'attune.events')
    const relay = new OutboxRelay(store, bus)
    let release: () => void = () => {}
    const released = new Promise<void>((resolve) => (release = resolve))
    let locked: () => void = () => {}
    const isLocked = new Promise<void>((resolve) => (locked = resolve))
    const other = store.transaction(async (tx) => {
      await tx.query('SELECT id FROM attune_sensor.outbox WHERE message_id = $1 FOR NO KEY UPDATE', [busy.message_id])
      locked()
      await released
      throw new Error('the other relay died')
    })
    await isLocked
    return {busy, got, relay, release, other}
  }

  // PGlite has one session, so there a second relay waits for the first instead of skipping its rows.
  if (backend.name === 'pglite') {
    it('waits for a transaction of another relay (one session on PGlite), then publishes its row once', async () => {
      const {busy, got, relay, release, other} = await anotherRelayHoldsARow()
      let done = false
      const flushing = relay.flush().then((result) => ((done = true), result))
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(done).toBe(false)
      expect(got).toEqual([])
      release()
      await expect(other).rejects.toThrow('the other relay died')
      expect(await flushing).toEqual({sent: 2, pending: 0, error: null})
      expect(got.map((e) => e.message_id)).toEqual([busy.message_id])
    })
  }
  if (backend.name === 'postgres') it.skipIf(backend.skip)('skips rows another relay is publishing, and takes them once it is gone', async () => {
    const {busy, got, relay, release, other} = await anotherRelayHoldsARow()
    expect(await relay.flush()).toEqual({sent: 1, pending: 1, error: null})
    expect(got).toEqual([])
    release()
    await expect(other).rejects.toThrow('the other relay died')
    expect(await relay.flush()).toEqual({sent: 1, pending: 0, error: null})
    expect(got.map((e) => e.message_id)).toEqual([busy.message_id])
  })

  it.skipIf(backend.skip)('runs in the background and wakes up when the pipeline commits', async () => {
    const bus = new LocalBus()
    const got = collect(bus, 'attune.executions')
    const relay = new OutboxRelay(store, bus, {idleMs: 60_000})
    const waking = new EventPipeline(store, {onCommitted: () => relay.notify()})
    relay.start()
    try {
      // Let the first (empty) round finish so the relay is idle for a minute.
      await new Promise((resolve) => setTimeout(resolve, 100))
      const started = Date.now()
      const stored = await waking.persist({trigger: {ref: 'demo.tick'}, events: [{i: 1}]})
      while (got.length === 0 && Date.now() - started < 5_000) await new Promise((resolve) => setTimeout(resolve, 10))
      expect(got.map((e) => e.message_id)).toEqual([stored.enforcements[0].message_id])
      expect(Date.now() - started).toBeLessThan(5_000)
    } finally {
      await relay.stop()
    }
  })

  it.skipIf(backend.skip)('keeps the outbox order on the wire with two rounds in flight', async () => {
    const bus = new LocalBus()
    const got = collect(bus, 'attune.executions')
    const relay = new OutboxRelay(store, bus, {batchSize: 7, idleMs: 5, concurrency: 2})
    const waking = new EventPipeline(store, {onCommitted: () => relay.notify()})
    relay.start()
    const expected: string[] = []
    try {
      for (let i = 0; i < 10; i++) {
        const stored = await waking.persist({trigger: {ref: 'demo.tick'}, events: Array.from({length: 10}, (_, n) => ({n}))})
        expected.push(...stored.enforcements.map((e) => e.message_id))
      }
      const deadline = Date.now() + 10_000
      while (got.length < expected.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    } finally {
      await relay.stop()
    }
    expect(got.map((e) => e.message_id)).toEqual(expected)
    expect(await unsent()).toBe(0)
  })

  it.skipIf(backend.skip)('publishes rule lifecycle messages with the change that causes them', async () => {
    const bus = new LocalBus()
    const got = collect(bus, 'attune.events', 'rule.*')
    const rule = {id: 7, ref: 'demo.all', trigger_ref: 'demo.tick', trigger_params: {unit: 'seconds'}, action_ref: 'core.echo', enabled: true}
    await store.transaction(async (tx) => {
      await tx.query('UPDATE attune.rule SET enabled = true')
      await publishRuleLifecycle(tx, [{kind: 'enabled', rule}])
    })
    await expect(
      store.transaction(async (tx) => {
        await publishRuleLifecycle(tx, [{kind: 'disabled', rule}])
        throw new Error('rolled back')
      }),
    ).rejects.toThrow('rolled back')
    await new OutboxRelay(store, bus).flush()
    expect(got).toHaveLength(1)
    expect(got[0]).toMatchObject({
      message_type: 'RuleEnabled',
      version: '1.0',
      payload: {rule_id: 7, rule_ref: 'demo.all', trigger_ref: 'demo.tick', trigger_params: {unit: 'seconds'}},
    })
  })

  it.skipIf(backend.skip)('prunes sent rows after their retention, never unsent ones', async () => {
    await produce(2)
    await new OutboxRelay(store, new LocalBus()).flush()
    await produce(1)
    await store.query("UPDATE attune_sensor.outbox SET sent_at = now() - interval '2 days' WHERE sent_at IS NOT NULL")
    expect(await pruneSentOutbox(store, 86_400_000)).toBe(4)
    expect(await unsent()).toBe(2)
    expect((await store.query<{n: number}>('SELECT count(*)::int AS n FROM attune_sensor.outbox')).rows[0].n).toBe(2)
  })
})
