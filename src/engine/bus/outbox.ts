/**
 * The transactional outbox (SPEC §7): writers insert messages in the same transaction as the
 * rows they announce; the relay publishes them with confirms and marks them sent. A row is
 * marked sent only after the bus confirmed it, so a crash or an outage anywhere means a later
 * retry (at-least-once; `message_id` never changes), never a lost message.
 */
import {BusUnavailableError} from './types.js'
import {errorMessage} from '../errors.js'
import type {Queryable, Store} from '../store/types.js'
import {toJsonb} from '../store/types.js'
import {Backoff} from './backoff.js'
import type {OutboundMessage} from './envelope.js'
import type {Bus, PublishResult, WireMessage} from './types.js'

/**
 * Inserts messages into the outbox: call it inside the transaction that makes the change the
 * messages announce (a rule enabled, ...). A message id already present is left alone.
 */
export async function enqueueMessages(q: Queryable, messages: readonly OutboundMessage[]): Promise<number> {
  if (messages.length === 0) return 0
  const {rowCount} = await q.query(
    `INSERT INTO attune_sensor.outbox (exchange, routing_key, message_id, message)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[])
     ON CONFLICT (message_id) DO NOTHING`,
    [
      messages.map((m) => m.exchange),
      messages.map((m) => m.routing_key),
      messages.map((m) => m.message_id),
      messages.map((m) => toJsonb(m.envelope)),
    ],
  )
  return rowCount
}

/** Rows not yet confirmed by the bus. */
export async function pendingOutboxCount(q: Queryable): Promise<number> {
  const {rows} = await q.query<{n: number}>('SELECT count(*)::int AS n FROM attune_sensor.outbox WHERE sent_at IS NULL')
  return rows[0].n
}

/** Deletes rows sent longer than `olderThanMs` ago; returns how many. */
export async function pruneSentOutbox(q: Queryable, olderThanMs: number): Promise<number> {
  const {rowCount} = await q.query(
    "DELETE FROM attune_sensor.outbox WHERE sent_at IS NOT NULL AND sent_at < now() - $1::double precision * interval '1 millisecond'",
    [olderThanMs],
  )
  return rowCount
}

export interface OutboxRelayOptions {
  /** Rows claimed and published per round (default 500). */
  batchSize?: number
  /** The background loop looks for new rows this often when nobody calls `notify()` (default 1 s). */
  idleMs?: number
  /**
   * Rounds in flight in the background (default 2): while one waits for the broker's confirms
   * and marks its rows sent, the next locks and publishes the following rows. Rounds publish
   * one after the other, so the wire order stays the outbox order.
   */
  concurrency?: number
  /** Retry pacing after a failure (default 200 ms doubling to 15 s, ±20 %). */
  backoff?: {initialMs?: number; maxMs?: number}
  /** Sent rows are deleted after this long (default one day); 0 keeps them. */
  retainSentMs?: number
  /** Called for every failed round with the delay before the next one. */
  onError?: (error: Error, delayMs: number) => void
}

export interface RelayStats {
  /** Rows confirmed and marked sent by this relay. */
  sent: number
  /** Rounds that failed (broker or database unavailable, messages not confirmed). */
  failures: number
  last_error: string | null
  /** What the last failure was about: the broker (unreachable, nacks) or the database. */
  last_error_source: 'broker' | 'database' | null
  last_sent_at: Date | null
}

export interface FlushResult {
  /** Rows this flush published. */
  sent: number
  /** Unsent rows left in the outbox when it returned (-1: the database did not say). */
  pending: number
  /** Why it gave up, when it did. */
  error: string | null
}

/** Some messages of a round were not confirmed; they stay in the outbox for the next one. */
export class PublishError extends Error {
  override readonly name = 'PublishError'
}

interface ClaimedRow extends WireMessage {
  id: number
}

