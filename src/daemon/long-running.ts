import {randomUUID} from 'node:crypto'
import {configSnapshot, type EventPipeline} from '../engine/events/index.js'
import {planLaunch} from '../engine/sensor/execute.js'
import {sensorEntryPath, sensorExecutor} from '../engine/sensor/row.js'
import type {RuleRow, SensorRow, Store} from '../engine/store/index.js'
import {issueSensorToken} from '../engine/tokens/index.js'
import type {DatabaseService} from './database.js'
import {countStored, type DaemonContext} from './service.js'
import type {StoredSensorState} from './states.js'
import {LongRunningSupervisor, type SupervisorStatus, type TriggerInstance} from './supervisor.js'

/**
 * Long-running sensors (Attune's execution model): one supervised process per sensor, handed
 * the enabled rules of its triggers, restarted with backoff when it crashes and when its rule
 * set or definition changes. Their events are stored like polled ones (a key per event line,
 * so a retried write never stores one twice).
 */
export class LongRunningService {
  private readonly supervisors = new Map<string, {supervisor: LongRunningSupervisor; version: string; id: number}>()
  /** Events each sensor stored through the API (it may emit there instead of on stdout). */
  private readonly apiEvents = new Map<string, number>()
  /** A changed file that did not load, per sensor: its last error while the old process runs. */
  private readonly codeNotes = new Map<string, string>()
  /** Set at the daemon's stop: nothing starts again. */
  private closed = false

  constructor(
    private readonly context: DaemonContext,
    private readonly database: DatabaseService,
    private readonly pipeline: EventPipeline,
  ) {}

  get size(): number {
    return this.supervisors.size
  }

  /** Starts, updates, restarts or stops supervisors to match `rows` (long-running, not builtin). */
  async sync(rows: readonly SensorRow[], rules: readonly RuleRow[]): Promise<void> {
    const {config, logger} = this.context
    const wanted = new Set<string>()
    for (const row of rows) {
      if (this.closed) return
      wanted.add(row.ref)
      // Its triggers' event counters exist from the start, at 0.
      for (const trigger of row.trigger_types) this.context.metrics.events.inc({trigger}, 0)
      const triggers: TriggerInstance[] = rules
        .filter((rule) => row.trigger_types.includes(rule.trigger_ref))
        .map((rule) => ({id: rule.id, ref: rule.ref, trigger_ref: rule.trigger_ref, config: rule.trigger_params ?? {}}))
      const version = new Date(row.updated).toISOString()
      const running = this.supervisors.get(row.ref)
      if (running && running.version === version) {
        await running.supervisor.updateTriggers(triggers)
        continue
      }
      if (running) await running.supervisor.stop()
      this.codeNotes.delete(row.ref)
      const plan = await planLaunch({ref: row.ref, entrypoint: sensorEntryPath(row), runtime: sensorExecutor(row) ?? row.runtime_ref}, config.sensor.interpreters, {runAs: this.context.runAs})
      if ('error' in plan) {
        logger.error('cannot start a long-running sensor', {sensor: row.ref, error: plan.error})
        continue
      }
      if (this.closed) return
      const supervisor = new LongRunningSupervisor({
        sensor: {id: row.id, ref: row.ref, triggerTypes: row.trigger_types, config: row.config ?? {}, env: row.env ?? undefined},
        plan,
        maxRestartAttempts: config.sensor.max_restart_attempts,
        triggers,
        issueToken: () => this.issueToken(this.database.store, row),
        environment: this.environment(),
        onEvent: async (event) => {
          const key = `event:${row.ref}:${randomUUID()}`
          const stored = await this.database.write(`storing an event of ${row.ref}`, () =>
            this.pipeline.persist(
              {
                trigger: {ref: event.trigger_ref},
                sensor: {id: row.id, ref: row.ref},
                config: configSnapshot(row.config, row.param_schema),
                events: [event.payload],
                // An event for one trigger instance belongs to that rule alone.
                rule_ids: event.trigger_instance_id === null ? undefined : [event.trigger_instance_id],
              },
              {idempotencyKey: key},
            ),
          )
          countStored(this.context.metrics, event.trigger_ref, stored)
        },
        onLog: (line, stream, pid) => this.context.sensorLogs?.add({sensorId: row.id, sensorRef: row.ref, pid}, [{stream, line}]),
        logger,
      })
      this.supervisors.set(row.ref, {supervisor, version, id: row.id})
      await supervisor.start()
    }
    for (const [ref, {supervisor}] of this.supervisors) {
      if (wanted.has(ref)) continue
      await supervisor.stop()
      this.supervisors.delete(ref)
      this.codeNotes.delete(ref)
    }
  }

