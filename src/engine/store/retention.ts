import {expiredKeyCondition, IDEMPOTENCY_RETENTION_MS} from './idempotency.js'
import type {Queryable, Store} from './types.js'

/**
 * Retention: what keeps the database from growing forever. One implementation, used by
 * `attune db prune` and by the daemon's retention service (docs/configuration.md#retention).
 *
 * - **Events** older than their `max_age_seconds`, or beyond the newest `max_rows`.
 * - **Enforcements** the same, by their own limits, but never while their event is kept: an
 *   enforcement goes once its event is gone (pruned in the same run, or earlier), so every
 *   stored event still has all its enforcements. There is no foreign key between the two
 *   (Attune's event table is a hypertable), so an enforcement may outlive its event.
 * - **Outbox rows** that were sent (`sent_at` set), by the age of the send; an unsent row is
 *   never pruned, whatever its age.
 * - **Keys** (idempotent writes, dedup): only expired ones. An unexpired key is a promise (a
 *   retry gets the first answer, a duplicate within the trigger's window is dropped), so no
 *   limit can take it earlier.
 *
 * An event or enforcement whose message still waits in the outbox is kept too, so a consumer
 * never receives a message about a row that is gone.
 */

/** Limits of one table; unset (or null) is no limit of that kind. Both unset: nothing is pruned. */
export interface RetentionLimit {
  /** Rows older than this many seconds go. */
  max_age_seconds?: number | null
  /** Only the newest this many rows are kept. */
  max_rows?: number | null
}

export interface RetentionLimits {
  events: RetentionLimit
  enforcements: RetentionLimit
  /** Sent outbox rows (by `sent_at`). */
  outbox: RetentionLimit
}

export interface PruneCounts {
  events: number
  enforcements: number
  /** Sent outbox rows. */
  outbox: number
  /** Expired idempotency and dedup keys. */
  keys: number
}

export interface PruneOptions {
  /** Count what would go, in a transaction that is rolled back: nothing changes. */
  dryRun?: boolean
  /** Rows deleted per statement (each its own transaction, so locks stay short); default 1000. */
  batchSize?: number
  /** Checked between batches: true stops the prune (the daemon is stopping). */
  shouldStop?: () => boolean
}

export interface PruneResult {
  dry_run: boolean
  limits: RetentionLimits
  /** Rows deleted (with `dry_run`: rows that would be). */
  pruned: PruneCounts
  duration_ms: number
  /** False when `shouldStop` cut the prune short. */
  complete: boolean
}

/** The same limit for events, enforcements and sent outbox rows (`attune db prune --older-than`). */
export function uniformLimits(limit: RetentionLimit): RetentionLimits {
  return {events: {...limit}, enforcements: {...limit}, outbox: {...limit}}
}

/** True when a limit would prune something (an age or a row count is set). */
export function hasLimit(limit: RetentionLimit): boolean {
  return isSet(limit.max_age_seconds) || isSet(limit.max_rows)
}

function isSet(value: number | null | undefined): value is number {
  return value !== undefined && value !== null
}

interface Statement {
  sql: string
  params: unknown[]
}

/** `conditions` OR-ed, with the limit's age and count conditions (undefined: no limit set). */
function limitConditions(limit: RetentionLimit, params: unknown[], age: (param: string) => string, count: (param: string) => string): string | undefined {
  const conditions: string[] = []
  if (isSet(limit.max_age_seconds)) {
    params.push(limit.max_age_seconds)
    conditions.push(age(`$${params.length}`))
  }
  if (isSet(limit.max_rows)) {
    params.push(limit.max_rows)
    conditions.push(count(`$${params.length}`))
  }
  return conditions.length > 0 ? `(${conditions.join(' OR ')})` : undefined
}

const ago = (column: string) => (param: string) => `${column} < now() - ${param}::double precision * interval '1 second'`
const limitClause = (batch: number | undefined) => (batch === undefined ? '' : ` LIMIT ${Math.max(1, Math.floor(batch))}`)

function eventsStatement(limit: RetentionLimit, batch: number | undefined): Statement | undefined {
  const params: unknown[] = []
  const conditions = limitConditions(
    limit,
    params,
    ago('e.created'),
    // The row at position N of newest-first is the newest that goes.
    (param) => `(e.created, e.id) <= (SELECT created, id FROM attune.event ORDER BY created DESC, id DESC OFFSET ${param}::bigint LIMIT 1)`,
  )
  if (!conditions) return undefined
  return {
    sql: `DELETE FROM attune.event AS t USING (
            SELECT e.id, e.created FROM attune.event e
             WHERE ${conditions}
               AND NOT EXISTS (SELECT 1 FROM attune_sensor.outbox o WHERE o.sent_at IS NULL AND o.message->'payload'->>'event_id' = e.id::text)
             ORDER BY e.created, e.id${limitClause(batch)}
          ) AS d
          WHERE t.id = d.id AND t.created = d.created`,
    params,
  }
}

