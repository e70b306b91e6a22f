import pg from 'pg'
import {redactUrl} from '../redact.js'
import {AbortError, errorMessage} from '../errors.js'
import type {QueryResult, Queryable, Row, Store} from './types.js'

const INT8_OID = 20

// ids are bigserial: parse int8 as a JS number, as PGlite does, so both backends return
// the same shapes. Ids stay far below 2^53.
const types = {
  getTypeParser(oid: number, format?: string) {
    if (oid === INT8_OID && format !== 'binary') return (value: string) => Number(value)
    return pg.types.getTypeParser(oid, format as 'text')
  },
}

/** The URL without its password, for messages. */
export function redactDatabaseUrl(url: string): string {
  return redactUrl(url, 'database URL')
}

function wrap(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<T = Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
      const result = await client.query(sql, params as unknown[])
      return {rows: result.rows as T[], rowCount: result.rowCount ?? result.rows.length}
    },
    async exec(sql: string): Promise<void> {
      // No parameters: pg uses the simple protocol, which accepts several statements.
      await client.query(sql)
    },
  }
}

export interface PgStoreOptions {
  /** Pool size; the daemon may want more than the default 10. */
  max?: number
  /**
   * Fail a statement (and a connection attempt) that gets no answer within this time, instead
   * of waiting for a server that hangs; the connection is then discarded. Off by default.
   */
  queryTimeoutMs?: number
  /** What `location` shows instead of the URL (the embedded database's data directory). */
  location?: string
  /** The embedded database's socket (PGlite): no startup options. */
  embedded?: boolean
}

/** Opens a pool on a real PostgreSQL and checks that it answers. */
export async function openPgStore(url: string, options: PgStoreOptions = {}): Promise<Store> {
  const location = options.location ?? redactDatabaseUrl(url)
  const timeouts = options.queryTimeoutMs ? {query_timeout: options.queryTimeoutMs, connectionTimeoutMillis: options.queryTimeoutMs} : {}
  // Attune's history triggers (on worker and sensor_process) name their tables without a
  // schema: like Attune's own services, every connection searches schema attune first.
  // (The embedded database's socket takes no startup options, and has no such triggers.)
  const searchPath = options.embedded ? {} : {options: '-c search_path=attune,public'}
  const pool = new pg.Pool({connectionString: url, max: options.max ?? 10, types, ...timeouts, ...searchPath})
  // An idle client that loses its connection emits 'error' on the pool; without a listener
  // that would crash the process. The next query reports the problem instead.
  pool.on('error', () => {})
  try {
    await pool.query('SELECT 1')
  } catch (error) {
    await pool.end().catch(() => {})
    throw new AbortError(`Cannot connect to PostgreSQL at ${location}: ${errorMessage(error)}`, {
      code: 'database_unavailable',
      hint: 'Check --database-url / ATTUNE_DATABASE_URL, or unset it to use the embedded database.',
      cause: error,
    })
  }
  const queryable = wrap(pool)
  return {
    kind: 'pg',
    location,
    query: queryable.query,
    exec: queryable.exec,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      // A transaction must run on one connection: check one out for its whole length.
      const client = await pool.connect()
      let broken = false
      // The pool listens for errors only on idle clients. A checked-out client whose server
      // goes away between two statements emits 'error' with nobody listening, which would
      // crash the process: note it instead, and let the next statement fail.
      const onError = () => {
        broken = true
      }
      client.on('error', onError)
      try {
        await client.query('BEGIN')
        const result = await fn(wrap(client))
        await client.query('COMMIT')
        return result
      } catch (error) {
        try {
          await client.query('ROLLBACK')
        } catch {
          broken = true // the connection itself failed: do not hand it to the next caller
        }
        throw error
      } finally {
        client.off('error', onError)
        client.release(broken)
      }
    },
    async close(): Promise<void> {
      await pool.end()
    },
  }
}
