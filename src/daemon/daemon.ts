import {isBuiltinName, isBuiltinTimer, sensorEntryPath, sensorExecutor} from '../engine/sensor/row.js'
import {randomUUID} from 'node:crypto'
import {hostname} from 'node:os'
import {join} from 'node:path'
import {createBus, OutboxRelay, pendingOutboxCount, type Bus} from '../engine/bus/index.js'
import type {AttuneConfig} from '../engine/config.js'
import {registerSensorWorker, runtimeDetection, workerCapabilities, type DetectionReport} from '../engine/detect/index.js'
import {AbortError, errorMessage} from '../engine/errors.js'
import {configSnapshot, EventPipeline, sensorPollConfig} from '../engine/events/index.js'
import {registerPacks} from '../engine/packs/index.js'
import {executeSensor, planLaunch} from '../engine/sensor/execute.js'
import {PersistentRunnerPool} from '../engine/sensor/persistent.js'
import {killAllSensorProcesses} from '../engine/sensor/process.js'
import {resolveRuntimeName} from '../engine/sensor/runtimes.js'
import {
  listEnabledSensors,
  migrationStatus,
  openPgStore,
  readMigrationFiles,
  type EmbeddedServer,
  type RuleRow,
  type SensorRow,
  type SensorStatusRow,
  type Store,
} from '../engine/store/index.js'
import {TIMER_TRIGGERS, TimerSensor, type TimerPayload, type TimerState, type TimerStateInput} from '../engine/timers/index.js'
import {issueSensorToken} from '../engine/tokens/index.js'
import {startEmbeddedDatabaseProcess} from '../engine/store/embedded-process.js'
import {startHealthServer, type HealthServer} from './health.js'
import {SensorLeases} from './leases.js'
import type {Logger} from './logger.js'
import {DaemonMetrics} from './metrics.js'
import {PollScheduler, type PollOutcome, type SchedulerOptions, type SensorStatus} from './scheduler.js'
import {LongRunningSupervisor, type SupervisorStatus, type TriggerInstance} from './supervisor.js'

/**
 * `attune daemon` (SPEC §9): the long-lived poller, composed from the same engine the CLI
 * uses. It polls every enabled sensor through `executeSensor()`, stores each poll's events,
 * enforcements and outbox rows in one transaction (`EventPipeline`), publishes through the
 * outbox relay, supervises long-running sensors, and picks up sensor and rule changes from
 * the database without a restart. A database outage pauses polling; a broker outage only
 * grows the outbox.
 */

export interface DaemonOptions {
  config: AttuneConfig
  logger: Logger
  /** Pack folders registered before the sensors are loaded. */
  packs?: string[]
  /** Port of /healthz and /metrics on 127.0.0.1; undefined: no server, 0: any free port. */
  healthPort?: number
  /** This daemon's worker name (default `<hostname>:<pid>`). */
  name?: string
  /** How often the sensor and rule tables are checked for changes (default 2 s). */
  reloadIntervalMs?: number
  /** Worker heartbeat and database probe period (default 5 s). */
  heartbeatMs?: number
  /** Passed to the scheduler (benchmarks). */
  observe?: Pick<SchedulerOptions, 'onDue' | 'onStart' | 'onFinish'>
}

export interface DaemonStatus {
  name: string
  started_at: string
  database: {ok: boolean; location: string; error: string | null}
  broker: {kind: 'amqp' | 'local'; location: string; ok: boolean; error: string | null; pending: number; sent: number}
  sensors: SensorStatus[]
  long_running: SupervisorStatus[]
  timers: ReturnType<TimerSensor<RuleRow>['status']>
}

/** A row of attune_sensor.sensor_state as the daemon writes it (and `attune sensor status` reads it). */
type StoredSensorState = {id: number} & Pick<
  SensorStatusRow,
  'ref' | 'state' | 'consecutive_failures' | 'polls' | 'failures' | 'events' | 'last_poll' | 'last_duration_ms' | 'last_error' | 'next_poll'
>


export class Daemon {
  readonly metrics = new DaemonMetrics()
  readonly name: string
  private store?: Store
  private embedded?: EmbeddedServer
  private bus?: Bus
  private relay?: OutboxRelay
  private pipeline?: EventPipeline
  private scheduler?: PollScheduler
  private health?: HealthServer
  private readonly runners = new PersistentRunnerPool()
  private readonly sensors = new Map<string, SensorRow>()
  private readonly supervisors = new Map<string, {supervisor: LongRunningSupervisor; version: string; id: number}>()
  /** The builtin timer sensor, while an enabled builtin sensor (core.timer_sensor) exists. */
  private timer?: {sensor: SensorRow; timers: TimerSensor<RuleRow>}
  private timerRuleSet = ''
  private readonly timers: NodeJS.Timeout[] = []
  private readonly startedAt = new Date()
  private databaseError: string | null = null
  private detection?: DetectionReport
  private leases?: SensorLeases
  private owned = 0
  private pendingOutbox = 0
  private stopping = false
  private ruleVersion = ''
  private dirtyStates = new Map<string, SensorStatus>()
  /** When the leases were last renewed (the lease tick of `reload`). */
  private lastLeaseRenewal = Date.now()
  /** What was last written for each long-running sensor (JSON), to write only changes. */
  private readonly writtenStates = new Map<string, string>()

