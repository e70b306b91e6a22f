import {describe, expect, it} from 'vitest'
import {
  buildFrame,
  clampOffset,
  displayWidth,
  EventRates,
  fit,
  handleKey,
  INITIAL_VIEW,
  layoutColumns,
  MIN_SENSOR_WIDTH,
  sensorRows,
  sparkline,
  stoppingText,
  truncate,
  visibleRows,
  type Line,
  type ViewState,
} from '../../src/ui/dashboard-model.js'
import {daemonStatus, longRef, polled} from './fixtures.js'

const text = (line: Line) => line.map((segment) => segment.text).join('')
const T0 = Date.parse('2026-11-30T08:00:00Z')
const S = 1000

describe('truncation', () => {
  it('measures display width and cuts with an ellipsis, never wider than asked', () => {
    expect(displayWidth('日本')).toBe(4)
    expect(truncate('examples.heartbeat', 10)).toBe('examples.…')
    expect(truncate('short', 10)).toBe('short')
    expect(displayWidth(truncate('日本語テキストです', 7))).toBeLessThanOrEqual(7)
    expect(truncate('/home/operator/attune/pgdata', 12, 'middle')).toMatch(/^\/home.*….*data$/)
    expect(truncate('line one\nline two', 40)).toBe('line one line two')
    expect(fit('12', 5, 'right')).toBe('   12')
    expect(fit('abcdefgh', 5)).toBe('abcd…')
    expect(truncate('anything', 0)).toBe('')
  })
})

describe('EventRates', () => {
  it('counts the events of the last 60 s, not an extrapolation of a shorter window', () => {
    const rates = new EventRates()
    // A sensor polled every 30 s storing 5 events per poll; the dashboard samples every second.
    let total = 0
    for (let second = 0; second <= 180; second++) {
      if (second > 0 && second % 30 === 0) total += 5
      rates.record('a', total, T0 + second * S)
    }
    // In (120 s, 180 s]: the polls at 150 s and 180 s.
    expect(rates.perMinute('a', T0 + 180 * S)).toBe(10)
    // Between polls the rate stays 10: it does not fall to 0 and jump back (the old 10 s window did).
    expect(rates.perMinute('a', T0 + 165 * S)).toBe(10)
    // Before the first minute has passed: the events since the first observation.
    expect(rates.perMinute('a', T0 + 45 * S)).toBe(5)
    expect(rates.perMinute('never', T0)).toBeNull()
  })

  it('gives per-minute buckets for the sparkline, null before the first observation', () => {
    const rates = new EventRates()
    rates.record('a', 0, T0)
    rates.record('a', 3, T0 + 30 * S) // minute 1: 3
    rates.record('a', 3, T0 + 90 * S) // minute 2: 0
    rates.record('a', 9, T0 + 150 * S) // minute 3: 6
    const buckets = rates.buckets('a', T0 + 180 * S, 5)
    // Minutes end at now: (−60 s, 0] has no data, (0, 60 s] has 3...
    expect(buckets).toEqual([null, 0, 3, 0, 6])
    expect(sparkline(buckets)).toBe('  ▄ █')
    expect(sparkline([1, 2, 4, 8])).toBe('▁▂▄█')
    expect(sparkline([0, 0, null])).toBe('   ')
  })

  it('keeps ten minutes, and starts afresh when a counter goes back', () => {
    const rates = new EventRates()
    for (let minute = 0; minute <= 30; minute++) rates.record('a', minute * 2, T0 + minute * 60 * S)
    expect(rates.buckets('a', T0 + 30 * 60 * S, 10)).toEqual(Array.from({length: 10}, () => 2))
    rates.record('a', 1, T0 + 30 * 60 * S + S)
    expect(rates.perMinute('a', T0 + 30 * 60 * S + 2 * S)).toBe(0)
    rates.record('a', 4, T0 + 30 * 60 * S + 3 * S)
    expect(rates.perMinute('a', T0 + 30 * 60 * S + 4 * S)).toBe(3)
    rates.retain([])
    expect(rates.perMinute('a', T0 + 30 * 60 * S + 4 * S)).toBeNull()
  })
})