function enforcementsStatement(limit: RetentionLimit, batch: number | undefined): Statement | undefined {
  const params: unknown[] = []
  const conditions = limitConditions(
    limit,
    params,
    ago('n.created'),
    (param) => `(n.created, n.id) <= (SELECT created, id FROM attune.enforcement ORDER BY created DESC, id DESC OFFSET ${param}::bigint LIMIT 1)`,
  )
  if (!conditions) return undefined
  return {
    sql: `DELETE FROM attune.enforcement AS t USING (
            SELECT n.id FROM attune.enforcement n
             WHERE ${conditions}
               AND (n.event IS NULL OR NOT EXISTS (SELECT 1 FROM attune.event e WHERE e.id = n.event))
               AND NOT EXISTS (SELECT 1 FROM attune_sensor.outbox o WHERE o.sent_at IS NULL AND o.message->'payload'->>'enforcement_id' = n.id::text)
             ORDER BY n.created, n.id${limitClause(batch)}
          ) AS d
          WHERE t.id = d.id`,
    params,
  }
}

function outboxStatement(limit: RetentionLimit, batch: number | undefined): Statement | undefined {
  const params: unknown[] = []
  const conditions = limitConditions(
    limit,
    params,
    ago('o.sent_at'),
    (param) => `o.id <= (SELECT id FROM attune_sensor.outbox WHERE sent_at IS NOT NULL ORDER BY id DESC OFFSET ${param}::bigint LIMIT 1)`,
  )
  if (!conditions) return undefined
  return {
    sql: `DELETE FROM attune_sensor.outbox AS t USING (
            SELECT o.id FROM attune_sensor.outbox o
             WHERE o.sent_at IS NOT NULL AND ${conditions}
             ORDER BY o.id${limitClause(batch)}
          ) AS d
          WHERE t.id = d.id`,
    params,
  }
}

function keysStatement(batch: number | undefined): Statement {
  return {
    sql: `DELETE FROM attune_sensor.idempotency AS t USING (
            SELECT key FROM attune_sensor.idempotency WHERE ${expiredKeyCondition('$1')}${limitClause(batch)}
          ) AS d
          WHERE t.key = d.key`,
    params: [IDEMPOTENCY_RETENTION_MS],
  }
}

/** In order: events before enforcements, whose pruning depends on their event being gone. */
function statements(limits: RetentionLimits, batch: number | undefined): Array<[keyof PruneCounts, Statement | undefined]> {
  return [
    ['events', eventsStatement(limits.events, batch)],
    ['enforcements', enforcementsStatement(limits.enforcements, batch)],
    ['outbox', outboxStatement(limits.outbox, batch)],
    ['keys', keysStatement(batch)],
  ]
}

class DryRunRollback extends Error {}

/** Prunes the database by `limits` (see the top of this file); with `dryRun`, only counts. */
export async function pruneStore(store: Store, limits: RetentionLimits, options: PruneOptions = {}): Promise<PruneResult> {
  const started = Date.now()
  const pruned: PruneCounts = {events: 0, enforcements: 0, outbox: 0, keys: 0}
  let complete = true
  if (options.dryRun) {
    // The very statements a real run executes, unbatched, then rolled back: the counts are
    // exactly what a real run at this moment would delete.
    try {
      await store.transaction(async (tx) => {
        for (const [name, statement] of statements(limits, undefined)) {
          if (statement) pruned[name] = await run(tx, statement)
        }
        throw new DryRunRollback()
      })
    } catch (error) {
      if (!(error instanceof DryRunRollback)) throw error
    }
  } else {
    const batch = options.batchSize ?? 1000
    outer: for (const [name, statement] of statements(limits, batch)) {
      if (!statement) continue
      for (;;) {
        if (options.shouldStop?.()) {
          complete = false
          break outer
        }
        const deleted = await run(store, statement)
        pruned[name] += deleted
        if (deleted < batch) break
      }
    }
  }
  return {dry_run: Boolean(options.dryRun), limits, pruned, duration_ms: Date.now() - started, complete}
}

async function run(q: Queryable, statement: Statement): Promise<number> {
  const {rowCount} = await q.query(statement.sql, statement.params)
  return rowCount
}

/** The tables retention keeps in bounds, as `attune_table_rows{table}` names them. */
export const RETAINED_TABLES = ['attune.event', 'attune.enforcement', 'attune_sensor.outbox', 'attune_sensor.idempotency'] as const

/** Above this estimate PostgreSQL's statistics are used instead of counting. */
const EXACT_COUNT_BELOW = 100_000

/**
 * Rows in each retained table: exact on the embedded database; on PostgreSQL the planner's
 * estimate (`pg_class.reltuples`) for large tables and an exact count for small ones (or
 * tables never analyzed), so a scrape never scans a big table.
 */
export async function tableRowCounts(store: Store): Promise<Record<(typeof RETAINED_TABLES)[number], number>> {
  const estimates = new Map<string, number>()
  if (store.kind === 'pg') {
    const {rows} = await store.query<{name: string; estimate: number}>(
      `SELECT n.nspname || '.' || c.relname AS name, c.reltuples::float8 AS estimate
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname || '.' || c.relname = ANY($1::text[])`,
      [[...RETAINED_TABLES]],
    )
    for (const row of rows) estimates.set(row.name, Number(row.estimate))
  }
  const counts = {} as Record<(typeof RETAINED_TABLES)[number], number>
  for (const table of RETAINED_TABLES) {
    const estimate = estimates.get(table) ?? -1
    if (estimate >= EXACT_COUNT_BELOW) {
      counts[table] = Math.round(estimate)
    } else {
      const {rows} = await store.query<{n: number}>(`SELECT count(*)::float8 AS n FROM ${table}`)
      counts[table] = Number(rows[0].n)
    }
  }
  return counts
}