  /** Tells this run apart from an earlier daemon of the same name (in the worker row's capabilities). */
  private readonly instance = randomUUID()
  /** This daemon's worker row is written (and its leases are its own to release). */
  private registered = false

  constructor(private readonly options: DaemonOptions) {
    this.name = options.name ?? `${hostname()}:${process.pid}`
  }

  private heartbeatMs(): number {
    return this.options.heartbeatMs ?? Math.min(5000, (this.options.config.daemon.lease_seconds * 1000) / 3)
  }

  /**
   * Leases belong to a worker name: two live daemons of one name would both poll every sensor.
   * A recent heartbeat under our name is either such a daemon or one that was just killed and
   * is being restarted; watching for one heartbeat interval tells them apart.
   */
  private async refuseDuplicateName(): Promise<void> {
    const read = async () =>
      (
        await this.store!.query<{age_ms: number; beat: Date}>(
          `SELECT last_heartbeat AS beat,
                  (extract(epoch FROM now() - last_heartbeat) * 1000)::int AS age_ms
             FROM attune.worker WHERE name = $1 AND status = 'active' AND last_heartbeat IS NOT NULL`,
          [this.name],
        )
      ).rows[0]
    const before = await read()
    if (!before || before.age_ms > this.options.config.daemon.lease_seconds * 1000) return
    this.options.logger.info('a daemon of this name beat recently: checking that it is gone', {worker: this.name, heartbeat_age_ms: before.age_ms})
    await new Promise((resolve) => setTimeout(resolve, this.heartbeatMs() + 1000))
    const after = await read()
    if (after && new Date(after.beat).getTime() !== new Date(before.beat).getTime()) {
      throw new AbortError(`Another daemon named "${this.name}" is running against this database (it sent a heartbeat ${Math.round(after.age_ms / 1000)} s ago).`, {
        code: 'worker_name_taken',
        hint: 'Give every daemon its own --name (the default, <host>:<pid>, is unique on one host), or stop the other one first.',
      })
    }
  }

  get healthPort(): number | undefined {
    return this.health?.port
  }

  /** The pid of the child process serving the embedded database (none with PostgreSQL). */
  get embeddedDatabasePid(): number | undefined {
    return this.embedded?.pid
  }

  async start(): Promise<void> {
    const {config, logger} = this.options
    this.store = await this.openDatabase()
    this.metrics.databaseUp.set(1)
    // First, before any work: a live daemon of the same name would poll every sensor twice.
    await this.refuseDuplicateName()
    if (this.options.packs?.length) {
      const report = await registerPacks(this.store, this.options.packs, {enforcements: this.options.config.pipeline.enforcements})
      logger.info('packs registered', {packs: report.packs, ...report.summary})
    }
    this.bus = createBus({amqpUrl: config.amqp.url})
    this.relay = new OutboxRelay(this.store, this.bus, {
      onError: (error, delayMs) => {
        this.metrics.publishFailures.inc()
        logger.warn('publishing is delayed', {error: error.message, retry_in_ms: delayMs})
      },
    })
    this.relay.start()
    this.pipeline = new EventPipeline(this.store, {onCommitted: () => this.relay?.notify(), enforcements: this.options.config.pipeline.enforcements})
    this.scheduler = new PollScheduler({
      poll: (ref) => this.poll(ref),
      maxConcurrent: config.sensor.max_concurrent_sensors,
      maxRestartAttempts: config.sensor.max_restart_attempts,
      maxBackoffMs: 5 * 60_000,
      logger,
      metrics: this.metrics,
      onStatus: (status) => this.dirtyStates.set(status.ref, status),
      ...this.options.observe,
    })
    // The runtimes this host has (real interpreter paths go to the executors of this process).
    this.detection = await runtimeDetection({config, store: this.store, useCache: false, notice: (message) => logger.info(message)})
    this.leases = new SensorLeases({worker: this.name, leaseMs: config.daemon.lease_seconds * 1000, runtimeClass: (name) => this.runtimeClass(name)})
    logger.info('runtimes detected', {source: this.detection.source_detail, available: this.detection.available})
    await this.registerWorker('active')
    this.registered = true
    await this.reload()
    if (this.options.healthPort !== undefined) {
      this.health = await startHealthServer(this.options.healthPort, {
        health: () => this.healthReport(),
        metrics: () => {
          this.updateSensorGauges()
          return this.metrics.text()
        },
      })
      logger.info('health endpoints listening', {url: `http://127.0.0.1:${this.health.port}/healthz`})
    }
    // The reload is also the lease tick: a quarter of the lease keeps failover close to the lease time.
    this.every(this.options.reloadIntervalMs ?? Math.min(2000, (config.daemon.lease_seconds * 1000) / 4), () => this.reload())
    // The heartbeat keeps this worker counted as live by the others: well within the lease time.
    this.every(this.heartbeatMs(), () => this.heartbeat())
    this.every(1000, () => this.flushSensorStates())
    this.every(1000, async () => this.checkLeaseDeadline())
    logger.info('daemon started', {
      worker: this.name,
      database: this.store.location,
      broker: this.bus.location,
      sensors: this.sensors.size,
      long_running: this.supervisors.size,
    })
  }

