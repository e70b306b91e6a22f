import {AbortError} from '../errors.js'
import {closestName} from '../suggest.js'
import type {Queryable} from './types.js'

/**
 * Sensor logs (`attune_sensor.sensor_log`, migration 040): what sensors wrote as their log, one
 * row per line, written by the daemon and read by `attune sensor logs`. Bounded twice: a poll
 * contributes its last `POLL_LOG_MAX_LINES` lines / `POLL_LOG_MAX_BYTES` bytes at most, and
 * every write keeps only the newest `SENSOR_LOG_RETAIN` lines of each sensor it wrote to.
 */

export type SensorLogStream = 'stdout' | 'stderr' | 'traceback' | 'error'

/** Lines kept per sensor (older ones are deleted by the write that adds newer ones). */
export const SENSOR_LOG_RETAIN = 1000
/** At most this many lines of one poll's output are kept (the last ones). */
export const POLL_LOG_MAX_LINES = 200
/** ... and at most this many bytes of it. */
export const POLL_LOG_MAX_BYTES = 64 * 1024
/** A longer line is cut to this many characters (and marked). */
export const LOG_LINE_MAX_CHARS = 4096

/** One line to store. */
export interface SensorLogLine {
  stream: SensorLogStream
  line: string
  /** Default: the time of the write. */
  ts?: Date
}

/** Who wrote the lines: the sensor, and the poll or process. */
export interface SensorLogSource {
  sensorId: number
  sensorRef: string
  /** The poll the lines belong to (poll sensors). */
  poll?: string
  /** The process that wrote them (long-running sensors). */
  pid?: number
  /** The daemon that stored them. */
  worker?: string
}

/** A stored line, as `attune sensor logs --json` prints it. */
export interface SensorLogRecord {
  id: number
  sensor: string
  ts: string
  stream: SensorLogStream
  line: string
  poll: string | null
  pid: number | null
  worker: string | null
}

function cut(line: string): string {
  return line.length > LOG_LINE_MAX_CHARS ? `${line.slice(0, LOG_LINE_MAX_CHARS)}… (${line.length - LOG_LINE_MAX_CHARS} more characters)` : line
}

/**
 * The last lines of `text` within both bounds (lines and UTF-8 bytes), long lines cut; `dropped`
 * counts the lines left out before them. Blank trailing lines are not lines.
 */
export function lastLines(text: string, maxLines = POLL_LOG_MAX_LINES, maxBytes = POLL_LOG_MAX_BYTES): {lines: string[]; dropped: number} {
  const trimmed = text.replace(/\s+$/, '')
  if (trimmed === '') return {lines: [], dropped: 0}
  const all = trimmed.split(/\r?\n/)
  const lines: string[] = []
  let bytes = 0
  for (let index = all.length - 1; index >= 0 && lines.length < maxLines; index--) {
    const line = cut(all[index])
    bytes += Buffer.byteLength(line) + 1
    if (bytes > maxBytes && lines.length > 0) break
    lines.push(line)
  }
  return {lines: lines.reverse(), dropped: all.length - lines.length}
}

/** What one poll leaves in the log: its output streams (the last lines of each), then its traceback or error. */
export function pollLogLines(result: {stdout?: string; stderr: string; error: string | null; traceback: string | null}): SensorLogLine[] {
  const out: SensorLogLine[] = []
  const add = (stream: SensorLogStream, text: string | null | undefined, maxLines = POLL_LOG_MAX_LINES, maxBytes = POLL_LOG_MAX_BYTES) => {
    if (!text) return
    const {lines, dropped} = lastLines(text, maxLines, maxBytes)
    if (dropped > 0) out.push({stream, line: `… ${dropped} earlier line(s) not kept`})
    for (const line of lines) out.push({stream, line})
  }
  add('stdout', result.stdout, POLL_LOG_MAX_LINES / 4, POLL_LOG_MAX_BYTES / 4)
  add('stderr', result.stderr)
  add('traceback', result.traceback, 100, 16 * 1024)
  // The error of a failed poll once, when the traceback does not already say it.
  if (result.error && !result.traceback) add('error', result.error, 20, 4096)
  return out
}

/** A line with who wrote it. */
export interface SensorLogRow {
  source: SensorLogSource
  line: SensorLogLine
}

/**
 * Stores lines of one or several sensors in one INSERT (ids in the order given), then deletes what is past the newest
 * `retain` lines of each sensor written to. Lines of a sensor deleted meanwhile are skipped.
 * Returns how many lines were stored.
 */
