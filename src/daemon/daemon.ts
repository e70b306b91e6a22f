import {hostname} from 'node:os'
import {startApi, type ApiServer} from '../api/server.js'
import type {AttuneConfig} from '../engine/config.js'
import {runtimeDetection} from '../engine/detect/index.js'
import {EventPipeline} from '../engine/events/index.js'
import {registerPacks} from '../engine/packs/index.js'
import {killAllSensorProcesses} from '../engine/sensor/process.js'
import type {SensorIdentity} from '../engine/sensor/run-as.js'
import {pruneIdempotencyKeys, type RuleRow} from '../engine/store/index.js'
import {verificationKeys} from '../engine/tokens/index.js'
import type {TimerSensor} from '../engine/timers/index.js'
import {DatabaseService, type DatabaseStatus} from './database.js'
import {isLoopbackHost, startHealthServer, type HealthServer} from './health.js'
import type {Logger} from './logger.js'
import {LongRunningService} from './long-running.js'
import {DaemonMetrics} from './metrics.js'
import {PollingService} from './polling.js'
import {healthz, livez, readyz, type ProbeInputs} from './probes.js'
import {PublisherService, type BrokerStatus} from './publisher.js'
import {Reconciler} from './reconciler.js'
import {WorkerRegistration} from './registration.js'
import {RetentionService} from './retention.js'
import type {SchedulerOptions, SensorStatus} from './scheduler.js'
import {Ticker, withDeadline, type DaemonContext} from './service.js'
import {SensorLogWriter} from './sensor-logs.js'
import {SensorStateWriter} from './states.js'
import type {SupervisorStatus} from './supervisor.js'
import {TimerService} from './timers.js'
import {CodeWatcher} from './watcher.js'

/**
 * `attune daemon` (SPEC §9): the same engine the CLI uses, composed from small services with
 * one job each (see each file):
 *
 * - `DatabaseService`: the connection, up/down, writes retried under a deadline and a key;
 * - `PublisherService`: the outbox relay and the bus;
 * - `WorkerRegistration`: this daemon's worker row and heartbeat;
 * - `Reconciler`: leases, and what runs where after every change in the database;
 * - `PollingService`: the scheduler and the poll's stages with their deadlines;
 * - `LongRunningService`, `TimerService`: the sensors that are not polled;
 * - `CodeWatcher`: saved sensor files and pack YAML applied without a restart (`daemon.watch`);
 * - `SensorStateWriter`: the states `attune sensor status` and Attune's UI read;
 * - `probes.ts` + `health.ts`: /healthz, /livez, /readyz and /metrics;
 * - the HTTP API for sensors and webhooks (`src/api`), on the same pipeline.
 *
 * This class only starts them in order, wires what one tells another (the database is down:
 * pause polling and stop what this daemon owns), and stops them in reverse.
 */

export interface DaemonOptions {
  config: AttuneConfig
  logger: Logger
  /** Pack folders registered before the sensors are loaded. */
  packs?: string[]
  /** Port of the health endpoints (on `config.health.host`); undefined: no server, 0: any free port. */
  healthPort?: number
  /** This daemon's worker name (default `<hostname>:<pid>`). */
  name?: string
  /** How often the sensor and rule tables are checked for changes (default 2 s). */
  reloadIntervalMs?: number
  /** Worker heartbeat and database probe period (default 5 s). */
  heartbeatMs?: number
  /** Passed to the scheduler (benchmarks). */
  observe?: Pick<SchedulerOptions, 'onDue' | 'onStart' | 'onFinish'>
  /** The user every sensor process runs as (`sensor.run_as`, resolved); unset: this process's user. */
  runAs?: SensorIdentity
  /** The log level, passed to long-running sensors as ATTUNE_LOG_LEVEL. */
  logLevel?: string
}

export interface DaemonStatus {
  name: string
  started_at: string
  /** The API's base URL, when it runs. */
  api: string | null
  database: DatabaseStatus
  broker: BrokerStatus
  sensors: SensorStatus[]
  long_running: SupervisorStatus[]
  timers: ReturnType<TimerSensor<RuleRow>['status']>
  /** The ref of the timer sensor running the timers (`core.timer_sensor`), when it runs. */
  timer_sensor: string | null
  /** Rows in the tables retention prunes (`attune.event`, ...), read every 30 s; null before the first read. */
  tables: Record<string, number> | null
}