  /** The embedded database is served on its socket and used through it; PostgreSQL directly. */
  private async openDatabase(): Promise<Store> {
    const {config} = this.options
    if (!config.database.url) {
      this.embedded = await startEmbeddedDatabaseProcess(config.home)
      // One connection: PGlite is a single Postgres session, and the socket server queues whole
      // messages, so statements of two connections of ours could interleave mid-protocol.
      return openPgStore(this.embedded.url, {max: 1, queryTimeoutMs: this.queryTimeoutMs(), location: `embedded ${join(config.home, 'pgdata')}`, embedded: true})
    }
    const store = await openPgStore(config.database.url, {max: 10, queryTimeoutMs: this.queryTimeoutMs()})
    let pending: number
    try {
      pending = (await migrationStatus(store)).filter((migration) => migration.applied_at === null).length
    } catch {
      pending = readMigrationFiles().length // no attune schema at all yet
    }
    if (pending > 0) {
      await store.close()
      throw new AbortError(`The database at ${store.location} has ${pending} pending migration(s).`, {
        code: 'migrations_pending',
        hint: 'Run `attune db migrate` (with the same --database-url) first.',
      })
    }
    return store
  }

  /**
   * A statement that takes this long means a database that does not answer: it fails, so the
   * next lease tick can run (the lease watchdog has stopped the sensors by then). Generous, so
   * a slow but working database under load is not taken for a dead one.
   */
  private queryTimeoutMs(): number {
    return Math.max(5000, (this.options.config.daemon.lease_seconds * 1000) / 2)
  }

  private every(ms: number, fn: () => Promise<void>): void {
    let running = false
    const timer = setInterval(() => {
      if (running || this.stopping) return
      running = true
      fn()
        .catch((error) => this.options.logger.error('background task failed', {error: errorMessage(error)}))
        .finally(() => (running = false))
    }, ms)
    this.timers.push(timer)
  }

  /** One poll: run the sensor, then store what it produced. Throws only when the database is down. */
  private async poll(ref: string): Promise<PollOutcome> {
    const sensor = this.sensors.get(ref)
    if (!sensor) return {ok: true, events: 0, enforcements: 0, durationMs: 0}
    const {config} = this.options
    const {config: sensorConfig, problems} = sensorPollConfig(sensor.param_schema, sensor.config)
    if (problems.length > 0) {
      return {ok: false, error: `config does not match the sensor's parameters: ${problems.join('; ')}`, events: 0, enforcements: 0, durationMs: 0}
    }
    const result = await executeSensor(
      {ref: sensor.ref, entrypoint: sensorEntryPath(sensor), runtime: sensorExecutor(sensor) ?? sensor.runtime_ref, execution: sensor.execution, env: sensor.env ?? undefined},
      {ref: sensor.trigger_ref},
      sensorConfig,
      {
        timeoutMs: config.sensor.timeout * 1000,
        maxOutputBytes: config.sensor.max_output_bytes,
        interpreters: config.sensor.interpreters,
        runners: this.runners,
      },
    )
    if (result.error !== null) {
      return {ok: false, error: `${result.error_type}: ${result.error}`, events: 0, enforcements: 0, durationMs: result.duration_ms}
    }
    let enforcements = 0
    if (result.events.length > 0) {
      const stored = await this.persist(() =>
        this.pipeline!.persist({
          trigger: {id: sensor.trigger, ref: sensor.trigger_ref},
          sensor: {id: sensor.id, ref: sensor.ref},
          config: configSnapshot(sensorConfig, sensor.param_schema),
          events: result.events,
        }),
      )
      enforcements = stored.enforcements.length
      this.metrics.events.inc({trigger: sensor.trigger_ref}, stored.events.length)
      for (const enforcement of stored.enforcements) this.metrics.enforcements.inc({rule: enforcement.rule_ref})
    }
    for (const warning of result.warnings) this.options.logger.warn('sensor warning', {sensor: ref, warning})
    return {ok: true, events: result.events.length, enforcements, durationMs: result.duration_ms}
  }