  /** Attune's sensor environment beyond the token (the API, the broker, the log level). */
  private environment(): Record<string, string> {
    const {config, apiUrl, logLevel} = this.context
    const url = apiUrl?.()
    return {
      ...(url ? {ATTUNE_API_URL: url} : {}),
      ...(config.amqp.url ? {ATTUNE_MQ_URL: config.amqp.url, ATTUNE_MQ_EXCHANGE: 'attune.events'} : {}),
      ATTUNE_LOG_LEVEL: logLevel ?? 'info',
    }
  }

  private async issueToken(store: Store, row: SensorRow): Promise<{token: string; expiresAt: Date}> {
    const issued = await issueSensorToken(store, {sensorRef: row.ref, triggerTypes: row.trigger_types}, this.context.config.auth.jwt_secret)
    return {token: issued.token, expiresAt: new Date(issued.expires_at)}
  }

  /** The daemon stops: every supervisor stops and none starts again. */
  close(): Promise<void> {
    this.closed = true
    return this.stopAll()
  }

  /** Stops every supervisor now (the database is gone: another daemon may take the sensors). */
  stopAll(): Promise<void> {
    const supervisors = [...this.supervisors.values()]
    this.supervisors.clear()
    return Promise.all(supervisors.map(({supervisor}) => supervisor.stop())).then(() => {})
  }

  /** Whether this daemon supervises the sensor now. */
  has(ref: string): boolean {
    return this.supervisors.has(ref)
  }

  /** The sensor's file changed and loads: restarted with it now. Whether this daemon runs it. */
  async reloadCode(ref: string): Promise<boolean> {
    const running = this.supervisors.get(ref)
    if (!running || this.closed) return false
    this.codeNotes.delete(ref)
    await running.supervisor.restartForCode()
    return true
  }

  /** A changed file that does not load (the old process keeps running), or null once resolved. */
  noteCode(ref: string, note: string | null): void {
    if (note === null) this.codeNotes.delete(ref)
    else if (this.supervisors.has(ref)) this.codeNotes.set(ref, note)
  }

  /** A sensor stored events through the API. */
  noteApiEvents(ref: string, events: number): void {
    if (this.supervisors.has(ref)) this.apiEvents.set(ref, (this.apiEvents.get(ref) ?? 0) + events)
  }

  snapshot(): SupervisorStatus[] {
    return [...this.supervisors.values()].map(({supervisor}) => {
      const status = supervisor.snapshot()
      return {...status, events: status.events + (this.apiEvents.get(status.ref) ?? 0)}
    })
  }

  /** Their rows of `attune_sensor.sensor_state`: running, starting or restarting (restarts count as failures). */
  states(): StoredSensorState[] {
    const states: StoredSensorState[] = []
    for (const status of this.snapshot()) {
      const id = this.supervisors.get(status.ref)!.id
      if (status.state === 'stopped') continue
      states.push({
        id,
        ref: status.ref,
        state: status.state === 'backoff' ? 'restarting' : status.state,
        consecutive_failures: status.consecutive_crashes,
        polls: 0,
        failures: status.restarts,
        events: status.events,
        last_poll: status.started_at,
        last_duration_ms: null,
        last_error: this.codeNotes.get(status.ref) ?? status.last_exit,
        next_poll: null,
      })
    }
    return states
  }
}