/** What a stop under way is doing (the dashboard's "stopping…" line). */
export interface StopProgress {
  /** The step the stop is waiting for, e.g. `polls in flight`. */
  phase: string
  started_at: string
  /** When the stop gives up waiting (`--shutdown-timeout`). */
  deadline: string
}

/** The services that exist once the database is open. */
interface Running {
  polling: PollingService
  longRunning: LongRunningService
  timers: TimerService
  states: SensorStateWriter
  reconciler: Reconciler
  watcher?: CodeWatcher
}

export class Daemon {
  readonly metrics = new DaemonMetrics()
  readonly name: string
  private readonly context: DaemonContext
  private readonly database: DatabaseService
  private readonly publisher: PublisherService
  private readonly registration: WorkerRegistration
  private readonly ticker: Ticker
  private readonly sensorLogs: SensorLogWriter
  private running?: Running
  private health?: HealthServer
  private api?: ApiServer
  private retention?: RetentionService
  private readonly startedAt = new Date()
  private stopping = false
  private stopStep?: StopProgress

  constructor(private readonly options: DaemonOptions) {
    this.name = options.name ?? `${hostname()}:${process.pid}`
    this.context = {config: options.config, logger: options.logger, metrics: this.metrics, worker: this.name, runAs: options.runAs, apiUrl: () => this.api?.url, logLevel: options.logLevel}
    this.sensorLogs = this.context.sensorLogs = new SensorLogWriter(this.context)
    this.database = new DatabaseService(this.context)
    this.publisher = new PublisherService(this.context)
    this.registration = new WorkerRegistration(this.context)
    this.ticker = new Ticker(options.logger)
  }

  get healthPort(): number | undefined {
    return this.health?.port
  }

  /** The API's base URL (undefined when it does not run). */
  get apiUrl(): string | undefined {
    return this.api?.url
  }

  /** The pid of the child process serving the embedded database (none with PostgreSQL). */
  get embeddedDatabasePid(): number | undefined {
    return this.database.embeddedPid
  }

  async start(): Promise<void> {
    const {config, logger} = this.options
    const {database, publisher, registration} = this
    await database.start()
    const store = database.store
    const heartbeatMs = WorkerRegistration.heartbeatMs(this.context, this.options.heartbeatMs)
    // First, before any work: a live daemon of the same name would poll every sensor twice.
    await registration.refuseDuplicateName(store, heartbeatMs)
    if (this.options.packs?.length) {
      const report = await registerPacks(store, this.options.packs, {enforcements: config.pipeline.enforcements})
      logger.info('packs registered', {packs: report.packs, ...report.summary})
    }
    publisher.start(store)
    const pipeline = new EventPipeline(store, {onCommitted: () => publisher.notify(), enforcements: config.pipeline.enforcements})
    // The runtimes this host has (real interpreter paths go to the executors of this process).
    registration.detection = await runtimeDetection({config, store, useCache: false, notice: (message) => logger.info(message)})
    logger.info('runtimes detected', {source: registration.detection.source_detail, available: registration.detection.available})

    const states: SensorStateWriter = new SensorStateWriter(this.context, {
      pollSensorId: (ref) => polling.idOf(ref),
      derived: () => (this.stopping ? [] : this.derivedStates()),
    })
    const polling = new PollingService(this.context, database, pipeline, {onStatus: (status) => states.record(status), observe: this.options.observe})
    const longRunning = new LongRunningService(this.context, database, pipeline)
    const timers = new TimerService(this.context, database, pipeline, publisher)
    // "Edit, save, see it run": a changed sensor file or pack YAML is applied (daemon.watch).
    const watcher = config.daemon.watch ? new CodeWatcher(this.context, {database, polling, longRunning}) : undefined
    const reconciler = new Reconciler(this.context, {database, registration, polling, longRunning, timers, states, watcher}, registration.detection)
    this.running = {polling, longRunning, timers, states, reconciler, watcher}

    // Without the database the leases cannot be renewed: stop everything owned before they
    // expire and another daemon takes over (timers resume from their stored state later).
    database.onDown(() => {
      polling.pause()
      timers.stop()
      void longRunning.stopAll()
    })
    database.onUp(() => polling.resume())

    await registration.register(store)
    // Before the sensors start: long-running ones get its URL.
    await this.startApi(pipeline)
    await reconciler.reload()
    if (this.options.healthPort !== undefined) {
      const {host, metrics_token: metricsToken} = config.health
      this.health = await startHealthServer({port: this.options.healthPort, host, metricsToken}, {
        healthz: () => healthz(this.probeInputs()),
        livez: () => livez(this.probeInputs()),
        readyz: () => readyz(this.probeInputs()),
        metrics: () => {
          this.updateSensorGauges()
          return this.metrics.text()
        },
      })
      logger.info('health endpoints listening', {url: `${this.health.url}/healthz`, metrics_token: metricsToken !== undefined})
      if (!isLoopbackHost(host) && metricsToken === undefined) {
        logger.warn('the health endpoints listen beyond this machine and /metrics needs no token', {
          host,
          hint: 'Set ATTUNE_METRICS_TOKEN (or health.metrics_token) so only your Prometheus reads /metrics, or firewall the port.',
        })
      }
    }
    // The reload is also the lease tick: a quarter of the lease keeps failover close to the lease time.
    this.ticker.every('reload', this.options.reloadIntervalMs ?? Math.min(2000, (config.daemon.lease_seconds * 1000) / 4), () => reconciler.reload())
    // The heartbeat keeps this worker counted as live by the others: well within the lease time.
    this.ticker.every('heartbeat', heartbeatMs, () => this.heartbeat())
    this.ticker.every('sensor states', 1000, () => this.flushStates())
    this.ticker.every('sensor logs', 1000, () => (this.database.ok ? this.sensorLogs.flush(this.database.store) : undefined))
    this.ticker.every('lease deadline', 1000, () => reconciler.checkLeaseDeadline())
    this.retention = new RetentionService(this.context, database).schedule(this.ticker)
    logger.info('daemon started', {worker: this.name, database: store.location, broker: publisher.location, sensors: polling.snapshot().length, long_running: longRunning.size, watch: config.daemon.watch})
  }

