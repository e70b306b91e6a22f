import {backoffDelay} from '../engine/backoff.js'
import type {Logger} from './logger.js'
import type {DaemonMetrics} from './metrics.js'
import {DeadlineError, withDeadline} from './service.js'

/**
 * Polls sensors on their intervals (SPEC §9): a jittered first poll, the next poll scheduled
 * from the previous *scheduled* time (no drift), never two polls of one sensor at once (an
 * overrun is skipped and counted), a global bound on concurrent polls, and consecutive
 * failures counted: after `maxRestartAttempts` the sensor is `failed` and retried on a capped
 * exponential backoff until a poll succeeds. Nothing is ever dropped silently.
 *
 * A poll has a deadline: one that has not finished by then is reported and the sensor is
 * rescheduled, never left `running` (whatever hangs, a process or a database write, is bounded
 * by its own stage's deadline; this one is the last guard). A sensor that has not completed a
 * poll within 3× its interval (or its backoff delay) while polling is not paused is `stuck`:
 * /healthz reports it.
 */

export interface PollTarget {
  ref: string
  intervalMs: number
  /** Changes when the sensor's definition changes; a new version restarts its schedule. */
  version: string
}

/** What one poll did. A poll function throws only for infrastructure trouble (database down). */
export interface PollOutcome {
  ok: boolean
  error?: string | null
  events: number
  enforcements: number
  durationMs: number
}

export type SensorHealth = 'starting' | 'running' | 'failed' | 'paused'

export interface SensorStatus {
  ref: string
  state: SensorHealth
  interval_ms: number
  consecutive_failures: number
  polls: number
  failures: number
  overruns: number
  events: number
  enforcements: number
  last_poll: string | null
  last_duration_ms: number | null
  last_error: string | null
  next_poll: string | null
  running: boolean
  /** When a poll (ok or failed) last completed. */
  last_completed: string | null
  /** No poll completed within 3× the interval (or the backoff delay) while the database answered. */
  stuck: boolean
}

export interface SchedulerOptions {
  /** Runs one poll of a sensor (executeSensor + the event pipeline). */
  poll: (ref: string) => Promise<PollOutcome>
  maxConcurrent: number
  maxRestartAttempts: number
  /** Upper bound of the failed-sensor backoff. */
  maxBackoffMs: number
  logger: Logger
  metrics?: DaemonMetrics
  /** Called whenever a sensor's status changes (for sensor_state, the dashboard). */
  onStatus?: (status: SensorStatus) => void
  /** Observation hooks (benchmarks): a poll came due, and a poll started `lagMs` after its slot. */
  onDue?: (ref: string, scheduledAt: number) => void
  onStart?: (ref: string, lagMs: number) => void
  /** A poll finished (its events stored, or its failure counted). */
  onFinish?: (ref: string, ok: boolean) => void
  /** How long a poll of this sensor may take before it is abandoned (default: no deadline). */
  deadlineMs?: (target: PollTarget) => number
  random?: () => number
  now?: () => number
}

interface Entry {
  target: PollTarget
  timer?: NodeJS.Timeout
  nextDue: number
  /** Scheduled time of the poll waiting for a concurrency slot, if any. */
  queuedFor?: number
  running: boolean
  removed: boolean
  status: SensorStatus
  /** Since when a completed poll is awaited: the latest of added, last completion and resume. */
  clockFrom: number
  /** The gap expected before the next completion: the interval, or the failed sensor's backoff. */
  expectedGapMs: number
  /** Counts polls started, so that an abandoned poll's late end changes nothing. */
  generation: number
}

export class PollScheduler {
  private readonly entries = new Map<string, Entry>()
  private readonly waiting: Entry[] = []
  private readonly inflight = new Set<Promise<void>>()
  private active = 0
  private paused = false
  private stopped = false
  private readonly now: () => number
  private readonly random: () => number

  constructor(private readonly options: SchedulerOptions) {
    this.now = options.now ?? Date.now
    this.random = options.random ?? Math.random
  }

  /** Adds a sensor, or restarts its schedule when its definition changed. Its statistics stay. */
  upsert(target: PollTarget): void {
    const existing = this.entries.get(target.ref)
    if (existing && existing.target.version === target.version && existing.target.intervalMs === target.intervalMs) return
    if (existing) clearTimeout(existing.timer)
    const status: SensorStatus = existing?.status ?? {
      ref: target.ref,
      state: 'starting',
      interval_ms: target.intervalMs,
      consecutive_failures: 0,
      polls: 0,
      failures: 0,
      overruns: 0,
      events: 0,
      enforcements: 0,
      last_poll: null,
      last_duration_ms: null,
      last_error: null,
      next_poll: null,
      running: false,
      last_completed: null,
      stuck: false,
    }
    status.interval_ms = target.intervalMs
    const entry: Entry = {
      target,
      nextDue: 0,
      running: existing?.running ?? false,
      removed: false,
      status,
      clockFrom: this.now(),
      expectedGapMs: target.intervalMs,
      generation: existing?.generation ?? 0,
    }
    if (existing) existing.removed = true
    this.entries.set(target.ref, entry)
    // Jitter spreads the first polls of many sensors over their interval instead of a burst.
    entry.nextDue = this.now() + Math.floor(this.random() * target.intervalMs)
    this.arm(entry)
  }

