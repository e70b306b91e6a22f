import {connect, type ChannelModel, type ConfirmChannel} from 'amqplib'
import {redactUrl} from '../redact.js'
import {EventEmitter} from 'node:events'
import {AbortError, errorMessage} from '../errors.js'
import {EXCHANGES} from './envelope.js'
import {BusUnavailableError, type Bus, type PublishOptions, type PublishResult, type WireMessage} from './types.js'

export interface AmqpBusOptions {
  /** How long a batch may wait for the broker's confirms before the connection is recycled. */
  confirmTimeoutMs?: number
  /** TCP connect + AMQP handshake limit. */
  connectTimeoutMs?: number
  /** Heartbeat asked of the broker unless the URL sets one: finds a dead peer quickly. */
  heartbeatSeconds?: number
  /** Shown in the broker's management UI. */
  connectionName?: string
}

interface Link {
  model: ChannelModel
  channel: ConfirmChannel
}

/** The URL without its password, for messages. */
export function redactAmqpUrl(url: string): string {
  return redactUrl(url, 'AMQP URL')
}

/** Checks an AMQP URL up front, so a typo is a usage error (exit 2), not an outage. */
export function parseAmqpUrl(url: string): URL {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    // Without an '@' there is no password in it to hide.
    const shown = url.includes('@') ? redactAmqpUrl(url) : url
    throw new AbortError(`Invalid AMQP URL: ${JSON.stringify(shown)} (expected amqp://user:password@host:5672/vhost)`, {
      code: 'amqp_url_invalid',
      hint: 'It comes from --amqp-url, ATTUNE_AMQP_URL or amqp.url in the config file; unset it to use the in-process bus.',
    })
  }
  if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') {
    throw new AbortError(`Invalid AMQP URL ${redactAmqpUrl(url)}: the scheme must be amqp:// or amqps://, got ${parsed.protocol}//`, {
      code: 'amqp_url_invalid',
    })
  }
  if (!parsed.hostname) throw new AbortError(`Invalid AMQP URL ${redactAmqpUrl(url)}: no host`, {code: 'amqp_url_invalid'})
  return parsed
}

/**
 * RabbitMQ through amqplib on a confirm channel (SPEC §7). Connects on first use and again
 * after the connection drops (the caller, usually the outbox relay, paces retries with its
 * backoff); declares the two durable topic exchanges on every connect; publishes persistent
 * messages and reports, per message, whether the broker confirmed it.
 *
 * Events: `connected`, `disconnected` (with the error), `blocked` / `unblocked` (the broker
 * is out of a resource and holds publishers back).
 */
export class AmqpBus extends EventEmitter implements Bus {
  readonly kind = 'amqp'
  readonly location: string
  private readonly url: string
  private readonly confirmTimeoutMs: number
  private readonly connectTimeoutMs: number
  private readonly connectionName: string
  private link: Link | undefined
  private linking: Promise<Link> | undefined
  private closed = false
  /** Set while the broker has blocked this connection (memory or disk alarm). */
  blocked: string | undefined

  constructor(url: string, options: AmqpBusOptions = {}) {
    super()
    const parsed = parseAmqpUrl(url)
    if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', String(options.heartbeatSeconds ?? 10))
    this.url = parsed.toString()
    this.location = redactAmqpUrl(url)
    this.confirmTimeoutMs = options.confirmTimeoutMs ?? 30_000
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000
    this.connectionName = options.connectionName ?? `attune pid ${process.pid}`
  }

  get connected(): boolean {
    return this.link !== undefined
  }

  /** Connects now (publish does it lazily); throws `BusUnavailableError` when it cannot. */
  async connect(): Promise<void> {
    await this.ensureLink()
  }

  private ensureLink(): Promise<Link> {
    if (this.closed) return Promise.reject(new BusUnavailableError('the AMQP bus is closed'))
    if (this.link) return Promise.resolve(this.link)
    this.linking ??= this.open().finally(() => {
      this.linking = undefined
    })
    return this.linking
  }

