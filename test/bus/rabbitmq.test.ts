/**
 * The outbox relay against a real RabbitMQ node and a real PostgreSQL: what a consumer bound to
 * both exchanges receives, and that a broker outage while events are produced loses nothing.
 */
import {connect, type Channel, type ChannelModel, type ConsumeMessage} from 'amqplib'
import {spawn} from 'node:child_process'
import {fileURLToPath} from 'node:url'
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import {AmqpBus, BusUnavailableError, OutboxRelay, pendingOutboxCount, toWireMessage} from '../../src/engine/bus/index.js'
import {AbortError} from '../../src/engine/errors.js'
import {EventPipeline} from '../../src/engine/events/index.js'
import {openStore, type Store} from '../../src/engine/store/index.js'
import {insertRule, insertSensor, insertTrigger} from '../events/helpers.js'
import {resetData} from '../store/backends.js'
import {postgresSkipReason, startPostgres, type PostgresServer} from '../support/postgres.js'

const TRACE = '6f1c2c9e-3b1a-4f4e-9a55-0d7c9b1e2f3a'
import {rabbitmqSkipReason, startRabbitMQ, type RabbitServer} from '../support/rabbitmq.js'
import {checkAttuneMessage} from '../support/attune-messages.js'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const DYING_RELAY = fileURLToPath(new URL('./helpers/dying-relay.ts', import.meta.url))

/** Runs the dying relay (a process of its own) until RabbitMQ confirmed its batch, then SIGKILLs it. */
async function publishAndDie(databaseUrl: string, amqpUrl: string): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', DYING_RELAY, databaseUrl, amqpUrl], {cwd: REPO, stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (chunk) => (stderr += chunk))
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  const published = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      stdout += chunk
      const match = /published (\d+)/.exec(stdout)
      if (match) resolve(Number(match[1]))
    })
    child.once('close', (code) => reject(new Error(`the relay process exited (${code}) before publishing: ${stderr}`)))
  })
  child.kill('SIGKILL')
  await exited
  return published
}

const skip = rabbitmqSkipReason() ?? postgresSkipReason()