export async function appendSensorLogs(q: Queryable, rows: ReadonlyArray<SensorLogRow>, options: {retain?: number} = {}): Promise<number> {
  if (rows.length === 0) return 0
  const now = new Date()
  const {rowCount} = await q.query(
    `INSERT INTO attune_sensor.sensor_log (sensor, sensor_ref, ts, stream, line, poll, pid, worker)
     SELECT r.sensor, r.sensor_ref, r.ts, r.stream, r.line, r.poll, r.pid, r.worker
       FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::integer[], $8::text[])
              WITH ORDINALITY AS r(sensor, sensor_ref, ts, stream, line, poll, pid, worker, n)
      WHERE EXISTS (SELECT 1 FROM attune.sensor s WHERE s.id = r.sensor)
      ORDER BY r.n`,
    [
      rows.map((row) => row.source.sensorId),
      rows.map((row) => row.source.sensorRef),
      rows.map((row) => (row.line.ts ?? now).toISOString()),
      rows.map((row) => row.line.stream),
      // PostgreSQL text cannot hold NUL.
      rows.map((row) => cut(row.line.line).replaceAll('\0', '\uFFFD')),
      rows.map((row) => row.source.poll ?? null),
      rows.map((row) => row.source.pid ?? null),
      rows.map((row) => row.source.worker ?? null),
    ],
  )
  await pruneSensorLogs(q, [...new Set(rows.map((row) => row.source.sensorId))], options.retain)
  return rowCount
}

/** Deletes all but the newest `retain` lines of each of these sensors. */
export async function pruneSensorLogs(q: Queryable, sensorIds: readonly number[], retain = SENSOR_LOG_RETAIN): Promise<number> {
  let deleted = 0
  for (const sensor of sensorIds) {
    const {rowCount} = await q.query(
      `DELETE FROM attune_sensor.sensor_log
        WHERE sensor = $1
          AND id <= (SELECT id FROM attune_sensor.sensor_log WHERE sensor = $1 ORDER BY id DESC OFFSET $2 LIMIT 1)`,
      [sensor, retain],
    )
    deleted += rowCount
  }
  return deleted
}

/** The id of a sensor by its ref, or undefined. */
export async function sensorIdByRef(q: Queryable, ref: string): Promise<number | undefined> {
  const {rows} = await q.query<{id: number | string}>('SELECT id FROM attune.sensor WHERE ref = $1', [ref])
  return rows.length > 0 ? Number(rows[0].id) : undefined
}

/** The id of a registered sensor; an unknown ref is bad input (with the closest ref as a hint). */
export async function requireSensorId(q: Queryable, ref: string): Promise<number> {
  const id = await sensorIdByRef(q, ref)
  if (id !== undefined) return id
  const {rows} = await q.query<{ref: string}>('SELECT ref FROM attune.sensor')
  const close = closestName(ref, rows.map((row) => row.ref))
  throw new AbortError(`no sensor ${JSON.stringify(ref)} is registered`, {
    code: 'sensor_not_found',
    hint: close ? `Did you mean ${close}? (attune sensor list shows them all)` : 'List the registered sensors with `attune sensor list`.',
  })
}

export interface ReadSensorLogsOptions {
  /** Only lines after this id (following). */
  afterId?: number
  /** Only lines written at or after this time. */
  since?: Date
  /** The newest N lines (default all that are kept). */
  lines?: number
}

/** A sensor's stored lines, oldest first. */
export async function readSensorLogs(q: Queryable, sensorId: number, options: ReadSensorLogsOptions = {}): Promise<SensorLogRecord[]> {
  const {rows} = await q.query<{id: number | string; sensor_ref: string; ts: Date | string; stream: SensorLogStream; line: string; poll: string | null; pid: number | null; worker: string | null}>(
    `SELECT * FROM (
       SELECT id, sensor_ref, ts, stream, line, poll, pid, worker FROM attune_sensor.sensor_log
        WHERE sensor = $1 AND id > $2 AND ($3::timestamptz IS NULL OR ts >= $3::timestamptz)
        ORDER BY id DESC LIMIT $4
     ) newest ORDER BY id`,
    [sensorId, options.afterId ?? 0, options.since ? options.since.toISOString() : null, options.lines ?? 1_000_000],
  )
  return rows.map((row) => ({
    id: Number(row.id),
    sensor: row.sensor_ref,
    ts: row.ts instanceof Date ? row.ts.toISOString() : new Date(row.ts).toISOString(),
    stream: row.stream,
    line: row.line,
    poll: row.poll,
    pid: row.pid,
    worker: row.worker,
  }))
}
