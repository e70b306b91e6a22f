/** A result row: column name to value (jsonb as parsed JSON, int8 as number, timestamptz as Date). */
export type Row = Record<string, unknown>

export interface QueryResult<T = Row> {
  rows: T[]
  /** Rows inserted, updated or deleted (or returned, for SELECT). */
  rowCount: number
}

/**
 * The one interface every query in attune is written against; both backends implement it.
 * Parameters are `$1, $2, ...`; pass jsonb values as JSON text with a `::jsonb` cast
 * (`toJsonb()`), because the two drivers serialise JS objects and arrays differently.
 */
export interface Queryable {
  query<T = Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>>
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>
}

export type StoreKind = 'pg' | 'pglite'

export interface Store extends Queryable {
  readonly kind: StoreKind
  /** Where the data lives, safe to print: the data directory or the URL without its password. */
  readonly location: string
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when it throws.
   * Inside `fn` use only `tx`: on PGlite the store itself waits for the transaction to end,
   * so a query on the store from inside `fn` would never return.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>
  close(): Promise<void>
}

/** Serialises a value for a `$n::jsonb` parameter (undefined becomes SQL NULL). */
export function toJsonb(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value)
}
