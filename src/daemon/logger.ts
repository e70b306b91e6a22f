import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {hostname} from 'node:os'
import {pino, stdSerializers, type DestinationStream, type Logger as PinoLogger} from 'pino'
import type PinoPrettyModule from 'pino-pretty'
import {AbortError} from '../engine/errors.js'

/**
 * The daemon's log, written by pino: one JSON object per line, so that journald, Loki or `jq`
 * can read it:
 *
 *     {"level":"info","ts":"2026-…Z","pid":4711,"hostname":"db1","service":"attune","version":"0.1.0","sensor":"x.y","msg":"…"}
 *
 * `level` is the label (debug, info, warn, error), `ts` an ISO time, `msg` the message; an
 * error is an `err` object with `type`, `message` and `stack` (pino's error serializer). On a
 * terminal the lines are printed readably instead (`pretty`); with the dashboard they go to a
 * ring of recent records the dashboard shows (`ringLogger`).
 */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

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
  /** Whether a record of this level would be written (skip building costly debug fields). */
  isLevelEnabled?(level: LogLevel): boolean
}

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value)
}

/**
 * The log level: the `--log-level` flag, else `ATTUNE_LOG_LEVEL`, else info. A bad value in the
 * environment is bad input (the flag's values are checked by its parser).
 */
export function resolveLogLevel(flag?: string, env: NodeJS.ProcessEnv = process.env): LogLevel {
  const value = flag ?? env.ATTUNE_LOG_LEVEL
  if (value === undefined || value.trim() === '') return 'info'
  const level = value.trim().toLowerCase()
  if (isLogLevel(level)) return level
  throw new AbortError(`${flag === undefined ? 'ATTUNE_LOG_LEVEL' : '--log-level'} must be one of ${LOG_LEVELS.join(', ')}, got "${value}"`, {code: 'log_level_invalid'})
}

/** attune's version (package.json), for every log line. */
export const ATTUNE_VERSION: string = (() => {
  try {
    // src/daemon/logger.ts and dist/daemon/logger.js are both two levels below the package.
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8')
    return String((JSON.parse(text) as {version?: unknown}).version ?? 'unknown')
  } catch {
    return 'unknown'
  }
})()

/** The fields every line carries. */
export function logBase(): Record<string, unknown> {
  return {pid: process.pid, hostname: hostname(), service: 'attune', version: ATTUNE_VERSION}
}

function pinoLogger(destination: DestinationStream, level: LogLevel): PinoLogger {
  return pino(
    {
      level,
      messageKey: 'msg',
      base: logBase(),
      timestamp: () => `,"ts":"${new Date().toISOString()}"`,
      formatters: {level: (label) => ({level: label})},
      serializers: {err: stdSerializers.err},
    },
    destination,
  )
}

/**
 * `error: someError` in the fields becomes `err` (serialized with its stack), so a call site
 * that passes the Error itself never logs a flat string.
 */
function withErr(fields: Record<string, unknown>): Record<string, unknown> {
  if (!(fields.error instanceof Error) || 'err' in fields) return fields
  const {error, ...rest} = fields
  return {...rest, err: error}
}

function wrap(base: PinoLogger): Logger {
  const log = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (!base.isLevelEnabled(level)) return
    if (fields) base[level](withErr(fields), msg)
    else base[level](msg)
  }
  return {
    log,
    debug: (msg, fields) => log('debug', msg, fields),
    info: (msg, fields) => log('info', msg, fields),
    warn: (msg, fields) => log('warn', msg, fields),
    error: (msg, fields) => log('error', msg, fields),
    isLevelEnabled: (level) => base.isLevelEnabled(level),
  }
}

export interface LoggerOptions {
  level?: LogLevel
  /** Where the lines go (default stdout). */
  stream?: NodeJS.WritableStream
  /** Readable lines instead of JSON (for a terminal). NO_COLOR turns the colours off. */
  pretty?: boolean
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const stream = options.stream ?? process.stdout
  const level = options.level ?? 'info'
  if (!options.pretty) return wrap(pinoLogger(stream as DestinationStream, level))
  // Loaded only for a terminal: JSON logging (and every test) does not pay for it.
  const PinoPretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPrettyModule
  const pretty = PinoPretty({
    destination: stream,
    colorize: !process.env.NO_COLOR,
    messageKey: 'msg',
    timestampKey: 'ts',
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service,version',
    singleLine: true,
    sync: true,
  })
  return wrap(pinoLogger(pretty, level))
}

/** JSON lines on a stream (stdout by default). */
export function jsonLogger(stream: NodeJS.WritableStream = process.stdout, minLevel: LogLevel = 'info'): Logger {
  return createLogger({stream, level: minLevel})
}

/** Keeps the last `size` records in memory (for the dashboard and tests), newest last: the same records the JSON log has. */
export function ringLogger(size = 200, minLevel: LogLevel = 'info'): Logger & {records(): LogRecord[]} {
  const buffer: LogRecord[] = []
  const ring: DestinationStream = {
    write(line: string) {
      buffer.push(JSON.parse(line) as LogRecord)
      if (buffer.length > size) buffer.shift()
    },
  }
  return {...wrap(pinoLogger(ring, minLevel)), records: () => [...buffer]}
}