  /**
   * Runs a database write; on failure the database is marked down and polling pauses until the
   * probe sees it again. The write is retried until it succeeds, so a poll's events are not lost.
   */
  private async persist<T>(write: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await write()
        return result
      } catch (error) {
        if (error instanceof AbortError && error.code !== 'database_unavailable') throw error
        if (this.stopping && attempt > 0) throw error
        this.markDatabaseDown(error)
        await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** attempt, 5000)))
      }
    }
  }

  /**
   * A database that hangs (a partition that drops packets) raises no error: without this
   * check the daemon would poll on while its leases expire and another daemon takes over.
   * Past two thirds of the lease time without a renewal it stops everything it owns, as for an
   * outage (the last third is the margin before another daemon may claim its sensors).
   */
  private checkLeaseDeadline(): void {
    const leaseMs = this.options.config.daemon.lease_seconds * 1000
    const since = Date.now() - this.lastLeaseRenewal
    if (this.databaseError === null && since > (leaseMs * 2) / 3) {
      this.markDatabaseDown(new Error(`the database has not answered for ${Math.round(since / 1000)} s: leases not renewed`))
    }
  }

  private markDatabaseDown(error: unknown): void {
    if (this.databaseError === null) {
      this.options.logger.error('database unavailable: polling paused', {error: errorMessage(error)})
      this.metrics.databaseUp.set(0)
      this.scheduler?.pause()
      // Without the database our leases cannot be renewed: stop everything we own before they
      // expire and another daemon takes over (timers resume from their stored state later).
      this.timer?.timers.stop()
      this.timer = undefined
      this.timerRuleSet = ''
      const supervisors = [...this.supervisors.values()]
      this.supervisors.clear()
      for (const {supervisor} of supervisors) void supervisor.stop()
    }
    this.databaseError = errorMessage(error)
  }

  private markDatabaseUp(): void {
    if (this.databaseError === null) return
    this.databaseError = null
    this.metrics.databaseUp.set(1)
    this.options.logger.info('database is back: polling resumes')
    this.scheduler?.resume()
  }

  /** Loads enabled sensors and rules; starts, restarts or stops what changed. */
  private async reload(): Promise<void> {
    const store = this.store!
    let rows: SensorRow[]
    let rules: RuleRow[]
    try {
      rows = await listEnabledSensors(store)
      rules = (await store.query<RuleRow>('SELECT * FROM attune.rule WHERE enabled ORDER BY id')).rows
    } catch (error) {
      this.markDatabaseDown(error)
      return
    }
    // Only the sensors this daemon holds a lease on (all of them when it runs alone).
    try {
      const candidates = rows.map((row) => ({id: row.id, runtime: sensorExecutor(row) ?? row.runtime_ref}))
      const tick = await this.leases!.tick(store, candidates, this.runtimeClasses())
      if (tick.claimed > 0 || tick.released > 0) {
        this.options.logger.info('sensor ownership changed', {claimed: tick.claimed, released: tick.released, owned: tick.owned.size, share: tick.share, workers: tick.workers})
      }
      rows = rows.filter((row) => tick.owned.has(row.id))
      this.lastLeaseRenewal = Date.now()
      this.owned = tick.owned.size
      this.metrics.sensorsOwned.set(this.owned)
    } catch (error) {
      this.markDatabaseDown(error)
      return
    }
    const seen = new Set<string>()
    const defaultInterval = this.options.config.sensor.poll_interval
    for (const row of rows) {
      if (row.execution === 'long_running' || isBuiltinTimer(row)) continue
      seen.add(row.ref)
      this.sensors.set(row.ref, row)
      const intervalMs = (row.poll_interval ?? defaultInterval) * 1000
      this.scheduler!.upsert({ref: row.ref, intervalMs, version: new Date(row.updated).toISOString()})
    }
    for (const ref of this.scheduler!.refs()) {
      if (!seen.has(ref)) {
        this.scheduler!.remove(ref)
        this.sensors.delete(ref)
        this.runners.close(`${ref}\0${ref}`)
        this.options.logger.info('sensor removed or disabled', {sensor: ref})
      }
    }
    // Polling resumes after an outage only now, with the sensors this daemon holds again:
    // leases lost meanwhile may belong to another daemon.
    this.markDatabaseUp()
    await this.reloadLongRunning(
      rows.filter((row) => row.execution === 'long_running' || isBuiltinTimer(row)),
      rules,
    )
    // Sensors this daemon no longer runs (moved, disabled, removed) are stopped in Attune's view.
    await this.stopSensorProcesses(rows.map((row) => row.ref)).catch((error) => this.markDatabaseDown(error))
  }

  private async reloadLongRunning(rows: SensorRow[], rules: RuleRow[]): Promise<void> {
    const wanted = new Set<string>()
    const builtinTimer = rows.find((row) => isBuiltinTimer(row))
    await this.reloadTimers(builtinTimer, rules)
    for (const row of rows) {
      if (sensorExecutor(row) === 'builtin') continue
      wanted.add(row.ref)
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
      const plan = await planLaunch({ref: row.ref, entrypoint: sensorEntryPath(row), runtime: sensorExecutor(row) ?? row.runtime_ref}, this.options.config.sensor.interpreters)
      if ('error' in plan) {
        this.options.logger.error('cannot start a long-running sensor', {sensor: row.ref, error: plan.error})
        continue
      }
      const supervisor = new LongRunningSupervisor({
        sensor: {id: row.id, ref: row.ref, triggerTypes: row.trigger_types, config: row.config ?? {}, env: row.env ?? undefined},
        plan,
        maxRestartAttempts: this.options.config.sensor.max_restart_attempts,
        triggers,
        issueToken: async () => {
          const issued = await issueSensorToken(this.store!, {sensorRef: row.ref, triggerTypes: row.trigger_types}, this.options.config.auth.jwt_secret)
          return {token: issued.token, expiresAt: new Date(issued.expires_at)}
        },
        onEvent: async (event) => {
          const stored = await this.persist(() =>
            this.pipeline!.persist({
              trigger: {ref: event.trigger_ref},
              sensor: {id: row.id, ref: row.ref},
              config: configSnapshot(row.config, row.param_schema),
              events: [event.payload],
              // An event for one trigger instance belongs to that rule alone.
              rule_ids: event.trigger_instance_id === null ? undefined : [event.trigger_instance_id],
            }),
          )
          this.metrics.events.inc({trigger: event.trigger_ref}, stored.events.length)
          for (const enforcement of stored.enforcements) this.metrics.enforcements.inc({rule: enforcement.rule_ref})
        },
        logger: this.options.logger,
      })
      this.supervisors.set(row.ref, {supervisor, version, id: row.id})
      await supervisor.start()
    }
    for (const [ref, {supervisor}] of this.supervisors) {
      if (!wanted.has(ref)) {
        await supervisor.stop()
        this.supervisors.delete(ref)
      }
    }
  }

  /** The class of a runtime name or ref: python, node, shell, native, or builtin. */
  private runtimeClass(name: string): string | undefined {
    if (isBuiltinName(name)) return 'builtin'
    return resolveRuntimeName(name)
  }

  /** The runtime classes this host has (every class when detection did not run). */
  private runtimeClasses(): Set<string> {
    if (!this.detection) return new Set(['python', 'node', 'shell', 'native', 'builtin'])
    const classes = new Set(this.detection.available.map((name) => this.runtimeClass(name)).filter((name): name is string => Boolean(name)))
    classes.add('builtin')
    return classes
  }

  /**
   * The builtin timer sensor: one timer per enabled rule on the timer triggers. Each fire is an
   * event that only its own rule can match, stored with the timer's state in one transaction,
   * so a restart (or a move to another daemon) resumes the schedule without losing or doubling
   * a fire.
   */
  private async reloadTimers(sensor: SensorRow | undefined, rules: RuleRow[]): Promise<void> {
    if (!sensor) {
      if (this.timer) {
        this.timer.timers.stop()
        this.timer = undefined
        this.timerRuleSet = ''
      }
      return
    }
    const timerRules = rules.filter((rule) => rule.trigger_ref in TIMER_TRIGGERS && sensor.trigger_types.includes(rule.trigger_ref))
    const fingerprint = JSON.stringify(timerRules.map((rule) => [rule.id, new Date(rule.updated).toISOString()]))
    if (this.timer && this.timerRuleSet === fingerprint) return
    if (!this.timer) {
      this.timer = {
        sensor,
        timers: new TimerSensor<RuleRow>({
          sensorRef: sensor.ref,
          onFire: (rule, payload, state) => void this.storeTimerFire(rule, payload, state),
          onState: (rule, state, reason) => {
            if (reason === 'armed') void this.storeTimerState(this.store!, rule, state).catch((error) => this.markDatabaseDown(error))
          },
          onError: (rule, error) => this.options.logger.error('timer rule cannot run', {rule: rule.ref, error: errorMessage(error)}),
        }),
      }
      this.options.logger.info('timer sensor started', {sensor: sensor.ref})
    }
    this.timer.sensor = sensor
    const ids = timerRules.map((rule) => rule.id)
    // A disabled or deleted rule forgets its schedule: enabling it again starts afresh, no catch-up.
    await this.store!.query('DELETE FROM attune_sensor.timer_state WHERE NOT (rule = ANY($1::bigint[]))', [ids])
    const {rows} = await this.store!.query<{rule_ref: string; last_scheduled_at: Date; execution_count: number | string}>(
      'SELECT rule_ref, last_scheduled_at, execution_count FROM attune_sensor.timer_state WHERE rule = ANY($1::bigint[])',
      [ids],
    )
    const states = new Map<string, TimerStateInput>(rows.map((row) => [row.rule_ref, {last_scheduled_at: row.last_scheduled_at, execution_count: Number(row.execution_count)}]))
    this.timer.timers.setRules(timerRules, states)
    this.timerRuleSet = fingerprint
  }

  private async storeTimerState(q: Pick<Store, 'query'>, rule: RuleRow, state: TimerState): Promise<void> {
    if (!state.last_scheduled_at) return
    await q.query(
      `INSERT INTO attune_sensor.timer_state (rule, rule_ref, last_scheduled_at, execution_count) VALUES ($1, $2, $3, $4)
       ON CONFLICT (rule) DO UPDATE SET last_scheduled_at = EXCLUDED.last_scheduled_at, execution_count = EXCLUDED.execution_count, updated = now()`,
      [rule.id, rule.ref, state.last_scheduled_at, state.execution_count],
    )
  }

  private async storeTimerFire(rule: RuleRow, payload: TimerPayload, state: TimerState): Promise<void> {
    const sensor = this.timer?.sensor
    if (!sensor || this.stopping) return
    try {
      const stored = await this.persist(() =>
        this.store!.transaction(async (tx) => {
          const result = await this.pipeline!.persistIn(tx, [
            {trigger: {ref: rule.trigger_ref}, sensor: {id: sensor.id, ref: sensor.ref}, config: rule.trigger_params, events: [payload], rule_ids: [rule.id], rule_ref: rule.ref},
          ])
          await this.storeTimerState(tx, rule, state)
          return result
        }),
      )
      this.relay?.notify()
      this.metrics.events.inc({trigger: rule.trigger_ref}, stored.events.length)
      for (const enforcement of stored.enforcements) this.metrics.enforcements.inc({rule: enforcement.rule_ref})
    } catch (error) {
      this.options.logger.error('could not store a timer fire', {rule: rule.ref, error: errorMessage(error)})
    }
  }

  private async heartbeat(): Promise<void> {
    try {
      await this.registerWorker('active')
      this.pendingOutbox = await pendingOutboxCount(this.store!)
      this.metrics.outboxPending.set(this.pendingOutbox)
    } catch (error) {
      this.markDatabaseDown(error)
    }
  }

  private async registerWorker(status: 'active' | 'inactive'): Promise<void> {
    if (status === 'inactive') {
      await this.store!.query("UPDATE attune.worker SET status = 'inactive', updated = now() WHERE name = $1", [this.name])
      return
    }
    const capabilities = {
      ...(this.detection ? workerCapabilities(this.detection) : {}),
      sensors: this.owned,
      instance: this.instance,
      // Readers judge this worker's heartbeat against it (`attune worker list`, `sensor status`).
      lease_seconds: this.options.config.daemon.lease_seconds,
    }
    await registerSensorWorker(this.store!, this.name, capabilities)
  }

  /** Writes changed sensor states (batched once a second) for `attune sensor status`. */
  private async flushSensorStates(): Promise<void> {
    this.updateSensorGauges()
    if (this.databaseError !== null) return
    const polled = [...this.dirtyStates.values()].filter((state) => this.sensors.has(state.ref))
    const states: StoredSensorState[] = polled.map((state) => ({...state, id: this.sensors.get(state.ref)!.id}))
    // Long-running sensors and the timer have no scheduler: their state is derived from their
    // supervisors and timers, written when it changes.
    const derived = this.longRunningStates().filter((state) => this.writtenStates.get(state.ref) !== JSON.stringify(state))
    states.push(...derived)
    this.dirtyStates = new Map()
    if (states.length === 0) return
    const column = <T>(pick: (state: StoredSensorState) => T) => states.map(pick)
    try {
      await this.store!.query(
        `INSERT INTO attune_sensor.sensor_state (sensor, sensor_ref, owner, state, consecutive_failures, polls, failures, events, last_poll, last_duration_ms, last_error, next_poll)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::bigint[], $8::bigint[],
                              $9::timestamptz[], $10::int[], $11::text[], $12::timestamptz[])
         ON CONFLICT (sensor) DO UPDATE SET owner = EXCLUDED.owner, state = EXCLUDED.state,
           consecutive_failures = EXCLUDED.consecutive_failures, polls = EXCLUDED.polls, failures = EXCLUDED.failures,
           events = EXCLUDED.events, last_poll = EXCLUDED.last_poll, last_duration_ms = EXCLUDED.last_duration_ms,
           last_error = EXCLUDED.last_error, next_poll = EXCLUDED.next_poll, updated = now()`,
        [
          column((state) => state.id),
          column((state) => state.ref),
          column(() => this.name),
          column((state) => state.state),
          column((state) => state.consecutive_failures),
          column((state) => state.polls),
          column((state) => state.failures),
          column((state) => state.events),
          column((state) => state.last_poll),
          column((state) => state.last_duration_ms),
          column((state) => state.last_error),
          column((state) => state.next_poll),
        ],
      )
      for (const state of derived) this.writtenStates.set(state.ref, JSON.stringify(state))
      await this.writeSensorProcesses(states)
    } catch (error) {
      // Kept for the next round, unless a newer state of the sensor arrived meanwhile.
      for (const state of polled) if (!this.dirtyStates.has(state.ref)) this.dirtyStates.set(state.ref, state)
      this.markDatabaseDown(error)
    }
  }

  /**
   * Attune's view of the same states (`attune.sensor_process`, one row per sensor and worker,
   * what Attune's API and web UI show): running, starting, backoff (restarting) or failed, with
   * the failures in a row and the enabled rules of the sensor's triggers. Unchanged rows are not
   * written again (Attune's history trigger records every change).
   */
  private async writeSensorProcesses(states: StoredSensorState[]): Promise<void> {
    const status = (state: string) => (state === 'failed' ? 'failed' : state === 'restarting' ? 'backoff' : state === 'starting' ? 'starting' : 'running')
    await this.store!.query(
      `INSERT INTO attune.sensor_process (sensor, sensor_ref, worker, worker_name, status, consecutive_failures, last_started_at, active_rule_count, meta)
       SELECT s.id, s.ref, w.id, w.name, x.status::attune.sensor_process_status_enum, x.failures, now(),
              (SELECT count(*)::int FROM attune.rule r WHERE r.enabled AND r.trigger_ref = ANY(
                 CASE WHEN cardinality(st.trigger_types) > 0 THEN st.trigger_types ELSE ARRAY(SELECT t.ref::text FROM attune.trigger t WHERE t.sensor = s.id) END)),
              jsonb_build_object('engine', 'attune', 'execution', COALESCE(st.execution, 'long_running'))
         FROM unnest($1::bigint[], $2::text[], $3::int[]) AS x(sensor, status, failures)
         JOIN attune.sensor s ON s.id = x.sensor
         JOIN attune.worker w ON w.name = $4
         LEFT JOIN attune_sensor.sensor_settings st ON st.sensor = s.id
       ON CONFLICT (sensor, worker) DO UPDATE SET status = EXCLUDED.status, consecutive_failures = EXCLUDED.consecutive_failures,
         active_rule_count = EXCLUDED.active_rule_count, meta = EXCLUDED.meta,
         last_started_at = CASE WHEN sensor_process.status = 'stopped' THEN now() ELSE sensor_process.last_started_at END
       WHERE sensor_process.status IS DISTINCT FROM EXCLUDED.status OR sensor_process.consecutive_failures IS DISTINCT FROM EXCLUDED.consecutive_failures
          OR sensor_process.active_rule_count IS DISTINCT FROM EXCLUDED.active_rule_count`,
      [states.map((state) => state.id), states.map((state) => status(state.state)), states.map((state) => state.consecutive_failures), this.name],
    )
  }

  /** Marks this worker's sensor_process rows stopped, except those of `running` (every row when omitted). */
  private async stopSensorProcesses(running: readonly string[] = []): Promise<void> {
    await this.store!.query(
      `UPDATE attune.sensor_process SET status = 'stopped', pid = NULL, next_restart_at = NULL, last_stopped_at = now()
        WHERE worker_name = $1 AND status <> 'stopped' AND NOT (sensor_ref = ANY($2::text[]))`,
      [this.name, [...running]],
    )
  }

  /**
   * The states of the sensors this daemon runs without polling: a long-running sensor is
   * running, starting or restarting (its restarts count as failures); the builtin timer
   * sensor counts its fires as polls and reports the next fire and any rule that cannot run.
   */
  private longRunningStates(): StoredSensorState[] {
    // Stopping clears the timers and supervisors: keep the last states written, not zeros.
    if (this.stopping) return []
    const states: StoredSensorState[] = []
    for (const {supervisor, id} of this.supervisors.values()) {
      const status = supervisor.snapshot()
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
        last_error: status.last_exit,
        next_poll: null,
      })
    }
    if (this.timer) {
      const timers = this.timer.timers.status()
      const fires = timers.reduce((sum, timer) => sum + timer.execution_count, 0)
      const broken = timers.filter((timer) => timer.error !== null)
      const latest = (values: Array<string | null>, pick: (a: string, b: string) => boolean) =>
        values.reduce<string | null>((best, value) => (value !== null && (best === null || pick(value, best)) ? value : best), null)
      states.push({
        id: this.timer.sensor.id,
        ref: this.timer.sensor.ref,
        state: timers.length > 0 && broken.length === timers.length ? 'failed' : 'running',
        consecutive_failures: 0,
        polls: fires,
        failures: broken.length,
        events: fires,
        last_poll: latest(timers.map((timer) => timer.last_scheduled_at), (a, b) => a > b),
        last_duration_ms: null,
        last_error: broken.length > 0 ? `${broken[0].rule_ref}: ${broken[0].error}` : null,
        next_poll: latest(timers.map((timer) => timer.next_fire_at), (a, b) => a < b),
      })
    }
    return states
  }

  status(): DaemonStatus {
    const stats = this.relay?.stats
    // Only a failure of the broker itself: rounds also fail while the database is down.
    const brokerOk = !stats || stats.last_error === null || stats.last_error_source !== 'broker'
    return {
      name: this.name,
      started_at: this.startedAt.toISOString(),
      database: {ok: this.databaseError === null, location: this.store?.location ?? '', error: this.databaseError},
      broker: {
        kind: this.bus?.kind ?? 'local',
        location: this.bus?.location ?? '',
        ok: brokerOk,
        error: brokerOk ? null : (stats?.last_error ?? null),
        pending: this.pendingOutbox,
        sent: stats?.sent ?? 0,
      },
      sensors: this.scheduler?.snapshot() ?? [],
      long_running: [...this.supervisors.values()].map(({supervisor}) => supervisor.snapshot()),
      timers: this.timer?.timers.status() ?? [],
    }
  }

  /** Refs of the sensors this daemon runs that are failed: polled, long-running and the timer. */
  private failedSensors(): {failed: string[]; total: number} {
    const states = [...(this.scheduler?.snapshot() ?? []), ...this.longRunningStates()]
    return {failed: states.filter((state) => state.state === 'failed').map((state) => state.ref).sort(), total: states.length}
  }

  private updateSensorGauges(): void {
    const {failed, total} = this.failedSensors()
    this.metrics.sensorsFailed.set(failed.length)
    // Paused for a database outage, nothing is active.
    this.metrics.sensorsActive.set(this.databaseError === null ? total - failed.length : 0)
  }

  private healthReport(): {healthy: boolean; body: unknown} {
    const status = this.status()
    const {failed, total} = this.failedSensors()
    const down = [...(status.database.ok ? [] : ['database']), ...(status.broker.ok ? [] : ['broker'])]
    return {
      healthy: down.length === 0 && !this.stopping,
      body: {
        status: this.stopping ? 'stopping' : down.length === 0 ? 'ok' : 'unavailable',
        down,
        worker: status.name,
        uptime_seconds: Math.round((Date.now() - this.startedAt.getTime()) / 1000),
        database: status.database,
        broker: status.broker,
        sensors: {total, failed: failed.length, failed_refs: failed, long_running: status.long_running.length},
      },
    }
  }

  /**
   * Graceful stop: no new polls; polls in flight get `timeoutMs` to finish; long-running
   * sensors and runners are stopped; the outbox is flushed (bounded); the worker is marked
   * inactive; connections close. Returns whether everything finished in time.
   */
  async stop(timeoutMs: number): Promise<{clean: boolean; unpublished: number}> {
    if (this.stopping) return {clean: false, unpublished: this.pendingOutbox}
    this.stopping = true
    const {logger} = this.options
    logger.info('stopping: finishing polls in flight', {timeout_ms: timeoutMs})
    for (const timer of this.timers) clearInterval(timer)
    const deadline = Date.now() + timeoutMs
    this.timer?.timers.stop()
    const polls = (await this.scheduler?.stop(timeoutMs)) ?? {finished: true, inflight: 0}
    await Promise.all([...this.supervisors.values()].map(({supervisor}) => supervisor.stop()))
    this.runners.closeAll()
    let unpublished = 0
    if (this.relay) {
      const flushed = await this.relay.flush({timeoutMs: Math.max(1000, deadline - Date.now())}).catch((error) => ({sent: 0, pending: -1, error: errorMessage(error)}))
      unpublished = flushed.pending
      if (flushed.error) logger.warn('outbox not fully published; the rest goes out on the next start', {pending: flushed.pending, error: flushed.error})
      await this.relay.stop()
    }
    await this.bus?.close().catch(() => {})
    await this.flushSensorStates().catch(() => {})
    // A clean stop frees this daemon's sensors at once instead of after the lease time. Only
    // once registered: a daemon refused at start must not touch the row and leases of the
    // daemon of the same name that made it refuse.
    if (this.store && this.registered) {
      await this.stopSensorProcesses().catch(() => {})
      // A clean stop: this daemon's sensors show as stopped, not as running on a dead daemon.
      await this.store
        .query("UPDATE attune_sensor.sensor_state SET state = 'stopped', next_poll = NULL, updated = now() WHERE owner = $1 AND state <> 'disabled'", [this.name])
        .catch(() => {})
      await this.leases?.releaseAll(this.store).catch(() => {})
      await this.registerWorker('inactive').catch(() => {})
    }
    await this.health?.close()
    await this.store?.close().catch(() => {})
    await this.embedded?.close().catch(() => {})
    killAllSensorProcesses()
    logger.info('daemon stopped', {clean: polls.finished, unpublished})
    return {clean: polls.finished && unpublished === 0, unpublished}
  }
}
