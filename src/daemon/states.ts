import type {SensorStatusRow, Store} from '../engine/store/index.js'
import type {SensorStatus} from './scheduler.js'
import type {DaemonContext} from './service.js'

/** A row of attune_sensor.sensor_state as the daemon writes it (and `attune sensor status` reads it). */
export type StoredSensorState = {id: number} & Pick<
  SensorStatusRow,
  'ref' | 'state' | 'consecutive_failures' | 'polls' | 'failures' | 'events' | 'last_poll' | 'last_duration_ms' | 'last_error' | 'next_poll'
>

export interface StateSources {
  /** The id of a polled sensor this daemon runs (undefined: no longer ours, not written). */
  pollSensorId: (ref: string) => number | undefined
  /** The states of the sensors run without polling (long-running, the timer), derived now. */
  derived: () => StoredSensorState[]
}

/**
 * Writes what the daemon knows of its sensors, batched once a second: attune's own
 * `attune_sensor.sensor_state` (for `attune sensor status`) and Attune's `attune.sensor_process`
 * (what Attune's API and web UI show). Polled sensors report changes; the others' states are
 * derived and written when they change. A clean stop marks everything this daemon ran stopped.
 */
export class SensorStateWriter {
  private dirty = new Map<string, SensorStatus>()
  /** What was last written for each derived state (JSON), to write only changes. */
  private readonly written = new Map<string, string>()

  constructor(
    private readonly context: DaemonContext,
    private readonly sources: StateSources,
  ) {}

  /** A polled sensor's status changed. */
  record(status: SensorStatus): void {
    this.dirty.set(status.ref, status)
  }

  /** Writes the changes; a failure keeps them for the next round and is thrown. */
  async flush(store: Store): Promise<void> {
    const polled = [...this.dirty.values()].filter((state) => this.sources.pollSensorId(state.ref) !== undefined)
    const states: StoredSensorState[] = polled.map((state) => ({...state, id: this.sources.pollSensorId(state.ref)!}))
    const derived = this.sources.derived().filter((state) => this.written.get(state.ref) !== JSON.stringify(state))
    states.push(...derived)
    this.dirty = new Map()
    if (states.length === 0) return
    const column = <T>(pick: (state: StoredSensorState) => T) => states.map(pick)
    try {
      await store.query(
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
          column(() => this.context.worker),
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
      for (const state of derived) this.written.set(state.ref, JSON.stringify(state))
      await this.writeSensorProcesses(store, states)
    } catch (error) {
      // Kept for the next round, unless a newer state of the sensor arrived meanwhile.
      for (const state of polled) if (!this.dirty.has(state.ref)) this.dirty.set(state.ref, state)
      throw error
    }
  }

  /**
   * Attune's view of the same states (`attune.sensor_process`, one row per sensor and worker):
   * running, starting, backoff (restarting) or failed, with the failures in a row and the
   * enabled rules of the sensor's triggers. Unchanged rows are not written again (Attune's
   * history trigger records every change).
   */
  private async writeSensorProcesses(store: Store, states: StoredSensorState[]): Promise<void> {
    const status = (state: string) => (state === 'failed' ? 'failed' : state === 'restarting' ? 'backoff' : state === 'starting' ? 'starting' : 'running')
    await store.query(
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
      [states.map((state) => state.id), states.map((state) => status(state.state)), states.map((state) => state.consecutive_failures), this.context.worker],
    )
  }

  /** Marks this worker's sensor_process rows stopped, except those of `running` (every row when omitted). */
  async stopSensorProcesses(store: Store, running: readonly string[] = []): Promise<void> {
    await store.query(
      `UPDATE attune.sensor_process SET status = 'stopped', pid = NULL, next_restart_at = NULL, last_stopped_at = now()
        WHERE worker_name = $1 AND status <> 'stopped' AND NOT (sensor_ref = ANY($2::text[]))`,
      [this.context.worker, [...running]],
    )
  }

  /** A clean stop: this daemon's sensors show as stopped, in both views, not as running on a dead daemon. */
  async markAllStopped(store: Store): Promise<void> {
    await this.stopSensorProcesses(store)
    await store.query("UPDATE attune_sensor.sensor_state SET state = 'stopped', next_poll = NULL, updated = now() WHERE owner = $1 AND state <> 'disabled'", [
      this.context.worker,
    ])
  }
}