  /** The HTTP API (docs/api.md), when enabled and a JWT secret exists to verify tokens with. */
  private async startApi(pipeline: EventPipeline): Promise<void> {
    const {config, logger} = this.options
    if (!config.api.enabled) return
    if (!config.auth.jwt_secret) {
      logger.warn('the API is not started: no JWT secret is configured to verify sensor tokens with', {
        hint: 'Set ATTUNE_JWT_SECRET (every daemon and Attune itself must share it), or api.enabled: false to silence this.',
      })
      return
    }
    this.api = await startApi({
      host: config.api.host,
      port: config.api.port,
      bodyLimit: config.api.body_limit,
      rateLimit: config.api.rate_limit,
      store: this.database.store,
      pipeline,
      keys: verificationKeys(config.auth.jwt_secret, config.auth.jwt_secret_previous),
      logger,
      registry: this.metrics.registry,
      onSensorEvents: (ref, events) => this.running?.longRunning.noteApiEvents(ref, events),
    })
    logger.info('API listening', {url: this.api.url})
  }

  private async heartbeat(): Promise<void> {
    const store = this.database.store
    try {
      await this.registration.register(store)
      await this.publisher.refreshPending(store)
      await pruneIdempotencyKeys(store)
    } catch (error) {
      this.database.markDown(error)
    }
  }

  private async flushStates(): Promise<void> {
    this.updateSensorGauges()
    if (!this.database.ok || !this.running) return
    await this.running.states.flush(this.database.store).catch((error) => this.database.markDown(error))
  }

  /** The states of the sensors run without polling: long-running ones and the timer. */
  private derivedStates() {
    if (!this.running) return []
    const timer = this.running.timers.state()
    return [...this.running.longRunning.states(), ...(timer ? [timer] : [])]
  }

  status(): DaemonStatus {
    return {
      name: this.name,
      started_at: this.startedAt.toISOString(),
      api: this.api?.url ?? null,
      database: this.database.status(),
      broker: this.publisher.status(),
      sensors: this.running?.polling.snapshot() ?? [],
      long_running: this.running?.longRunning.snapshot() ?? [],
      timers: this.running?.timers.status() ?? [],
      timer_sensor: this.running?.timers.sensorRef ?? null,
      tables: this.retention?.tables ?? null,
    }
  }

  /** The step a stop under way waits for; null before `stop()`. */
  stopProgress(): StopProgress | null {
    return this.stopStep ? {...this.stopStep} : null
  }

