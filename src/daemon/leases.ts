import type {Queryable} from '../engine/store/types.js'

/**
 * Sensor ownership by lease (scale-out): several daemons on one PostgreSQL share the sensors,
 * each polling only those it holds a lease on. Every tick a daemon renews its leases, gives
 * back what exceeds its fair share so a daemon that joins gets sensors, and claims free or
 * expired leases up to its share. Shares are counted per runtime class (python, node, shell,
 * native, builtin) over the live daemons that can run that class, so a daemon without python
 * never holds python sensors and the python sensors still spread over the daemons that can.
 * A claim is one atomic upsert that succeeds only on a missing or expired lease: a sensor is
 * never held by two daemons at once. A released lease stays held for a short grace so that a
 * poll in flight ends before the next owner starts.
 */

export interface LeaseOptions {
  worker: string
  leaseMs: number
  /** How long a released lease still blocks other daemons (default 2 s). */
  releaseGraceMs?: number
  /** Maps a runtime name (a worker's capability, a sensor's runtime ref) to its class. */
  runtimeClass: (name: string) => string | undefined
}

/** An enabled sensor and the runtime class it needs. */
export interface LeaseCandidate {
  id: number
  runtime: string
}

export interface LeaseTick {
  /** Sensor ids this daemon holds now. */
  owned: Set<number>
  /** Live daemons, this one included. */
  workers: number
  /** This daemon's fair share over all its runtime classes. */
  share: number
  claimed: number
  released: number
}

export class SensorLeases {
  constructor(private readonly options: LeaseOptions) {}

  /**
   * One round. `sensors`: every enabled sensor with its runtime class; `mine`: the classes this
   * daemon can run (the builtin class is run by everyone).
   */
  async tick(q: Queryable, sensors: readonly LeaseCandidate[], mine: ReadonlySet<string>): Promise<LeaseTick> {
    const {worker, leaseMs, runtimeClass} = this.options
    const seconds = leaseMs / 1000
    // A daemon heartbeats every third of the lease: one silent for two thirds is counted out
    // before its leases expire, so the others' shares already cover its sensors when they do.
    // (Miscounting a slow daemon is harmless: only expired leases can ever be claimed.)
    const {rows: live} = await q.query<{name: string; runtimes: unknown}>(
      `SELECT name, capabilities->'runtimes' AS runtimes FROM attune.worker
        WHERE worker_role = 'sensor' AND status = 'active' AND last_heartbeat > now() - make_interval(secs => $1)`,
      [(seconds * 2) / 3],
    )
    const workerClasses = live.map((row) =>
      row.name === worker ? new Set(mine) : new Set((Array.isArray(row.runtimes) ? row.runtimes : []).map((name) => runtimeClass(String(name))).filter(Boolean)),
    )
    if (!live.some((row) => row.name === worker)) workerClasses.push(new Set(mine))
    // Per class: how many sensors, and how many live daemons can run them.
    const byClass = new Map<string, number[]>()
    for (const sensor of sensors) byClass.set(sensor.runtime, [...(byClass.get(sensor.runtime) ?? []), sensor.id])
    const shares = new Map<string, number>()
    for (const [runtime, ids] of byClass) {
      if (!mine.has(runtime) && runtime !== 'builtin') continue
      const capable = runtime === 'builtin' ? workerClasses.length : workerClasses.filter((classes) => classes.has(runtime)).length
      shares.set(runtime, Math.ceil(ids.length / Math.max(1, capable)))
    }
    const eligible = [...shares.keys()].flatMap((runtime) => byClass.get(runtime)!)
    const classOf = new Map(sensors.map((sensor) => [sensor.id, sensor.runtime]))

    // Renew what we hold and still can run; drop the rest (disabled, deleted, runtime gone).
    await q.query('DELETE FROM attune_sensor.sensor_lease WHERE owner = $1 AND NOT (sensor = ANY($2::bigint[]))', [worker, eligible])
    const {rows: renewed} = await q.query<{sensor: number | string}>(
      `UPDATE attune_sensor.sensor_lease SET expires = now() + make_interval(secs => $2)
        WHERE owner = $1 AND expires > now() RETURNING sensor`,
      [worker, seconds],
    )
    const owned = new Set(renewed.map((row) => Number(row.sensor)))
    let released = 0
    let claimed = 0
    for (const [runtime, share] of shares) {
      const ownedHere = [...owned].filter((id) => classOf.get(id) === runtime)
      if (ownedHere.length > share) {
        // Give back the excess, newest claims first; marked released (no longer renewed), it
        // stays blocked for the grace and is claimable after.
        const {rows} = await q.query<{sensor: number | string}>(
          `UPDATE attune_sensor.sensor_lease SET owner = $1 || ' (released)', expires = now() + make_interval(secs => $3)
            WHERE sensor IN (SELECT sensor FROM attune_sensor.sensor_lease WHERE owner = $1 AND sensor = ANY($4::bigint[])
                              ORDER BY acquired DESC, sensor DESC LIMIT $2)
            RETURNING sensor`,
          [worker, ownedHere.length - share, (this.options.releaseGraceMs ?? 2000) / 1000, ownedHere],
        )
        for (const row of rows) owned.delete(Number(row.sensor))
        released += rows.length
      } else if (ownedHere.length < share) {
        // Each daemon walks the free sensors in its own order, so concurrent claims rarely collide.
        const {rows} = await q.query<{sensor: number | string}>(
          `INSERT INTO attune_sensor.sensor_lease (sensor, owner, expires)
           SELECT s.id, $1, now() + make_interval(secs => $2) FROM attune.sensor s
             LEFT JOIN attune_sensor.sensor_lease l ON l.sensor = s.id
            WHERE s.id = ANY($3::bigint[]) AND (l.sensor IS NULL OR l.expires < now())
            ORDER BY md5(s.id::text || $1) LIMIT $4
           ON CONFLICT (sensor) DO UPDATE SET owner = EXCLUDED.owner, expires = EXCLUDED.expires, acquired = now()
             WHERE attune_sensor.sensor_lease.expires < now()
           RETURNING sensor`,
          [worker, seconds, byClass.get(runtime), share - ownedHere.length],
        )
        for (const row of rows) owned.add(Number(row.sensor))
        claimed += rows.length
      }
    }
    const share = [...shares.values()].reduce((sum, value) => sum + value, 0)
    return {owned, workers: workerClasses.length, share, claimed, released}
  }

  /** A clean stop: everything this daemon holds is free at once. */
  async releaseAll(q: Queryable): Promise<void> {
    await q.query("DELETE FROM attune_sensor.sensor_lease WHERE owner = $1 OR owner = $1 || ' (released)'", [this.options.worker])
  }
}