describe('sensorRows', () => {
  it('names the timer sensor by its sensor ref, as `sensor status` does, its timer rules as the detail', () => {
    const status = daemonStatus([polled('b.poller')], {
      timer_sensor: 'core.timer_sensor',
      timers: [
        {rule_ref: 'examples.heartbeat', trigger_ref: 'core.intervaltimer', kind: 'interval', next_fire_at: new Date(T0 + 4 * S).toISOString(), last_scheduled_at: new Date(T0 - 6 * S).toISOString(), execution_count: 7, error: null},
      ],
      long_running: [{ref: 'a.listener', state: 'backoff', pid: null, restarts: 2, consecutive_crashes: 2, events: 4, malformed_lines: 0, last_exit: 'code 1', started_at: null, triggers: 1}],
    })
    const rows = sensorRows(status, T0)
    expect(rows.map((row) => row.ref)).toEqual(['a.listener', 'b.poller', 'core.timer_sensor'])
    const timer = rows[2]
    expect(timer).toMatchObject({kind: 'timer', state: 'running', last: '6s ago', next: 'in 4s', events: 7, failing: false})
    expect(timer.detail).toContain('examples.heartbeat')
    expect(rows[0]).toMatchObject({kind: 'long-running', failing: true, fails: 2, detail: 'exited: code 1'})
  })

  it('marks a sensor whose last poll failed as failing, its error as the detail', () => {
    const rows = sensorRows(daemonStatus([polled('a', {consecutive_failures: 1, failures: 1, last_error: 'exit code 3'}), polled('b', {running: true})]), T0)
    expect(rows[0]).toMatchObject({failing: true, detail: 'exit code 3', error: true})
    expect(rows[1]).toMatchObject({failing: false, state: 'running*', next: 'polling'})
  })
})

describe('layoutColumns', () => {
  it('never exceeds the width, drops the sparkline and then other columns before squeezing the sensor column', () => {
    for (const width of [40, 60, 80, 81, 100, 120, 200, 300]) {
      const columns = layoutColumns(width, 60)
      const total = columns.reduce((sum, column) => sum + column.width, 0) + columns.length - 1
      expect(total, `width ${width}`).toBeLessThanOrEqual(width)
      expect(columns[0].id).toBe('sensor')
      if (width >= 80) expect(columns[0].width).toBeGreaterThanOrEqual(MIN_SENSOR_WIDTH)
    }
    const at80 = layoutColumns(80, 60).map((column) => column.id)
    expect(at80).toEqual(['sensor', 'state', 'last', 'next', 'polls', 'fails', 'events', 'rate'])
    const at200 = layoutColumns(200, 60)
    expect(at200.map((column) => column.id)).toEqual(['sensor', 'state', 'last', 'next', 'polls', 'fails', 'events', 'rate', 'trend', 'detail'])
    expect(at200[0].width).toBe(60)
    // Short refs leave the sensor column at its minimum and the rest to the detail.
    expect(layoutColumns(120, 8)[0].width).toBe(MIN_SENSOR_WIDTH)
  })
})

describe('keys and the view', () => {
  const press = (view: ViewState, input: string, key = {}) => handleKey(view, input, key, 10).view

  it('scrolls by line, page, home and end; the offset is clamped to the last page', () => {
    let view = INITIAL_VIEW
    view = press(view, '', {downArrow: true})
    view = press(view, '', {pageDown: true})
    expect(view.offset).toBe(11)
    view = press(view, '', {upArrow: true})
    expect(view.offset).toBe(10)
    view = press(view, '', {pageUp: true})
    view = press(view, '', {pageUp: true})
    expect(view.offset).toBe(0)
    view = press(view, '', {end: true})
    expect(clampOffset(view.offset, 30, 10)).toBe(20)
    expect(clampOffset(5, 3, 10)).toBe(0)
  })

  it('`/` types a filter (Enter keeps it, Esc clears it); `f` toggles failed only; `q` and Ctrl-C quit', () => {
    let view = press(INITIAL_VIEW, '/')
    expect(view.editing).toBe(true)
    for (const char of 'q/f') view = press(view, char)
    expect(view.filter).toBe('q/f')
    expect(view.quitting).toBe(false)
    view = press(view, '', {backspace: true})
    view = press(view, '', {return: true})
    expect(view).toMatchObject({filter: 'q/', editing: false})
    view = press(press(view, '/'), '', {escape: true})
    expect(view).toMatchObject({filter: '', editing: false})
    view = press(view, 'f')
    expect(view.failedOnly).toBe(true)
    expect(handleKey(view, 'q', {}, 10).quit).toBe(true)
    expect(handleKey({...view, editing: true}, 'c', {ctrl: true}, 10).quit).toBe(true)
    expect(handleKey(INITIAL_VIEW, 'x', {}, 10)).toEqual({view: INITIAL_VIEW, quit: false})
  })

  it('filters by substring of the ref (any case) and by failing', () => {
    const rows = sensorRows(daemonStatus([polled('core.Disk'), polled('core.http', {state: 'failed'}), polled('other.disk2')]), T0)
    expect(visibleRows(rows, {filter: 'disk', failedOnly: false}).map((row) => row.ref)).toEqual(['core.Disk', 'other.disk2'])
    expect(visibleRows(rows, {filter: 'core', failedOnly: true}).map((row) => row.ref)).toEqual(['core.http'])
  })
})

