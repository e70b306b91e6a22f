import {join} from 'node:path'
import {backoffDelay} from '../engine/backoff.js'
import {AbortError, errorMessage} from '../engine/errors.js'
import {startEmbeddedDatabaseProcess} from '../engine/store/embedded-process.js'
import {migrationStatus, openPgStore, readMigrationFiles, type EmbeddedServer, type Store} from '../engine/store/index.js'
import {DeadlineError, formatMs, sleep, withDeadline, type DaemonContext} from './service.js'

/** Database writes are retried after 0.5 s, 1 s, 2 s, 4 s, then every 5 s. */
const WRITE_RETRY_BACKOFF = {initialMs: 500, maxMs: 5000}

export interface DatabaseStatus {
  ok: boolean
  location: string
  error: string | null
  /** Writes still being retried (their polls were released at their deadline). */
  pending_writes: number
}

/**
 * The daemon's database: opens it (the embedded one is served by a child process on a socket,
 * PostgreSQL is used directly), knows whether it answers, and runs the daemon's writes.
 *
 * A write is retried until it is stored: each attempt has a deadline (a frozen server neither
 * answers nor fails), and a write that may be retried after an unknown outcome carries an
 * idempotency key, so a retry never stores a second copy. Whoever waits for a write may give
 * up waiting at its own deadline (a poll does); the write itself goes on in the background and
 * `stop()` waits for it within the shutdown time.
 *
 * Up and down: any failure marks the database down (listeners pause what depends on it);
 * only the reconciler marks it up again, once a lease tick has succeeded.
 */
export class DatabaseService {
  private opened?: Store
  private embedded?: EmbeddedServer
  private error: string | null = null
  private readonly downListeners: Array<(error: string) => void> = []
  private readonly upListeners: Array<() => void> = []
  private readonly writes = new Set<Promise<unknown>>()
  private closing = false

  constructor(private readonly context: DaemonContext) {}

  get store(): Store {
    if (!this.opened) throw new Error('the database is not open yet')
    return this.opened
  }

  get location(): string {
    return this.opened?.location ?? ''
  }

  get ok(): boolean {
    return this.error === null
  }

  /** The pid of the child process serving the embedded database (none with PostgreSQL). */
  get embeddedPid(): number | undefined {
    return this.embedded?.pid
  }

  /**
   * A statement that takes this long means a database that does not answer: it fails, so the
   * next lease tick can run. Generous, so a slow but working database under load is not taken
   * for a dead one.
   */
  get queryTimeoutMs(): number {
    return Math.max(5000, (this.context.config.daemon.lease_seconds * 1000) / 2)
  }

  /**
   * The longest one attempt of a write may take: its statements and the ROLLBACK after a
   * timed-out one, each bounded by the query timeout.
   */
  get attemptTimeoutMs(): number {
    return this.queryTimeoutMs * 2 + 1000
  }

  async start(): Promise<void> {
    const {config} = this.context
    if (!config.database.url) {
      this.embedded = await startEmbeddedDatabaseProcess(config.home)
      // One connection: PGlite is a single Postgres session, and the socket server queues whole
      // messages, so statements of two connections of ours could interleave mid-protocol.
      this.opened = await openPgStore(this.embedded.url, {max: 1, queryTimeoutMs: this.queryTimeoutMs, location: `embedded ${join(config.home, 'pgdata')}`, embedded: true})
    } else {
      this.opened = await openPgStore(config.database.url, {max: 10, queryTimeoutMs: this.queryTimeoutMs})
      await this.refusePendingMigrations(this.opened)
    }
    this.context.metrics.databaseUp.set(1)
  }

  private async refusePendingMigrations(store: Store): Promise<void> {
    let pending: number
    try {
      pending = (await migrationStatus(store)).filter((migration) => migration.applied_at === null).length
    } catch {
      pending = readMigrationFiles().length // no attune schema at all yet
    }
    if (pending > 0) {
      await store.close()
      this.opened = undefined
      throw new AbortError(`The database at ${store.location} has ${pending} pending migration(s).`, {
        code: 'migrations_pending',
        hint: 'Run `attune db migrate` (with the same --database-url) first.',
      })
    }
  }

  onDown(listener: (error: string) => void): void {
    this.downListeners.push(listener)
  }

  onUp(listener: () => void): void {
    this.upListeners.push(listener)
  }

  markDown(error: unknown): void {
    const message = errorMessage(error)
    const wasUp = this.error === null
    this.error = message
    if (!wasUp) return
    this.context.logger.error('database unavailable: polling paused', {err: error})
    this.context.metrics.databaseUp.set(0)
    for (const listener of this.downListeners) listener(message)
  }

  markUp(): void {
    if (this.error === null) return
    this.error = null
    this.context.metrics.databaseUp.set(1)
    this.context.logger.info('database is back: polling resumes')
    for (const listener of this.upListeners) listener()
  }

  /**
   * Runs `attempt` until it succeeds: a failed or unanswered attempt marks the database down
   * and is retried with backoff. An input error (an `AbortError` other than an unavailable
   * database) is not retried. While stopping, a write gives up after the stop deadline.
   * Pass only writes that are safe to repeat (an idempotency key, or an upsert).
   */
  write<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    const run = this.retry(what, attempt)
    this.writes.add(run)
    const forget = () => this.writes.delete(run)
    run.then(forget, forget)
    return run
  }

  private async retry<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    for (let round = 0; ; round++) {
      try {
        return await withDeadline(attempt(), this.attemptTimeoutMs, what)
      } catch (error) {
        if (error instanceof AbortError && error.code !== 'database_unavailable') throw error
        if (this.closing) throw error
        this.markDown(error instanceof DeadlineError ? new Error(`${what}: no answer from the database within ${formatMs(error.ms)}`) : error)
        await sleep(backoffDelay(round, WRITE_RETRY_BACKOFF))
      }
    }
  }

  get pendingWrites(): number {
    return this.writes.size
  }

  status(): DatabaseStatus {
    return {ok: this.ok, location: this.location, error: this.error, pending_writes: this.writes.size}
  }

  /**
   * Waits (until `deadline`) for the writes still being retried; then no new attempt starts.
   * Returns how many did not finish.
   */
  async drain(deadline: number): Promise<number> {
    const pending = [...this.writes]
    if (pending.length > 0) {
      this.context.logger.info('waiting for writes still being retried', {writes: pending.length})
      await Promise.race([Promise.allSettled(pending), sleep(Math.max(0, deadline - Date.now()))])
    }
    this.closing = true
    return this.writes.size
  }

  async stop(): Promise<void> {
    this.closing = true
    await this.opened?.close().catch(() => {})
    await this.embedded?.close().catch(() => {})
  }
}
