import cliTruncate from 'cli-truncate'
import stringWidth from 'string-width'
import type {DaemonStatus, StopProgress} from '../daemon/daemon.js'
import type {LogRecord} from '../daemon/logger.js'

/**
 * The daemon dashboard's logic, without ink: event rates over a sliding minute, sparkline
 * buckets, one row per sensor, the column layout for a terminal width, the frame for a terminal
 * height, and the scroll/filter state driven by keys. `dashboard.tsx` only renders the frame.
 */

export const MINUTE_MS = 60_000

// ---------------------------------------------------------------------------------------------
// Text measuring and truncation

/** Display width on a terminal (wide characters count 2, escape sequences 0). */
export function displayWidth(text: string): number {
  return stringWidth(text)
}

/** `text` cut to at most `width` columns with an ellipsis where it was cut (never wrapped). */
export function truncate(text: string, width: number, position: 'start' | 'middle' | 'end' = 'end'): string {
  if (width <= 0) return ''
  // A line is one line: control characters (a newline in an error) would break the frame.
  const flat = text.replaceAll(/[\u0000-\u001f\u007f]+/g, ' ')
  return displayWidth(flat) <= width ? flat : cliTruncate(flat, width, {position})
}

/** `text` truncated, then padded with spaces to exactly `width` columns. */
export function fit(text: string, width: number, align: 'left' | 'right' = 'left', position: 'start' | 'middle' | 'end' = 'end'): string {
  const cut = truncate(text, width, position)
  const pad = ' '.repeat(Math.max(0, width - displayWidth(cut)))
  return align === 'left' ? cut + pad : pad + cut
}

// ---------------------------------------------------------------------------------------------
// Rates: events per minute over a sliding minute, and per-minute buckets for the sparkline

interface Series {
  /** [time, cumulative count] whenever the count changed (and the first observation): a step function. */
  samples: Array<[number, number]>
}

/**
 * Per-sensor event rates from the cumulative event counts the daemon reports. Each observation
 * is stored only when the count changed, so the count at any time is the latest sample at or
 * before it. Events per minute are the events counted in the last 60 s (not extrapolated from a
 * shorter window); before the first minute has passed, the events since the first observation.
 */
export class EventRates {
  private readonly series = new Map<string, Series>()

  /** `horizonMs`: how far back counts are kept (the sparkline's span). */
  constructor(private readonly horizonMs = 10 * MINUTE_MS) {}

  /** The cumulative count `total` of `ref` observed at `now`. */
  record(ref: string, total: number, now: number): void {
    let series = this.series.get(ref)
    if (!series) {
      series = {samples: []}
      this.series.set(ref, series)
    }
    const last = series.samples.at(-1)
    // A counter that went back (the sensor was removed and added again) starts a new series.
    if (last && total < last[1]) series.samples = []
    if (!last || total !== last[1] || series.samples.length === 0) series.samples.push([now, total])
    // Keep one sample at or before the horizon: the count there is the baseline of the oldest bucket.
    const horizon = now - this.horizonMs - MINUTE_MS
    while (series.samples.length > 1 && series.samples[1][0] <= horizon) series.samples.shift()
  }

  /** Forgets the sensors not in `refs`. */
  retain(refs: Iterable<string>): void {
    const keep = new Set(refs)
    for (const ref of this.series.keys()) if (!keep.has(ref)) this.series.delete(ref)
  }

  /** The count at `time`: the latest sample at or before it; undefined before the first. */
  private countAt(series: Series, time: number): number | undefined {
    let count: number | undefined
    for (const [at, total] of series.samples) {
      if (at > time) break
      count = total
    }
    return count
  }

  /**
   * Events in (`from`, `to`]; null when nothing was observed by `to`. A window that begins
   * before the first observation counts from it.
   */
  eventsBetween(ref: string, from: number, to: number): number | null {
    const series = this.series.get(ref)
    if (!series || series.samples.length === 0) return null
    const end = this.countAt(series, to)
    if (end === undefined) return null
    const start = this.countAt(series, from) ?? series.samples[0][1]
    return Math.max(0, end - start)
  }

