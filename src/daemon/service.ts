import type {AttuneConfig} from '../engine/config.js'
import type {PersistResult} from '../engine/events/index.js'
import type {SensorIdentity} from '../engine/sensor/run-as.js'
import type {Logger} from './logger.js'
import type {DaemonMetrics} from './metrics.js'
import type {SensorLogWriter} from './sensor-logs.js'

/**
 * What every daemon service shares: the daemon's configuration, log, metrics and worker name.
 * Each service has one job and one lifecycle (`start`, `stop`, `status`); `Daemon` composes them.
 */
export interface DaemonContext {
  config: AttuneConfig
  logger: Logger
  metrics: DaemonMetrics
  /** This daemon's worker name. */
  worker: string
  /** The user sensor processes run as (`sensor.run_as`), if set. */
  runAs?: SensorIdentity
  /** The daemon's API base URL once it listens (for long-running sensors' ATTUNE_API_URL). */
  apiUrl?: () => string | undefined
  /** The daemon's log level (for ATTUNE_LOG_LEVEL). */
  logLevel?: string
  /** Where sensors' log lines go to be stored (`attune sensor logs`); unset: they are only logged. */
  sensorLogs?: SensorLogWriter
}

/** A promise that rejects with `DeadlineError` when `promise` has not settled within `ms`. */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(what, ms)), ms)
  })
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer))
}

/** A stage of the daemon's work that did not finish in its time. */
export class DeadlineError extends Error {
  constructor(
    readonly what: string,
    readonly ms: number,
  ) {
    super(`${what} did not finish within ${formatMs(ms)}`)
  }
}

export function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Periodic background tasks: a task never overlaps itself, a failure is logged (the task runs
 * again next period), and `lastTick` tells /livez that the daemon's event loop and timers run.
 */
export class Ticker {
  private readonly timers: NodeJS.Timeout[] = []
  private readonly inflight = new Set<Promise<void>>()
  private stopped = false
  /** When any task last started (ms since the epoch). */
  lastTick = Date.now()

  constructor(private readonly logger: Logger) {}

  every(name: string, ms: number, task: () => Promise<void> | void): void {
    let running = false
    const timer = setInterval(() => {
      this.lastTick = Date.now()
      if (running || this.stopped) return
      running = true
      const run: Promise<void> = Promise.resolve()
        .then(task)
        .catch((error) => this.logger.error('background task failed', {task: name, err: error}))
        .finally(() => {
          running = false
          this.inflight.delete(run)
        })
      this.inflight.add(run)
    }, ms)
    this.timers.push(timer)
  }

  /** No task starts again; resolves once the tasks running now have finished. */
  stop(): Promise<void> {
    this.stopped = true
    for (const timer of this.timers) clearInterval(timer)
    this.timers.length = 0
    return Promise.all(this.inflight).then(() => {})
  }
}

/** Counts what a write stored in the daemon's metrics. */
export function countStored(metrics: DaemonMetrics, trigger: string, stored: PersistResult): void {
  if (stored.replayed) return
  metrics.events.inc({trigger}, stored.events.length - stored.deduplicated)
  if (stored.deduplicated > 0) metrics.deduplicated.inc({trigger}, stored.deduplicated)
  for (const enforcement of stored.enforcements) metrics.enforcements.inc({rule: enforcement.rule_ref})
}