describe('buildFrame', () => {
  const sensors = Array.from({length: 30}, (_, index) => polled(longRef(index + 1), {events: index, last_poll: new Date(T0 - 5 * S).toISOString(), next_poll: new Date(T0 + 25 * S).toISOString()}))
  const status = daemonStatus(sensors, {started_at: new Date(T0 - 3600 * S).toISOString()})
  const rows = sensorRows(status, T0)
  const rates = new EventRates()
  for (const row of rows) rates.record(row.ref, row.events, T0)
  const log = Array.from({length: 20}, (_, index) => ({ts: new Date(T0).toISOString(), level: 'warn' as const, msg: `poll failed ${index} ${'x'.repeat(200)}`, sensor: longRef(1)}))

  for (const [columns, height] of [
    [80, 24],
    [200, 50],
    [100, 30],
    [80, 10],
  ]) {
    it(`fits ${columns}×${height}: rows - 1 lines, none wider, the header first, the footer last`, () => {
      const frame = buildFrame({status, rows, rates, log, view: INITIAL_VIEW, now: T0, size: {columns, rows: height}, stopping: null})
      expect(frame.lines.length).toBe(height - 1)
      for (const line of frame.lines) expect(displayWidth(text(line))).toBeLessThanOrEqual(columns)
      expect(text(frame.lines[0])).toContain('attune daemon host.example:4242')
      const header = frame.lines.slice(0, frame.lines.findIndex((line) => text(line).startsWith('SENSOR'))).map(text).join('\n')
      expect(header).toMatch(/database ok embedded \/home.*pgdata/)
      expect(header).toMatch(/broker ok amqp amqp:.*attune · outbox 0 pending, 0 sent/)
      expect(text(frame.lines.at(-1)!)).toContain('q stop')
      // The table sizes where the width allows (200 columns).
      if (columns >= 200) expect(header).toContain('12k events, 980 enforcements, 3 outbox rows')
    })
  }

  it('summarises what does not fit, and the page follows the height', () => {
    const frame = buildFrame({status, rows, rates, log, view: INITIAL_VIEW, now: T0, size: {columns: 80, rows: 24}, stopping: null})
    const lines = frame.lines.map(text)
    expect(frame.page).toBeGreaterThan(5)
    expect(lines.find((line) => line.startsWith('sensors 1–'))).toContain(`↓ ${30 - frame.page} more`)
    expect(lines.filter((line) => line.startsWith('pack')).length).toBe(frame.page)
    // Refs keep their beginning.
    expect(lines[lines.findIndex((line) => line.startsWith('SENSOR')) + 1]).toMatch(/^pack01\.a_sensor_with_a_rat.*… /)
  })

  it('shows an error of a log record, as `error` or as pino\'s `err`', () => {
    const records = [
      {ts: new Date(T0).toISOString(), level: 'error' as const, msg: 'poll failed', sensor: 'a.one', error: 'exit code 3'},
      {ts: new Date(T0).toISOString(), level: 'error' as const, msg: 'could not store', err: {message: 'connection reset'}},
    ]
    const few = daemonStatus([polled('a.one')])
    const lines = buildFrame({status: few, rows: sensorRows(few, T0), rates, log: records, view: INITIAL_VIEW, now: T0, size: {columns: 80, rows: 24}, stopping: null}).lines.map(text)
    expect(lines.some((line) => line.includes('error poll failed a.one: exit code 3'))).toBe(true)
    expect(lines.some((line) => line.includes('could not store connection reset'))).toBe(true)
  })

  it('gives the log what the sensors leave', () => {
    const few = daemonStatus([polled('a.one')])
    const frame = buildFrame({status: few, rows: sensorRows(few, T0), rates, log, view: INITIAL_VIEW, now: T0, size: {columns: 80, rows: 24}, stopping: null})
    expect(frame.lines.map(text).filter((line) => line.includes('poll failed')).length).toBe(24 - 1 - 7)
  })

  it('the footer says what a stop waits for', () => {
    const busy = daemonStatus([polled('a', {running: true}), polled('b', {running: true})], {broker: {...status.broker, pending: 4}})
    expect(stoppingText(busy, {phase: 'polls in flight', started_at: new Date(T0).toISOString(), deadline: new Date(T0 + 30 * S).toISOString()}, T0 + 2 * S)).toBe(
      'stopping… waiting for 2 poll(s) in flight, 4 outbox row(s) unpublished (polls in flight, 28s left) · Ctrl-C again: stop at once',
    )
    const frame = buildFrame({status: busy, rows: sensorRows(busy, T0), rates, log: [], view: {...INITIAL_VIEW, quitting: true}, now: T0, size: {columns: 80, rows: 24}, stopping: null})
    expect(text(frame.lines.at(-1)!)).toMatch(/^stopping… waiting for 2 poll\(s\) in flight/)
  })
})