  /** Events in the last minute before `now`; null for a sensor never observed. */
  perMinute(ref: string, now: number): number | null {
    return this.eventsBetween(ref, now - MINUTE_MS, now)
  }

  /** Events per minute for the last `minutes` minutes, oldest first, the last ending at `now` (null: not observed yet). */
  buckets(ref: string, now: number, minutes = 10): Array<number | null> {
    const result: Array<number | null> = []
    const first = this.series.get(ref)?.samples[0]?.[0]
    for (let index = minutes - 1; index >= 0; index--) {
      const to = now - index * MINUTE_MS
      // A minute that ended before the first observation has no data (not zero).
      result.push(first === undefined || to < first ? null : this.eventsBetween(ref, to - MINUTE_MS, to))
    }
    return result
  }
}

const BARS = '▁▂▃▄▅▆▇█'

/**
 * One character per bucket: a space for no data or no events, else ▁…█ scaled to the largest
 * bucket (any event shows at least ▁).
 */
export function sparkline(buckets: Array<number | null>): string {
  const max = Math.max(0, ...buckets.map((value) => value ?? 0))
  return buckets
    .map((value) => {
      if (value === null || value <= 0 || max === 0) return ' '
      return BARS[Math.max(0, Math.ceil((value / max) * BARS.length) - 1)]
    })
    .join('')
}

// ---------------------------------------------------------------------------------------------
// Rows: one per sensor

export interface SensorRow {
  ref: string
  kind: 'poll' | 'long-running' | 'timer'
  state: string
  /** Failed, or its last poll / process / timer failed: what `f` shows. */
  failing: boolean
  last: string
  next: string
  polls: number | null
  fails: number
  events: number
  /** The last error, or what kind of sensor it is. */
  detail: string
  error: boolean
}

/** "12s ago", "5m ago", "3h ago"; "—" for never. */
export function ago(iso: string | null, now: number): string {
  if (!iso) return '—'
  const seconds = Math.round((now - Date.parse(iso)) / 1000)
  if (seconds <= 0) return 'now'
  return `${compact(seconds)} ago`
}

/** "in 12s", "in 5m"; "due" when past; "—" for never. */
export function until(iso: string | null, now: number): string {
  if (!iso) return '—'
  const seconds = Math.round((Date.parse(iso) - now) / 1000)
  return seconds <= 0 ? 'due' : `in ${compact(seconds)}`
}

/** 950, 12.3k, 4.1M. */
export function compactCount(count: number): string {
  if (count < 1000) return String(count)
  if (count < 1_000_000) return `${(count / 1000).toFixed(count < 10_000 ? 1 : 0)}k`
  return `${(count / 1_000_000).toFixed(count < 10_000_000 ? 1 : 0)}M`
}

function compact(seconds: number): string {
  if (seconds < 60) return `${seconds}s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h`
  return `${Math.floor(seconds / 86_400)}d`
}

function every(ms: number): string {
  return ms % 60_000 === 0 ? `every ${ms / 60_000}m` : `every ${Math.round(ms / 1000)}s`
}

/** The timer sensor's default ref, when the status does not name it. */
const TIMER_SENSOR = 'core.timer_sensor'

/**
 * One row per sensor the daemon runs, by ref: polled sensors, long-running ones, and the timer
 * sensor under its own ref (as `attune sensor status` names it), its timers as the detail.
 */
