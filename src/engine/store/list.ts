/**
 * Listing with pages, once for every list (SPEC §2): a list is a SELECT of all its rows
 * (`ListSource`) read in the order of one unique key, filtered, cut into pages. A page is
 * addressed by a cursor (`after`: keyset on the key, so pages stay stable while rows are
 * inserted) or by number (`page`), and says how many rows match in all and how many follow it.
 */
import {AbortError} from '../errors.js'
import type {Queryable} from './types.js'

/** What a list reads: a SELECT of all its rows and the unique key it is ordered and paged by. */
export interface ListSource<T = unknown> {
  /** For messages: `event`. */
  noun: string
  /** The SELECT of every row (with `$1..$n` for `params`); filters and paging wrap it as `r`. */
  select: string
  params?: readonly unknown[]
  /** A unique column of the SELECT: the order and the cursor. */
  key: string
  keyType: 'integer' | 'text'
  /** Newest first (events, enforcements); catalogs are in ascending order of their ref. */
  descending: boolean
  /** Turns a row as the driver returns it into the row the list shows. */
  map?: (row: T) => T
}

/** A source without its row type (what the SQL builders need). */
export type SourceShape = Omit<ListSource, 'map'>

/**
 * Filters on the columns of `r` (the source's rows): `['r.trigger_ref = ?', value]` (skipped when
 * the value is undefined), or a condition without `?` that applies when its value is `true`.
 */
export type ListFilters = Array<[string, unknown]>

export interface PageRequest {
  /** At most this many rows. */
  limit: number
  /** A previous page's `next`: the rows after that one. */
  after?: string
  /** The page number (1 is the first), `limit` rows a page. Not together with `after`. */
  page?: number
}

export interface Page<T> {
  rows: T[]
  /** The rows that match the filters, all pages together. */
  total: number
  /** How many matching rows come after this page. */
  remaining: number
  /** The cursor of the next page (pass it as `after`), null when this page is the last. */
  next: string | null
}

interface Where {
  clause: string
  params: unknown[]
}

/** `WHERE ...` of the filters, numbering parameters after the source's own. */
function whereOf(source: SourceShape, filters: ListFilters, extra: Array<[string, unknown]> = []): Where {
  const params = [...(source.params ?? [])]
  const parts: string[] = []
  for (const [condition, value] of [...filters, ...extra]) {
    if (value === undefined) continue
    if (condition.includes('?')) {
      params.push(value)
      parts.push(`(${condition.replace('?', `$${params.length}`)})`)
    } else if (value === true) {
      parts.push(`(${condition})`)
    }
  }
  return {clause: parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : '', params}
}

/** A cursor as the key's value; a malformed one is bad input (exit 2). */
export function parseCursor(source: SourceShape, cursor: string): number | string {
  if (source.keyType === 'text') return cursor
  if (!/^\d{1,18}$/.test(cursor)) {
    throw new AbortError(`--after takes the id of ${/^[aeiou]/.test(source.noun) ? 'an' : 'a'} ${source.noun} (the "next" of a previous page), got ${JSON.stringify(cursor)}.`, {code: 'bad_cursor'})
  }
  return Number(cursor)
}

const keyOf = (source: SourceShape, row: unknown): unknown => (row as Record<string, unknown>)[source.key]

