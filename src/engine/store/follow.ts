/**
 * Following a list as rows are stored (`attune event list --follow`): the newest rows first,
 * then every new row once, in the order of its id, by polling the database by id.
 *
 * An id is taken when a row is inserted but the row is seen only when its transaction commits,
 * so with several writers (daemons on one PostgreSQL) a row can appear after rows with higher
 * ids. The follower therefore remembers the ids it skipped over (gaps, at most for
 * `GAP_WAIT_MS`) and looks for them again each round: every row is printed exactly once, also
 * one that committed late.
 */
import {errorMessage} from '../errors.js'
import {headKey, keysSince, listPage, rowsByKeys, type ListFilters, type ListSource, type SourceShape} from './list.js'
import type {Store} from './types.js'

/** How long a gap in the ids is looked for again (a transaction open longer is missed). */
export const GAP_WAIT_MS = 60_000
/** At most this many ids a round. */
const BATCH = 5_000
/** Gaps remembered at most (the oldest are forgotten first). */
const MAX_GAPS = 10_000
/** How far back from the head gaps are looked for when following starts. */
const START_WINDOW = 1_000

export interface FollowConnections {
  /**
   * A connection the follower may keep open between rounds (PostgreSQL, or the daemon's socket
   * on the embedded database), or undefined when there is none right now (tried again later).
   */
  shared(): Promise<Store | undefined>
  /** A connection for one short read (the embedded database opened directly); closed at once. */
  once(): Promise<Store>
}

export interface FollowOptions<T> {
  source: ListSource<T>
  filters: ListFilters
  connections: FollowConnections
  /** How many of the newest rows to show first (0: none). */
  backlog: number
  /** The pause between rounds (500 ms). */
  intervalMs?: number
  signal: AbortSignal
  /** New rows, oldest first. */
  onRows: (rows: T[]) => void
  /** A line for the user (stderr): waiting for the database, connection lost and back. */
  onNotice?: (message: string) => void
}

/** Polls until `signal` aborts. Errors of the first read are thrown; later ones retried. */
export async function followList<T>(options: FollowOptions<T>): Promise<void> {
  const {source, filters, connections, signal} = options
  const src: SourceShape = source
  const interval = options.intervalMs ?? 500
  const notice = options.onNotice ?? (() => {})
  const gaps = new Map<number, number>() // id → until when it is looked for
  let cursor = 0

  const addGaps = (from: number, to: number, seen: Set<number>, until: number) => {
    for (let id = Math.max(from + 1, to - MAX_GAPS); id < to; id++) if (!seen.has(id)) gaps.set(id, until)
    while (gaps.size > MAX_GAPS) gaps.delete(gaps.keys().next().value as number)
  }

  // The start: the head of the list, its newest matching rows, the gaps just below the head.
  let shared = await connections.shared()
  const first = shared ?? (await connections.once())
  try {
    const head = await headKey(first, src)
    if (options.backlog > 0) {
      const page = await listPage(first, source, filters, {limit: options.backlog, after: String(head + 1)})
      if (page.rows.length > 0) options.onRows(page.rows.reverse())
    }
    const below = await keysSince(first, src, Math.max(0, head - START_WINDOW), [], START_WINDOW + 1)
    addGaps(Math.max(0, head - START_WINDOW), head + 1, new Set(below), Date.now() + GAP_WAIT_MS)
    cursor = head
  } finally {
    if (!shared) await first.close()
  }

  let waiting = false
  let lost = false
  while (!signal.aborted) {
    await sleep(interval, signal)
    if (signal.aborted) break
    if (!shared) {
      try {
        shared = await connections.shared()
      } catch (error) {
        shared = undefined
        if (!lost) notice(`Cannot reach the database (${errorMessage(error)}): trying again…`)
        lost = true
        continue
      }
      if (!shared) {
        if (!waiting) notice('No daemon serves the embedded database: new rows appear once one runs (attune daemon). Waiting…')
        waiting = true
        continue
      }
      if (waiting || lost) notice('Connected: following again.')
      waiting = false
      lost = false
    }
    try {
      const now = Date.now()
      for (const [id, until] of gaps) if (until < now) gaps.delete(id)
      const keys = await keysSince(shared, src, cursor, [...gaps.keys()], BATCH)
      if (keys.length === 0) continue
      const rows = await rowsByKeys(shared, source, filters, keys)
      const seen = new Set(keys)
      for (const id of keys) gaps.delete(id)
      const top = keys[keys.length - 1]
      if (top > cursor) {
        addGaps(cursor, top, seen, now + GAP_WAIT_MS)
        cursor = top
      }
      if (rows.length > 0 && !signal.aborted) options.onRows(rows)
    } catch (error) {
      if (!lost) notice(`Lost the database (${errorMessage(error)}): trying again…`)
      lost = true
      await shared.close().catch(() => {})
      shared = undefined
    }
  }
  await shared?.close().catch(() => {})
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, {once: true})
  })
}