export function sensorRows(status: DaemonStatus, now: number): SensorRow[] {
  const rows: SensorRow[] = []
  for (const sensor of status.sensors) {
    const failing = sensor.state === 'failed' || sensor.consecutive_failures > 0
    rows.push({
      ref: sensor.ref,
      kind: 'poll',
      state: sensor.running ? `${sensor.state}*` : sensor.state,
      failing,
      last: ago(sensor.last_poll, now),
      next: sensor.running ? 'polling' : until(sensor.next_poll, now),
      polls: sensor.polls,
      fails: sensor.failures,
      events: sensor.events,
      detail: sensor.last_error && failing ? sensor.last_error : `${every(sensor.interval_ms)}${sensor.stuck ? ', stuck' : ''}`,
      error: Boolean(sensor.last_error && failing) || sensor.stuck,
    })
  }
  for (const sensor of status.long_running) {
    const failing = sensor.state === 'failed' || sensor.state === 'backoff'
    rows.push({
      ref: sensor.ref,
      kind: 'long-running',
      state: sensor.state,
      failing,
      last: sensor.started_at && sensor.state === 'running' ? `up ${compact(Math.max(0, Math.round((now - Date.parse(sensor.started_at)) / 1000)))}` : '—',
      next: '—',
      polls: null,
      fails: sensor.restarts,
      events: sensor.events,
      detail: failing && sensor.last_exit ? `exited: ${sensor.last_exit}` : `long-running, pid ${sensor.pid ?? '—'}, ${sensor.triggers} trigger(s)`,
      error: failing,
    })
  }
  if (status.timers.length > 0 || status.timer_sensor) {
    const broken = status.timers.filter((timer) => timer.error !== null)
    const fires = status.timers.reduce((sum, timer) => sum + timer.execution_count, 0)
    const latest = status.timers.map((timer) => timer.last_scheduled_at).filter((at): at is string => at !== null).sort().at(-1) ?? null
    const next = status.timers.map((timer) => timer.next_fire_at).filter((at): at is string => at !== null).sort()[0] ?? null
    const allBroken = status.timers.length > 0 && broken.length === status.timers.length
    rows.push({
      ref: status.timer_sensor ?? TIMER_SENSOR,
      kind: 'timer',
      state: allBroken ? 'failed' : 'running',
      failing: broken.length > 0,
      last: ago(latest, now),
      next: until(next, now),
      polls: fires,
      fails: broken.length,
      events: fires,
      detail:
        broken.length > 0
          ? broken.map((timer) => `${timer.rule_ref}: ${timer.error}`).join('; ')
          : `${status.timers.length} timer(s): ${status.timers.map((timer) => `${timer.rule_ref} ${until(timer.next_fire_at, now)}`).join(', ')}`,
      error: broken.length > 0,
    })
  }
  return rows.sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0))
}

// ---------------------------------------------------------------------------------------------
// Columns

export type ColumnId = 'sensor' | 'state' | 'last' | 'next' | 'polls' | 'fails' | 'events' | 'rate' | 'trend' | 'detail'

export interface Column {
  id: ColumnId
  title: string
  width: number
  align: 'left' | 'right'
}

/** Fixed columns in display order; `drop`: the order they are dropped in when the width is short (lower first). */
const FIXED: Array<Column & {drop: number}> = [
  {id: 'state', title: 'STATE', width: 8, align: 'left', drop: 7},
  {id: 'last', title: 'LAST', width: 7, align: 'left', drop: 4},
  {id: 'next', title: 'NEXT', width: 7, align: 'left', drop: 3},
  {id: 'polls', title: 'POLLS', width: 6, align: 'right', drop: 2},
  {id: 'fails', title: 'FAILS', width: 5, align: 'right', drop: 5},
  {id: 'events', title: 'EVENTS', width: 7, align: 'right', drop: 6},
  {id: 'rate', title: 'EV/MIN', width: 6, align: 'right', drop: 8},
  {id: 'trend', title: 'LAST 10 MIN', width: 11, align: 'left', drop: 1},
]

/** The sensor column is never narrower than this while other columns can be dropped. */
export const MIN_SENSOR_WIDTH = 20
/** The detail column is shown only with at least this much room. */
const MIN_DETAIL_WIDTH = 16
/** Minutes in the sparkline (one character each). */
export const TREND_MINUTES = 10

/**
 * The columns for a terminal `width` (one space between columns): the sensor column gets what
 * its longest ref needs; columns are dropped, least useful first, until the sensor column has
 * at least MIN_SENSOR_WIDTH; room left over goes to the detail column. The total never exceeds `width`.
 */
