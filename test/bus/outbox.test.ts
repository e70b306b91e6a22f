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
import {checkAttuneMessage} from '../support/attune-messages.js'

/**
 * The in-process bus that delivers every message and then never returns: the relay's process
 * "dies" after the messages went out and before it could mark them sent.
 */
class DyingBus extends LocalBus {
  delivered = 0
  override async publish(messages: readonly WireMessage[], options?: PublishOptions): Promise<PublishResult> {
    await super.publish(messages, options)
    this.delivered += messages.length
    return new Promise<PublishResult>(() => {})
  }
}

/** Waits until `check()` holds (polling), failing after `timeoutMs`. */
async function until(check: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

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

  /** A message as received on the bus, with what the row says of it. */
  const outboxRow = async (messageId: string) =>
    (
      await store.query<{attempts: number; sent_at: Date | null; claimed_by: string | null; claimed_until: Date | null}>(
        'SELECT attempts, sent_at, claimed_by, claimed_until FROM attune_sensor.outbox WHERE message_id = $1',
        [messageId],
      )
    ).rows[0]

  it.skipIf(backend.skip)('counts a publish before it happens: a relay that dies before marking its rows sent leaves them to go out again with retry_count 1, then 2', async () => {
    const stored = await produce(1)
    const ids = [stored.events[0].message_id, stored.enforcements[0].message_id]
    const received: Array<{exchange: string; routing_key: string; envelope: Envelope}> = []
    const listen = (bus: LocalBus) => {
      for (const exchange of ['attune.events', 'attune.executions']) bus.subscribe(exchange, '#', (envelope, route) => void received.push({...route, envelope}))
    }
    const retryCounts = () => received.map((m) => [m.envelope.message_id, m.envelope.headers.retry_count])

    // The first relay publishes (a first publish says 0) and "dies" before marking.
    const first = new DyingBus()
    listen(first)
    void new OutboxRelay(store, first, {claimMs: 1_500}).relayBatch()
    await until(() => received.length === 2, 15_000, 'the first publish')
    expect(retryCounts()).toEqual(ids.map((id) => [id, 0]))
    expect(await outboxRow(ids[0])).toMatchObject({attempts: 1, sent_at: null})

    // While its claim runs, another relay leaves the rows alone.
    const second = new DyingBus()
    listen(second)
    const relay2 = new OutboxRelay(store, second, {claimMs: 1_500})
    expect(await relay2.flush({timeoutMs: 0})).toEqual({sent: 0, pending: 2, error: null})
    expect(received).toHaveLength(2)

    // Once it has run out, the rows go out again, counted: retry_count 1 (and that relay dies too).
    await until(async () => (void relay2.relayBatch(), received.length === 4), 15_000, 'the second publish')
    expect(retryCounts().slice(2)).toEqual(ids.map((id) => [id, 1]))
    expect(await outboxRow(ids[0])).toMatchObject({attempts: 2, sent_at: null, claimed_by: relay2.claimer})

    // A healthy relay, after that claim ran out too: retry_count 2, marked sent, nothing left.
    const last = new LocalBus()
    listen(last)
    const relay3 = new OutboxRelay(store, last)
    let flushed = 0
    await until(async () => ((flushed += (await relay3.flush({timeoutMs: 0})).sent), flushed === 2), 15_000, 'the third publish')
    expect(retryCounts().slice(4)).toEqual(ids.map((id) => [id, 2]))
    expect(await outboxRow(ids[0])).toMatchObject({attempts: 3, claimed_until: null})
    expect((await outboxRow(ids[0])).sent_at).toBeInstanceOf(Date)
    expect(await unsent()).toBe(0)
    // What went out again is still a message Attune's consumers take.
    for (const m of received) expect(checkAttuneMessage(m.exchange, m.routing_key, m.envelope)).toEqual([])
  })

  it.skipIf(backend.skip)('publishes a message again with retry_count 1 when the write of sent_at failed', async () => {
    const stored = await produce(1)
    const bus = new LocalBus()
    const got = collect(bus, 'attune.events')
    // The database fails exactly the statement that marks rows sent.
    const failMark: Store = new Proxy(store, {
      get(target, key) {
        if (key !== 'query') return Reflect.get(target, key)
        return (sql: string, params?: readonly unknown[]) =>
          sql.includes('SET sent_at') ? Promise.reject(new Error('connection terminated unexpectedly')) : target.query(sql, params)
      },
    })
    const broken = new OutboxRelay(failMark, bus, {claimMs: 500, backoff: {initialMs: 10, maxMs: 20}})
    const result = await broken.flush({timeoutMs: 0})
    expect(result).toMatchObject({sent: 0, pending: 2, error: 'connection terminated unexpectedly'})
    expect(broken.stats.last_error_source).toBe('database')
    expect(got.map((e) => [e.message_id, e.headers.retry_count])).toEqual([[stored.events[0].message_id, 0]])

    const relay = new OutboxRelay(store, bus)
    let sent = 0
    await until(async () => ((sent += (await relay.flush({timeoutMs: 0})).sent), sent === 2), 15_000, 'the claim to run out')
    expect(got.map((e) => [e.message_id, e.headers.retry_count])).toEqual([
      [stored.events[0].message_id, 0],
      [stored.events[0].message_id, 1],
    ])
    expect(await unsent()).toBe(0)
  })

  it.skipIf(backend.skip)('says a round that failed on the database failed on the database, not on the broker', async () => {
    await produce(1)
    const fail = () => Promise.reject(new Error('connection terminated unexpectedly'))
    const failing: Store = {kind: store.kind, location: store.location, query: fail, exec: fail, transaction: fail, close: () => Promise.resolve()}
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