describe.skipIf(skip)('outbox relay with RabbitMQ and PostgreSQL', () => {
  let rabbit: RabbitServer
  let postgres: PostgresServer
  let store: Store
  let databaseUrl: string
  let consumer: ChannelModel
  let channel: Channel

  beforeAll(async () => {
    ;[rabbit, postgres] = await Promise.all([startRabbitMQ(), startPostgres()])
    databaseUrl = await postgres.createDatabase('attune_bus')
    store = await openStore({databaseUrl, migrate: true})
  })
  afterAll(async () => {
    await consumer?.close().catch(() => {})
    await store?.close()
    await Promise.all([rabbit?.destroy(), postgres?.stop()])
  })
  beforeEach(async () => {
    await resetData(store)
    await insertTrigger(store, 'demo.disk_full')
    await insertSensor(store, 'demo.disk', 'demo.disk_full')
    await insertRule(store, 'demo.page', 'demo.disk_full', {all: [{field: 'payload.usage', operator: 'greater_than', value: 90}]})
  })

  /** A durable queue bound to every key of both exchanges (declared as the executor would). */
  async function bindQueue(name: string): Promise<void> {
    const setup = await connect(rabbit.url)
    const ch = await setup.createChannel()
    for (const exchange of ['attune.events', 'attune.executions']) await ch.assertExchange(exchange, 'topic', {durable: true})
    await ch.assertQueue(name, {durable: true})
    await ch.purgeQueue(name)
    await ch.bindQueue(name, 'attune.events', '#')
    await ch.bindQueue(name, 'attune.executions', '#')
    await setup.close()
  }

  /** Everything in the queue now (waits until `expected` arrived or `timeoutMs` passed). */
  async function drain(name: string, expected: number, timeoutMs = 15_000): Promise<ConsumeMessage[]> {
    consumer = await connect(rabbit.url)
    channel = await consumer.createChannel()
    const got: ConsumeMessage[] = []
    await channel.consume(name, (message) => message && got.push(message), {noAck: true})
    const deadline = Date.now() + timeoutMs
    while (got.length < expected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    // A moment more: anything beyond `expected` would be a duplicate, which we want to see.
    await new Promise((resolve) => setTimeout(resolve, 200))
    await consumer.close()
    return got
  }

  it('delivers event.created and enforcement.created with the SPEC envelope, persistent, confirmed', async () => {
    await bindQueue('attune_test_envelope')
    const pipeline = new EventPipeline(store)
    const stored = await pipeline.persist({
      trigger: {ref: 'demo.disk_full'},
      sensor: {ref: 'demo.disk'},
      config: {path: '/'},
      events: [{path: '/', usage: 95}, {path: '/tmp', usage: 10}],
      trace_id: TRACE,
    })
    const bus = new AmqpBus(rabbit.url)
    try {
      expect(await new OutboxRelay(store, bus).flush()).toEqual({sent: 3, pending: 0, error: null})
    } finally {
      await bus.close()
    }
    const got = await drain('attune_test_envelope', 3)
    expect(got.map((m) => [m.fields.exchange, m.fields.routingKey])).toEqual([
      ['attune.events', 'event.created'],
      ['attune.events', 'event.created'],
      ['attune.executions', 'enforcement.created'],
    ])
    for (const message of got) {
      expect(message.properties).toMatchObject({deliveryMode: 2, contentType: 'application/json', type: message.fields.routingKey === 'event.created' ? 'EventCreated' : 'EnforcementCreated'})
      const envelope = JSON.parse(message.content.toString('utf8'))
      expect(Object.keys(envelope).sort()).toEqual(['correlation_id', 'headers', 'message_id', 'message_type', 'payload', 'timestamp', 'version'])
      expect(envelope).toMatchObject({message_type: message.fields.routingKey === 'event.created' ? 'EventCreated' : 'EnforcementCreated', version: '1.0', headers: {retry_count: 0, source_service: 'attune-sensor', trace_id: TRACE}})
      expect(message.properties.messageId).toBe(envelope.message_id)
      expect(message.properties.correlationId).toBe(envelope.correlation_id)
    }
    const [event, , enforcement] = got.map((m) => JSON.parse(m.content.toString('utf8')))
    const [eventRow] = (await store.query('SELECT * FROM attune.event WHERE id = $1', [stored.events[0].id])).rows
    expect(event.payload).toEqual({
      event_id: stored.events[0].id,
      trigger_id: eventRow.trigger,
      trigger_ref: 'demo.disk_full',
      sensor_id: eventRow.source,
      sensor_ref: 'demo.disk',
      payload: {path: '/', usage: 95},
      config: {path: '/'},
    })
    expect(enforcement.payload).toEqual({
      enforcement_id: stored.enforcements[0].id,
      rule_id: stored.enforcements[0].rule_id,
      rule_ref: 'demo.page',
      event_id: stored.events[0].id,
      trigger_ref: 'demo.disk_full',
      payload: {path: '/', usage: 95},
    })
    expect(enforcement.correlation_id).toBe(event.message_id)
  })

  it('loses nothing when the broker stops while events are produced, and reconnects when it is back', async () => {
    await bindQueue('attune_test_outage')
    const bus = new AmqpBus(rabbit.url, {connectTimeoutMs: 1_000})
    const disconnects: unknown[] = []
    bus.on('disconnected', (error) => disconnects.push(error))
    const failures: string[] = []
    const relay = new OutboxRelay(store, bus, {idleMs: 50, batchSize: 100, backoff: {initialMs: 50, maxMs: 400}, onError: (error) => failures.push(error.message)})
    const pipeline = new EventPipeline(store, {onCommitted: () => relay.notify()})
    relay.start()
    let produced = 0
    let producing = true
    const producer = (async () => {
      while (producing) {
        await pipeline.persist({trigger: {ref: 'demo.disk_full'}, events: Array.from({length: 10}, (_, i) => ({usage: 85 + i, n: produced + i}))})
        produced += 10
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })()
    try {
      await new Promise((resolve) => setTimeout(resolve, 500))
      await rabbit.stop()
      const pendingWhileDown = await pendingOutboxCount(store)
      await new Promise((resolve) => setTimeout(resolve, 700))
      expect(await pendingOutboxCount(store)).toBeGreaterThan(pendingWhileDown) // still producing, not publishing
      await rabbit.start()
      await new Promise((resolve) => setTimeout(resolve, 500))
    } finally {
      producing = false
      await producer
    }
    const deadline = Date.now() + 20_000
    while ((await pendingOutboxCount(store)) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    await relay.stop()
    await bus.close()
    expect(await pendingOutboxCount(store)).toBe(0)
    expect(disconnects.length).toBeGreaterThanOrEqual(1)
    expect(failures.some((message) => /Cannot connect to RabbitMQ/.test(message))).toBe(true)

    const {rows} = await store.query<{message_id: string}>('SELECT message_id FROM attune_sensor.outbox')
    // Every event is enforced by demo.page when usage > 90: 4 of every 10.
    expect(rows.length).toBe(produced + (produced / 10) * 4)
    const got = await drain('attune_test_outage', rows.length)
    const received = new Set(got.map((m) => m.properties.messageId as string))
    const missing = rows.filter((row) => !received.has(row.message_id))
    expect(missing).toEqual([])
    // At-least-once: duplicates are allowed (each carries the same message_id), losses are not.
    expect(got.length).toBeGreaterThanOrEqual(rows.length)
  })

  it('republishes what a killed relay process published but never marked sent: same message_id, retry_count 1, then 2', async () => {
    await bindQueue('attune_test_killed')
    const stored = await new EventPipeline(store).persist({trigger: {ref: 'demo.disk_full'}, events: [{usage: 95}], trace_id: TRACE})
    const ids = [stored.events[0].message_id, stored.enforcements[0].message_id]
    // Twice a relay process publishes the batch, RabbitMQ confirms it, and the process is killed
    // before it marks the rows sent. The second one (started at once: the first one's process is
    // gone, so its claim does not wait to run out) publishes them again, counted.
    expect(await publishAndDie(databaseUrl, rabbit.url)).toBe(2)
    expect(await publishAndDie(databaseUrl, rabbit.url)).toBe(2)
    expect(await pendingOutboxCount(store)).toBe(2)
    // A healthy relay finishes the job.
    const bus = new AmqpBus(rabbit.url)
    try {
      expect(await new OutboxRelay(store, bus).flush()).toEqual({sent: 2, pending: 0, error: null})
    } finally {
      await bus.close()
    }
    const got = await drain('attune_test_killed', 6)
    const seen = got.map((m) => {
      const envelope = JSON.parse(m.content.toString('utf8'))
      expect(checkAttuneMessage(m.fields.exchange, m.fields.routingKey, m.content)).toEqual([])
      expect(m.properties.messageId).toBe(envelope.message_id)
      return [envelope.message_id, envelope.headers.retry_count]
    })
    expect(seen).toEqual([
      [ids[0], 0],
      [ids[1], 0],
      [ids[0], 1],
      [ids[1], 1],
      [ids[0], 2],
      [ids[1], 2],
    ])
    const {rows} = await store.query<{attempts: number}>('SELECT attempts FROM attune_sensor.outbox ORDER BY id')
    expect(rows.map((row) => row.attempts)).toEqual([3, 3])
  })

  it('reports an unreachable broker as such, and an invalid URL as bad input', async () => {
    expect(() => new AmqpBus('http://localhost:5672')).toThrow(AbortError)
    expect(() => new AmqpBus('not a url')).toThrow(/Invalid AMQP URL/)
    const bus = new AmqpBus(`amqp://guest:secret@127.0.0.1:${postgres.port}/`, {connectTimeoutMs: 1_000})
    const message = toWireMessage('attune.events', 'event.created', {
      message_id: 'm1',
      correlation_id: 'm1',
      message_type: 'EventCreated',
      version: '1.0',
      timestamp: new Date().toISOString(),
      headers: {retry_count: 0, source_service: 'test'},
      payload: {},
    })
    const error = await bus.publish([message]).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BusUnavailableError)
    expect(String(error)).toContain(`amqp://guest:***@127.0.0.1:${postgres.port}/`)
    expect(String(error)).not.toContain('secret')
    await bus.close()
  })
})