export function layoutColumns(width: number, longestRef: number): Column[] {
  const fixed = [...FIXED]
  const used = () => fixed.reduce((sum, column) => sum + column.width + 1, 0)
  while (fixed.length > 0 && width - used() < MIN_SENSOR_WIDTH) {
    const drop = fixed.reduce((least, column) => (column.drop < least.drop ? column : least))
    fixed.splice(fixed.indexOf(drop), 1)
  }
  const room = Math.max(1, width - used())
  const sensor = Math.min(room, Math.max(longestRef, 'SENSOR'.length, MIN_SENSOR_WIDTH))
  const columns: Column[] = [{id: 'sensor', title: 'SENSOR', width: sensor, align: 'left'}, ...fixed.map(({id, title, width: columnWidth, align}) => ({id, title, width: columnWidth, align}))]
  const left = room - sensor - 1
  if (left >= MIN_DETAIL_WIDTH) columns.push({id: 'detail', title: 'DETAIL', width: left, align: 'left'})
  return columns
}

// ---------------------------------------------------------------------------------------------
// The frame

export interface Segment {
  text: string
  color?: string
  bold?: boolean
  dim?: boolean
  /** Truncated (in the middle) first when the line is too wide: a location, a URL. */
  shrink?: boolean
}
export type Line = Segment[]

export const STATE_COLOR: Record<string, string> = {running: 'green', starting: 'cyan', failed: 'red', paused: 'yellow', backoff: 'yellow', stopped: 'yellow'}
const LEVEL_COLOR: Record<string, string | undefined> = {warn: 'yellow', error: 'red'}

/** The scroll position, filter and mode the keys change. */
export interface ViewState {
  /** Index of the first sensor row shown (clamped when the frame is built). */
  offset: number
  /** Substring the refs must contain (case-insensitive); '' for all. */
  filter: string
  /** Typing a filter after `/`. */
  editing: boolean
  failedOnly: boolean
  /** `q` or Ctrl-C was pressed. */
  quitting: boolean
}

export const INITIAL_VIEW: ViewState = {offset: 0, filter: '', editing: false, failedOnly: false, quitting: false}

export interface KeyInput {
  upArrow?: boolean
  downArrow?: boolean
  pageUp?: boolean
  pageDown?: boolean
  home?: boolean
  end?: boolean
  return?: boolean
  escape?: boolean
  backspace?: boolean
  delete?: boolean
  ctrl?: boolean
  meta?: boolean
  tab?: boolean
}

/**
 * The next view for one key press; `page`: sensor rows on screen. `quit` is set for `q` (not
 * while typing a filter) and Ctrl-C: the caller asks the daemon to stop.
 */
export function handleKey(view: ViewState, input: string, key: KeyInput, page: number): {view: ViewState; quit: boolean} {
  if (key.ctrl && input === 'c') return {view: {...view, editing: false, quitting: true}, quit: true}
  if (view.editing) {
    if (key.return) return {view: {...view, editing: false}, quit: false}
    if (key.escape) return {view: {...view, editing: false, filter: '', offset: 0}, quit: false}
    if (key.backspace || key.delete) return {view: {...view, filter: [...view.filter].slice(0, -1).join(''), offset: 0}, quit: false}
    if (input && !key.ctrl && !key.meta && !key.tab && !key.upArrow && !key.downArrow && !key.pageUp && !key.pageDown) {
      return {view: {...view, filter: view.filter + input.replaceAll(/[\u0000-\u001f\u007f]/g, ''), offset: 0}, quit: false}
    }
  }
  const step = Math.max(1, page)
  if (key.upArrow || (!view.editing && input === 'k')) return {view: {...view, offset: Math.max(0, view.offset - 1)}, quit: false}
  if (key.downArrow || (!view.editing && input === 'j')) return {view: {...view, offset: view.offset + 1}, quit: false}
  if (key.pageUp) return {view: {...view, offset: Math.max(0, view.offset - step)}, quit: false}
  if (key.pageDown || (!view.editing && input === ' ')) return {view: {...view, offset: view.offset + step}, quit: false}
  if (key.home || (!view.editing && input === 'g')) return {view: {...view, offset: 0}, quit: false}
  // Past the end: clamped to the last page when the frame is built.
  if (key.end || (!view.editing && input === 'G')) return {view: {...view, offset: Number.MAX_SAFE_INTEGER}, quit: false}
  if (view.editing) return {view, quit: false}
  if (input === 'q') return {view: {...view, quitting: true}, quit: true}
  if (input === '/') return {view: {...view, editing: true}, quit: false}
  if (input === 'f') return {view: {...view, failedOnly: !view.failedOnly, offset: 0}, quit: false}
  if (key.escape) return {view: {...view, filter: '', failedOnly: false, offset: 0}, quit: false}
  return {view, quit: false}
}

