import {hostname} from 'node:os'
import {PassThrough} from 'node:stream'
import {afterEach, describe, expect, it} from 'vitest'
import {ATTUNE_VERSION, createLogger, resolveLogLevel, ringLogger} from '../../src/daemon/logger.js'
import {AbortError} from '../../src/engine/errors.js'

/** The daemon's logger (pino): the record shape the rest of the suite and operators rely on. */
function capture(): {stream: PassThrough; text: () => string} {
  const stream = new PassThrough()
  let text = ''
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()))
  return {stream, text: () => text}
}

const noColor = process.env.NO_COLOR
afterEach(() => {
  if (noColor === undefined) delete process.env.NO_COLOR
  else process.env.NO_COLOR = noColor
})

describe('the daemon logger', () => {
  it('writes JSON lines with level label, ts, msg, pid, hostname, service and version', async () => {
    const out = capture()
    const logger = createLogger({stream: out.stream, level: 'info'})
    logger.info('hello', {sensor: 'a.b', count: 2})
    logger.debug('not written')
    await new Promise((resolve) => setImmediate(resolve))
    const lines = out.text().trim().split('\n')
    expect(lines).toHaveLength(1)
    const record = JSON.parse(lines[0]) as Record<string, unknown>
    expect(record).toMatchObject({level: 'info', msg: 'hello', sensor: 'a.b', count: 2, pid: process.pid, hostname: hostname(), service: 'attune', version: ATTUNE_VERSION})
    expect(ATTUNE_VERSION).toMatch(/^\d+\.\d+\.\d+/)
    expect(new Date(String(record.ts)).toISOString()).toBe(record.ts)
  })

  it('serializes errors as err with type, message and stack, whether passed as err or error', () => {
    const logger = ringLogger(10, 'debug')
    logger.error('failed once', {err: new TypeError('bad type')})
    logger.warn('failed twice', {error: new Error('bad thing'), sensor: 'x'})
    logger.warn('a plain string stays', {error: 'just text'})
    const [first, second, third] = logger.records()
    expect(first.err).toMatchObject({type: 'TypeError', message: 'bad type'})
    expect(String((first.err as {stack: string}).stack)).toMatch(/^TypeError: bad type\n\s+at /)
    expect(second).toMatchObject({sensor: 'x', err: {type: 'Error', message: 'bad thing'}})
    expect(second.error).toBeUndefined()
    expect(third.error).toBe('just text')
  })

  it('keeps only the newest records in the ring, at its level', () => {
    const logger = ringLogger(3, 'warn')
    for (let i = 0; i < 5; i++) logger.warn(`w${i}`)
    logger.info('ignored')
    expect(logger.records().map((record) => record.msg)).toEqual(['w2', 'w3', 'w4'])
    expect(logger.isLevelEnabled?.('info')).toBe(false)
    expect(logger.isLevelEnabled?.('error')).toBe(true)
  })

  it('prints readable lines (no JSON, no colour under NO_COLOR) when pretty', async () => {
    process.env.NO_COLOR = '1'
    const out = capture()
    const logger = createLogger({stream: out.stream, pretty: true})
    logger.warn('poll failed', {sensor: 'a.b'})
    logger.error('boom', {err: new Error('kaput')})
    await new Promise((resolve) => setTimeout(resolve, 50))
    const text = out.text()
    expect(text).toMatch(/WARN.*poll failed/)
    expect(text).toContain('{"sensor":"a.b"}')
    expect(text).toContain('Error: kaput')
    expect(text).not.toContain('"service"')
    expect(text).not.toContain('\u001B[')
  })

  it('takes the level from the flag, else ATTUNE_LOG_LEVEL, else info; a bad value is bad input', () => {
    expect(resolveLogLevel(undefined, {})).toBe('info')
    expect(resolveLogLevel(undefined, {ATTUNE_LOG_LEVEL: 'WARN'})).toBe('warn')
    expect(resolveLogLevel('debug', {ATTUNE_LOG_LEVEL: 'warn'})).toBe('debug')
    expect(() => resolveLogLevel(undefined, {ATTUNE_LOG_LEVEL: 'verbose'})).toThrow(AbortError)
    expect(() => resolveLogLevel(undefined, {ATTUNE_LOG_LEVEL: 'verbose'})).toThrow('ATTUNE_LOG_LEVEL must be one of debug, info, warn, error, got "verbose"')
  })
})
