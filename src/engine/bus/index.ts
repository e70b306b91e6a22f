/**
 * Messages (SPEC §7): the envelope, the buses (RabbitMQ through amqplib, or in-process),
 * and the outbox relay that moves committed outbox rows onto the bus.
 *
 * ```ts
 * const bus = createBus({amqpUrl: config.amqp.url})
 * const relay = new OutboxRelay(store, bus)
 * relay.start()              // the daemon
 * await relay.flush()        // a one-off command
 * ```
 */
import {AmqpBus, type AmqpBusOptions} from './amqp.js'
import {LocalBus} from './local.js'
import type {Bus} from './types.js'

export {AmqpBus, parseAmqpUrl, redactAmqpUrl, type AmqpBusOptions} from './amqp.js'
export {Backoff} from '../backoff.js'
export * from './envelope.js'
export {LocalBus} from './local.js'
export {
  enqueueMessages,
  OutboxRelay,
  pendingOutboxCount,
  pruneSentOutbox,
  PublishError,
  type FlushResult,
  type OutboxRelayOptions,
  type RelayStats,
} from './outbox.js'
export {publishRuleLifecycle} from './rules.js'
export {BusUnavailableError, toWireMessage, type Bus, type MessageHandler, type PublishOptions, type PublishResult, type WireMessage} from './types.js'

/** RabbitMQ when an AMQP URL is configured, else the in-process bus. */
export function createBus(options: {amqpUrl?: string} & AmqpBusOptions = {}): Bus {
  return options.amqpUrl ? new AmqpBus(options.amqpUrl, options) : new LocalBus()
}
