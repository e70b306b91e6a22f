import type {Queryable, Store} from './types.js'

/**
 * Keyed writes: ONE mechanism (a key, the first write's answer, an expiry) in
 * `attune_sensor.idempotency`, for two uses.
 *
 * - **Writes that may be retried after an unknown outcome.** A client that sent COMMIT and got
 *   no answer (a frozen server, a cut connection) cannot know whether its rows were stored;
 *   retrying blindly stores them twice. With a key, the transaction records the key and its
 *   answer; a retry that finds the key committed rolls its own work back and returns the first
 *   answer (`idempotentTransaction`). Such keys are remembered for a day.
 * - **Deduplication** (the event pipeline, a trigger's `dedup`): each event claims the key
 *   `dedup:<trigger ref>:<key value>` for the trigger's window; an event whose key is claimed
 *   and not expired is a duplicate of the event whose answer the key holds.
 *
 * Both claim with `claimKeys`: an `INSERT ... ON CONFLICT (key) DO UPDATE` that takes the key
 * over only when it has expired. While a first writer's transaction is still open, a second
 * writer's claim waits for it (the key's row lock) and then sees its outcome: committed, the
 * key is the first's; rolled back, it is the second's. Exactly one wins, on any number of
 * processes sharing the database.
 */

/** How long a key claimed without a `ttlMs` (an idempotent write's) is remembered. */
export const IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60 * 1000

export interface KeyClaim {
  key: string
  /** What later claimants of the key get back while it lasts; must survive JSON. */
  result: unknown
  /** How long the key lasts from now; default: `IDEMPOTENCY_RETENTION_MS` after `created`. */
  ttlMs?: number
}

export interface ClaimOutcome<T = unknown> {
  key: string
  /** True: this claim holds the key now (in the caller's transaction). */
  claimed: boolean
  /** This claim's result when claimed, else the result of the write that holds the key. */
  result: T
}

// A key is free when its row has expired: at `expires`, else a day (the retention, $4) after
// `created`. A free key is taken over (DO UPDATE ... WHERE expired); a held one is left as it
// is but still locked by the statement, so the holder's answer can be read next, committed.
// RETURNING lists exactly the keys this statement claimed (inserted or taken over).
const CLAIM_SQL = `
INSERT INTO attune_sensor.idempotency AS i (key, result, expires)
SELECT c.key, c.result, now() + c.ttl_ms * interval '1 millisecond'
  FROM unnest($1::text[], $2::jsonb[], $3::double precision[]) AS c(key, result, ttl_ms)
ON CONFLICT (key) DO UPDATE SET result = EXCLUDED.result, created = now(), expires = EXCLUDED.expires
 WHERE COALESCE(i.expires, i.created + $4::double precision * interval '1 millisecond') <= now()
RETURNING i.key`

/**
 * Claims keys in the caller's transaction. Keys must be distinct. A key nobody holds (or whose
 * holder expired) is claimed with `result`; otherwise the outcome carries the holder's result
 * (a key claimed earlier in the same transaction is held too). One statement when every key is
 * claimed, a second one to read the holders' answers when some are not. Committing the
 * transaction keeps the claims; rolling it back releases them.
 */
export async function claimKeys<T = unknown>(q: Queryable, claims: readonly KeyClaim[]): Promise<ClaimOutcome<T>[]> {
  if (claims.length === 0) return []
  const keys = claims.map((claim) => claim.key)
  if (new Set(keys).size !== keys.length) throw new Error('claimKeys: the same key twice in one call')
  // Rows are locked in key order: two writers claiming the same keys never wait on each other in a cycle.
  const ordered = [...claims].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  const {rows} = await q.query<{key: string}>(CLAIM_SQL, [
    ordered.map((claim) => claim.key),
    ordered.map((claim) => JSON.stringify(claim.result ?? null)),
    ordered.map((claim) => claim.ttlMs ?? null),
    IDEMPOTENCY_RETENTION_MS,
  ])
  const claimed = new Set(rows.map((row) => row.key))
  const held = keys.filter((key) => !claimed.has(key))
  const holders = new Map<string, T>()
  if (held.length > 0) {
    // A new statement sees what the holders committed (read committed): the claim above
    // waited for any of them still open.
    const found = await q.query<{key: string; result: T}>('SELECT key, result FROM attune_sensor.idempotency WHERE key = ANY($1::text[])', [held])
    for (const row of found.rows) holders.set(row.key, row.result)
  }
  return claims.map((claim): ClaimOutcome<T> => {
    if (claimed.has(claim.key)) return {key: claim.key, claimed: true, result: claim.result as T}
    if (!holders.has(claim.key)) throw new Error(`idempotency key ${claim.key} is held and then gone`)
    return {key: claim.key, claimed: false, result: holders.get(claim.key)!}
  })
}

/** Releases keys this transaction claimed (with their `claimKeys` results) and no longer wants. */
export async function releaseKeys(q: Queryable, keys: readonly string[]): Promise<void> {
  if (keys.length > 0) await q.query('DELETE FROM attune_sensor.idempotency WHERE key = ANY($1::text[])', [[...keys]])
}

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
  let first: T | undefined
  try {
    const result = await store.transaction(async (tx) => {
      const value = await fn(tx)
      const [outcome] = await claimKeys<T>(tx, [{key, result: value ?? null}])
      if (!outcome.claimed) {
        first = outcome.result
        throw new Replayed()
      }
      return value
    })
    return {result, replayed: false}
  } catch (error) {
    if (!(error instanceof Replayed)) throw error
  }
  return {result: first as T, replayed: true}
}

/** The committed answer of a key, if it is remembered (expired or not, until pruned). */
export async function storedResult<T>(q: Queryable, key: string): Promise<T | undefined> {
  const {rows} = await q.query<{result: T}>('SELECT result FROM attune_sensor.idempotency WHERE key = $1', [key])
  return rows.length > 0 ? rows[0].result : undefined
}

/**
 * Forgets expired keys: those past their `expires`, and those without one (idempotent
 * writes) created more than `olderThanMs` ago. Returns how many.
 */
export async function pruneIdempotencyKeys(q: Queryable, olderThanMs = IDEMPOTENCY_RETENTION_MS): Promise<number> {
  const {rowCount} = await q.query(`DELETE FROM attune_sensor.idempotency WHERE ${expiredKeyCondition('$1')}`, [olderThanMs])
  return rowCount
}

/**
 * The SQL condition of an expired key row (past its `expires`, or, without one, created more
 * than `retentionParam` ms ago): what `pruneIdempotencyKeys` and `attune db prune` delete.
 */
export function expiredKeyCondition(retentionParam: string): string {
  return `((expires IS NOT NULL AND expires <= now()) OR (expires IS NULL AND created < now() - ${retentionParam}::double precision * interval '1 millisecond'))`
}