export class OutboxRelay {
  private readonly batchSize: number
  private readonly idleMs: number
  private readonly retainSentMs: number
  private readonly backoff: Backoff
  private readonly backoffRange: [number, number]
  private readonly concurrency: number
  private running: Promise<unknown> | undefined
  private stopping = false
  /** Paused loops: `notify()` wakes those idling, `stop()` all of them. */
  private readonly waiters = new Set<{finish: () => void; onNotify: boolean}>()
  private woken = false
  /** The publishing turn: one round at a time locks rows and writes them to the bus. */
  private turn: Promise<void> = Promise.resolve()
  private lastPrune = 0
  readonly stats: RelayStats = {sent: 0, failures: 0, last_error: null, last_error_source: null, last_sent_at: null}

  constructor(
    private readonly store: Store,
    readonly bus: Bus,
    private readonly options: OutboxRelayOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 500
    this.idleMs = options.idleMs ?? 1_000
    this.concurrency = Math.max(1, options.concurrency ?? 2)
    this.retainSentMs = options.retainSentMs ?? 86_400_000
    this.backoffRange = [options.backoff?.initialMs ?? 200, options.backoff?.maxMs ?? 15_000]
    this.backoff = new Backoff(...this.backoffRange)
  }

  /**
   * One round, in one transaction: lock up to `batchSize` unsent rows (`FOR NO KEY UPDATE SKIP
   * LOCKED`: another relay takes the next rows, never these), publish them, mark the confirmed
   * ones sent and record the error on the rest. Returns how many were sent; throws when
   * anything was not (the bus is down, the broker nacked) so the caller backs off. A relay that
   * dies mid-round loses its connection and with it the locks: its rows are unsent again.
   */
  async relayBatch(): Promise<number> {
    // Connect first: an unreachable broker must not hold a transaction (and, on the embedded
    // database, every other query of this process) while it times out.
    await this.bus.connect?.()
    // Wait for the previous round to have written its messages: rounds overlap only in
    // waiting for confirms and marking rows, never in publishing.
    let endTurn: () => void = () => {}
    const previous = this.turn
    this.turn = new Promise<void>((resolve) => (endTurn = resolve))
    await previous
    try {
      return await this.round(endTurn)
    } finally {
      endTurn()
    }
  }

  private async round(endTurn: () => void): Promise<number> {
    const outcome = await this.store.transaction(async (tx): Promise<{sent: number; error?: Error}> => {
      // The stored envelope says retry_count 0; a retry publishes the same message (same
      // message_id) with the number of earlier attempts.
      const {rows} = await tx.query<ClaimedRow>(
        `SELECT id, exchange, routing_key, message_id,
                message->>'correlation_id' AS correlation_id, message->>'message_type' AS message_type,
                message->>'timestamp' AS timestamp, message->'headers'->>'trace_id' AS trace_id,
                attempts AS retry_count,
                CASE WHEN attempts > 0 THEN jsonb_set(message, '{headers,retry_count}', to_jsonb(attempts))::text
                     ELSE message::text END AS body
           FROM attune_sensor.outbox
          WHERE sent_at IS NULL
          ORDER BY id LIMIT $1
          FOR NO KEY UPDATE SKIP LOCKED`,
        [this.batchSize],
      )
      if (rows.length === 0) return {sent: 0}
      let result: PublishResult
      try {
        result = await this.bus.publish(rows, {onWritten: endTurn})
      } catch (error) {
        await recordFailures(tx, rows.map((row) => ({id: row.id, error: errorMessage(error)})))
        return {sent: 0, error: error instanceof Error ? error : new Error(String(error))}
      }
      const byMessage = new Map(rows.map((row) => [row.message_id, row.id]))
      if (result.confirmed.length > 0) {
        await tx.query('UPDATE attune_sensor.outbox SET sent_at = now(), updated = now(), attempts = attempts + 1, last_error = NULL WHERE id = ANY($1::bigint[])', [
          result.confirmed.map((id) => byMessage.get(id)),
        ])
      }
      if (result.failed.length === 0) return {sent: result.confirmed.length}
      await recordFailures(tx, result.failed.map((f) => ({id: byMessage.get(f.message_id)!, error: f.error})))
      return {
        sent: result.confirmed.length,
        error: new PublishError(`${result.failed.length} of ${rows.length} messages were not confirmed: ${result.failed[0].error}`),
      }
    })
    if (outcome.sent > 0) {
      this.stats.sent += outcome.sent
      this.stats.last_sent_at = new Date()
    }
    if (outcome.error) throw Object.assign(outcome.error, {brokerFailure: true})
    // A fully confirmed round means the broker is healthy again (health checks read this).
    if (outcome.sent > 0) {
      this.stats.last_error = null
      this.stats.last_error_source = null
    }
    return outcome.sent
  }

