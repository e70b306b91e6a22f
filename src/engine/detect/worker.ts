import {hostname} from 'node:os'
import type {Queryable} from '../store/types.js'
import type {DetectionReport, WorkerRegistration} from './types.js'

/** This host's worker name for `attune runtime detect --register`. */
export function defaultWorkerName(): string {
  return hostname()
}

/** What the worker row records: the available runtimes (SPEC §8), plus versions and paths for operators. */
export function workerCapabilities(report: Pick<DetectionReport, 'runtimes' | 'available' | 'source' | 'checked_at'>): Record<string, unknown> {
  const versions: Record<string, string> = {}
  const paths: Record<string, string> = {}
  for (const runtime of report.runtimes) {
    if (!runtime.available) continue
    if (runtime.version && !(runtime.name in versions)) versions[runtime.name] = runtime.version
    if (runtime.path && !(runtime.name in paths)) paths[runtime.name] = runtime.path
  }
  return {runtimes: report.available, versions, paths, source: report.source, detected_at: report.checked_at}
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
 * Upserts the worker row `name` (`worker_role: sensor`, status `active`, heartbeat now).
 * One row per name: a second registration updates capabilities and heartbeat in place.
 */
export async function registerSensorWorker(q: Queryable, name: string, capabilities: Record<string, unknown>): Promise<WorkerRegistration> {
  const {rows} = await q.query<WorkerRow>(
    `INSERT INTO attune.worker (name, worker_role, capabilities, status, last_heartbeat)
     VALUES ($1, 'sensor', $2::jsonb, 'active', now())
     ON CONFLICT (name) DO UPDATE SET worker_role = EXCLUDED.worker_role, capabilities = EXCLUDED.capabilities,
       status = EXCLUDED.status, last_heartbeat = clock_timestamp(), updated = clock_timestamp()
     RETURNING id, name, worker_role, status, capabilities, last_heartbeat, created, updated`,
    [name, JSON.stringify(capabilities)],
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
