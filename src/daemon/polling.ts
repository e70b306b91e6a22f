import {randomUUID} from 'node:crypto'
import {configSnapshot, sensorPollConfig, type EventPipeline} from '../engine/events/index.js'
import {DEFAULT_KILL_GRACE_MS, executeSensor} from '../engine/sensor/execute.js'
import {PersistentRunnerPool} from '../engine/sensor/persistent.js'
import {sensorEntryPath, sensorExecutor} from '../engine/sensor/row.js'
import {pollLogLines, type SensorRow} from '../engine/store/index.js'
import type {SensorExecutionResult} from '../engine/sensor/types.js'
import type {DatabaseService} from './database.js'
import {PollScheduler, type PollOutcome, type SchedulerOptions, type SensorStatus} from './scheduler.js'
import {countStored, DeadlineError, withDeadline, type DaemonContext} from './service.js'

/** Margin on top of a stage's own limit before its deadline calls it hung. */
const STAGE_MARGIN_MS = 3000

/**
 * Poll sensors: the scheduler, and what one poll is. A poll has three stages, each with a
 * deadline, so nothing can hold a sensor forever:
 *
 * 1. the process: `sensor.timeout` (the process group is killed there) plus the kill grace;
 * 2. the database write of its events: retried by the database service under the poll's own
 *    idempotency key until it is stored; the poll waits for it one write attempt's time at
 *    most, then is released (`DeadlineError`, not counted against the sensor) while the write
 *    goes on in the background: the events are neither lost nor stored twice;
 * 3. publishing: the outbox relay's job, never waited for by a poll.
 *
 * The scheduler's own deadline (the sum, plus a margin) is the last guard.
 */
export class PollingService {
  readonly scheduler: PollScheduler
  private readonly sensors = new Map<string, SensorRow>()
  private readonly runners = new PersistentRunnerPool()
  /** A changed file that did not load, per sensor: shown as its last error (docs/daemon.md). */
  private readonly codeNotes = new Map<string, string>()
  private readonly onStatus: (status: SensorStatus) => void

  constructor(
    private readonly context: DaemonContext,
    private readonly database: DatabaseService,
    private readonly pipeline: EventPipeline,
    options: {onStatus: (status: SensorStatus) => void; observe?: Pick<SchedulerOptions, 'onDue' | 'onStart' | 'onFinish'>},
  ) {
    const {config, logger, metrics} = context
    this.onStatus = options.onStatus
    this.scheduler = new PollScheduler({
      poll: (ref) => this.poll(ref),
      maxConcurrent: config.sensor.max_concurrent_sensors,
      maxRestartAttempts: config.sensor.max_restart_attempts,
      maxBackoffMs: 5 * 60_000,
      logger,
      metrics,
      onStatus: (status) => options.onStatus(this.withNote(status)),
      deadlineMs: () => this.processDeadlineMs + this.writeDeadlineMs + STAGE_MARGIN_MS,
      ...options.observe,
    })
  }

  /** The process stage: the sensor's timeout, the kill grace, and a margin. */
  get processDeadlineMs(): number {
    return this.context.config.sensor.timeout * 1000 + DEFAULT_KILL_GRACE_MS + STAGE_MARGIN_MS
  }

  /** How long a poll waits for its write: one attempt of the database service. */
  get writeDeadlineMs(): number {
    return this.database.attemptTimeoutMs
  }

  /** The poll sensors this daemon runs now: new ones are scheduled, changed ones restarted, gone ones removed. */
  sync(rows: readonly SensorRow[]): void {
    const defaultInterval = this.context.config.sensor.poll_interval
    const seen = new Set<string>()
    for (const row of rows) {
      seen.add(row.ref)
      const before = this.sensors.get(row.ref)
      this.sensors.set(row.ref, row)
      this.context.metrics.addSensor(row.ref, row.trigger_ref)
      // A new definition (entry point, environment): its runner starts afresh at the next poll.
      if (before && new Date(before.updated).getTime() !== new Date(row.updated).getTime()) {
        this.codeNotes.delete(row.ref)
        void this.runners.retireSensor(row.ref)
      }
      this.scheduler.upsert({ref: row.ref, intervalMs: (row.poll_interval ?? defaultInterval) * 1000, version: new Date(row.updated).toISOString()})
    }
    for (const ref of this.scheduler.refs()) {
      if (seen.has(ref)) continue
      this.scheduler.remove(ref)
      this.sensors.delete(ref)
      this.runners.closeSensor(ref)
      this.context.metrics.removeSensor(ref)
      this.codeNotes.delete(ref)
      this.context.logger.info('sensor removed or disabled', {sensor: ref})
    }
  }

  has(ref: string): boolean {
    return this.sensors.has(ref)
  }

  idOf(ref: string): number | undefined {
    return this.sensors.get(ref)?.id
  }

  pause(): void {
    this.scheduler.pause()
  }

  resume(): void {
    this.scheduler.resume()
  }

  snapshot(): SensorStatus[] {
    return this.scheduler.snapshot().map((status) => this.withNote(status))
  }

  /** The sensor's file changed and loads: its persistent runner is replaced after the poll it serves now. */
  async reloadCode(ref: string): Promise<void> {
    this.noteCode(ref, null)
    await this.runners.retireSensor(ref)
  }

