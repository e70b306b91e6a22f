/**
 * The transactional outbox (SPEC §7): writers insert messages in the same transaction as the
 * rows they announce; the relay publishes them with confirms and marks them sent. A row is
 * marked sent only after the bus confirmed it, so a crash or an outage anywhere means a later
 * retry (at-least-once; `message_id` never changes), never a lost message.
 *
 * Every publish is counted before it happens: the relay commits a claim on its batch (attempts
 * + 1) before handing the batch to the bus, so a message that may already have gone out (the
 * relay died, the confirm or the write of `sent_at` was lost) carries `retry_count` >= 1 the
 * next time, and one more with every further attempt.
 */
import {randomBytes} from 'node:crypto'
import {hostname} from 'node:os'
import {BusUnavailableError} from './types.js'
import {errorMessage} from '../errors.js'
import {isAlive, processStartTime} from '../store/lock.js'
import type {Queryable, Store} from '../store/types.js'
import {toJsonb} from '../store/types.js'
import {Backoff} from '../backoff.js'
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
  /** Called for every round that published something: how many rows were confirmed, and how long the round took. */
  onSent?: (sent: number, durationMs: number) => void
  /**
   * How long a claimed batch stays this relay's (default 60 s): other relays skip the rows
   * until then. It must outlast a round (the AMQP bus waits up to 30 s for confirms). Rows of
   * a relay that died are published again when the claim runs out, or at once by a relay on
   * the same host that sees the claimer's process is gone.
   */
  claimMs?: number
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

/** Look for claims of dead relays on this host at most this often while idle. */
const SWEEP_INTERVAL_MS = 5_000

/**
 * Who claims a batch: `host/pid/start/nonce` (start: the process's start time on Linux, so a
 * reused pid is not taken for the claimer; nonce: one per relay object).
 */
function newClaimer(): string {
  return [hostname(), process.pid, processStartTime(process.pid) ?? '', randomBytes(4).toString('hex')].join('/')
}