/** The rows the filter and the failed-only toggle let through. */
export function visibleRows(rows: SensorRow[], view: Pick<ViewState, 'filter' | 'failedOnly'>): SensorRow[] {
  const needle = view.filter.toLowerCase()
  return rows.filter((row) => (!view.failedOnly || row.failing) && (needle === '' || row.ref.toLowerCase().includes(needle)))
}

/** `offset` kept within the rows: the last page is full when there are more rows than fit. */
export function clampOffset(offset: number, total: number, page: number): number {
  return Math.max(0, Math.min(offset, total - Math.max(1, page)))
}

export interface FrameInput {
  status: DaemonStatus
  rows: SensorRow[]
  rates: EventRates
  log: LogRecord[]
  view: ViewState
  now: number
  /** The terminal's size. */
  size: {columns: number; rows: number}
  /** Set once the daemon is stopping. */
  stopping: StopProgress | null
  /** Set once the daemon has stopped: the last frame's footer. */
  stopped?: string
}

export interface Frame {
  lines: Line[]
  /** Sensor rows on screen (a page, for PgUp/PgDn). */
  page: number
  /** The offset actually used (clamped). */
  offset: number
}

/** Recent log lines shown below the sensors (at least, when the sensors need the room). */
export function minLogLines(height: number): number {
  return Math.max(0, Math.min(8, Math.floor((height - 12) / 4)))
}

/**
 * The whole frame for a terminal of `size`: at most `rows - 1` lines (ink clears
 * the screen, and with it the scrollback, for a frame as tall as the terminal), each at most
 * `columns` wide, padded to that height so that it fills the screen (see dashboard.tsx on resize).
 *
 * Lines, top to bottom: two header lines (daemon; database, broker and outbox), the column
 * titles, one line per sensor shown, the summary (position, N more, total, filter), recent
 * log, and the footer (keys, the filter being typed, or what a stop waits for).
 */
export function buildFrame(input: FrameInput): Frame {
  const {status, rows, rates, view, now} = input
  const width = Math.max(1, input.size.columns)
  const height = Math.max(2, input.size.rows) - 1
  const shown = visibleRows(rows, view)
  const longest = Math.max(0, ...rows.map((row) => displayWidth(row.ref)))
  const columns = layoutColumns(width, longest)

  const header = headerLines(status, rows, width, now)
  const titles: Line = [{text: fit(columns.map((column) => fit(column.title, column.width, column.align)).join(' '), width), bold: true}]
  const footer = footerLine(input, width)
  const fixed = header.length + 3 // the headers, the titles, the summary, the footer
  const space = Math.max(0, height - fixed)
  // The sensors get the room they need, keeping the log's minimum; the log takes what is left.
  const reserved = Math.min(minLogLines(input.size.rows), Math.max(0, space - 1))
  const page = Math.min(shown.length, space - reserved)
  const offset = clampOffset(view.offset, shown.length, page)
  const sensorLines = shown.slice(offset, offset + page).map((row) => rowLine(row, columns, rates, now))
  const summary = summaryLine(rows.length, shown.length, offset, page, view, width)
  const logRoom = space - page
  const logLines = logRoom > 0 ? input.log.slice(-logRoom).map((record) => logLine(record, width)) : []
  const lines: Line[] = [...header, titles, ...sensorLines, summary, ...logLines]
  while (lines.length < height - 1) lines.push([{text: ' '}])
  // A terminal shorter than the fixed lines: the header first, the footer always.
  const frame = [...lines.slice(0, height - 1), footer]
  return {lines: frame, page: Math.max(1, page), offset}
}

