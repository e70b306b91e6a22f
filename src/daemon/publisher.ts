import {createBus, OutboxRelay, pendingOutboxCount, type Bus} from '../engine/bus/index.js'
import {errorMessage} from '../engine/errors.js'
import type {Store} from '../engine/store/index.js'
import type {DaemonContext} from './service.js'

export interface BrokerStatus {
  kind: 'amqp' | 'local'
  location: string
  ok: boolean
  error: string | null
  /** Messages stored in the outbox and not yet confirmed by the broker. */
  pending: number
  sent: number
}

/**
 * Publishing: the bus and the outbox relay that publishes what the pipeline committed. A
 * broker outage only grows the outbox; at stop the relay's loops end first, then the outbox is
 * flushed within the time left.
 */
export class PublisherService {
  private bus?: Bus
  private relay?: OutboxRelay
  private pending = 0

  constructor(private readonly context: DaemonContext) {}

  start(store: Store): void {
    const {config, logger, metrics} = this.context
    this.bus = createBus({amqpUrl: config.amqp.url})
    this.relay = new OutboxRelay(store, this.bus, {
      // Sent rows are pruned by the retention service (retention.outbox), not by the relay.
      retainSentMs: 0,
      onError: (error, delayMs) => {
        metrics.publishFailures.inc()
        logger.warn('publishing is delayed', {err: error, retry_in_ms: delayMs})
      },
      onSent: (sent, durationMs) => logger.debug('publish batch confirmed', {messages: sent, duration_ms: durationMs}),
    })
    this.relay.start()
  }

  get location(): string {
    return this.bus?.location ?? ''
  }

  /** New outbox rows were committed: publish them now. */
  notify(): void {
    this.relay?.notify()
  }

  /** Counts the outbox rows not yet confirmed (the heartbeat does this). */
  async refreshPending(store: Store): Promise<void> {
    this.pending = await pendingOutboxCount(store)
    this.context.metrics.outboxPending.set(this.pending)
  }

  status(): BrokerStatus {
    const stats = this.relay?.stats
    // Only a failure of the broker itself: rounds also fail while the database is down.
    const ok = !stats || stats.last_error === null || stats.last_error_source !== 'broker'
    return {
      kind: this.bus?.kind ?? 'local',
      location: this.location,
      ok,
      error: ok ? null : (stats?.last_error ?? null),
      pending: this.pending,
      sent: stats?.sent ?? 0,
    }
  }

  /**
   * Ends the background loops (their rounds in flight finish), then publishes what is left
   * until `deadline` (at least one second). Returns how many messages stay for the next start.
   */
  async stop(deadline: number): Promise<number> {
    let unpublished = 0
    if (this.relay) {
      await this.relay.stop()
      const flushed = await this.relay
        .flush({timeoutMs: Math.max(1000, deadline - Date.now())})
        .catch((error) => ({sent: 0, pending: -1, error: errorMessage(error)}))
      unpublished = flushed.pending
      this.pending = Math.max(0, flushed.pending)
      if (flushed.error || flushed.pending !== 0) {
        this.context.logger.warn('outbox not fully published; the rest goes out on the next start', {pending: flushed.pending, error: flushed.error})
      }
    }
    await this.bus?.close().catch(() => {})
    return unpublished
  }
}
