/** Rows for pipeline tests, written with plain SQL so the tests do not depend on pack loading. */
import type {Queryable, Store} from '../../src/engine/store/index.js'

/** The pack of a ref (`demo` of `demo.x`), created on first use (Attune's rows need one). */
export async function ensurePack(q: Queryable, packRef: string): Promise<number> {
  // Never touches an existing row: its version is part of the cached rules' identity.
  const found = await q.query<{id: number}>('SELECT id FROM attune.pack WHERE ref = $1', [packRef])
  if (found.rows[0]) return found.rows[0].id
  const {rows} = await q.query<{id: number}>(`INSERT INTO attune.pack (ref, label, version) VALUES ($1, $1, '1.0.0') RETURNING id`, [packRef])
  return rows[0].id
}

/** A runtime row (`core.shell` by default), created on first use. */
export async function ensureRuntime(q: Queryable, ref = 'core.shell', name = 'Shell'): Promise<number> {
  const pack = await ensurePack(q, ref.split('.')[0])
  const found = await q.query<{id: number}>('SELECT id FROM attune.runtime WHERE ref = $1', [ref])
  if (found.rows[0]) return found.rows[0].id
  const {rows} = await q.query<{id: number}>(
    `INSERT INTO attune.runtime (ref, pack, pack_ref, name, distributions) VALUES ($1, $2, $3, $4, '{}') RETURNING id`,
    [ref, pack, ref.split('.')[0], name],
  )
  return rows[0].id
}

/** An action row, created on first use (a rule's action must exist to be enforced). */
export async function ensureAction(q: Queryable, ref: string, paramSchema: unknown = null): Promise<number> {
  const pack = await ensurePack(q, ref.split('.')[0])
  const found = await q.query<{id: number}>('SELECT id FROM attune.action WHERE ref = $1', [ref])
  if (found.rows[0]) return found.rows[0].id
  const {rows} = await q.query<{id: number}>(
    `INSERT INTO attune.action (ref, pack, pack_ref, label, entrypoint, param_schema) VALUES ($1, $2, $3, $1, 'run.sh', $4::jsonb) RETURNING id`,
    [ref, pack, ref.split('.')[0], paramSchema === null ? null : JSON.stringify(paramSchema)],
  )
  return rows[0].id
}

export async function insertTrigger(q: Queryable, ref: string): Promise<number> {
  const pack = await ensurePack(q, ref.split('.')[0])
  const {rows} = await q.query<{id: number}>('INSERT INTO attune.trigger (ref, pack, pack_ref, label) VALUES ($1, $2, $3, $1) RETURNING id', [ref, pack, ref.split('.')[0]])
  return rows[0].id
}

/** A shell sensor serving `triggerRef` (linked as Attune links them: trigger.sensor). */
export async function insertSensor(q: Queryable, ref: string, triggerRef: string): Promise<number> {
  const runtime = await ensureRuntime(q)
  const pack = await ensurePack(q, ref.split('.')[0])
  const {rows} = await q.query<{id: number}>(
    `INSERT INTO attune.sensor (ref, pack, pack_ref, label, entrypoint, runtime, runtime_ref, enabled)
     VALUES ($1, $2, $3, $1, '/dev/null', $4, 'core.shell', true) RETURNING id`,
    [ref, pack, ref.split('.')[0], runtime],
  )
  await q.query(`INSERT INTO attune_sensor.sensor_settings (sensor, execution, trigger_types) VALUES ($1, 'poll', $2::text[])`, [rows[0].id, [triggerRef]])
  await q.query('UPDATE attune.trigger SET sensor = $1, sensor_ref = $2 WHERE ref = $3', [rows[0].id, ref, triggerRef])
  return rows[0].id
}

/** A rule in a stored form (its action, `core.echo` by default, is created too). */
export async function insertRule(
  q: Queryable,
  ref: string,
  triggerRef: string,
  conditions: unknown,
  options: {enabled?: boolean; action?: string; actionParams?: unknown} = {},
): Promise<number> {
  const actionRef = options.action ?? 'core.echo'
  const action = await ensureAction(q, actionRef)
  const pack = await ensurePack(q, ref.split('.')[0])
  const {rows} = await q.query<{id: number}>(
    `INSERT INTO attune.rule (ref, pack, pack_ref, label, action, action_ref, trigger, trigger_ref, conditions, action_params, enabled)
     VALUES ($1, $2, $3, $1, $4, $5, (SELECT id FROM attune.trigger WHERE ref = $6), $6, $7::jsonb, $8::jsonb, $9) RETURNING id`,
    [ref, pack, ref.split('.')[0], action, actionRef, triggerRef, JSON.stringify(conditions), JSON.stringify(options.actionParams ?? {}), options.enabled ?? true],
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
