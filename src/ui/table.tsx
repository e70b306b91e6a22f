import chalk, {type ForegroundColorName} from 'chalk'
import cliTruncate from 'cli-truncate'
import stringWidth from 'string-width'

/** A column of a table: its header and how to turn a row into the cell's text. */
export interface Column<T> {
  header: string
  value: (row: T) => string
  /** Colour for a cell, e.g. green for "enabled". */
  color?: (row: T) => string | undefined
  /** Cells wider than this are cut with an ellipsis (default 60), before the table is fitted to the width. */
  maxWidth?: number
  /** A typical width, for tables printed row by row before all rows are known (--follow). */
  width?: number
}

const GAP = 2
/** Without a terminal (piped output): `$COLUMNS`, else this. */
export const DEFAULT_TABLE_WIDTH = 120

/** The width tables are fitted to: the terminal's, else `$COLUMNS`, else 120. */
export function tableWidth(stream: NodeJS.WriteStream = process.stdout): number {
  if (stream.isTTY && stream.columns > 0) return stream.columns
  const fromEnv = Number.parseInt(process.env.COLUMNS ?? '', 10)
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : DEFAULT_TABLE_WIDTH
}

/** One line, cut to `max` display columns with an ellipsis. */
function fit(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ')
  if (max <= 0 || stringWidth(oneLine) <= max) return oneLine
  let cut = cliTruncate(oneLine, max, {position: 'end'})
  // A wide character (two columns) at the cut can leave it one column too wide: cut one more.
  for (let columns = max - 1; stringWidth(cut) > max && columns > 0; columns--) cut = cliTruncate(oneLine, columns, {position: 'end'})
  return cut
}

/**
 * Column widths that fit `width`: each column as wide as its widest cell; when that is too
 * wide, the widest columns are narrowed first (never below their header or 6 columns).
 */
export function fitWidths(natural: number[], headers: number[], width: number): number[] {
  const floor = natural.map((w, index) => Math.min(w, Math.max(headers[index], 6)))
  const gaps = GAP * Math.max(0, natural.length - 1)
  const total = (cap: number) => natural.reduce((sum, w, index) => sum + Math.max(floor[index], Math.min(w, cap)), gaps)
  if (total(Number.POSITIVE_INFINITY) <= width) return natural
  // The largest cap on every column's width with which the table fits.
  let low = 0
  let high = Math.max(...natural)
  while (low < high) {
    const mid = Math.ceil((low + high) / 2)
    if (total(mid) <= width) low = mid
    else high = mid - 1
  }
  return natural.map((w, index) => Math.max(floor[index], Math.min(w, low)))
}

function paint(text: string, color: string | undefined): string {
  if (!color || !(color in chalk)) return text
  return chalk[color as ForegroundColorName](text)
}

/** A line of cells, each padded to its width (display width), the last one not padded. */
function line(cells: string[], widths: number[], colors: Array<string | undefined> = []): string {
  return cells
    .map((cell, index) => {
      const shown = fit(cell, widths[index])
      const last = index === cells.length - 1
      const pad = last ? '' : ' '.repeat(Math.max(0, widths[index] - stringWidth(shown)) + GAP)
      return paint(shown, colors[index]) + pad
    })
    .join('')
    .trimEnd()
}

/** A table's cells as text: each cell on one line and cut to its column's `maxWidth`. */
function cellsOf<T>(rows: T[], columns: Column<T>[]): string[][] {
  return rows.map((row) => columns.map((column) => fit(column.value(row), column.maxWidth ?? 60)))
}

export interface TableOptions {
  /** Fit to this many columns (default `tableWidth()`). */
  width?: number
}

/** Renders rows as a table fitted to the width, or `empty` when there are none. */
export function renderTable<T>(rows: T[], columns: Column<T>[], empty: string, options: TableOptions = {}): string {
  if (rows.length === 0) return empty
  const cells = cellsOf(rows, columns)
  const headers = columns.map((column) => stringWidth(column.header))
  const natural = columns.map((_, index) => Math.max(headers[index], ...cells.map((row) => stringWidth(row[index]))))
  const widths = fitWidths(natural, headers, options.width ?? tableWidth())
  const lines = [chalk.bold(line(columns.map((column) => column.header), widths))]
  rows.forEach((row, rowIndex) => lines.push(line(cells[rowIndex], widths, columns.map((column) => column.color?.(row)))))
  return lines.join('\n')
}

/**
 * A table printed a few rows at a time (--follow): the widths come from the first rows and the
 * columns' typical widths, and stay; later cells are cut to them.
 */
export function streamTable<T>(columns: Column<T>[], firstRows: T[], options: TableOptions = {}): {header: string; rows: (rows: T[]) => string[]} {
  const cells = cellsOf(firstRows, columns)
  const headers = columns.map((column) => stringWidth(column.header))
  const natural = columns.map((column, index) => Math.max(headers[index], column.width ?? 0, ...cells.map((row) => stringWidth(row[index]))))
  const width = options.width ?? tableWidth()
  const widths = fitWidths(natural, headers, width)
  // The last column takes what is left of the line.
  const used = widths.slice(0, -1).reduce((sum, w) => sum + w + GAP, 0)
  widths[widths.length - 1] = Math.max(widths[widths.length - 1], width - used)
  return {
    header: chalk.bold(line(columns.map((column) => column.header), widths)),
    rows: (rows) => cellsOf(rows, columns).map((row, index) => line(row, widths, columns.map((column) => column.color?.(rows[index])))),
  }
}

export const enabledColor = (enabled: boolean): string => (enabled ? 'green' : 'gray')
export const yesNo = (value: boolean): string => (value ? 'yes' : 'no')

/** A timestamp as `YYYY-MM-DD HH:MM:SS` in UTC, compact enough for a table. */
export function shortTime(value: Date | string): string {
  return new Date(value).toISOString().replace('T', ' ').slice(0, 19)
}

/** A timestamp in ISO 8601 (UTC), for CSV and JSON. */
export function isoTime(value: Date | string): string {
  return new Date(value).toISOString()
}

/** A JSON value on one line, for a table cell. */
export function compactJson(value: unknown): string {
  return value === undefined ? '' : JSON.stringify(value)
}
