import {randomUUID} from 'node:crypto'
import {registerSensorWorker, workerCapabilities, type DetectionReport} from '../engine/detect/index.js'
import {AbortError} from '../engine/errors.js'
import type {Store} from '../engine/store/index.js'
import {sleep, type DaemonContext} from './service.js'

/**
 * This daemon's row in `attune.worker`: written at start with the runtimes it detected,
 * renewed by the heartbeat (which keeps it counted as live by the other daemons' lease
 * shares), marked inactive at a clean stop. A daemon refuses a name another live daemon uses.
 */
export class WorkerRegistration {
  /** Tells this run apart from an earlier daemon of the same name (in the row's capabilities). */
  private readonly instance = randomUUID()
  /** The row is written: it (and the leases under its name) are this daemon's to release. */
  registered = false
  /** Sensors this daemon holds leases on (reported in the row's capabilities). */
  owned = 0
  detection?: DetectionReport

  constructor(private readonly context: DaemonContext) {}

  /** Worker heartbeat and database probe period (default 5 s, within a third of the lease). */
  static heartbeatMs(context: DaemonContext, override?: number): number {
    return override ?? Math.min(5000, (context.config.daemon.lease_seconds * 1000) / 3)
  }

  /**
   * Leases belong to a worker name: two live daemons of one name would both poll every sensor.
   * A recent heartbeat under our name is either such a daemon or one that was just killed and
   * is being restarted; watching for one heartbeat interval tells them apart.
   */
  async refuseDuplicateName(store: Store, heartbeatMs: number): Promise<void> {
    const {worker, config, logger} = this.context
    const read = async () =>
      (
        await store.query<{age_ms: number; beat: Date}>(
          `SELECT last_heartbeat AS beat,
                  (extract(epoch FROM now() - last_heartbeat) * 1000)::int AS age_ms
             FROM attune.worker WHERE name = $1 AND status = 'active' AND last_heartbeat IS NOT NULL`,
          [worker],
        )
      ).rows[0]
    const before = await read()
    if (!before || before.age_ms > config.daemon.lease_seconds * 1000) return
    logger.info('a daemon of this name beat recently: checking that it is gone', {worker, heartbeat_age_ms: before.age_ms})
    await sleep(heartbeatMs + 1000)
    const after = await read()
    if (after && new Date(after.beat).getTime() !== new Date(before.beat).getTime()) {
      throw new AbortError(`Another daemon named "${worker}" is running against this database (it sent a heartbeat ${Math.round(after.age_ms / 1000)} s ago).`, {
        code: 'worker_name_taken',
        hint: 'Give every daemon its own --name (the default, <host>:<pid>, is unique on one host), or stop the other one first.',
      })
    }
  }

  /** Writes (or renews) the row as active. */
  async register(store: Store): Promise<void> {
    const capabilities = {
      ...(this.detection ? workerCapabilities(this.detection) : {}),
      sensors: this.owned,
      instance: this.instance,
      // Readers judge this worker's heartbeat against it (`attune worker list`, `sensor status`).
      lease_seconds: this.context.config.daemon.lease_seconds,
    }
    await registerSensorWorker(store, this.context.worker, capabilities)
    this.registered = true
  }

  async markInactive(store: Store): Promise<void> {
    await store.query("UPDATE attune.worker SET status = 'inactive', updated = now() WHERE name = $1", [this.context.worker])
  }
}