  /**
   * Publishes until no claimable row is left. Failures are retried with the backoff until
   * `timeoutMs` (default 30 s) has passed; then it returns with `error` set and the rows
   * still in the outbox (nothing is lost: the next relay publishes them).
   */
  async flush(options: {timeoutMs?: number} = {}): Promise<FlushResult> {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000)
    const backoff = new Backoff(...this.backoffRange)
    let sent = 0
    let lastError: string | null = null
    for (;;) {
      try {
        const n = await this.relayBatch()
        sent += n
        lastError = null
        backoff.reset()
        if (n === 0) break
      } catch (error) {
        lastError = errorMessage(error)
        this.noteFailure(error as Error)
        const delay = backoff.next()
        if (Date.now() + delay >= deadline) break
        await sleep(delay)
      }
    }
    const pending = await pendingOutboxCount(this.store).catch(() => -1)
    return {sent, pending, error: lastError}
  }

  private noteFailure(error: Error): void {
    this.stats.failures++
    this.stats.last_error = errorMessage(error)
    // Health names only what is down: a round that failed on the database says nothing of the broker.
    this.stats.last_error_source = error instanceof BusUnavailableError || (error as {brokerFailure?: boolean}).brokerFailure ? 'broker' : 'database'
  }

  /** Runs the relay in the background until `stop()`. */
  start(): void {
    if (this.running) return
    this.stopping = false
    const loops = Array.from({length: this.concurrency}, () => this.loop())
    this.running = Promise.all(loops).finally(() => {
      this.running = undefined
    })
  }

  /** New rows were committed: look now instead of at the next idle tick. */
  notify(): void {
    const idle = [...this.waiters].filter((waiter) => waiter.onNotify)
    if (idle.length === 0) this.woken = true
    for (const waiter of idle) waiter.finish()
  }

  /** Stops the background loops after their current rounds. */
  async stop(): Promise<void> {
    this.stopping = true
    for (const waiter of [...this.waiters]) waiter.finish()
    await this.running
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      try {
        const sent = await this.relayBatch()
        this.backoff.reset()
        if (sent > 0) continue
        await this.maybePrune()
        await this.pause(this.idleMs, true)
      } catch (error) {
        const delay = this.backoff.next()
        this.noteFailure(error as Error)
        this.options.onError?.(error instanceof Error ? error : new Error(String(error)), delay)
        // A failed round waits out its backoff: new rows would only fail the same way.
        await this.pause(delay, false)
      }
    }
  }

  /** Waits `ms`; `stop()` always ends the wait early, `notify()` only when `wakeOnNotify`. */
  private pause(ms: number, wakeOnNotify: boolean): Promise<void> {
    if (this.stopping) return Promise.resolve()
    if (wakeOnNotify && this.woken) {
      this.woken = false
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      const waiter = {
        onNotify: wakeOnNotify,
        finish: () => {
          clearTimeout(timer)
          this.waiters.delete(waiter)
          resolve()
        },
      }
      const timer = setTimeout(waiter.finish, ms)
      this.waiters.add(waiter)
    })
  }

  private async maybePrune(): Promise<void> {
    if (this.retainSentMs <= 0 || Date.now() - this.lastPrune < 600_000) return
    // Claimed before the await, so a second loop does not prune as well.
    this.lastPrune = Date.now()
    await pruneSentOutbox(this.store, this.retainSentMs)
  }
}

async function recordFailures(tx: Queryable, rows: Array<{id: number; error: string}>): Promise<void> {
  await tx.query(
    `UPDATE attune_sensor.outbox o SET attempts = o.attempts + 1, updated = now(), last_error = f.error
       FROM unnest($1::bigint[], $2::text[]) AS f(id, error) WHERE o.id = f.id`,
    [rows.map((r) => r.id), rows.map((r) => r.error.slice(0, 2000))],
  )
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
