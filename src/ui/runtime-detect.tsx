import type {DetectionReport} from '../engine/detect/index.js'
import {renderTable} from './table.js'

/** Home directories shown as `~`, so real interpreter paths fit the table. */
function shortPath(path: string | null): string {
  if (!path) return ''
  const home = process.env.HOME
  return home && home !== '/' && path.startsWith(`${home}/`) ? `~${path.slice(home.length)}` : path
}

/** A time as ISO 8601 in UTC (`2026-11-30T08:15:02Z`), as everywhere in attune: never the local zone. */
function clock(iso: string): string {
  return new Date(iso).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** `attune runtime detect` as a table plus a few lines on where the answer came from. */
export function renderRuntimeReport(report: DetectionReport): string {
  const table = renderTable(
    report.runtimes,
    [
      {header: 'NAME', value: (runtime) => runtime.name},
      {header: 'REF', value: (runtime) => runtime.ref ?? '-'},
      {header: 'AVAILABLE', value: (runtime) => (runtime.available ? '✓' : '✗'), color: (runtime) => (runtime.available ? 'green' : 'red')},
      {header: 'BINARY', value: (runtime) => runtime.binary ?? ''},
      {header: 'PATH', value: (runtime) => shortPath(runtime.path), maxWidth: 70},
      {header: 'VERSION', value: (runtime) => runtime.version ?? ''},
      {header: 'REASON', value: (runtime) => runtime.reason, maxWidth: 90},
    ],
    'No runtimes.',
  )
  const lines = [table, '']
  const how =
    report.source === 'detection'
      ? report.cached
        ? `cached result of ${clock(report.checked_at)} (use --no-cache to check again)`
        : `checked in ${report.duration_ms} ms`
      : 'nothing checked'
  lines.push(`Source:    ${report.source_detail}; ${how}`)
  if (report.registered_core_pack) lines.push('Note:      the database had no sensor runtimes; the bundled core pack was registered')
  lines.push(`Available: ${report.available.length > 0 ? report.available.join(', ') : 'none'}`)
  if (report.worker) {
    const {worker} = report
    lines.push(`Worker:    ${worker.name} ${worker.created ? 'registered' : 'updated'} (role ${worker.worker_role}, ${worker.status}, heartbeat ${clock(worker.last_heartbeat)})`)
  }
  for (const required of report.required ?? []) {
    lines.push(`Required:  ${required.name} ${required.available ? 'is available' : `is NOT available: ${required.reason}`}`)
  }
  return lines.join('\n')
}