  remove(ref: string): void {
    const entry = this.entries.get(ref)
    if (!entry) return
    clearTimeout(entry.timer)
    entry.removed = true
    this.entries.delete(ref)
  }

  refs(): string[] {
    return [...this.entries.keys()]
  }

  /** Stops starting polls (the database is down); polls already running finish. */
  pause(): void {
    if (this.paused) return
    this.paused = true
    for (const entry of this.entries.values()) {
      clearTimeout(entry.timer)
      entry.status.state = 'paused'
      this.report(entry)
    }
    this.dropWaiting()
  }

  /** Resumes after a pause, with fresh jitter so the sensors do not all fire at once. */
  resume(): void {
    if (!this.paused || this.stopped) return
    this.paused = false
    for (const entry of this.entries.values()) {
      // The database was down: that time does not count against the sensor.
      entry.clockFrom = Math.max(entry.clockFrom, this.now())
      entry.status.state = entry.status.consecutive_failures >= this.options.maxRestartAttempts ? 'failed' : 'running'
      entry.nextDue = this.now() + Math.floor(this.random() * Math.min(entry.target.intervalMs, 1000))
      this.arm(entry)
    }
  }

  get isPaused(): boolean {
    return this.paused
  }

  snapshot(): SensorStatus[] {
    const now = this.now()
    return [...this.entries.values()].map((entry) => ({...entry.status, stuck: this.isStuck(entry, now)}))
  }

  /** Refs of the sensors that have not completed a poll within 3× their interval (or backoff). */
  stuck(): string[] {
    const now = this.now()
    return [...this.entries.values()].filter((entry) => this.isStuck(entry, now)).map((entry) => entry.target.ref)
  }

  private isStuck(entry: Entry, now: number): boolean {
    if (this.paused || this.stopped) return false
    return now - entry.clockFrom > 3 * Math.max(entry.target.intervalMs, entry.expectedGapMs)
  }

