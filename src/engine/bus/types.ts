import type {Envelope} from './envelope.js'

/**
 * A message ready to go on the wire: the envelope as JSON text (exactly the bytes published)
 * and the fields AMQP carries as message properties.
 */
export interface WireMessage {
  exchange: string
  routing_key: string
  message_id: string
  correlation_id: string
  message_type: string
  /** ISO 8601 (the envelope's `timestamp`). */
  timestamp: string
  trace_id: string | null
  retry_count: number
  /** The envelope, serialised. */
  body: string
}

export interface PublishOptions {
  onWritten?: () => void
}

/** What a bus did with a batch: every message is in exactly one of the two lists. */
export interface PublishResult {
  /** Accepted for good: confirmed by the broker, or handed to the local subscribers. */
  confirmed: string[]
  failed: Array<{message_id: string; error: string}>
}

/**
 * Where messages go: RabbitMQ (`AmqpBus`) or the subscribers in this process (`LocalBus`).
 * `publish` never loses a message silently: each one is confirmed or reported failed.
 * It throws `BusUnavailableError` when it cannot even try (no connection).
 */
export interface Bus {
  readonly kind: 'amqp' | 'local'
  /** Where the bus delivers, safe to print (no password). */
  readonly location: string
  /**
   * `onWritten` is called once every message has been handed to the transport (before the
   * confirms): the next batch may be published from then on without changing the order.
   */
  publish(messages: readonly WireMessage[], options?: PublishOptions): Promise<PublishResult>
  /** Connects ahead of a publish, if the bus has a connection at all; throws `BusUnavailableError`. */
  connect?(): Promise<void>
  close(): Promise<void>
}

export type MessageHandler = (envelope: Envelope, message: {exchange: string; routing_key: string}) => void | Promise<void>

/** The broker cannot be reached (or the connection broke): retry later, nothing was lost. */
export class BusUnavailableError extends Error {
  override readonly name = 'BusUnavailableError'
}

/** A serialised envelope as a wire message. */
export function toWireMessage(exchange: string, routingKey: string, envelope: Envelope): WireMessage {
  return {
    exchange,
    routing_key: routingKey,
    message_id: envelope.message_id,
    correlation_id: envelope.correlation_id,
    message_type: envelope.message_type,
    timestamp: envelope.timestamp,
    trace_id: envelope.headers.trace_id ?? null,
    retry_count: envelope.headers.retry_count,
    body: JSON.stringify(envelope),
  }
}
