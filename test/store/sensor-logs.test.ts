/**
 * The sensor log store (migration 040) on both backends: one INSERT for several sensors, the
 * newest lines kept per sensor, reading the newest N / after an id / since a time, lines of a
 * deleted sensor skipped, and the per-poll bounds.
 */
import {afterAll, beforeEach, describe, expect, it} from 'vitest'
import {CORE_PACK_DIR} from '../../src/engine/detect/index.js'
import {AbortError} from '../../src/engine/errors.js'
import {registerPacks} from '../../src/engine/packs/index.js'
import {
  appendSensorLogs,
  lastLines,
  LOG_LINE_MAX_CHARS,
  pollLogLines,
  POLL_LOG_MAX_LINES,
  readSensorLogs,
  requireSensorId,
  type SensorLogRow,
  type Store,
} from '../../src/engine/store/index.js'
import {backends, useMigratedStore} from './backends.js'
import {makePack, removeTempDirs} from './pack-files.js'

afterAll(() => removeTempDirs())

const pack = makePack('sl', {
  'triggers/t.yaml': 'ref: sl.t\n',
  'sensors/a.yaml': 'ref: sl.a\nrunner_type: shell\nentry_point: a.sh\ntrigger_types: [sl.t]\n',
  'sensors/b.yaml': 'ref: sl.b\nrunner_type: shell\nentry_point: b.sh\ntrigger_types: [sl.t]\n',
  'sensors/c.yaml': 'ref: sl.c\nrunner_type: shell\nentry_point: c.sh\ntrigger_types: [sl.t]\n',
})

function rows(sensorId: number, sensorRef: string, count: number, prefix = 'line', poll = 'p1'): SensorLogRow[] {
  return Array.from({length: count}, (_, index) => ({source: {sensorId, sensorRef, poll, worker: 'w1'}, line: {stream: 'stderr' as const, line: `${prefix} ${index + 1}`}}))
}

describe.each(backends())('sensor logs on $name', (backend) => {
  const store: Store = useMigratedStore(backend, {setup: (opened) => registerPacks(opened, [CORE_PACK_DIR, pack]).then(() => {})})
  let a = 0
  let b = 0

  beforeEach(async () => {
    if (backend.skip) return
    await store.query('DELETE FROM attune_sensor.sensor_log')
    a = await requireSensorId(store, 'sl.a')
    b = await requireSensorId(store, 'sl.b')
  })

  it.skipIf(backend.skip)('stores the lines of several sensors in one write and reads them back oldest first', async () => {
    const stored = await appendSensorLogs(store, [...rows(a, 'sl.a', 3), ...rows(b, 'sl.b', 2, 'other', 'p2')])
    expect(stored).toBe(5)
    const lines = await readSensorLogs(store, a)
    expect(lines.map((line) => line.line)).toEqual(['line 1', 'line 2', 'line 3'])
    expect(lines[0]).toMatchObject({sensor: 'sl.a', stream: 'stderr', poll: 'p1', pid: null, worker: 'w1'})
    expect(new Date(lines[0].ts).toISOString()).toBe(lines[0].ts)
    expect(lines[1].id).toBeGreaterThan(lines[0].id)
    expect((await readSensorLogs(store, b)).map((line) => line.line)).toEqual(['other 1', 'other 2'])
  })

  it.skipIf(backend.skip)('reads the newest N, the lines after an id, and the lines since a time', async () => {
    await appendSensorLogs(store, rows(a, 'sl.a', 10))
    const newest = await readSensorLogs(store, a, {lines: 3})
    expect(newest.map((line) => line.line)).toEqual(['line 8', 'line 9', 'line 10'])
    const after = await readSensorLogs(store, a, {afterId: newest[0].id})
    expect(after.map((line) => line.line)).toEqual(['line 9', 'line 10'])
    const old = new Date(Date.now() - 3_600_000)
    await appendSensorLogs(store, [{source: {sensorId: a, sensorRef: 'sl.a'}, line: {stream: 'error', line: 'an hour ago', ts: old}}])
    const since = await readSensorLogs(store, a, {since: new Date(Date.now() - 60_000)})
    expect(since.map((line) => line.line)).not.toContain('an hour ago')
    expect(since).toHaveLength(10)
  })

  it.skipIf(backend.skip)('keeps the newest lines of each sensor written to, and no other sensor loses any', async () => {
    await appendSensorLogs(store, rows(b, 'sl.b', 7, 'b'), {retain: 5})
    expect(await readSensorLogs(store, b)).toHaveLength(5)
    await appendSensorLogs(store, rows(a, 'sl.a', 4, 'first'), {retain: 5})
    await appendSensorLogs(store, rows(a, 'sl.a', 3, 'second'), {retain: 5})
    const lines = await readSensorLogs(store, a)
    expect(lines.map((line) => line.line)).toEqual(['first 3', 'first 4', 'second 1', 'second 2', 'second 3'])
    expect(await readSensorLogs(store, b)).toHaveLength(5)
  })

  it.skipIf(backend.skip)('skips the lines of a sensor deleted meanwhile, and a sensor takes its lines with it', async () => {
    const c = await requireSensorId(store, 'sl.c')
    await appendSensorLogs(store, rows(c, 'sl.c', 2))
    expect(await readSensorLogs(store, c)).toHaveLength(2)
    expect(await appendSensorLogs(store, [...rows(a, 'sl.a', 1), ...rows(999_999, 'sl.gone', 2)])).toBe(1)
    await store.query('DELETE FROM attune.sensor WHERE id = $1', [c])
    expect((await store.query('SELECT count(*)::int AS n FROM attune_sensor.sensor_log WHERE sensor = $1', [c])).rows[0]).toEqual({n: 0})
  })

  it.skipIf(backend.skip)('stores a NUL and a very long line', async () => {
    await appendSensorLogs(store, [
      {source: {sensorId: a, sensorRef: 'sl.a', pid: 42}, line: {stream: 'stderr', line: 'nul \0 here'}},
      {source: {sensorId: a, sensorRef: 'sl.a', pid: 42}, line: {stream: 'stderr', line: 'x'.repeat(LOG_LINE_MAX_CHARS + 10)}},
    ])
    const [nul, long] = await readSensorLogs(store, a)
    expect(nul).toMatchObject({line: 'nul \uFFFD here', pid: 42, poll: null})
    expect(long.line).toBe(`${'x'.repeat(LOG_LINE_MAX_CHARS)}… (10 more characters)`)
  })

  it.skipIf(backend.skip)('an unknown sensor ref is bad input naming the closest ref', async () => {
    const error = await requireSensorId(store, 'sl.aa').catch((thrown: unknown) => thrown)
    expect(error).toBeInstanceOf(AbortError)
    expect(error).toMatchObject({code: 'sensor_not_found', message: 'no sensor "sl.aa" is registered'})
    expect((error as AbortError).hint).toContain('sl.a')
  })
})

