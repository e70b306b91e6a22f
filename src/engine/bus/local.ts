import {errorMessage} from '../errors.js'
import {topicMatches, type Envelope} from './envelope.js'
import type {Bus, MessageHandler, PublishOptions, PublishResult, WireMessage} from './types.js'

interface Subscription {
  exchange: string
  pattern: string
  handler: MessageHandler
}

/**
 * The in-process bus used when no AMQP URL is configured: delivers each message to the
 * subscribers of this process whose exchange and topic pattern match (`*` one word, `#` any).
 * A message is "confirmed" once every matching handler has run; a handler that throws is
 * reported through `onHandlerError` and does not hold the others up.
 */
export class LocalBus implements Bus {
  readonly kind = 'local'
  readonly location = 'in-process'
  private readonly subscriptions = new Set<Subscription>()
  private closed = false

  constructor(private readonly options: {onHandlerError?: (error: unknown, envelope: Envelope) => void} = {}) {}

  /** Receives matching messages until the returned function is called. */
  subscribe(exchange: string, pattern: string, handler: MessageHandler): () => void {
    const subscription = {exchange, pattern, handler}
    this.subscriptions.add(subscription)
    return () => this.subscriptions.delete(subscription)
  }

  async publish(messages: readonly WireMessage[], options: PublishOptions = {}): Promise<PublishResult> {
    const result: PublishResult = {confirmed: [], failed: []}
    for (const message of messages) {
      if (this.closed) {
        result.failed.push({message_id: message.message_id, error: 'bus closed'})
        continue
      }
      let envelope: Envelope
      try {
        envelope = JSON.parse(message.body) as Envelope
      } catch (error) {
        result.failed.push({message_id: message.message_id, error: `not JSON: ${errorMessage(error)}`})
        continue
      }
      for (const subscription of this.subscriptions) {
        if (subscription.exchange !== message.exchange || !topicMatches(subscription.pattern, message.routing_key)) continue
        try {
          await subscription.handler(envelope, {exchange: message.exchange, routing_key: message.routing_key})
        } catch (error) {
          this.options.onHandlerError?.(error, envelope)
        }
      }
      result.confirmed.push(message.message_id)
    }
    options.onWritten?.()
    return result
  }

  async close(): Promise<void> {
    this.closed = true
    this.subscriptions.clear()
  }
}