  private async open(): Promise<Link> {
    let model: ChannelModel
    try {
      model = await connect(this.url, {
        timeout: this.connectTimeoutMs,
        // Confirms are latency-bound: do not let Nagle hold small frames back.
        noDelay: true,
        clientProperties: {connection_name: this.connectionName},
      })
    } catch (error) {
      throw new BusUnavailableError(`Cannot connect to RabbitMQ at ${this.location}: ${describeConnectError(error)}`, {cause: error})
    }
    let link: Link | undefined
    const drop = (error?: unknown) => {
      if (link && this.link === link) {
        this.link = undefined
        this.blocked = undefined
        this.emit('disconnected', error)
      }
    }
    // Without an 'error' listener a broken connection would crash the process.
    model.on('error', (error: unknown) => drop(error))
    model.on('close', (error: unknown) => drop(error))
    model.on('blocked', (reason: string) => {
      this.blocked = reason
      this.emit('blocked', reason)
    })
    model.on('unblocked', () => {
      this.blocked = undefined
      this.emit('unblocked')
    })
    try {
      const channel = await model.createConfirmChannel()
      // A channel-level error (say a mismatched exchange) closes only the channel: recycle it all.
      channel.on('error', () => {})
      channel.on('close', () => {
        if (link && this.link === link) {
          drop(new Error('AMQP channel closed'))
          model.close().catch(() => {})
        }
      })
      for (const exchange of EXCHANGES) await channel.assertExchange(exchange, 'topic', {durable: true})
      link = {model, channel}
    } catch (error) {
      await model.close().catch(() => {})
      throw new BusUnavailableError(`RabbitMQ at ${this.location} refused the setup of ${EXCHANGES.join(' and ')}: ${errorMessage(error)}`, {cause: error})
    }
    if (this.closed) {
      await model.close().catch(() => {})
      throw new BusUnavailableError('the AMQP bus is closed')
    }
    this.link = link
    this.emit('connected')
    return link
  }

  /**
   * Publishes every message (persistent, in order) and waits for the broker's confirms.
   * Messages the broker nacked, or that were in flight when the connection dropped, are
   * reported failed; they may still have arrived (at-least-once: consumers dedupe on
   * `message_id`).
   */
  async publish(messages: readonly WireMessage[], options: PublishOptions = {}): Promise<PublishResult> {
    if (messages.length === 0) {
      options.onWritten?.()
      return {confirmed: [], failed: []}
    }
    const link = await this.ensureLink()
    const {channel} = link
    const outcome = new Map<number, string | null>()
    let settleAll: () => void = () => {}
    const allSettled = new Promise<void>((resolve) => (settleAll = resolve))
    const settle = (index: number, error: string | null) => {
      if (outcome.has(index)) return
      outcome.set(index, error)
      if (outcome.size === messages.length) settleAll()
    }
    let broken: string | undefined
    // amqplib writes every frame (three per message) to the socket on its own: cork the socket
    // for the batch so they leave in a few large writes instead of thousands of small packets.
    const socket = (link.model.connection as unknown as {stream?: {cork?: () => void; uncork?: () => void}}).stream
    socket?.cork?.()
    let corked = true
    const uncork = () => {
      if (!corked) return
      corked = false
      socket?.uncork?.()
    }
    for (let index = 0; index < messages.length; index++) {
      const message = messages[index]
      if (broken) {
        settle(index, broken)
        continue
      }
      let writable = true
      try {
        writable = channel.publish(
          message.exchange,
          message.routing_key,
          Buffer.from(message.body),
          {
            persistent: true,
            messageId: message.message_id,
            correlationId: message.correlation_id,
            type: message.message_type,
            contentType: 'application/json',
            timestamp: Math.floor(Date.parse(message.timestamp) / 1000),
          },
          (error: unknown) => settle(index, error ? errorMessage(error) : null),
        )
      } catch (error) {
        broken = `publish failed: ${errorMessage(error)}`
        settle(index, broken)
        continue
      }
      // The socket buffer is full: wait for it to drain (or for the channel to die).
      if (!writable) {
        uncork()
        await drained(channel)
      }
    }
    // amqplib hands frames to the socket on its next turn (setImmediate): uncork after that.
    setImmediate(uncork)
    options.onWritten?.()
    const timer = setTimeout(() => {
      // No confirm in time: recycle the connection; the pending callbacks fail with it.
      this.emit('timeout', new Error(`no confirm from RabbitMQ within ${this.confirmTimeoutMs} ms`))
      link.model.close().catch(() => {})
      for (let index = 0; index < messages.length; index++) settle(index, `no confirm within ${this.confirmTimeoutMs} ms`)
    }, this.confirmTimeoutMs)
    timer.unref()
    await allSettled
    clearTimeout(timer)
    const result: PublishResult = {confirmed: [], failed: []}
    messages.forEach((message, index) => {
      const error = outcome.get(index)
      if (error === null) result.confirmed.push(message.message_id)
      else result.failed.push({message_id: message.message_id, error: error ?? 'not confirmed'})
    })
    return result
  }

  async close(): Promise<void> {
    this.closed = true
    const link = this.link ?? (await this.linking?.catch(() => undefined))
    this.link = undefined
    if (link) await link.model.close().catch(() => {})
  }
}

function drained(channel: ConfirmChannel): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      channel.off('drain', done)
      channel.off('close', done)
      resolve()
    }
    channel.once('drain', done)
    channel.once('close', done)
  })
}

function describeConnectError(error: unknown): string {
  const message = errorMessage(error)
  if (/ACCESS_REFUSED|403/.test(message)) return `access refused (check the user and password in the URL): ${message}`
  return message
}