/** One page of a list, with the count of all matching rows and the cursor of the next page. */
export async function listPage<T>(q: Queryable, source: ListSource<T>, filters: ListFilters, request: PageRequest): Promise<Page<T>> {
  const src = source
  if (request.after !== undefined && request.page !== undefined) throw new AbortError('Use either --after or --page, not both.', {code: 'bad_usage'})
  if (!Number.isInteger(request.limit) || request.limit < 1) throw new AbortError(`--limit must be a whole number of at least 1, got ${request.limit}.`, {code: 'bad_usage'})
  if (request.page !== undefined && (!Number.isInteger(request.page) || request.page < 1)) throw new AbortError(`--page must be 1 or more, got ${request.page}.`, {code: 'bad_usage'})
  const before = source.descending ? '<' : '>'
  const order = source.descending ? 'DESC' : 'ASC'
  const after = request.after === undefined ? undefined : parseCursor(src, request.after)
  const {clause, params} = whereOf(src, filters, [[`r.${source.key} ${before} ?`, after]])
  params.push(request.limit)
  const limitAt = params.length
  params.push(((request.page ?? 1) - 1) * request.limit)
  const {rows} = await q.query<T>(`SELECT * FROM (${source.select}) r ${clause} ORDER BY r.${source.key} ${order} LIMIT $${limitAt} OFFSET $${params.length}`, params)
  const last = rows.length > 0 ? keyOf(src, rows[rows.length - 1]) : undefined
  const counted = whereOf(src, filters)
  let remainingSql = '0'
  if (last !== undefined) {
    counted.params.push(last)
    remainingSql = `count(*) FILTER (WHERE r.${source.key} ${before} $${counted.params.length})`
  }
  const counts = await q.query<{total: number | string; remaining: number | string}>(
    `SELECT count(*) AS total, ${remainingSql} AS remaining FROM (${source.select}) r ${counted.clause}`,
    counted.params,
  )
  const remaining = Number(counts.rows[0]?.remaining ?? 0)
  return {
    rows: source.map ? rows.map(source.map) : rows,
    total: Number(counts.rows[0]?.total ?? 0),
    remaining,
    next: remaining > 0 && last !== undefined ? String(last) : null,
  }
}

/** Every matching row, in the list's order (for callers that want them all, not a page). */
export async function listAll<T>(q: Queryable, source: ListSource<T>, filters: ListFilters = [], limit?: number): Promise<T[]> {
  const {clause, params} = whereOf(source, filters)
  let limitSql = ''
  if (limit !== undefined) {
    params.push(limit)
    limitSql = ` LIMIT $${params.length}`
  }
  const {rows} = await q.query<T>(`SELECT * FROM (${source.select}) r ${clause} ORDER BY r.${source.key} ${source.descending ? 'DESC' : 'ASC'}${limitSql}`, params)
  return source.map ? rows.map(source.map) : rows
}

/** The highest key of the whole list, ignoring filters (integer keys; 0 for an empty list). */
export async function headKey(q: Queryable, source: SourceShape): Promise<number> {
  const {rows} = await q.query<{head: number | string | null}>(`SELECT max(r.${source.key}) AS head FROM (${source.select}) r`, source.params ?? [])
  return Number(rows[0]?.head ?? 0)
}

/**
 * Rows of an integer-keyed source, by key: those among `keys` that match the filters,
 * ascending. Used by `followList`.
 */
export async function rowsByKeys<T>(q: Queryable, source: ListSource<T>, filters: ListFilters, keys: number[]): Promise<T[]> {
  if (keys.length === 0) return []
  const {clause, params} = whereOf(source, filters, [[`r.${source.key} = ANY(string_to_array(?::text, ',')::bigint[])`, keys.join(',')]])
  const {rows} = await q.query<T>(`SELECT * FROM (${source.select}) r ${clause} ORDER BY r.${source.key}`, params)
  return source.map ? rows.map(source.map) : rows
}

/**
 * The keys (unfiltered) above `after` or among `pending`, ascending, at most `limit`: what the
 * follower looks at each round.
 */
export async function keysSince(q: Queryable, source: SourceShape, after: number, pending: number[], limit: number): Promise<number[]> {
  const params = [...(source.params ?? []), after, pending.join(','), limit]
  const n = source.params?.length ?? 0
  const {rows} = await q.query<{key: number | string}>(
    `SELECT r.${source.key} AS key FROM (${source.select}) r WHERE r.${source.key} > $${n + 1} OR r.${source.key} = ANY(string_to_array($${n + 2}::text, ',')::bigint[]) ORDER BY r.${source.key} LIMIT $${n + 3}`,
    params,
  )
  return rows.map((row) => Number(row.key))
}