function headerLines(status: DaemonStatus, rows: SensorRow[], width: number, now: number): Line[] {
  const failing = rows.filter((row) => row.failing).length
  const uptime = compact(Math.max(0, Math.round((now - Date.parse(status.started_at)) / 1000)))
  const first: Line = [
    {text: 'attune daemon ', bold: true},
    {text: status.name, dim: true, shrink: true},
    {text: ` · up ${uptime} · ${rows.length} sensor(s)`},
    ...(failing > 0 ? [{text: ` · ${failing} failing`, color: 'red'}] : []),
  ]
  // The API's address only where it fits whole: the daemon's name matters more.
  if (status.api && lineWidth(first) + displayWidth(` · api ${status.api}`) <= width) first.push({text: ' · api '}, {text: status.api})
  const database: Line = [
    {text: 'database '},
    status.database.ok ? {text: 'ok', color: 'green'} : {text: 'down', color: 'red'},
    {text: ' '},
    {text: status.database.location, shrink: true},
    ...(status.database.ok ? [] : [{text: ` (${status.database.error ?? 'no answer'})`, color: 'red', shrink: true}]),
  ]
  const broker: Line = [
    {text: 'broker '},
    status.broker.ok ? {text: 'ok', color: 'green'} : {text: 'down', color: 'red'},
    {text: ` ${status.broker.kind} `},
    {text: status.broker.location, shrink: true},
    ...(status.broker.ok ? [] : [{text: ` (${status.broker.error ?? 'no answer'})`, color: 'red', shrink: true}]),
    {text: ` · outbox ${status.broker.pending} pending, ${status.broker.sent} sent`},
  ]
  // The sizes of the tables retention prunes, where the width allows.
  if (status.tables) {
    const count = (table: string) => compactCount(status.tables?.[table] ?? 0)
    const sizes = ` · ${count('attune.event')} events, ${count('attune.enforcement')} enforcements, ${count('attune_sensor.outbox')} outbox rows`
    if (lineWidth(database) + displayWidth(sizes) <= width) database.push({text: sizes, dim: true})
  }
  // The database and the broker on one line when they fit, else one line each.
  const together = [...database, {text: ' · '}, ...broker]
  if (lineWidth(together) <= width) return [fitLine(first, width), fitLine(together, width)]
  return [fitLine(first, width), fitLine(database, width), fitLine(broker, width)]
}

function lineWidth(line: Line): number {
  return line.reduce((sum, segment) => sum + displayWidth(segment.text), 0)
}

function padLine(line: Line, width: number): Line {
  const rest = width - lineWidth(line)
  return rest > 0 ? [...line, {text: ' '.repeat(rest)}] : line
}

/**
 * `line` cut to `width` columns, padded to it: the segments marked `shrink` are truncated in
 * the middle first (the last one first, none below 8 columns); then the end is cut.
 */
export function fitLine(line: Line, width: number): Line {
  let excess = lineWidth(line) - width
  const shrunk = line.map((segment) => ({...segment}))
  for (let index = shrunk.length - 1; index >= 0 && excess > 0; index--) {
    const segment = shrunk[index]
    if (!segment.shrink) continue
    const size = displayWidth(segment.text)
    const target = Math.max(Math.min(size, 8), size - excess)
    segment.text = truncate(segment.text, target, 'middle')
    excess -= size - displayWidth(segment.text)
  }
  const result: Line = []
  let left = width
  for (const segment of shrunk) {
    if (left <= 0) break
    const size = displayWidth(segment.text)
    if (size <= left) {
      result.push(segment)
      left -= size
    } else {
      result.push({...segment, text: truncate(segment.text, left)})
      left -= displayWidth(result.at(-1)!.text)
      break
    }
  }
  return padLine(result, width)
}