  /** A changed file that does not load (the runner keeps the old code), or null once it is resolved. */
  noteCode(ref: string, note: string | null): void {
    if ((this.codeNotes.get(ref) ?? null) === note) return
    if (note === null) this.codeNotes.delete(ref)
    else this.codeNotes.set(ref, note)
    const status = this.scheduler.snapshot().find((candidate) => candidate.ref === ref)
    if (status) this.onStatus(this.withNote(status))
  }

  private withNote(status: SensorStatus): SensorStatus {
    const note = this.codeNotes.get(status.ref)
    return note ? {...status, last_error: note} : status
  }

  stuck(): string[] {
    return this.scheduler.stuck()
  }

  /** No new polls; waits for those in flight until `deadline`; closes the persistent runners. */
  async stop(deadline: number): Promise<{finished: boolean; inflight: number}> {
    const result = await this.scheduler.stop(Math.max(0, deadline - Date.now()))
    this.runners.closeAll()
    return result
  }

  /**
   * A poll's log: its stderr (and stdout, where that is a log: Python and Node sensors), its
   * traceback or error, bounded; logged as `sensor log` records and handed to the sensor log
   * writer (`attune sensor logs`).
   */
  private recordLogs(sensor: SensorRow, result: SensorExecutionResult): void {
    const wrapped = result.runtime === 'python' || result.runtime === 'node'
    const lines = pollLogLines({stdout: wrapped ? result.stdout : undefined, stderr: result.stderr, error: result.error, traceback: result.traceback})
    if (lines.length === 0) return
    const {logger, sensorLogs} = this.context
    const poll = randomUUID().slice(0, 8)
    for (const line of lines) {
      if (line.stream === 'stdout' || line.stream === 'stderr') logger.info('sensor log', {sensor: sensor.ref, poll, stream: line.stream, line: line.line})
    }
    if (result.traceback) logger.warn('sensor traceback', {sensor: sensor.ref, poll, error_type: result.error_type, traceback: lines.filter((line) => line.stream === 'traceback').map((line) => line.line).join('\n')})
    sensorLogs?.add({sensorId: sensor.id, sensorRef: sensor.ref, poll}, lines)
  }

  /** One poll: run the sensor, then store what it produced. Throws only for infrastructure trouble. */
  private async poll(ref: string): Promise<PollOutcome> {
    const sensor = this.sensors.get(ref)
    if (!sensor) return {ok: true, events: 0, enforcements: 0, durationMs: 0}
    const {config, logger, metrics} = this.context
    const {config: sensorConfig, problems} = sensorPollConfig(sensor.param_schema, sensor.config)
    if (problems.length > 0) {
      return {ok: false, error: `config does not match the sensor's parameters: ${problems.join('; ')}`, events: 0, enforcements: 0, durationMs: 0}
    }
    let result: Awaited<ReturnType<typeof executeSensor>>
    try {
      result = await withDeadline(
        executeSensor(
          {ref: sensor.ref, entrypoint: sensorEntryPath(sensor), runtime: sensorExecutor(sensor) ?? sensor.runtime_ref, execution: sensor.execution, env: sensor.env ?? undefined},
          {ref: sensor.trigger_ref},
          sensorConfig,
          {timeoutMs: config.sensor.timeout * 1000, maxOutputBytes: config.sensor.max_output_bytes, interpreters: config.sensor.interpreters, runners: this.runners, runAs: this.context.runAs},
        ),
        this.processDeadlineMs,
        'the sensor process',
      )
    } catch (error) {
      if (!(error instanceof DeadlineError)) throw error
      return {ok: false, error: `timeout: ${error.message}`, events: 0, enforcements: 0, durationMs: error.ms}
    }
    this.recordLogs(sensor, result)
    if (result.error !== null) {
      return {ok: false, error: `${result.error_type}: ${result.error}`, events: 0, enforcements: 0, durationMs: result.duration_ms}
    }
    let enforcements = 0
    if (result.events.length > 0) {
      // One key for every attempt of this poll's write: a retry after an unknown outcome
      // (no answer to COMMIT) finds it committed instead of storing a second copy.
      const key = `poll:${sensor.ref}:${randomUUID()}`
      const write = this.database.write(`storing the events of ${sensor.ref}`, () =>
        this.pipeline.persist(
          {trigger: {id: sensor.trigger, ref: sensor.trigger_ref}, sensor: {id: sensor.id, ref: sensor.ref}, config: configSnapshot(sensorConfig, sensor.param_schema), events: result.events},
          {idempotencyKey: key},
        ),
      )
      const counted = write.then((stored) => {
        countStored(metrics, sensor.trigger_ref, stored)
        return stored
      })
      try {
        enforcements = (await withDeadline(counted, this.writeDeadlineMs, `storing the events of ${sensor.ref}`)).enforcements.length
      } catch (error) {
        if (error instanceof DeadlineError) {
          counted.catch((late) => logger.error('could not store the events of a poll', {sensor: ref, err: late}))
          throw new DeadlineError(`storing the events (${result.events.length}; still retried in the background under key ${key})`, error.ms)
        }
        throw error
      }
    }
    for (const warning of result.warnings) logger.warn('sensor warning', {sensor: ref, warning})
    return {ok: true, events: result.events.length, enforcements, durationMs: result.duration_ms}
  }
}
