/**
 * The AMQP bus across broker outages, against a real RabbitMQ node (no database): a publisher
 * publishes with publisher confirms, retrying what failed with the engine's backoff, while the
 * node is killed outright (SIGKILL) and later stopped cleanly, each time started again. Every
 * message the broker confirmed must be in the durable queue afterwards, and publishing must
 * resume on its own after each reconnect (the bus reconnects on the next publish).
 */
import {connect, type ConsumeMessage} from 'amqplib'
import {randomUUID} from 'node:crypto'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Backoff} from '../../src/engine/backoff.js'
import {AmqpBus, type WireMessage} from '../../src/engine/bus/index.js'
import {rabbitmqSkipReason, startRabbitMQ, type RabbitServer} from '../support/rabbitmq.js'

const QUEUE = 'attune_reconnect_test'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function message(seq: number): WireMessage {
  const id = randomUUID()
  return {
    exchange: 'attune.events',
    routing_key: 'event.created',
    message_id: id,
    correlation_id: id,
    message_type: 'EventCreated',
    timestamp: new Date().toISOString(),
    trace_id: null,
    retry_count: 0,
    body: JSON.stringify({message_id: id, seq}),
  }
}

/**
 * Publishes batches of 10 every 10 ms until `finish()`, then until every message made so far is
 * confirmed (or finish's time is up). A failed publish (thrown, or messages reported failed) is retried after a backoff.
 */
function startPublisher(bus: AmqpBus) {
  const made: string[] = []
  const confirmed = new Set<string>()
  const failures: string[] = []
  let retry: WireMessage[] = []
  let finishing = false
  let giveUpAt = Infinity
  let seq = 0
  const backoff = new Backoff(50, 1000)
  const done = (async () => {
    while ((!finishing || retry.length > 0) && Date.now() < giveUpAt) {
      let batch = retry
      retry = []
      if (!finishing) {
        const fresh = Array.from({length: 10}, () => message(seq++))
        made.push(...fresh.map((m) => m.message_id))
        batch = [...batch, ...fresh]
      }
      if (batch.length === 0) continue
      try {
        const result = await bus.publish(batch)
        for (const id of result.confirmed) confirmed.add(id)
        const failed = new Set(result.failed.map((f) => f.message_id))
        retry = batch.filter((m) => failed.has(m.message_id))
        if (result.failed.length > 0) failures.push(result.failed[0].error)
      } catch (error) {
        failures.push((error as Error).message)
        retry = batch
      }
      if (retry.length > 0) await sleep(backoff.next())
      else {
        backoff.reset()
        await sleep(10)
      }
    }
  })()
  return {
    made,
    confirmed,
    failures,
    /** Resolves once `count` more messages have been confirmed than now. */
    async confirmedMore(count: number, timeoutMs = 60_000): Promise<void> {
      const target = confirmed.size + count
      const deadline = Date.now() + timeoutMs
      while (confirmed.size < target) {
        if (Date.now() > deadline) throw new Error(`only ${confirmed.size} of ${target} confirmed within ${timeoutMs} ms; last failure: ${failures.at(-1)}`)
        await sleep(20)
      }
    },
    /** Stops making messages; retries the failed ones for at most `timeoutMs` more. */
    async finish(timeoutMs = 60_000): Promise<void> {
      finishing = true
      giveUpAt = Date.now() + timeoutMs
      await done
    },
  }
}

const skip = rabbitmqSkipReason()

describe.skipIf(skip)('AMQP bus across broker restarts (real RabbitMQ)', () => {
  let rabbit: RabbitServer

  beforeAll(async () => {
    rabbit = await startRabbitMQ()
    const setup = await connect(rabbit.url)
    const channel = await setup.createChannel()
    await channel.assertExchange('attune.events', 'topic', {durable: true})
    await channel.assertQueue(QUEUE, {durable: true})
    await channel.bindQueue(QUEUE, 'attune.events', '#')
    await setup.close()
  }, 120_000)
  afterAll(async () => {
    await rabbit?.destroy()
  })

  /** Every message_id in the queue (consumed with acks, so the queue is empty afterwards). */
  async function drainQueue(): Promise<string[]> {
    const consumer = await connect(rabbit.url)
    try {
      const channel = await consumer.createChannel()
      const {messageCount} = await channel.checkQueue(QUEUE)
      const ids: string[] = []
      if (messageCount === 0) return ids
      await channel.prefetch(500)
      await new Promise<void>((resolve) => {
        void channel.consume(QUEUE, (delivered: ConsumeMessage | null) => {
          if (!delivered) return
          ids.push(String(delivered.properties.messageId))
          channel.ack(delivered)
          if (ids.length === messageCount) resolve()
        })
      })
      return ids
    } finally {
      await consumer.close()
    }
  }

  it(
    'keeps every confirmed message through a SIGKILL and a clean stop of the broker, and publishing resumes after each reconnect',
    async () => {
      const bus = new AmqpBus(rabbit.url, {confirmTimeoutMs: 10_000, connectTimeoutMs: 3_000, heartbeatSeconds: 2})
      let connects = 0
      let disconnects = 0
      bus.on('connected', () => connects++)
      bus.on('disconnected', () => disconnects++)
      const publisher = startPublisher(bus)
      try {
        await publisher.confirmedMore(200)

        // 1. The broker dies without a word: no connection.close, the socket just goes away.
        await rabbit.kill()
        const failuresBefore = publisher.failures.length
        await sleep(1500)
        expect(publisher.failures.length).toBeGreaterThan(failuresBefore) // it noticed, and keeps trying
        await rabbit.start()
        await publisher.confirmedMore(200)
        expect(connects).toBe(2)

        // 2. A clean stop: the broker closes the connection itself.
        await rabbit.stop()
        await sleep(1000)
        await rabbit.start()
        await publisher.confirmedMore(200)
        expect(connects).toBe(3)
      } finally {
        await publisher.finish()
        await bus.close()
      }
      expect(disconnects).toBe(2)

      // Retried until confirmed: every message made was confirmed in the end.
      expect(publisher.confirmed.size).toBe(publisher.made.length)
      const inQueue = new Set(await drainQueue())
      const missing = [...publisher.confirmed].filter((id) => !inQueue.has(id))
      expect(missing, `${missing.length} confirmed messages are not in the queue`).toEqual([])
      // Nothing the publisher did not make (duplicates of retried ones are allowed: at-least-once).
      expect([...inQueue].filter((id) => !publisher.confirmed.has(id))).toEqual([])
    },
    300_000,
  )
})
