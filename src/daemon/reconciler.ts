import type {DetectionReport} from '../engine/detect/index.js'
import {isBuiltinName, isBuiltinTimer, sensorExecutor} from '../engine/sensor/row.js'
import {resolveRuntimeName} from '../engine/sensor/runtimes.js'
import {listEnabledSensors, type RuleRow, type SensorRow} from '../engine/store/index.js'
import type {DatabaseService} from './database.js'
import {SensorLeases} from './leases.js'
import type {LongRunningService} from './long-running.js'
import type {PollingService} from './polling.js'
import type {WorkerRegistration} from './registration.js'
import type {DaemonContext} from './service.js'
import type {SensorStateWriter} from './states.js'
import type {TimerService} from './timers.js'
import type {CodeWatcher} from './watcher.js'

/** The class of a runtime name or ref: python, node, shell, native, or builtin. */
export function runtimeClass(name: string): string | undefined {
  if (isBuiltinName(name)) return 'builtin'
  return resolveRuntimeName(name)
}

/**
 * Makes what this daemon runs match the database: every tick it reads the enabled sensors and
 * rules, renews and claims its sensor leases (scale-out), and hands each service its share:
 * poll sensors to polling, long-running ones to their supervisors, the builtin timer sensor to
 * the timers. Sensor and rule changes are picked up without a restart.
 *
 * It is also the only one to declare the database back after an outage: polling resumes once
 * a lease tick has succeeded, with the sensors this daemon holds again. And it watches the
 * lease deadline: a database that hangs raises no error, so past two thirds of the lease
 * without a renewal it is taken as down (everything owned stops before another daemon may
 * claim it).
 */
export class Reconciler {
  private readonly leases: SensorLeases
  private lastRenewal = Date.now()
  private closed = false

  constructor(
    private readonly context: DaemonContext,
    private readonly parts: {
      database: DatabaseService
      registration: WorkerRegistration
      polling: PollingService
      longRunning: LongRunningService
      timers: TimerService
      states: SensorStateWriter
      /** Watches the files of the sensors this daemon runs (unset: `daemon.watch: false`). */
      watcher?: CodeWatcher
    },
    private readonly detection: DetectionReport | undefined,
  ) {
    this.leases = new SensorLeases({worker: context.worker, leaseMs: context.config.daemon.lease_seconds * 1000, runtimeClass})
  }

  /** At a stop: a tick still running dispatches nothing more (nothing starts once stopping). */
  close(): void {
    this.closed = true
  }

  /** One tick: read, claim, dispatch. */
  async reload(): Promise<void> {
    if (this.closed) return
    const {database, registration, polling, longRunning, timers, states} = this.parts
    const store = database.store
    let rows: SensorRow[]
    let rules: RuleRow[]
    try {
      rows = await listEnabledSensors(store)
      rules = (await store.query<RuleRow>('SELECT * FROM attune.rule WHERE enabled ORDER BY id')).rows
      // Only the sensors this daemon holds a lease on (all of them when it runs alone).
      const candidates = rows.map((row) => ({id: row.id, runtime: sensorExecutor(row) ?? row.runtime_ref}))
      const tick = await this.leases.tick(store, candidates, this.runtimeClasses())
      if (tick.claimed > 0 || tick.released > 0) {
        this.context.logger.info('sensor ownership changed', {claimed: tick.claimed, released: tick.released, owned: tick.owned.size, share: tick.share, workers: tick.workers})
      } else this.context.logger.debug('lease tick', {owned: tick.owned.size, share: tick.share, workers: tick.workers, sensors: rows.length})
      rows = rows.filter((row) => tick.owned.has(row.id))
      this.lastRenewal = Date.now()
      registration.owned = tick.owned.size
      this.context.metrics.sensorsOwned.set(tick.owned.size)
    } catch (error) {
      database.markDown(error)
      return
    }
    if (this.closed) return
    polling.sync(rows.filter((row) => row.execution !== 'long_running' && !isBuiltinTimer(row)))
    // Polling resumes after an outage only now, with the sensors this daemon holds again:
    // leases lost meanwhile may belong to another daemon.
    database.markUp()
    if (this.closed) return
    await timers.sync(
      rows.find((row) => isBuiltinTimer(row)),
      rules,
    )
    if (this.closed) return
    await longRunning.sync(
      rows.filter((row) => row.execution === 'long_running' && !isBuiltinTimer(row) && sensorExecutor(row) !== 'builtin'),
      rules,
    )
    if (this.closed) return
    this.parts.watcher?.sync(rows)
    // Sensors this daemon no longer runs (moved, disabled, removed) are stopped in Attune's view.
    await states.stopSensorProcesses(store, rows.map((row) => row.ref)).catch((error) => database.markDown(error))
  }

  /** Past two thirds of the lease without a renewal, the database counts as down. */
  checkLeaseDeadline(): void {
    const leaseMs = this.context.config.daemon.lease_seconds * 1000
    const since = Date.now() - this.lastRenewal
    if (this.parts.database.ok && since > (leaseMs * 2) / 3) {
      this.parts.database.markDown(new Error(`the database has not answered for ${Math.round(since / 1000)} s: leases not renewed`))
    }
  }

  /** A clean stop: everything this daemon holds is free at once. */
  releaseAll(): Promise<void> {
    return this.leases.releaseAll(this.parts.database.store)
  }

  /** The runtime classes this host has (every class when detection did not run). */
  private runtimeClasses(): Set<string> {
    if (!this.detection) return new Set(['python', 'node', 'shell', 'native', 'builtin'])
    const classes = new Set(this.detection.available.map((name) => runtimeClass(name)).filter((name): name is string => Boolean(name)))
    classes.add('builtin')
    return classes
  }
}
