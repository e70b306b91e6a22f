import {appendSensorLogs, type SensorLogLine, type SensorLogRow, type SensorLogSource, type Store} from '../engine/store/index.js'
import type {DaemonContext} from './service.js'

/** Lines waiting for the database at most (a database outage): the oldest go first. */
const MAX_PENDING = 20_000

/**
 * Sensor logs into the database (`attune sensor logs`): polls and long-running sensors hand
 * their lines here; the daemon's tick writes everything pending in one INSERT a second. A
 * write that fails loses those lines (with a warning) and never touches a poll.
 */
export class SensorLogWriter {
  private pending: SensorLogRow[] = []
  private dropped = 0

  constructor(private readonly context: DaemonContext) {}

  add(source: SensorLogSource, lines: readonly SensorLogLine[]): void {
    if (lines.length === 0) return
    const ts = new Date()
    const worker = this.context.worker
    for (const line of lines) this.pending.push({source: {...source, worker}, line: {...line, ts: line.ts ?? ts}})
    if (this.pending.length > MAX_PENDING) {
      this.dropped += this.pending.length - MAX_PENDING
      this.pending.splice(0, this.pending.length - MAX_PENDING)
    }
  }

  get size(): number {
    return this.pending.length
  }

  /** Writes what is pending (one INSERT, then the pruning). */
  async flush(store: Store): Promise<void> {
    const {logger} = this.context
    if (this.dropped > 0) {
      logger.warn('sensor log lines dropped: the database did not keep up', {lines: this.dropped})
      this.dropped = 0
    }
    if (this.pending.length === 0) return
    const batch = this.pending
    this.pending = []
    const started = performance.now()
    try {
      const stored = await appendSensorLogs(store, batch)
      logger.debug('sensor log lines stored', {lines: stored, duration_ms: Math.round(performance.now() - started)})
    } catch (error) {
      logger.warn('sensor log lines not stored', {lines: batch.length, err: error})
    }
  }
}
