import {errorMessage} from '../engine/errors.js'
import {pruneStore, tableRowCounts, type PruneResult} from '../engine/store/retention.js'
import type {DatabaseService} from './database.js'
import {tableRowsGauge} from './metrics.js'
import type {DaemonContext, Ticker} from './service.js'

/**
 * Retention in the daemon: prunes the database every `retention.check_interval_seconds` by the
 * `retention.*` limits (the engine's `pruneStore`, as `attune db prune` does), and serves the
 * retained tables' sizes on /metrics (`attune_table_rows`). Several daemons on one database may
 * all prune: the deletes are idempotent.
 */
export class RetentionService {
  private stopping = false
  /** The last prune's result (for logs and tests). */
  last?: PruneResult
  /** The retained tables' row counts, read every 30 s (the dashboard shows them). */
  tables: Record<string, number> | null = null

  constructor(
    private readonly context: DaemonContext,
    private readonly database: DatabaseService,
  ) {
    tableRowsGauge(context.metrics.registry, () => (this.database.ok ? tableRowCounts(this.database.store) : Promise.reject(new Error('database down'))))
  }

  /**
   * Registers the periodic prune (when `retention.enabled`) with the daemon's ticker: the first
   * a minute after the start (or one interval, if shorter), so a daemon restarted more often
   * than the interval still prunes, then every interval.
   */
  schedule(ticker: Ticker): this {
    const {retention} = this.context.config
    const readSizes = async () => {
      if (this.database.ok) this.tables = await tableRowCounts(this.database.store)
    }
    void readSizes().catch(() => {})
    ticker.every('table sizes', 30_000, readSizes)
    if (!retention.enabled) return this
    const intervalMs = retention.check_interval_seconds * 1000
    const tickMs = Math.min(intervalMs, 60_000)
    let dueAt = Date.now() + tickMs
    ticker.every('retention', tickMs, async () => {
      if (Date.now() < dueAt) return
      // Half a tick early: the tick an interval from now is not missed by a few milliseconds.
      dueAt = Date.now() + intervalMs - tickMs / 2
      await this.prune()
    })
    return this
  }

  /** Cuts a prune under way short at its next batch (the daemon is stopping). */
  stop(): void {
    this.stopping = true
  }

  async prune(): Promise<void> {
    const {config, logger} = this.context
    if (!this.database.ok || this.stopping) return
    const {retention} = config
    try {
      const result = await pruneStore(
        this.database.store,
        {events: retention.events, enforcements: retention.enforcements, outbox: retention.outbox},
        {batchSize: retention.batch_size, shouldStop: () => this.stopping},
      )
      this.last = result
      const total = Object.values(result.pruned).reduce((sum, count) => sum + count, 0)
      if (total > 0) logger.info('retention: pruned', {...result.pruned, duration_ms: result.duration_ms, complete: result.complete})
    } catch (error) {
      // An outage is the heartbeat's to notice; this only waits for the next period.
      logger.warn('retention: the prune failed (it runs again next period)', {error: errorMessage(error)})
    }
  }
}
