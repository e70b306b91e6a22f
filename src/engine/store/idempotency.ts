import type {Queryable, Store} from './types.js'

/**
 * Writes that may be retried after an unknown outcome. A client that sent COMMIT and got no
 * answer (a frozen server, a cut connection) cannot know whether its rows were stored; retrying
 * blindly stores them twice. With a key, the transaction records the key and its answer in
 * `attune_sensor.idempotency`; a retry that finds the key committed rolls its own work back and
 * returns the first answer. While the first attempt is still open on the server, the retry's
 * insert waits for it (the key's row lock) and then sees its outcome: exactly one copy either way.
 */

/** How long a key is remembered (and a retry is recognised). */
export const IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60 * 1000

class Replayed extends Error {}

export interface IdempotentOutcome<T> {
  result: T
  /** The key was already committed: `result` is the first attempt's answer, nothing was written. */
  replayed: boolean
}

/**
 * Runs `fn` in one transaction together with the record of `key`. `result` must survive JSON
 * (it is what a replay returns).
 */
export async function idempotentTransaction<T>(store: Store, key: string, fn: (tx: Queryable) => Promise<T>): Promise<IdempotentOutcome<T>> {
  try {
    const result = await store.transaction(async (tx) => {
      const value = await fn(tx)
      const {rowCount} = await tx.query(
        'INSERT INTO attune_sensor.idempotency (key, result) VALUES ($1, $2::jsonb) ON CONFLICT (key) DO NOTHING',
        [key, JSON.stringify(value ?? null)],
      )
      if (rowCount === 0) throw new Replayed()
      return value
    })
    return {result, replayed: false}
  } catch (error) {
    if (!(error instanceof Replayed)) throw error
  }
  const stored = await storedResult<T>(store, key)
  if (stored === undefined) throw new Error(`idempotency key ${key} was committed and then removed`)
  return {result: stored, replayed: true}
}

/** The committed answer of a key, if it is remembered. */
export async function storedResult<T>(q: Queryable, key: string): Promise<T | undefined> {
  const {rows} = await q.query<{result: T}>('SELECT result FROM attune_sensor.idempotency WHERE key = $1', [key])
  return rows.length > 0 ? rows[0].result : undefined
}

/** Forgets keys older than the retention; returns how many. */
export async function pruneIdempotencyKeys(q: Queryable, olderThanMs = IDEMPOTENCY_RETENTION_MS): Promise<number> {
  const {rowCount} = await q.query("DELETE FROM attune_sensor.idempotency WHERE created < now() - $1::double precision * interval '1 millisecond'", [olderThanMs])
  return rowCount
}
