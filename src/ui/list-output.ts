/**
 * The outputs of every `list` command: a table fitted to the terminal, JSON, YAML or CSV, the
 * columns chosen with `--columns`, and the notice under a table that was cut.
 */
import {stringify as csvStringify} from 'csv-stringify/sync'
import {stringify as yamlStringify} from 'yaml'
import {AbortError} from '../engine/errors.js'
import type {Page} from '../engine/store/list.js'
import {renderTable, type Column} from './table.js'

export const OUTPUT_FORMATS = ['table', 'json', 'yaml', 'csv'] as const
export type OutputFormat = (typeof OUTPUT_FORMATS)[number]

/** A column of a list: a table column with a name for `--columns` and a value for CSV and JSON. */
export interface ListColumn<T> extends Column<T> {
  /** Its name for `--columns` (default: the header in lower case without "(UTC)", spaces as `_`). */
  key?: string
  /** Its value in CSV and in JSON/YAML with `--columns` (default: the cell's text). */
  data?: (row: T) => unknown
}

export function columnKey(column: ListColumn<never>): string {
  return column.key ?? column.header.replace(/\(UTC\)/g, '').trim().toLowerCase().replace(/\s+/g, '_')
}

/**
 * The columns `--columns a,b,c` names, in that order; all of them without the flag. An unknown
 * name is bad usage (exit 2) naming the valid ones.
 */
export function pickColumns<T>(columns: ListColumn<T>[], wanted: string | undefined): ListColumn<T>[] {
  if (wanted === undefined) return columns
  const byKey = new Map(columns.map((column) => [columnKey(column as ListColumn<never>), column]))
  const names = wanted
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean)
  const valid = [...byKey.keys()].join(', ')
  if (names.length === 0) throw new AbortError(`--columns names no column. Valid columns: ${valid}.`, {code: 'bad_column'})
  const unknown = names.filter((name) => !byKey.has(name))
  if (unknown.length > 0) {
    throw new AbortError(`Unknown column${unknown.length > 1 ? 's' : ''} ${unknown.map((name) => JSON.stringify(name)).join(', ')} for --columns. Valid columns: ${valid}.`, {code: 'bad_column'})
  }
  return names.map((name) => byKey.get(name)!)
}

const dataOf = <T>(column: ListColumn<T>, row: T): unknown => (column.data ? column.data(row) : column.value(row))

/** Rows as objects of the chosen columns' values (JSON and YAML with `--columns`). */
export function projectRows<T>(rows: T[], columns: ListColumn<T>[]): Array<Record<string, unknown>> {
  return rows.map((row) => Object.fromEntries(columns.map((column) => [columnKey(column as ListColumn<never>), dataOf(column, row) ?? null])))
}

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return ''
  if (value instanceof Date) return value.toISOString()
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}

/** CSV (RFC 4180 quoting): a header line of column names, then one line per row. */
export function renderCsv<T>(rows: T[], columns: ListColumn<T>[], options: {header?: boolean} = {}): string {
  const records = rows.map((row) => columns.map((column) => csvCell(dataOf(column, row))))
  if (options.header ?? true) records.unshift(columns.map((column) => columnKey(column as ListColumn<never>)))
  return records.length === 0 ? '' : csvStringify(records, {record_delimiter: '\n'})
}

/** YAML of a document as its JSON is (timestamps as ISO strings), never folded. */
export function renderYaml(document: unknown): string {
  return yamlStringify(JSON.parse(JSON.stringify(document)), {lineWidth: 0})
}

/** The line under a table that was cut: how many rows follow and how to see them. */
export function moreNotice(page: Pick<Page<unknown>, 'remaining' | 'next'>, paging: {page?: number}): string | undefined {
  if (page.remaining <= 0 || page.next === null) return undefined
  const how = paging.page === undefined ? `--after ${page.next}` : `--page ${paging.page + 1}`
  return `${page.remaining} more — use --limit or ${how}`
}

export interface RenderListOptions<T> {
  format: Exclude<OutputFormat, 'json'>
  page: Page<T>
  document: unknown
  columns: ListColumn<T>[]
  /** What the table says when nothing matches. */
  empty: string
  /** The plural noun, for "No more events (120 in all)." */
  plural: string
  paging: {page?: number}
}

/** A list as text for stdout (table, YAML or CSV) and a notice for stderr when there is one. */
export function renderList<T>(options: RenderListOptions<T>): {stdout: string; stderr?: string} {
  const {page, format} = options
  const notice = moreNotice(page, options.paging)
  if (format === 'yaml') return {stdout: renderYaml(options.document)}
  if (format === 'csv') return {stdout: renderCsv(page.rows, options.columns), stderr: notice}
  if (page.rows.length === 0 && page.total > 0) return {stdout: `No more ${options.plural} (${page.total} in all).`}
  const table = renderTable(page.rows, options.columns as Column<T>[], options.empty)
  return {stdout: notice ? `${table}\n${notice}` : table}
}
