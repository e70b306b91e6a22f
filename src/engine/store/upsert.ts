import type {Queryable} from './types.js'
import {toJsonb} from './types.js'

export type ColumnType = 'text' | 'text[]' | 'jsonb' | 'boolean' | 'integer' | 'bigint'
export interface ColumnValue {
  type: ColumnType
  value: unknown
}

/** Tables whose rows are identified by a unique `ref`. */
export type RefTable = 'pack' | 'runtime' | 'trigger' | 'sensor' | 'action' | 'rule'

export type UpsertStatus = 'created' | 'updated' | 'unchanged'

export interface UpsertResult {
  id: number
  status: UpsertStatus
  /** Columns whose value changed (for `updated`). */
  changed: string[]
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`
const param = (value: ColumnValue) => (value.type === 'jsonb' ? toJsonb(value.value) : (value.value ?? null))

/**
 * Inserts the row with this `ref`, or updates only the columns that differ. The database
 * compares (`IS DISTINCT FROM`), so jsonb key order and number formatting never cause a
 * spurious update: a second identical run reports every row `unchanged`.
 * Table and column names come from code, never from input.
 */
export async function upsertByRef(
  q: Queryable,
  table: RefTable,
  ref: string,
  columns: Record<string, ColumnValue>,
): Promise<UpsertResult> {
  const names = Object.keys(columns)
  const values = names.map((name) => columns[name])
  const params = [ref, ...values.map(param)]
  const typed = (index: number) => `$${index + 2}::${values[index].type}`
  const target = `attune.${quote(table)}`

  for (let attempt = 0; attempt < 2; attempt++) {
    const comparisons = names.map((name, i) => `(${quote(name)} IS DISTINCT FROM ${typed(i)}) AS ${quote(`changed:${name}`)}`)
    const {rows} = await q.query<Record<string, unknown>>(
      `SELECT id${comparisons.length ? ', ' + comparisons.join(', ') : ''} FROM ${target} WHERE ref = $1 FOR UPDATE`,
      params,
    )
    const existing = rows[0]
    if (!existing) {
      const inserted = await q.query<{id: number}>(
        `INSERT INTO ${target} (ref${names.map((n) => ', ' + quote(n)).join('')})
         VALUES ($1${names.map((_, i) => ', ' + typed(i)).join('')})
         ON CONFLICT (ref) DO NOTHING RETURNING id`,
        params,
      )
      // Nothing returned: another transaction inserted it meanwhile; compare against that row.
      if (inserted.rows[0]) return {id: Number(inserted.rows[0].id), status: 'created', changed: []}
      continue
    }
    const id = Number(existing.id)
    const changed = names.filter((name) => existing[`changed:${name}`] === true)
    if (changed.length === 0) return {id, status: 'unchanged', changed}
    // Only the changed columns: PostgreSQL refuses parameters a statement does not use.
    const sets = changed.map((name, i) => `${quote(name)} = $${i + 2}::${columns[name].type}`)
    await q.query(`UPDATE ${target} SET ${sets.join(', ')} WHERE ref = $1`, [ref, ...changed.map((name) => param(columns[name]))])
    return {id, status: 'updated', changed}
  }
  throw new Error(`upsert of ${table} ${ref} did not settle`)
}