/** The claimer ran on this host and its process is gone (a claimer elsewhere cannot be checked). */
function claimerGone(claimer: string): boolean {
  const parts = claimer.split('/')
  if (parts.length !== 4 || parts[0] !== hostname()) return false
  const pid = Number.parseInt(parts[1], 10)
  if (!Number.isInteger(pid) || pid <= 0) return false
  return !isAlive({pid, host: parts[0], ...(parts[2] ? {start: parts[2]} : {})})
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
  private readonly claimMs: number
  /** This relay's name in `claimed_by`. */
  readonly claimer = newClaimer()
  /** When claims of dead relays were last looked for (0: not yet). */
  private lastSweep = 0
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
    this.claimMs = options.claimMs ?? 60_000
    this.backoffRange = [options.backoff?.initialMs ?? 200, options.backoff?.maxMs ?? 15_000]
    this.backoff = new Backoff(...this.backoffRange)
  }

  /**
   * One round: claim up to `batchSize` unsent rows in one committed statement (attempts + 1,
   * `claimed_by` this relay, `claimed_until` now + `claimMs`; rows are picked with `FOR NO KEY
   * UPDATE SKIP LOCKED` among the unclaimed ones, so two relays never claim the same row),
   * publish them, then mark the confirmed ones sent and release the rest with their error.
   * Returns how many were sent; throws when anything was not (the bus is down, the broker
   * nacked, the database failed) so the caller backs off. Rows of a relay that dies mid-round
   * stay claimed until the claim runs out (or a relay on this host sees its process gone), and
   * are then published again with a higher `retry_count`.
   */
  async relayBatch(): Promise<number> {
    // Connect first: an unreachable broker must not cost a claim (and a retry_count) per round.
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
    // A relay that starts takes back at once what a dead relay of this host left claimed
    // (a daemon restarted after a crash), before newer rows: the outbox order holds.
    if (this.lastSweep === 0) await this.releaseDeadClaims()
    let rows = await this.claim()
    if (rows.length === 0 && Date.now() - this.lastSweep >= SWEEP_INTERVAL_MS && (await this.releaseDeadClaims()) > 0) rows = await this.claim()
    if (rows.length === 0) return 0
    const started = performance.now()
    let result: PublishResult
    try {
      result = await this.bus.publish(rows, {onWritten: endTurn})
    } catch (error) {
      await this.release(rows.map((row) => ({id: row.id, error: errorMessage(error)})))
      throw Object.assign(error instanceof Error ? error : new Error(String(error)), {brokerFailure: true})
    }
    const byMessage = new Map(rows.map((row) => [row.message_id, row.id]))
    if (result.confirmed.length > 0) {
      // Sent is sent, whoever holds the claim now (it may have run out under a slow round).
      await this.store.query(
        'UPDATE attune_sensor.outbox SET sent_at = now(), updated = now(), last_error = NULL, claimed_until = NULL WHERE id = ANY($1::bigint[]) AND sent_at IS NULL',
        [result.confirmed.map((id) => byMessage.get(id))],
      )
      this.stats.sent += result.confirmed.length
      this.stats.last_sent_at = new Date()
      this.options.onSent?.(result.confirmed.length, Math.round(performance.now() - started))
    }
    if (result.failed.length > 0) {
      await this.release(result.failed.map((f) => ({id: byMessage.get(f.message_id)!, error: f.error})))
      const error = new PublishError(`${result.failed.length} of ${rows.length} messages were not confirmed: ${result.failed[0].error}`)
      throw Object.assign(error, {brokerFailure: true})
    }
    // A fully confirmed round means the broker is healthy again (health checks read this).
    this.stats.last_error = null
    this.stats.last_error_source = null
    return result.confirmed.length
  }

  /**
   * Claims the next unsent, unclaimed rows in id order and counts the attempt: one committed
   * statement. The stored envelope says retry_count 0; a message claimed before goes out
   * (same message_id) with the number of earlier attempts.
   */
  private async claim(): Promise<ClaimedRow[]> {
    const {rows} = await this.store.query<ClaimedRow>(
      `WITH next AS (
         SELECT id FROM attune_sensor.outbox
          WHERE sent_at IS NULL AND (claimed_until IS NULL OR claimed_until <= now())
          ORDER BY id LIMIT $1
          FOR NO KEY UPDATE SKIP LOCKED)
       UPDATE attune_sensor.outbox o
          SET attempts = o.attempts + 1, claimed_by = $2,
              claimed_until = now() + $3::double precision * interval '1 millisecond', updated = now()
         FROM next WHERE o.id = next.id
       RETURNING o.id, o.exchange, o.routing_key, o.message_id,
                 o.message->>'correlation_id' AS correlation_id, o.message->>'message_type' AS message_type,
                 o.message->>'timestamp' AS timestamp, o.message->'headers'->>'trace_id' AS trace_id,
                 o.attempts - 1 AS retry_count,
                 CASE WHEN o.attempts > 1 THEN jsonb_set(o.message, '{headers,retry_count}', to_jsonb(o.attempts - 1))::text
                      ELSE o.message::text END AS body`,
      [this.batchSize, this.claimer, this.claimMs],
    )
    // RETURNING keeps no order: the wire order is the outbox order.
    return rows.sort((a, b) => a.id - b.id)
  }

  /** Gives rows that were not confirmed back (with their error), if the claim is still ours. */
  private async release(rows: Array<{id: number; error: string}>): Promise<void> {
    await this.store.query(
      `UPDATE attune_sensor.outbox o SET claimed_until = NULL, updated = now(), last_error = f.error
         FROM unnest($1::bigint[], $2::text[]) AS f(id, error)
        WHERE o.id = f.id AND o.claimed_by = $3 AND o.sent_at IS NULL`,
      [rows.map((r) => r.id), rows.map((r) => r.error.slice(0, 2000)), this.claimer],
    )
  }

  /** Ends the claims of relays on this host whose process is gone; returns how many rows it freed. */
  private async releaseDeadClaims(): Promise<number> {
    this.lastSweep = Date.now()
    const {rows} = await this.store.query<{claimed_by: string}>(
      'SELECT DISTINCT claimed_by FROM attune_sensor.outbox WHERE sent_at IS NULL AND claimed_until > now() AND claimed_by IS NOT NULL',
    )
    const dead = rows.map((row) => row.claimed_by).filter((claimer) => claimer !== this.claimer && claimerGone(claimer))
    if (dead.length === 0) return 0
    const {rowCount} = await this.store.query(
      'UPDATE attune_sensor.outbox SET claimed_until = NULL, updated = now() WHERE sent_at IS NULL AND claimed_by = ANY($1::text[]) AND claimed_until > now()',
      [dead],
    )
    return rowCount
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