function rowLine(row: SensorRow, columns: Column[], rates: EventRates, now: number): Line {
  const line: Line = []
  const rate = rates.perMinute(row.ref, now)
  for (const column of columns) {
    if (line.length > 0) line.push({text: ' '})
    const cell = (text: string, style: Omit<Segment, 'text'> = {}) => line.push({text: fit(text, column.width, column.align), ...style})
    switch (column.id) {
      case 'sensor':
        cell(row.ref)
        break
      case 'state':
        cell(row.state, {color: STATE_COLOR[row.state.replace('*', '')]})
        break
      case 'last':
        cell(row.last)
        break
      case 'next':
        cell(row.next)
        break
      case 'polls':
        cell(row.polls === null ? '—' : String(row.polls))
        break
      case 'fails':
        cell(String(row.fails), row.failing && row.fails > 0 ? {color: 'red'} : {})
        break
      case 'events':
        cell(String(row.events))
        break
      case 'rate':
        cell(rate === null ? '—' : String(rate))
        break
      case 'trend':
        cell(sparkline(rates.buckets(row.ref, now, TREND_MINUTES)), {color: 'cyan'})
        break
      case 'detail':
        cell(row.detail, row.error ? {color: 'red'} : {dim: true})
        break
    }
  }
  return line
}

function summaryLine(total: number, shown: number, offset: number, page: number, view: ViewState, width: number): Line {
  const parts: string[] = []
  const filters = [view.filter ? `filter "${view.filter}"` : '', view.failedOnly ? 'failed only' : ''].filter(Boolean).join(', ')
  if (total === 0) parts.push('No enabled sensors. Register a pack: attune pack register DIR')
  else if (shown === 0) parts.push(`no sensor matches (${filters}) · ${total} in all`)
  else {
    const above = offset
    const below = Math.max(0, shown - offset - page)
    const range = page > 0 ? `${offset + 1}–${offset + page}` : '0'
    parts.push(`sensors ${range} of ${shown}${shown !== total ? ` (${total} in all)` : ''}`)
    if (above > 0) parts.push(`↑ ${above} above`)
    if (below > 0) parts.push(`↓ ${below} more`)
    if (filters) parts.push(filters)
  }
  return fitLine([{text: parts.join(' · '), dim: true}], width)
}

function logLine(record: LogRecord, width: number): Line {
  // An error is `error` (a message) or, from pino, `err` (a serialized Error).
  const error = record.error ? String(record.error) : ((record.err as {message?: unknown} | undefined)?.message ?? '')
  const fields = [record.sensor ? String(record.sensor) : record.rule ? String(record.rule) : '', String(error)].filter(Boolean).join(': ')
  const text = `${record.ts.slice(11, 19)} ${record.level.padEnd(5)} ${record.msg}${fields ? ` ${fields}` : ''}`
  const color = LEVEL_COLOR[record.level]
  return fitLine([color ? {text, color} : {text, dim: true}], width)
}

/** What the stop waits for, from the daemon's status while it stops. */
export function stoppingText(status: DaemonStatus, progress: StopProgress | null, now: number): string {
  const waits: string[] = []
  const polls = status.sensors.filter((sensor) => sensor.running).length
  if (polls > 0) waits.push(`${polls} poll(s) in flight`)
  const processes = status.long_running.filter((sensor) => sensor.pid !== null && sensor.state !== 'stopped').length
  if (processes > 0) waits.push(`${processes} long-running sensor(s)`)
  if (status.database.pending_writes > 0) waits.push(`${status.database.pending_writes} database write(s)`)
  if (status.broker.pending > 0) waits.push(`${status.broker.pending} outbox row(s) unpublished`)
  const step = progress ? `${progress.phase}, ${Math.max(0, Math.ceil((Date.parse(progress.deadline) - now) / 1000))}s left` : 'requested'
  return `stopping… ${waits.length > 0 ? `waiting for ${waits.join(', ')}` : 'finishing'} (${step}) · Ctrl-C again: stop at once`
}

function footerLine(input: FrameInput, width: number): Line {
  const {view} = input
  if (input.stopped) return fitLine([{text: input.stopped, bold: true}], width)
  if (input.stopping || view.quitting) return fitLine([{text: stoppingText(input.status, input.stopping, input.now), color: 'yellow', bold: true}], width)
  if (view.editing) return fitLine([{text: '/', bold: true}, {text: view.filter}, {text: '▏'}, {text: '  Enter: keep · Esc: clear', dim: true}], width)
  return fitLine([{text: 'q stop · ↑↓ PgUp PgDn scroll · / filter · f failed only · Esc clear', dim: true}], width)
}