  /** Refs of the sensors this daemon runs that are failed: polled, long-running and the timer. */
  private failedSensors(): {failed: string[]; total: number} {
    const states = [...(this.running?.polling.snapshot() ?? []), ...this.derivedStates()]
    return {failed: states.filter((state) => state.state === 'failed').map((state) => state.ref).sort(), total: states.length}
  }

  private probeInputs(): ProbeInputs {
    const {failed, total} = this.failedSensors()
    return {
      worker: this.name,
      startedAt: this.startedAt,
      stopping: this.stopping,
      database: this.database.status(),
      broker: this.publisher.status(),
      sensors: {total, failed, long_running: this.running?.longRunning.size ?? 0},
      stuck: this.running?.polling.stuck().sort() ?? [],
      lastTick: this.ticker.lastTick,
      serving: this.health !== undefined && (this.api !== undefined || !this.options.config.api.enabled || !this.options.config.auth.jwt_secret),
    }
  }

  private updateSensorGauges(): void {
    this.metrics.databaseUp.set(this.database.ok ? 1 : 0)
    this.metrics.brokerUp.set(this.publisher.status().ok ? 1 : 0)
    const {failed, total} = this.failedSensors()
    this.metrics.sensorsFailed.set(failed.length)
    this.metrics.sensorsStuck.set(this.database.ok ? (this.running?.polling.stuck().length ?? 0) : 0)
    // Paused for a database outage, nothing is active.
    this.metrics.sensorsActive.set(this.database.ok ? total - failed.length : 0)
  }

  /**
   * Graceful stop, within `timeoutMs`: no new polls or fires; polls in flight finish;
   * long-running sensors stop; writes still being retried finish; the outbox is flushed; the
   * sensors are marked stopped and their leases freed; the worker is marked inactive;
   * connections close. Returns whether everything finished in time.
   */
  async stop(timeoutMs: number): Promise<{clean: boolean; unpublished: number}> {
    if (this.stopping) return {clean: false, unpublished: this.publisher.status().pending}
    this.stopping = true
    const {logger} = this.options
    logger.info('stopping: finishing polls in flight', {timeout_ms: timeoutMs})
    const deadline = Date.now() + timeoutMs
    const step = (phase: string) => (this.stopStep = {phase, started_at: new Date().toISOString(), deadline: new Date(deadline).toISOString()})
    step('background tasks')
    const running = this.running
    // Nothing starts from here on, even from a reload tick already under way.
    running?.reconciler.close()
    await running?.watcher?.close()
    running?.timers.close()
    this.retention?.stop()
    await withDeadline(this.ticker.stop(), Math.max(0, deadline - Date.now()), 'the background tasks').catch((error) => logger.warn('stopping without waiting for a background task', {err: error}))
    // No new requests; those in flight finish (their events are committed) before the rest stops.
    step('API requests in flight')
    await this.api?.close().catch((error) => logger.warn('the API did not close cleanly', {err: error}))
    step('polls in flight')
    const polls = (await running?.polling.stop(deadline)) ?? {finished: true, inflight: 0}
    step('long-running sensors')
    await running?.longRunning.close()
    if (this.database.ok && this.sensorLogs.size > 0) await withDeadline(this.sensorLogs.flush(this.database.store), Math.max(0, deadline - Date.now()), 'the sensor logs').catch(() => {})
    step('database writes')
    const unstored = await this.database.drain(deadline)
    if (unstored > 0) logger.error('writes not finished at the stop deadline: their events are not stored', {writes: unstored})
    step('outbox')
    const unpublished = await this.publisher.stop(deadline)
    step('sensor states and leases')
    // A clean stop frees this daemon's sensors at once instead of after the lease time. Only
    // once registered: a daemon refused at start must not touch the row and leases of the
    // daemon of the same name that made it refuse.
    if (running && this.registration.registered) {
      const store = this.database.store
      await running.states.flush(store).catch(() => {})
      await running.states.markAllStopped(store).catch((error) => logger.warn('could not mark the sensors stopped', {err: error}))
      await running.reconciler.releaseAll().catch(() => {})
      await this.registration.markInactive(store).catch(() => {})
    }
    step('connections')
    await this.health?.close()
    await this.database.stop()
    killAllSensorProcesses()
    logger.info('daemon stopped', {clean: polls.finished, unpublished})
    return {clean: polls.finished && unpublished === 0 && unstored === 0, unpublished}
  }
}