  /** Stops scheduling and waits (at most `timeoutMs`) for the polls in flight. */
  async stop(timeoutMs: number): Promise<{finished: boolean; inflight: number}> {
    this.stopped = true
    for (const entry of this.entries.values()) clearTimeout(entry.timer)
    this.dropWaiting()
    const pending = [...this.inflight]
    if (pending.length === 0) return {finished: true, inflight: 0}
    let timer: NodeJS.Timeout | undefined
    const finished = await Promise.race([
      Promise.allSettled(pending).then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs)
      }),
    ])
    clearTimeout(timer)
    return {finished, inflight: this.inflight.size}
  }

  /**
   * Forgets the polls waiting for a concurrency slot. Their entries must forget it too: an
   * entry still marked queued would skip every later slot as an overrun, forever (the 14 of 30
   * sensors that never polled again after a database freeze).
   */
  private dropWaiting(): void {
    for (const entry of this.waiting) entry.queuedFor = undefined
    this.waiting.length = 0
  }

  private arm(entry: Entry): void {
    if (this.stopped || this.paused || entry.removed) return
    clearTimeout(entry.timer)
    entry.status.next_poll = new Date(entry.nextDue).toISOString()
    entry.timer = setTimeout(() => this.due(entry), Math.max(0, entry.nextDue - this.now()))
  }

  private due(entry: Entry): void {
    if (this.stopped || this.paused || entry.removed) return
    const scheduledAt = entry.nextDue
    this.options.onDue?.(entry.target.ref, scheduledAt)
    this.advance(entry, scheduledAt)
    if (entry.running || entry.queuedFor !== undefined) {
      entry.status.overruns++
      this.options.metrics?.overruns.inc({sensor: entry.target.ref})
      this.options.logger.warn('poll skipped: the previous poll is still running', {sensor: entry.target.ref})
    } else if (this.active >= this.options.maxConcurrent) {
      entry.queuedFor = scheduledAt
      this.waiting.push(entry)
    } else {
      this.start(entry, scheduledAt)
    }
    this.arm(entry)
  }

  /** Moves nextDue one interval on from `scheduledAt`, skipping slots that are already past. */
  private advance(entry: Entry, scheduledAt: number): void {
    const interval = entry.target.intervalMs
    let next = scheduledAt + interval
    const now = this.now()
    if (next <= now) next += Math.ceil((now - next + 1) / interval) * interval
    entry.nextDue = next
  }

  private start(entry: Entry, scheduledAt: number): void {
    entry.running = true
    entry.status.running = true
    this.active++
    const lagMs = Math.max(0, this.now() - scheduledAt)
    this.options.metrics?.scheduleLag.observe(lagMs / 1000)
    this.options.onStart?.(entry.target.ref, lagMs)
    this.options.logger.debug('poll started', {sensor: entry.target.ref, lag_ms: Math.round(lagMs)})
    const run = this.runPoll(entry).finally(() => {
      this.inflight.delete(run)
      entry.running = false
      entry.status.running = false
      this.active--
      this.drain()
    })
    this.inflight.add(run)
  }

  private drain(): void {
    while (!this.stopped && !this.paused && this.active < this.options.maxConcurrent && this.waiting.length > 0) {
      const entry = this.waiting.shift()!
      const scheduledAt = entry.queuedFor
      entry.queuedFor = undefined
      if (entry.removed || scheduledAt === undefined || entry.running) continue
      this.start(entry, scheduledAt)
    }
  }

  private async runPoll(entry: Entry): Promise<void> {
    const {ref} = entry.target
    const generation = ++entry.generation
    let outcome: PollOutcome
    try {
      const poll = this.options.poll(ref)
      const deadline = this.options.deadlineMs?.(entry.target)
      outcome = deadline === undefined ? await poll : await withDeadline(poll, deadline, `the poll of ${ref}`)
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      if (error instanceof DeadlineError) {
        // Released: the next slot polls again; whatever still runs of this poll ends on its own.
        entry.status.last_error = `${message}: rescheduled`
        this.options.metrics?.pollDeadlines.inc({sensor: ref})
        this.options.logger.error('poll exceeded its deadline: rescheduled', {sensor: ref, deadline_ms: error.ms})
        this.report(entry)
      } else {
        // Not the sensor's fault (the database is down): it is not counted against the sensor.
        this.options.logger.error('poll could not be completed', {sensor: ref, err: error})
      }
      return
    }
    if (generation !== entry.generation) return
    const status = entry.status
    status.polls++
    status.last_poll = new Date().toISOString()
    status.last_completed = status.last_poll
    entry.clockFrom = this.now()
    entry.expectedGapMs = entry.target.intervalMs
    status.last_duration_ms = outcome.durationMs
    status.events += outcome.events
    status.enforcements += outcome.enforcements
    this.options.metrics?.polls.inc({sensor: ref, outcome: outcome.ok ? 'ok' : 'failed'})
    this.options.metrics?.pollDuration.observe(outcome.durationMs / 1000)
    this.options.onFinish?.(ref, outcome.ok)
    this.options.logger.debug('poll finished', {sensor: ref, ok: outcome.ok, duration_ms: outcome.durationMs, events: outcome.events, enforcements: outcome.enforcements})
    if (outcome.ok) {
      if (status.state === 'failed') this.options.logger.info('sensor recovered', {sensor: ref, after_failures: status.consecutive_failures})
      status.consecutive_failures = 0
      status.last_error = null
      status.state = 'running'
      this.options.metrics?.sensorSucceeded(ref)
    } else {
      status.failures++
      status.consecutive_failures++
      status.last_error = outcome.error ?? 'unknown error'
      this.options.metrics?.pollFailures.inc({sensor: ref})
      const {maxRestartAttempts} = this.options
      if (status.consecutive_failures >= maxRestartAttempts) {
        if (status.state !== 'failed') {
          this.options.logger.error('sensor failed: retrying with backoff', {sensor: ref, consecutive_failures: status.consecutive_failures, error: status.last_error})
        }
        status.state = 'failed'
        // interval, 2×, 4×, ... capped: a broken sensor costs little, and is retried forever.
        const backoff = backoffDelay(status.consecutive_failures - maxRestartAttempts, {initialMs: entry.target.intervalMs, maxMs: this.options.maxBackoffMs})
        entry.expectedGapMs = Math.max(backoff, entry.target.intervalMs)
        const retryAt = this.now() + entry.expectedGapMs
        if (retryAt > entry.nextDue && !entry.removed) {
          entry.nextDue = retryAt
          this.arm(entry)
        }
      } else {
        this.options.logger.warn('poll failed', {sensor: ref, consecutive_failures: status.consecutive_failures, error: status.last_error})
      }
    }
    this.report(entry)
  }

  private report(entry: Entry): void {
    this.options.onStatus?.({...entry.status})
  }
}
