import {beforeEach, describe, expect, it} from 'vitest'
import {AbortError} from '../../src/engine/errors.js'
import {EventPipeline, RuleCache} from '../../src/engine/events/index.js'
import {backends, useMigratedStore} from '../store/backends.js'

const TRACE = '6f1c2c9e-3b1a-4f4e-9a55-0d7c9b1e2f3a'
import {countingStore, ensureAction, insertRule, insertSensor, insertTrigger, tableCounts} from './helpers.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

// The stored envelope, loosely typed for assertions.
type Message = {message_id: string; timestamp: string; payload: Record<string, unknown>} & Record<string, unknown>

const bigDisk = {all: [{field: 'payload.usage', operator: 'greater_or_equal', value: 90}]}

describe.each(backends())('event pipeline on $name', (backend) => {
  const store = useMigratedStore(backend, {resetEach: true})

  beforeEach(async () => {
    if (backend.skip) return
    await insertTrigger(store, 'demo.disk_full')
    await insertSensor(store, 'demo.disk', 'demo.disk_full')
  })

  it.skipIf(backend.skip)('stores a write retried under its idempotency key once, and answers the retry as the first', async () => {
    await insertRule(store, 'demo.page', 'demo.disk_full', bigDisk, {action: 'core.page'})
    const pipeline = new EventPipeline(store)
    const poll = {trigger: {ref: 'demo.disk_full'}, sensor: {ref: 'demo.disk'}, events: [{path: '/', usage: 95}]}
    const first = await pipeline.persist(poll, {idempotencyKey: 'poll:demo.disk:1'})
    // The COMMIT's answer was lost: the caller cannot know, and retries.
    const retry = await pipeline.persist(poll, {idempotencyKey: 'poll:demo.disk:1'})
    expect(first.replayed).toBeUndefined()
    expect(retry.replayed).toBe(true)
    expect(retry.events.map((event) => event.id)).toEqual(first.events.map((event) => event.id))
    expect(retry.enforcements.map((enforcement) => enforcement.id)).toEqual(first.enforcements.map((enforcement) => enforcement.id))
    expect(await tableCounts(store)).toMatchObject({event: 1, enforcement: 1})
    // Another key is another write.
    await pipeline.persist(poll, {idempotencyKey: 'poll:demo.disk:2'})
    expect(await tableCounts(store)).toMatchObject({event: 2, enforcement: 2})
  })

  it.skipIf(backend.skip)('stores events, enforcements and outbox rows with the SPEC envelope', async () => {
    const ruleId = await insertRule(store, 'demo.page', 'demo.disk_full', bigDisk, {action: 'core.page'})
    await insertRule(store, 'demo.never', 'demo.disk_full', {all: [{field: 'payload.usage', operator: 'less_than', value: 0}]})
    await insertRule(store, 'demo.off', 'demo.disk_full', {all: []}, {enabled: false})
    const pipeline = new EventPipeline(store)
    const result = await pipeline.persist({
      trigger: {ref: 'demo.disk_full'},
      sensor: {ref: 'demo.disk'},
      config: {path: '/', token: '********'},
      events: [{path: '/', usage: 95}, {path: '/var', usage: 40}],
      trace_id: TRACE,
    })
    expect(result.events).toHaveLength(2)
    expect(result.enforcements).toHaveLength(1)
    expect(result.messages).toBe(3)
    expect(result.events[0].enforcements.map((e) => e.rule_ref)).toEqual(['demo.page'])
    expect(result.events[1].enforcements).toEqual([])

    const events = (await store.query('SELECT e.*, t.ref AS t_ref, s.ref AS s_ref FROM attune.event e JOIN attune.trigger t ON t.id = e.trigger JOIN attune.sensor s ON s.id = e.source ORDER BY e.id')).rows
    expect(events.map((e) => [e.id, e.t_ref, e.s_ref, e.source_ref, e.config, e.payload])).toEqual([
      [result.events[0].id, 'demo.disk_full', 'demo.disk', 'demo.disk', {path: '/', token: '********'}, {path: '/', usage: 95}],
      [result.events[1].id, 'demo.disk_full', 'demo.disk', 'demo.disk', {path: '/', token: '********'}, {path: '/var', usage: 40}],
    ])
    const [enforcement] = (await store.query('SELECT * FROM attune.enforcement')).rows
    expect(enforcement).toMatchObject({
      id: result.enforcements[0].id,
      rule: ruleId,
      rule_ref: 'demo.page',
      trigger_ref: 'demo.disk_full',
      event: result.events[0].id,
      status: 'created',
      payload: {path: '/', usage: 95},
      condition: 'all',
      // The rule's conditions as stored, as Attune's executor copies them.
      conditions: bigDisk,
      config: {},
    })

    const outbox = (await store.query<{exchange: string; routing_key: string; message_id: string; message: Message; sent_at: Date | null}>(
      'SELECT * FROM attune_sensor.outbox ORDER BY id',
    )).rows
    expect(outbox.map((row) => [row.exchange, row.routing_key, row.sent_at])).toEqual([
      ['attune.events', 'event.created', null],
      ['attune.events', 'event.created', null],
      ['attune.executions', 'enforcement.created', null],
    ])
    const [first, , enforcementMessage] = outbox.map((row) => row.message)
    expect(Object.keys(first).sort()).toEqual(['correlation_id', 'headers', 'message_id', 'message_type', 'payload', 'timestamp', 'version'])
    expect(first).toMatchObject({
      message_id: result.events[0].message_id,
      correlation_id: result.events[0].message_id,
      message_type: 'EventCreated',
      version: '1.0',
      headers: {retry_count: 0, source_service: 'attune-sensor', trace_id: TRACE},
      payload: {
        event_id: result.events[0].id,
        trigger_id: events[0].trigger,
        trigger_ref: 'demo.disk_full',
        sensor_id: events[0].source,
        sensor_ref: 'demo.disk',
        payload: {path: '/', usage: 95},
        config: {path: '/', token: '********'},
      },
    })
    expect(first.message_id).toMatch(UUID)
    expect(new Date(first.timestamp).toISOString()).toBe(first.timestamp)
    expect(enforcementMessage).toMatchObject({
      message_id: result.enforcements[0].message_id,
      // An enforcement continues its event's chain.
      correlation_id: result.events[0].message_id,
      message_type: 'EnforcementCreated',
      payload: {
        enforcement_id: result.enforcements[0].id,
        rule_id: ruleId,
        rule_ref: 'demo.page',
        event_id: result.events[0].id,
        trigger_ref: 'demo.disk_full',
        payload: {path: '/', usage: 95},
      },
    })
    expect(Object.keys(enforcementMessage.payload).sort()).toEqual(['enforcement_id', 'event_id', 'payload', 'rule_id', 'rule_ref', 'trigger_ref'])
    expect(outbox.map((row) => row.message_id)).toEqual(outbox.map((row) => row.message.message_id))
  })

  it.skipIf(backend.skip)('writes any number of events in a constant number of round trips, rules compiled once', async () => {
    for (let i = 0; i < 10; i++) {
      await insertRule(store, `demo.r${i}`, 'demo.disk_full', {all: [{field: 'payload.n', operator: 'equals', value: i}]})
    }
    const counting = countingStore(store)
    const pipeline = new EventPipeline(counting.store)
    const polls = (count: number) =>
      [0, 1, 2].map((p) => ({trigger: {ref: 'demo.disk_full'}, sensor: {ref: 'demo.disk'}, events: Array.from({length: count}, (_, i) => ({n: (p * count + i) % 20}))}))

    const small = await pipeline.persist(polls(2))
    const firstRound = counting.count()
    expect(small.events).toHaveLength(6)
    expect(pipeline.rules.compilations).toBe(10)
    // Rule check + fetch of the new rules + event ids drawn for matching + one insert.
    expect(firstRound).toBe(4)

    counting.reset()
    const big = await pipeline.persist(polls(400))
    expect(counting.count()).toBe(3) // rule check + ids + insert: the rules came from the cache
    expect(pipeline.rules.compilations).toBe(10)
    expect(big.events).toHaveLength(1200)
    // n in 0..9 matches exactly one rule, 10..19 none.
    expect(big.enforcements).toHaveLength(600)
    for (const event of big.events) {
      const n = (event.poll * 400 + event.index) % 20
      expect(event.enforcements.map((e) => e.rule_ref)).toEqual(n < 10 ? [`demo.r${n}`] : [])
    }
    expect(await tableCounts(store)).toEqual({event: 1206, enforcement: 606, outbox: 1812})
    const {rows} = await store.query<{n: number}>('SELECT count(*)::int AS n FROM (SELECT rule, event FROM attune.enforcement GROUP BY 1, 2 HAVING count(*) > 1) d')
    expect(rows[0].n).toBe(0)
  })

  it.skipIf(backend.skip)('sees rule edits, disables, deletes and new rules at the next batch', async () => {
    const ruleId = await insertRule(store, 'demo.page', 'demo.disk_full', bigDisk)
    const pipeline = new EventPipeline(store)
    const poll = {trigger: {ref: 'demo.disk_full'}, events: [{usage: 80}]}
    expect((await pipeline.persist(poll)).enforcements).toHaveLength(0)

    await store.query('UPDATE attune.rule SET conditions = $1::jsonb WHERE id = $2', [
      JSON.stringify({all: [{field: 'payload.usage', operator: 'greater_than', value: 50}]}),
      ruleId,
    ])
    expect((await pipeline.persist(poll)).enforcements.map((e) => e.rule_ref)).toEqual(['demo.page'])

    await insertRule(store, 'demo.also', 'demo.disk_full', {all: []})
    expect((await pipeline.persist(poll)).enforcements.map((e) => e.rule_ref)).toEqual(['demo.page', 'demo.also'])

    await store.query('UPDATE attune.rule SET enabled = false WHERE id = $1', [ruleId])
    expect((await pipeline.persist(poll)).enforcements.map((e) => e.rule_ref)).toEqual(['demo.also'])

    await store.query("DELETE FROM attune.rule WHERE ref = 'demo.also'")
    expect((await pipeline.persist(poll)).enforcements).toEqual([])
    expect(pipeline.rules.compilations).toBe(3)
  })

  it.skipIf(backend.skip)('skips a stored rule that no longer compiles, with a warning, and stores the events', async () => {
    await insertRule(store, 'demo.broken', 'demo.disk_full', {all: [{field: 'payload.x', operator: 'frobnicates', value: 1}]})
    await insertRule(store, 'demo.ok', 'demo.disk_full', {all: []})
    const result = await new EventPipeline(store).persist({trigger: {ref: 'demo.disk_full'}, events: [{x: 1}]})
    expect(result.enforcements.map((e) => e.rule_ref)).toEqual(['demo.ok'])
    expect(result.warnings).toHaveLength(1)
    expect(result.warnings[0]).toMatch(/rule demo\.broken skipped: .*frobnicates/)
  })

  it.skipIf(backend.skip)('leaves nothing behind when the statement fails half-way', async () => {
    await insertRule(store, 'demo.all', 'demo.disk_full', {all: []})
    // The outbox is written last; make its insert fail for one message.
    await store.exec(`
      CREATE FUNCTION attune.test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.message->'payload'->'payload'->>'boom' = 'yes' THEN RAISE EXCEPTION 'refused by test'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_refuse BEFORE INSERT ON attune_sensor.outbox FOR EACH ROW EXECUTE FUNCTION attune.test_refuse();`)
    try {
      const pipeline = new EventPipeline(store)
      await expect(
        pipeline.persist([
          {trigger: {ref: 'demo.disk_full'}, events: [{n: 1}, {n: 2}]},
          {trigger: {ref: 'demo.disk_full'}, events: [{n: 3, boom: 'yes'}]},
        ]),
      ).rejects.toThrow(/refused by test/)
      expect(await tableCounts(store)).toEqual({event: 0, enforcement: 0, outbox: 0})
    } finally {
      await store.exec('DROP TRIGGER test_refuse ON attune_sensor.outbox; DROP FUNCTION attune.test_refuse();')
    }
  })

  it.skipIf(backend.skip)("commits or rolls back with the caller's transaction", async () => {
    await insertRule(store, 'demo.all', 'demo.disk_full', {all: []})
    const pipeline = new EventPipeline(store)
    await expect(
      store.transaction(async (tx) => {
        const result = await pipeline.persistIn(tx, [{trigger: {ref: 'demo.disk_full'}, events: [{n: 1}]}])
        expect(result.enforcements).toHaveLength(1)
        expect(await tableCounts(tx)).toEqual({event: 1, enforcement: 1, outbox: 2})
        throw new Error('caller gives up')
      }),
    ).rejects.toThrow('caller gives up')
    expect(await tableCounts(store)).toEqual({event: 0, enforcement: 0, outbox: 0})
  })

  it.skipIf(backend.skip)('refuses input it cannot store, naming the event, before writing anything', async () => {
    const pipeline = new EventPipeline(store)
    const attempt = (events: unknown[]) => pipeline.persist([{trigger: {ref: 'demo.disk_full'}, events: [{ok: 1}]}, {trigger: {ref: 'demo.disk_full'}, events}])
    await expect(attempt([{ok: 1}, 'text'])).rejects.toThrow('poll 1: event 1 must be a JSON object, got a string')
    await expect(attempt([{name: 'a\u0000b'}])).rejects.toThrow(/poll 1: event 0 contains a NUL character/)
    await expect(attempt([{name: 'half \ud800 pair'}])).rejects.toThrow(/poll 1: event 0 contains an unpaired UTF-16 surrogate/)
    await expect(attempt([{n: 10n}])).rejects.toThrow(/poll 1: event 0 cannot be stored as JSON/)
    await expect(pipeline.persist({trigger: {ref: 'nodots'}, events: [{}]})).rejects.toBeInstanceOf(AbortError)
    expect(await tableCounts(store)).toEqual({event: 0, enforcement: 0, outbox: 0})
    // A paired surrogate (an emoji) is fine.
    await pipeline.persist({trigger: {ref: 'demo.disk_full'}, events: [{name: 'ok 😀'}]})
    expect((await store.query('SELECT payload FROM attune.event')).rows[0].payload).toEqual({name: 'ok 😀'})
  })

  it.skipIf(backend.skip)('renders enforcement.config from the rule’s action_params, the event and the pack config', async () => {
    await store.query(`UPDATE attune.pack SET config = '{"channel": "#ops"}' WHERE ref = 'demo'`)
    const ruleId = await insertRule(store, 'demo.page', 'demo.disk_full', bigDisk, {
      actionParams: {message: 'disk {{ event.payload.path }} at {{ event.payload.usage }}%', usage: '{{ event.payload.usage }}', event: '{{ event.id }}', channel: '{{ pack.config.channel }}', rule: '{{ system.rule.ref }}'},
    })
    const result = await new EventPipeline(store).persist({trigger: {ref: 'demo.disk_full'}, events: [{path: '/', usage: 95}]})
    const [row] = (await store.query<{config: unknown; rule: number}>('SELECT config, rule FROM attune.enforcement')).rows
    expect(row).toEqual({rule: ruleId, config: {message: 'disk / at 95%', usage: 95, event: result.events[0].id, channel: '#ops', rule: 'demo.page'}})
  })

  it.skipIf(backend.skip)('gives no enforcement to a match whose config would carry a secret parameter, and says why', async () => {
    await ensureAction(store, 'demo.notify', {type: 'object', properties: {message: {type: 'string'}, token: {type: 'string', secret: true}}})
    await insertRule(store, 'demo.leaky', 'demo.disk_full', {all: []}, {action: 'demo.notify', actionParams: {message: 'hi', token: 'hunter2'}})
    await insertRule(store, 'demo.fine', 'demo.disk_full', {all: []}, {action: 'demo.notify', actionParams: {message: 'hi'}})
    const result = await new EventPipeline(store).persist({trigger: {ref: 'demo.disk_full'}, events: [{usage: 1}]})
    expect(result.enforcements.map((e) => e.rule_ref)).toEqual(['demo.fine'])
    expect(result.warnings).toEqual([expect.stringMatching(/demo\.leaky.*token/)])
    expect(JSON.stringify((await store.query('SELECT config FROM attune.enforcement')).rows)).not.toContain('hunter2')
  })

  it.skipIf(backend.skip)('with enforcements left to Attune’s executor, stores and announces events only', async () => {
    await insertRule(store, 'demo.page', 'demo.disk_full', bigDisk)
    const result = await new EventPipeline(store, {enforcements: 'executor'}).persist({trigger: {ref: 'demo.disk_full'}, events: [{path: '/', usage: 95}]})
    expect(result.enforcements).toEqual([])
    expect(await tableCounts(store)).toEqual({event: 1, enforcement: 0, outbox: 1})
    const [message] = (await store.query<{message: {message_type: string}}>('SELECT message FROM attune_sensor.outbox')).rows
    expect(message.message.message_type).toBe('EventCreated')
  })

  it.skipIf(backend.skip)('ties an event of one rule’s trigger instance to that rule (event.rule), as Attune’s timer events are', async () => {
    const ruleId = await insertRule(store, 'demo.page', 'demo.disk_full', {all: []})
    await new EventPipeline(store).persist({trigger: {ref: 'demo.disk_full'}, events: [{usage: 1}], rule_ids: [ruleId], rule_ref: 'demo.page'})
    const [event] = (await store.query<{rule: number; rule_ref: string}>('SELECT rule, rule_ref FROM attune.event')).rows
    expect(event).toEqual({rule: ruleId, rule_ref: 'demo.page'})
  })

  it.skipIf(backend.skip)('keeps one enforcement per rule and event', async () => {
    const ruleId = await insertRule(store, 'demo.all', 'demo.disk_full', {all: []})
    const result = await new EventPipeline(store).persist({trigger: {ref: 'demo.disk_full'}, events: [{n: 1}]})
    await expect(
      store.query(`INSERT INTO attune.enforcement (rule, rule_ref, trigger_ref, event, payload) VALUES ($1, $2, $3, $4, '{}')`, [
        ruleId,
        'demo.all',
        'demo.disk_full',
        result.events[0].id,
      ]),
    ).rejects.toThrow(/uq_enforcement_rule_event/)
  })

  it.skipIf(backend.skip)('previews the same decisions without writing, with traces on request', async () => {
    await insertRule(store, 'demo.page', 'demo.disk_full', bigDisk)
    const pipeline = new EventPipeline(store, {rules: new RuleCache()})
    const preview = await pipeline.preview(store, [{trigger: {ref: 'demo.disk_full'}, events: [{usage: 95}, {usage: 'high'}]}], {explain: true})
    expect(preview.events.map((e) => e.rules.map((r) => [r.rule_ref, r.matched]))).toEqual([[['demo.page', true]], [['demo.page', false]]])
    expect(preview.events[1].rules[0].trace?.children[0]).toMatchObject({field: 'payload.usage', result: false, reason: expect.stringMatching(/type mismatch/)})
    expect(await tableCounts(store)).toEqual({event: 0, enforcement: 0, outbox: 0})
  })
})

