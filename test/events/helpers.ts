/** Rows for pipeline tests, written with plain SQL so the tests do not depend on pack loading. */
import type {Queryable, Store} from '../../src/engine/store/index.js'

export async function insertTrigger(q: Queryable, ref: string): Promise<number> {
  const {rows} = await q.query<{id: number}>('INSERT INTO attune.trigger (ref, pack_ref, label) VALUES ($1, $2, $1) RETURNING id', [ref, ref.split('.')[0]])
  return rows[0].id
}

export async function insertSensor(q: Queryable, ref: string, triggerRef: string): Promise<number> {
  const {rows} = await q.query<{id: number}>(
    `INSERT INTO attune.sensor (ref, pack_ref, label, entrypoint, runtime_ref, trigger, trigger_ref, trigger_types)
     VALUES ($1, $2, $1, '/dev/null', 'shell', (SELECT id FROM attune.trigger WHERE ref = $3), $3, $4::jsonb) RETURNING id`,
    [ref, ref.split('.')[0], triggerRef, JSON.stringify([triggerRef])],
  )
  return rows[0].id
}

/** A rule in the stored (normalised) form. */
export async function insertRule(
  q: Queryable,
  ref: string,
  triggerRef: string,
  conditions: unknown,
  options: {enabled?: boolean; action?: string} = {},
): Promise<number> {
  const {rows} = await q.query<{id: number}>(
    `INSERT INTO attune.rule (ref, pack_ref, label, action_ref, trigger, trigger_ref, conditions, enabled)
     VALUES ($1, $2, $1, $3, (SELECT id FROM attune.trigger WHERE ref = $4), $4, $5::jsonb, $6) RETURNING id`,
    [ref, ref.split('.')[0], options.action ?? 'core.echo', triggerRef, JSON.stringify(conditions), options.enabled ?? true],
  )
  return rows[0].id
}

export async function tableCounts(q: Queryable): Promise<{event: number; enforcement: number; outbox: number}> {
  const {rows} = await q.query<{event: number; enforcement: number; outbox: number}>(`SELECT
    (SELECT count(*)::int FROM attune.event) AS event,
    (SELECT count(*)::int FROM attune.enforcement) AS enforcement,
    (SELECT count(*)::int FROM attune_sensor.outbox) AS outbox`)
  return rows[0]
}

/** The store with every `query` counted (round trips of the pipeline). */
export function countingStore(store: Store): {store: Store; count(): number; reset(): void} {
  let n = 0
  const wrap = (q: Queryable): Queryable => ({
    query: <T>(sql: string, params?: readonly unknown[]) => {
      n++
      return q.query<T>(sql, params)
    },
    exec: (sql: string) => {
      n++
      return q.exec(sql)
    },
  })
  const outer = wrap(store)
  const counted: Store = {
    kind: store.kind,
    location: store.location,
    query: outer.query,
    exec: outer.exec,
    transaction: (fn) => store.transaction((tx) => fn(wrap(tx))),
    close: () => store.close(),
  }
  return {store: counted, count: () => n, reset: () => (n = 0)}
}
