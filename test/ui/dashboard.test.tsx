import {render} from 'ink-testing-library'
import {stripVTControlCharacters} from 'node:util'
import React from 'react'
import stringWidth from 'string-width'
import {afterEach, describe, expect, it, vi} from 'vitest'
import type {LogRecord} from '../../src/daemon/logger.js'
import {Dashboard} from '../../src/ui/dashboard.js'
import {daemonStatus, FakeDaemon, longRef, polled} from './fixtures.js'

const T0 = Date.parse('2026-11-30T08:00:00Z')
const KEY = {down: '\u001B[B', up: '\u001B[A', pageDown: '\u001B[6~', pageUp: '\u001B[5~', enter: '\r', escape: '\u001B', ctrlC: '\u0003'}

type Rendered = ReturnType<typeof render>
const mounted: Rendered[] = []
afterEach(() => {
  for (const instance of mounted.splice(0)) instance.unmount()
})

/** The frame as the terminal shows it, one string per line (colours removed). */
function screen(instance: Rendered): string[] {
  return stripVTControlCharacters(instance.lastFrame() ?? '').split('\n')
}

/** Waits until the frame satisfies `check` (renders are asynchronous). */
async function frameWhere(instance: Rendered, check: (lines: string[]) => boolean, what: string): Promise<string[]> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const lines = screen(instance)
    if (check(lines)) return lines
    if (Date.now() > deadline) throw new Error(`no frame ${what}; last:\n${lines.join('\n')}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Sets the fake terminal's size the way a real one changes: new columns and rows, then 'resize'. */
function resize(instance: Rendered, columns: number, rows: number): void {
  Object.defineProperty(instance.stdout, 'columns', {value: columns, configurable: true})
  Object.defineProperty(instance.stdout, 'rows', {value: rows, configurable: true})
  instance.stdout.emit('resize')
}

async function press(instance: Rendered, keys: string): Promise<void> {
  instance.stdin.write(keys)
  // ink parses input asynchronously (and holds a lone Esc briefly to tell it from a sequence).
  await new Promise((resolve) => setTimeout(resolve, 60))
}

function mount(daemon: FakeDaemon, options: {columns: number; rows: number; clock?: () => number; log?: LogRecord[]; onStop?: () => void}): Rendered {
  const instance = render(<Dashboard daemon={daemon} log={() => options.log ?? []} onStop={options.onStop ?? (() => {})} now={options.clock ?? (() => T0)} refreshMs={20} />)
  mounted.push(instance)
  resize(instance, options.columns, options.rows)
  return instance
}

const sensorLines = (lines: string[]) => lines.filter((line) => /^pack\d\d\./.test(line))
const refsShown = (lines: string[]) => sensorLines(lines).map((line) => line.slice(0, 6))

function thirtySensors(): FakeDaemon {
  const sensors = Array.from({length: 30}, (_, index) =>
    polled(longRef(index + 1), {
      events: index * 3,
      last_poll: new Date(T0 - 4000).toISOString(),
      next_poll: new Date(T0 + 26_000).toISOString(),
      ...(index % 10 === 4 ? {state: 'failed' as const, consecutive_failures: 5, failures: 5, last_error: 'exit code 2: connection refused'} : {}),
    }),
  )
  return new FakeDaemon(daemonStatus(sensors, {started_at: new Date(T0 - 600_000).toISOString()}))
}

const log: LogRecord[] = Array.from({length: 30}, (_, index) => ({ts: new Date(T0).toISOString(), level: 'warn', msg: `poll failed ${index}`, sensor: longRef(5), error: 'exit code 2: '.padEnd(300, 'x')}))

describe('the daemon dashboard', () => {
  for (const [columns, rows] of [
    [80, 24],
    [200, 50],
  ]) {
    it(`fits ${columns}×${rows} with 30 sensors of 60-character refs, and every sensor is reachable by scrolling`, async () => {
      const instance = mount(thirtySensors(), {columns, rows, log})
      let lines = await frameWhere(instance, (frame) => frame.length === rows - 1 && frame.every((line) => stringWidth(line) <= columns), 'at the new size')
      expect(lines.length).toBeLessThanOrEqual(rows - 1)
      for (const line of lines) expect(stringWidth(line), line).toBeLessThanOrEqual(columns)
      expect(lines[0]).toContain('attune daemon host.example:4242')
      expect(lines.join('\n')).toMatch(/database ok embedded .*pgdata/)
      expect(lines.join('\n')).toMatch(/broker ok amqp .*outbox 0 pending/)
      // One line per sensor, the ref's beginning kept.
      expect(sensorLines(lines)[0]).toMatch(/^pack01\.a_sensor_with/)
      const page = sensorLines(lines).length
      expect(page).toBeGreaterThanOrEqual(columns === 80 ? 10 : 30)
      if (page < 30) expect(lines.join('\n')).toContain(`sensors 1–${page} of 30 · ↓ ${30 - page} more`)

      // Down arrow, then PgDn: the header stays, every sensor comes by.
      const seen = new Set(refsShown(lines))
      for (let step = 0; step < 3 && seen.size < 30; step++) {
        await press(instance, KEY.down)
        lines = await frameWhere(instance, (frame) => frame[0].startsWith('attune daemon'), 'with the header')
        refsShown(lines).forEach((ref) => seen.add(ref))
      }
      if (page < 30) expect([...seen].sort().at(-1)).toBe(`pack${String(page + 3).padStart(2, '0')}`)
      for (let step = 0; step < 10 && seen.size < 30; step++) {
        await press(instance, KEY.pageDown)
        lines = await frameWhere(instance, (frame) => frame[0].startsWith('attune daemon'), 'with the header')
        expect(lines.length).toBeLessThanOrEqual(rows - 1)
        refsShown(lines).forEach((ref) => seen.add(ref))
      }
      expect(seen.size).toBe(30)
      expect(refsShown(lines).at(-1)).toBe('pack30')
      if (page < 30) expect(lines.join('\n')).toContain(`↑ ${30 - page} above`)
      // And back up.
      for (let step = 0; step < 10; step++) await press(instance, KEY.pageUp)
      lines = await frameWhere(instance, (frame) => refsShown(frame)[0] === 'pack01', 'back at the top')
    })
  }

  it('`/` filters by a substring (Enter keeps it, Esc clears it); `f` shows failed sensors only', async () => {
    const instance = mount(thirtySensors(), {columns: 80, rows: 24})
    await frameWhere(instance, (frame) => refsShown(frame).length > 5, 'with sensors')
    await press(instance, '/')
    await press(instance, 'pack2')
    let lines = await frameWhere(instance, (frame) => frame.at(-1)!.startsWith('/pack2'), 'with the filter being typed')
    await press(instance, KEY.enter)
    lines = await frameWhere(instance, (frame) => frame.some((line) => line.startsWith('sensors 1–10 of 10 (30 in all)')), 'filtered')
    expect(refsShown(lines)).toEqual(['pack20', 'pack21', 'pack22', 'pack23', 'pack24', 'pack25', 'pack26', 'pack27', 'pack28', 'pack29'])
    expect(lines.at(-1)).toContain('q stop')

    await press(instance, 'f')
    lines = await frameWhere(instance, (frame) => refsShown(frame).length === 1, 'filtered and failed only')
    expect(refsShown(lines)).toEqual(['pack25'])
    expect(lines.join('\n')).toContain('filter "pack2", failed only')

    await press(instance, '/')
    await press(instance, KEY.escape)
    lines = await frameWhere(instance, (frame) => refsShown(frame).length === 3, 'failed only')
    expect(refsShown(lines)).toEqual(['pack05', 'pack15', 'pack25'])
    expect(sensorLines(lines).every((line) => / failed /.test(line))).toBe(true)
    await press(instance, 'f')
    await frameWhere(instance, (frame) => refsShown(frame).length > 5, 'unfiltered again')
  })

  it('shows the events of the last minute (sliding, from an injected clock) and a sparkline on a wide terminal', async () => {
    let now = T0
    const daemon = new FakeDaemon(daemonStatus([polled('a.rate', {events: 0})]))
    const instance = mount(daemon, {columns: 200, rows: 30, clock: () => now})
    const rate = (lines: string[]) => {
      const row = lines.find((line) => line.startsWith('a.rate'))
      // SENSOR STATE LAST NEXT POLLS FAILS EVENTS EV/MIN (last and next are "—" here)
      return row?.split(/\s+/).slice(0, 8).join(' ')
    }
    const at = async (seconds: number, events: number, expected: string) => {
      now = T0 + seconds * 1000
      daemon.current = daemonStatus([polled('a.rate', {events})])
      return frameWhere(instance, (frame) => rate(frame) === expected, `with ${expected}`)
    }
    await at(0, 0, 'a.rate running — — 3 0 0 0')
    await at(30, 5, 'a.rate running — — 3 0 5 5')
    await at(61, 12, 'a.rate running — — 3 0 12 12')
    // (35 s, 95 s]: the 7 events after the 5 seen at 30 s; no extrapolation from a short window.
    await at(95, 12, 'a.rate running — — 3 0 12 7')
    const lines = await at(200, 12, 'a.rate running — — 3 0 12 0')
    // One character per minute, the last ending now: minutes ending at 20, 80, 140 and 200 s
    // had 0, 12, 0 and 0 events; the six before the first sample have no data.
    const titles = lines.find((line) => line.startsWith('SENSOR'))!
    const trend = titles.indexOf('LAST 10 MIN')
    expect(trend).toBeGreaterThan(0)
    expect(lines.find((line) => line.startsWith('a.rate'))!.slice(trend, trend + 10)).toBe('       █  ')
  })

  it('q and Ctrl-C ask for the stop; the footer says what the stop waits for until the daemon has stopped', async () => {
    const onStop = vi.fn()
    const daemon = thirtySensors()
    const instance = mount(daemon, {columns: 80, rows: 24, onStop})
    await frameWhere(instance, (frame) => frame.at(-1)!.includes('q stop'), 'with the keys')
    await press(instance, 'q')
    expect(onStop).toHaveBeenCalledTimes(1)
    await frameWhere(instance, (frame) => frame.at(-1)!.startsWith('stopping…'), 'stopping')
    daemon.current = {...daemon.current, sensors: daemon.current.sensors.map((sensor, index) => (index < 2 ? {...sensor, running: true} : sensor)), broker: {...daemon.current.broker, pending: 3}}
    daemon.stopping = {phase: 'polls in flight', started_at: new Date(T0).toISOString(), deadline: new Date(T0 + 30_000).toISOString()}
    const lines = await frameWhere(instance, (frame) => frame.at(-1)!.includes('poll(s) in flight'), 'naming what it waits for')
    expect(lines.at(-1)).toMatch(/^stopping… waiting for 2 poll\(s\) in flight, 3 outbox row\(s\) unpublished/)
    expect(stringWidth(lines.at(-1)!)).toBeLessThanOrEqual(80)
    // A second request (Ctrl-C) goes to the daemon command, which stops at once.
    await press(instance, KEY.ctrlC)
    expect(onStop).toHaveBeenCalledTimes(2)
    // Stopped: the last frame says so.
    instance.rerender(<Dashboard daemon={daemon} log={() => []} onStop={onStop} now={() => T0} refreshMs={20} stopped="daemon stopped" />)
    await frameWhere(instance, (frame) => frame.at(-1) === 'daemon stopped', 'stopped')
  })

  it('Ctrl-C stops like q', async () => {
    const onStop = vi.fn()
    const instance = mount(thirtySensors(), {columns: 80, rows: 24, onStop})
    await frameWhere(instance, (frame) => frame[0].startsWith('attune daemon'), 'first')
    await press(instance, KEY.ctrlC)
    expect(onStop).toHaveBeenCalledTimes(1)
    await frameWhere(instance, (frame) => frame.at(-1)!.startsWith('stopping…'), 'stopping')
  })

  it('follows a resize: re-measured, still within the width and height', async () => {
    const instance = mount(thirtySensors(), {columns: 200, rows: 50})
    await frameWhere(instance, (frame) => refsShown(frame).length === 30, 'wide')
    resize(instance, 80, 24)
    const lines = await frameWhere(instance, (frame) => frame.length <= 23 && frame.every((line) => stringWidth(line) <= 80), 'narrow')
    expect(lines[0]).toContain('attune daemon')
    resize(instance, 120, 40)
    await frameWhere(instance, (frame) => frame.length === 39 && frame.some((line) => stringWidth(line) > 80), 'wider again')
  })
})