// Two sessions at once: PostgreSQL only (PGlite is one session).
const postgres = backends()[1]
describe.skipIf(postgres.skip)('idempotent writes on postgres', () => {
  const store = useMigratedStore(postgres, {resetEach: true})
  beforeEach(async () => {
    await insertTrigger(store, 'demo.disk_full')
    await insertSensor(store, 'demo.disk', 'demo.disk_full')
  })

  it.skipIf(postgres.skip)('makes a retry wait for a first attempt still open on the server, then answers as it did', async () => {
    const pipeline = new EventPipeline(store)
    const answer = {events: [{id: 41, poll: 0, index: 0, trigger_ref: 'demo.disk_full', message_id: 'm', enforcements: []}], enforcements: [], messages: 1, warnings: []}
    let commit: () => void = () => {}
    const first = store.transaction(async (tx) => {
      await tx.query('INSERT INTO attune_sensor.idempotency (key, result) VALUES ($1, $2::jsonb)', ['poll:demo.disk:open', JSON.stringify(answer)])
      await new Promise<void>((resolve) => (commit = resolve))
    })
    await new Promise((resolve) => setTimeout(resolve, 100))
    const retry = pipeline.persist({trigger: {ref: 'demo.disk_full'}, sensor: {ref: 'demo.disk'}, events: [{usage: 1}]}, {idempotencyKey: 'poll:demo.disk:open'})
    let settled = false
    void retry.finally(() => (settled = true))
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(settled).toBe(false) // waits on the key's row lock
    commit()
    await first
    const result = await retry
    expect(result.replayed).toBe(true)
    expect(result.events[0].id).toBe(41)
    expect(await tableCounts(store)).toMatchObject({event: 0, enforcement: 0})
  })
})
