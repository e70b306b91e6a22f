import {hostname} from 'node:os'
import type {Queryable} from '../store/types.js'
import type {DetectionReport, WorkerRegistration} from './types.js'

/** This host's worker name for `attune runtime detect --register`. */
export function defaultWorkerName(): string {
  return hostname()
}

/** The version attune reports as `capabilities.sensor_version` (Attune's sensor service reports its own). */
export const SENSOR_VERSION = '0.2.0'

/**
 * What the worker row records, with Attune's capability keys (`runtimes`: lowercased names,
 * `runtime_versions`, `max_concurrent_sensors`, `sensor_version`) so Attune's API and web UI
 * show the daemon, plus attune's own (`engine: attune`, interpreter `paths`, `source`,
 * `detected_at`).
 */
export function workerCapabilities(
  report: Pick<DetectionReport, 'runtimes' | 'available' | 'source' | 'checked_at'>,
  options: {maxConcurrentSensors?: number} = {},
): Record<string, unknown> {
  const versions: Record<string, string> = {}
  const paths: Record<string, string> = {}
  for (const runtime of report.runtimes) {
    if (!runtime.available) continue
    const name = runtime.name.toLowerCase()
    if (runtime.version && !(name in versions)) versions[name] = runtime.version
    if (runtime.path && !(name in paths)) paths[name] = runtime.path
  }
  return {
    runtimes: report.available.map((name) => name.toLowerCase()),
    runtime_versions: versions,
    max_concurrent_sensors: options.maxConcurrentSensors ?? 16,
    sensor_version: SENSOR_VERSION,
    engine: 'attune',
    paths,
    source: report.source,
    detected_at: report.checked_at,
  }
}

interface WorkerRow {
  id: number | string
  name: string
  worker_role: string
  status: string
  capabilities: Record<string, unknown>
  last_heartbeat: Date | string
  created: Date | string
  updated: Date | string
}

/**
 * Upserts the worker row `name` as Attune's sensor service registers itself (`worker_type:
 * local`, `worker_role: sensor`, `host`, status `active`, heartbeat now). One row per name: a
 * second registration updates capabilities, host and heartbeat in place.
 */
export async function registerSensorWorker(q: Queryable, name: string, capabilities: Record<string, unknown>): Promise<WorkerRegistration> {
  const {rows} = await q.query<WorkerRow>(
    `INSERT INTO attune.worker (name, worker_type, worker_role, host, capabilities, status, last_heartbeat)
     VALUES ($1, 'local', 'sensor', $3, $2::jsonb, 'active', now())
     ON CONFLICT (name) DO UPDATE SET worker_role = EXCLUDED.worker_role, capabilities = EXCLUDED.capabilities, host = EXCLUDED.host,
       status = EXCLUDED.status, last_heartbeat = clock_timestamp(), updated = clock_timestamp()
     RETURNING id, name, worker_role::text, status::text, capabilities, last_heartbeat, created, updated`,
    [name, JSON.stringify(capabilities), hostname()],
  )
  const row = rows[0]
  return {
    id: Number(row.id),
    name: row.name,
    worker_role: row.worker_role,
    status: row.status,
    capabilities: row.capabilities,
    last_heartbeat: new Date(row.last_heartbeat).toISOString(),
    // Both columns default to the same now() on insert; an update moves `updated` on.
    created: new Date(row.created).getTime() === new Date(row.updated).getTime(),
  }
}
