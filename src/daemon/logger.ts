/**
 * The daemon's log: one JSON object per line (`{"ts", "level", "msg", ...fields}`), so that
 * journald, Loki or `jq` can read it. On a terminal with the dashboard, lines go to a ring
 * buffer the dashboard shows instead.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
const RANK: Record<LogLevel, number> = {debug: 10, info: 20, warn: 30, error: 40}

export interface LogRecord {
  ts: string
  level: LogLevel
  msg: string
  [field: string]: unknown
}

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
}

function makeLogger(write: (record: LogRecord) => void, minLevel: LogLevel): Logger {
  const log = (level: LogLevel, msg: string, fields: Record<string, unknown> = {}) => {
    if (RANK[level] < RANK[minLevel]) return
    write({ts: new Date().toISOString(), level, msg, ...fields})
  }
  return {
    log,
    debug: (msg, fields) => log('debug', msg, fields),
    info: (msg, fields) => log('info', msg, fields),
    warn: (msg, fields) => log('warn', msg, fields),
    error: (msg, fields) => log('error', msg, fields),
  }
}

/** JSON lines on a stream (stdout by default). */
export function jsonLogger(stream: NodeJS.WritableStream = process.stdout, minLevel: LogLevel = 'info'): Logger {
  return makeLogger((record) => stream.write(`${JSON.stringify(record)}\n`), minLevel)
}

/** Keeps the last `size` records in memory (for the dashboard), newest last. */
export function ringLogger(size = 200, minLevel: LogLevel = 'info'): Logger & {records(): LogRecord[]} {
  const buffer: LogRecord[] = []
  const logger = makeLogger((record) => {
    buffer.push(record)
    if (buffer.length > size) buffer.shift()
  }, minLevel)
  return {...logger, records: () => [...buffer]}
}
