/**
 * What the daemons report about themselves and their sensors, read back for
 * `attune sensor status` and `attune worker list`.
 */
import {listAll, listPage, type ListSource, type Page, type PageRequest} from './list.js'
import type {Queryable} from './types.js'

/**
 * A worker whose heartbeat is older than its lease time (daemons record theirs in
 * `capabilities.lease_seconds`), or than this for other workers, is considered gone.
 */
export const HEARTBEAT_STALE_SECONDS = 30

/** SQL: the worker row `w` is active with a heartbeat within its lease time ($n: the fallback). */
const workerAlive = (w: string, fallback: string) =>
  `COALESCE(${w}.status = 'active' AND ${w}.last_heartbeat > now() - make_interval(secs => COALESCE((${w}.capabilities->>'lease_seconds')::float8, ${fallback})), false)`

/** One sensor as the daemons last reported it. */
export interface SensorStatusRow {
  ref: string
  enabled: boolean
  execution: string
  /** The daemon holding the sensor's lease, else the last one that reported on it. */
  owner: string | null
  /** The owning daemon's last heartbeat is recent. */
  owner_alive: boolean
  /**
   * `running` or `failed` for polled sensors; a long-running sensor is `running`,
   * `starting`, `restarting` or `failed`; `not polled` until its owner reports on it (also
   * right after it moved to another daemon); `disabled`.
   */
  state: string
  consecutive_failures: number
  /** Polls (for the timer sensor: timer fires; 0 for other long-running sensors). */
  polls: number
  /** Failed polls; restarts of a long-running sensor; timer rules that cannot run. */
  failures: number
  events: number
  /** The last poll (for long-running sensors: when the process last started; timers: the last fire). */
  last_poll: string | null
  last_duration_ms: number | null
  last_error: string | null
  /** The next poll or, for the timer sensor, the next fire. */
  next_poll: string | null
}

/** Every sensor as the daemons last reported it, by ref. */
export const SENSOR_STATUS_LIST: ListSource<SensorStatusRow> = {
  noun: 'sensor',
  select: `SELECT s.ref, s.enabled, COALESCE(ss.execution, 'long_running') AS execution, o.owner,
            ${workerAlive('w', '$1')} AS owner_alive,
            CASE WHEN NOT s.enabled THEN 'disabled'
                 WHEN st.state IS NULL OR (o.leased AND st.owner IS DISTINCT FROM o.owner) THEN 'not polled'
                 ELSE st.state END AS state,
            COALESCE(st.consecutive_failures, 0) AS consecutive_failures, COALESCE(st.polls, 0)::int AS polls,
            COALESCE(st.failures, 0)::int AS failures, COALESCE(st.events, 0)::int AS events,
            st.last_poll, st.last_duration_ms, st.last_error, st.next_poll
       FROM attune.sensor s
       LEFT JOIN attune_sensor.sensor_settings ss ON ss.sensor = s.id
       LEFT JOIN attune_sensor.sensor_state st ON st.sensor = s.id
       LEFT JOIN attune_sensor.sensor_lease l ON l.sensor = s.id AND l.expires > now() AND l.owner NOT LIKE '% (released)'
      CROSS JOIN LATERAL (SELECT COALESCE(l.owner, st.owner) AS owner, l.owner IS NOT NULL AS leased) o
       LEFT JOIN attune.worker w ON w.name = o.owner`,
  params: [HEARTBEAT_STALE_SECONDS],
  key: 'ref',
  keyType: 'text',
  descending: false,
}

export interface SensorStatusFilter {
  /** Only sensors that are failed or whose last poll failed. */
  failed?: boolean
}

const statusFilters = (filter: SensorStatusFilter): Array<[string, unknown]> => [["r.state = 'failed' OR r.consecutive_failures > 0", filter.failed]]

export function sensorStatuses(q: Queryable, filter: SensorStatusFilter = {}): Promise<SensorStatusRow[]> {
  return listAll(q, SENSOR_STATUS_LIST, statusFilters(filter))
}

export function pageSensorStatuses(q: Queryable, filter: SensorStatusFilter, request: PageRequest): Promise<Page<SensorStatusRow>> {
  return listPage(q, SENSOR_STATUS_LIST, statusFilters(filter), request)
}

/** A worker row: a daemon (`<host>:<pid>`) or a host registered by `attune runtime detect --register`. */
export interface WorkerListRow {
  id: number
  name: string
  worker_role: string
  status: string
  capabilities: {runtimes?: string[]; sensors?: number; [key: string]: unknown}
  last_heartbeat: string | null
  /** Seconds since the last heartbeat (null without one). */
  heartbeat_age_seconds: number | null
  /** Active with a heartbeat within its lease time: an active row without one is a daemon that died. */
  alive: boolean
  created: string
}

/** Workers, by name. */
export const WORKER_LIST: ListSource<WorkerListRow> = {
  noun: 'worker',
  select: `SELECT id::int AS id, name, worker_role::text AS worker_role, status::text AS status, capabilities, last_heartbeat,
            round(extract(epoch FROM now() - last_heartbeat))::int AS heartbeat_age_seconds, created,
            ${workerAlive('w', '$1')} AS alive
       FROM attune.worker w`,
  params: [HEARTBEAT_STALE_SECONDS],
  key: 'name',
  keyType: 'text',
  descending: false,
  map: (row) => ({
    ...row,
    last_heartbeat: row.last_heartbeat === null ? null : new Date(row.last_heartbeat).toISOString(),
    created: new Date(row.created).toISOString(),
  }),
}

export interface WorkerFilter {
  role?: string
}

const workerFilters = (filter: WorkerFilter): Array<[string, unknown]> => [['r.worker_role = ?', filter.role]]

export function listWorkers(q: Queryable, filter: WorkerFilter = {}): Promise<WorkerListRow[]> {
  return listAll(q, WORKER_LIST, workerFilters(filter))
}

export function pageWorkers(q: Queryable, filter: WorkerFilter, request: PageRequest): Promise<Page<WorkerListRow>> {
  return listPage(q, WORKER_LIST, workerFilters(filter), request)
}