describe('the bounds of one poll', () => {
  it('keeps the last 200 lines, says how many were left out, and holds to the byte bound', () => {
    const text = Array.from({length: 300}, (_, index) => `l${index + 1}`).join('\n') + '\n\n'
    const {lines, dropped} = lastLines(text)
    expect(lines).toHaveLength(POLL_LOG_MAX_LINES)
    expect(lines[0]).toBe('l101')
    expect(lines.at(-1)).toBe('l300')
    expect(dropped).toBe(100)
    const big = lastLines(Array.from({length: 50}, () => 'y'.repeat(3000)).join('\n'))
    expect(big.lines.length).toBeLessThan(25)
    expect(big.lines.join('\n').length).toBeLessThanOrEqual(64 * 1024)
    expect(lastLines('  \n')).toEqual({lines: [], dropped: 0})
  })

  it('turns a poll into stdout, stderr, then traceback or error lines', () => {
    const failed = pollLogLines({stdout: 'printed', stderr: 'warned\n', error: 'boom', traceback: 'Traceback (most recent call last):\nValueError: boom\n'})
    expect(failed.map((line) => `${line.stream}:${line.line}`)).toEqual(['stdout:printed', 'stderr:warned', 'traceback:Traceback (most recent call last):', 'traceback:ValueError: boom'])
    const errorOnly = pollLogLines({stderr: '', error: 'Sensor exited with code 3', traceback: null})
    expect(errorOnly).toEqual([{stream: 'error', line: 'Sensor exited with code 3'}])
    expect(pollLogLines({stderr: '', error: null, traceback: null})).toEqual([])
    const noisy = pollLogLines({stderr: Array.from({length: 250}, (_, index) => `e${index}`).join('\n'), error: null, traceback: null})
    expect(noisy[0]).toEqual({stream: 'stderr', line: '… 50 earlier line(s) not kept'})
    expect(noisy).toHaveLength(201)
  })
})
