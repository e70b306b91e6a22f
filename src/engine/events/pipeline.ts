/**
 * The event pipeline: what happens to the events of a poll (SPEC §7, §9). In ONE transaction:
 *
 * 1. the enabled rules of the poll's trigger are looked up (compiled once, cached, refreshed
 *    when a rule row changes: see `rules.ts`) and matched against every payload in JS;
 * 2. one SQL statement inserts the events (with the sensor's config snapshot), an enforcement
 *    per (rule, event) match (status `created`; unique per rule and event), and the outbox rows
 *    `event.created` / `enforcement.created` with the SPEC §7 envelope.
 *
 * Rows travel as arrays (`unnest`), so a batch of any size costs the same few round trips:
 * BEGIN, the rule check, the insert, COMMIT. The daemon passes several polls at once under
 * load (group commit). Either everything of a call is stored, or nothing is.
 *
 * Deduplication (a trigger's `dedup: {key, window}`, see `dedup.ts`): before matching, every
 * event of such a trigger claims `dedup:<trigger ref>:<key value>` in the keyed-write table
 * (`claimKeys`, in the same transaction). An event whose key is held (by an event stored
 * within the window, by any process, or by an earlier event of the same call) is dropped: no
 * event row, no enforcement, no message; the result names the event it duplicates. The
 * settings are cached (`DedupCache`); the insert statement checks that they are still current
 * and stores nothing when they are not, and the write is done again with fresh settings.
 */
import {randomUUID} from 'node:crypto'
import {EVENTS_EXCHANGE, EXECUTIONS_EXCHANGE, SOURCE_SERVICE} from '../bus/envelope.js'
import {AbortError} from '../errors.js'
import {claimKeys, IDEMPOTENCY_RETENTION_MS, idempotentTransaction, releaseKeys} from '../store/idempotency.js'
import type {Queryable, Store} from '../store/types.js'
import type {EventInfo, GroupTrace, JsonValue} from '../rules/index.js'
import {DedupCache, dedupClaimKey, type TriggerDedup} from './dedup.js'
import {RuleCache, type ActiveRule} from './rules.js'
import {buildTemplateContext, plainSecretParams, renderActionParams, rfc3339, secretRefusalMessage} from './template/index.js'

/**
 * Who creates enforcements: `attune` (the default, the seeds' design) matches rules and writes
 * enforcements with their rendered config in the event's transaction; `executor` leaves that to
 * Attune's executor, which does it on `EventCreated` (attune then stores and announces events only).
 */
export type EnforcementCreator = 'attune' | 'executor'

/** The events of one poll and where they come from. */
export interface PollEvents {
  /** The trigger the events are of; `id` is looked up by `ref` when absent. */
  trigger: {id?: number | null; ref: string}
  /** The sensor that produced them (`null` for system events); `id` is looked up by `ref` when absent. */
  sensor?: {id?: number | null; ref: string} | null
  /** Config snapshot stored with every event and sent in `event.created` (mask secrets first). */
  config?: unknown
  /** The payloads, as the sensor emitted them: one JSON object per event. */
  events: readonly unknown[]
  /** `headers.trace_id` of every message of this poll; a fresh UUID by default. */
  trace_id?: string
  /**
   * Only these rules may match (a trigger instance: the timer of one rule, a long-running
   * sensor's `trigger_instance_id`). Default: every enabled rule of the trigger.
   */
  rule_ids?: readonly number[]
  /** The ref of the one rule in `rule_ids` (stored as `event.rule_ref`). */
  rule_ref?: string
}

export interface StoredEnforcement {
  id: number
  rule_id: number
  rule_ref: string
  action_ref: string
  event_id: number
  message_id: string
}

export interface StoredEvent {
  /** The event's id; for a duplicate, the id of the first event with its dedup key. */
  id: number
  /** Position of the poll in the call, and of the event in its poll. */
  poll: number
  index: number
  trigger_ref: string
  /** Its `event.created` message; for a duplicate, the first event's. */
  message_id: string
  /** Empty for a duplicate. */
  enforcements: StoredEnforcement[]
  /** Set when the event was not stored: its trigger's dedup key was seen within the window (see `duplicates`). */
  duplicate?: true
}

/** An event dropped by deduplication, and the event it duplicates. */
export interface DuplicateEvent {
  poll: number
  index: number
  trigger_ref: string
  /** The event's dedup key (its value; the claimed key is `dedup:<trigger ref>:<key>`). */
  key: string
  /** The first event with this key (stored earlier, or by this call). */
  event_id: number
}

export interface PersistResult {
  /**
   * One entry per event of the call, in call order (poll by poll): the stored events, and the
   * dropped duplicates (`duplicate: true`, with the first event's id and no enforcements).
   */
  events: StoredEvent[]
  enforcements: StoredEnforcement[]
  /** Outbox rows written (one per stored event and one per enforcement). */
  messages: number
  /** Rules skipped because they no longer compile (see `RuleCache`), dedup keys that do not compile. */
  warnings: string[]
  /** The events dropped as duplicates (their trigger's `dedup`), in call order. */
  duplicates: DuplicateEvent[]
  /** How many events were dropped as duplicates (`duplicates.length`). */
  deduplicated: number
  /** The idempotency key was already committed: this is the first write's answer, nothing new was stored. */
  replayed?: boolean
}

export interface PersistOptions {
  /**
   * Makes a retry after an unknown outcome safe: the write is recorded under this key in its
   * transaction, and a later write with the same key stores nothing and returns the first answer.
   */
  idempotencyKey?: string
}

export interface RuleMatch {
  rule_id: number
  rule_ref: string
  label: string
  action_ref: string
  matched: boolean
  /** Only with `explain`. */
  trace?: GroupTrace
}

export interface PreviewEvent {
  poll: number
  index: number
  trigger_ref: string
  payload: unknown
  /** Every enabled rule of the trigger, matched or not. */
  rules: RuleMatch[]
  /** The trigger deduplicates and the event has a key: whether storing it now would drop it. */
  dedup?: PreviewDedup
}

export interface PreviewDedup {
  /** The key's value (see `dedup.ts`). */
  key: string
  /** Storing the events now would drop this one as a duplicate. */
  duplicate: boolean
  /** The stored event it duplicates (absent when it duplicates an earlier event of the same preview). */
  event_id?: number
}

export interface PreviewResult {
  events: PreviewEvent[]
  warnings: string[]
}

export interface EventPipelineOptions {
  /** Share one cache between pipelines (the daemon keeps one for its lifetime). */
  rules?: RuleCache
  /** The triggers' dedup settings; share it as `rules`. */
  dedup?: DedupCache
  /** `headers.source_service` of the messages. */
  sourceService?: string
  /** Called after every commit that wrote outbox rows: wire the relay's `notify()` here. */
  onCommitted?: (result: PersistResult) => void
  /** `pipeline.enforcements`: who creates enforcements (default `attune`). */
  enforcements?: EnforcementCreator
}

/** Input rows for the insert statement, built in JS after matching. */
interface Batch {
  polls: Array<{triggerId: number | null; triggerRef: string; sensorId: number | null; sensorRef: string | null; config: string | null; traceId: string; ruleId: number | null; ruleRef: string | null}>
  /** The events to store (duplicates left out): poll 1-based, `at` the position in the call. */
  events: Array<{poll: number; index: number; payload: string; at: number; id: number | null; messageId: string | null}>
  rules: ActiveRule[]
  /** (event ordinal, rule ordinal), both 1-based, and the enforcement's rendered config. */
  matches: Array<[number, number, string]>
}

/** Event ids drawn ahead (one per event of the call, in call order) and the transaction's time. */
interface Reserved {
  now: string
  ids: number[]
}

/** What deduplication decided for the events of a call (positions in call order). */
interface Dedup {
  /** Dropped events and the event each duplicates. */
  duplicates: Map<number, {value: string; event_id: number; message_id: string}>
  /** Message ids chosen ahead for the events that claimed a key (the claim records them). */
  messageIds: Map<number, string>
  /** The keys this attempt claimed (released if the attempt is done again). */
  claimed: string[]
  /** The setting versions the decisions used: the insert statement checks them. */
  versions: string[]
  warnings: string[]
}

// `stale` compares the dedup settings of the batch's triggers ($21) with the versions the
// decisions were made with ($22, none for triggers believed not to deduplicate): when they
// differ, nothing is inserted and a 'stale' row tells the pipeline to load them and write
// again. This costs no round trip: a batch without dedup pays an index lookup.
//
// Event ids are drawn before matching when any rule may match (expression conditions and
// action parameter templates see the event's id and time) or any event claims a dedup key
// (the claim records the id); otherwise here, in a MATERIALIZED
// CTE evaluated once, so the enforcement and outbox rows can refer to the events of the same
// statement, and so every input row's id comes back tagged with its position. The envelopes
// are built here, in SQL, because only here are the ids known; bus/envelope.ts and
// bus/attune.ts document the same shape (Attune's `EventCreated` and `EnforcementCreated`).
const INSERT_SQL = `
WITH
stale AS MATERIALIZED (
  SELECT 1 AS stale
    FROM (SELECT t.ref || ':' || ts.xmin::text AS v
            FROM attune_sensor.trigger_settings ts JOIN attune.trigger t ON t.id = ts.trigger
           WHERE t.ref = ANY($21::text[]) AND ts.dedup_key IS NOT NULL) cur
  HAVING count(*) FILTER (WHERE cur.v = ANY($22::text[])) <> cardinality($22::text[]) OR bool_or(cur.v <> ALL($22::text[]))
),
p AS (
  SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::jsonb[], $6::text[], $17::bigint[], $18::text[])
    WITH ORDINALITY AS p(trigger_id, trigger_ref, sensor_id, sensor_ref, config, trace_id, rule_id, rule_ref, i)
),
ev AS MATERIALIZED (
  SELECT COALESCE(($19::bigint[])[e.ord], nextval('attune.event_id_seq'::regclass)) AS id, COALESCE(($23::text[])[e.ord], gen_random_uuid()::text) AS message_id, e.ord, e.payload,
         COALESCE(p.trigger_id, (SELECT t.id FROM attune.trigger t WHERE t.ref = p.trigger_ref)) AS trigger_id,
         p.trigger_ref, p.sensor_ref, p.config, p.trace_id, p.rule_id, p.rule_ref,
         COALESCE(p.sensor_id, (SELECT s.id FROM attune.sensor s WHERE s.ref = p.sensor_ref)) AS sensor_id
    FROM unnest($7::int[], $8::jsonb[]) WITH ORDINALITY AS e(poll, payload, ord)
    JOIN p ON p.i = e.poll
   WHERE NOT EXISTS (SELECT 1 FROM stale)
),
r AS (
  SELECT * FROM unnest($9::bigint[], $10::text[], $11::text[], $12::jsonb[]) WITH ORDINALITY AS r(rule_id, rule_ref, condition, conditions, i)
),
m AS MATERIALIZED (
  SELECT nextval('attune.enforcement_id_seq'::regclass) AS id, gen_random_uuid()::text AS message_id, x.ord,
         ev.id AS event_id, ev.message_id AS event_message_id, ev.trigger_ref, ev.payload, ev.trace_id,
         r.rule_id, r.rule_ref, r.condition, r.conditions, x.config
    FROM unnest($13::int[], $14::int[], $20::jsonb[]) WITH ORDINALITY AS x(event_ord, rule_i, config, ord)
    JOIN ev ON ev.ord = x.event_ord
    JOIN r ON r.i = x.rule_i
),
ins_ev AS (
  INSERT INTO attune.event (id, trigger, trigger_ref, config, payload, source, source_ref, rule, rule_ref)
  SELECT id, trigger_id, trigger_ref, config, payload, sensor_id, sensor_ref, rule_id, rule_ref FROM ev
),
ins_enf AS (
  INSERT INTO attune.enforcement (id, rule, rule_ref, trigger_ref, config, event, status, payload, condition, conditions)
  SELECT id, rule_id, rule_ref, trigger_ref, config, event_id, 'created', payload, condition::attune.enforcement_condition_enum, conditions FROM m
  ON CONFLICT (rule, event) WHERE rule IS NOT NULL AND event IS NOT NULL DO NOTHING
  RETURNING id
),
ins_out AS (
  INSERT INTO attune_sensor.outbox (exchange, routing_key, message_id, message)
  SELECT '${EVENTS_EXCHANGE}', 'event.created', message_id, jsonb_build_object(
           'message_id', message_id, 'correlation_id', message_id, 'message_type', 'EventCreated',
           'version', '1.0', 'timestamp', $15::text,
           'headers', jsonb_build_object('retry_count', 0, 'source_service', $16::text, 'trace_id', trace_id),
           'payload', jsonb_build_object('event_id', id, 'trigger_id', trigger_id, 'trigger_ref', trigger_ref,
                                         'sensor_id', sensor_id, 'sensor_ref', sensor_ref, 'payload', payload, 'config', config))
    FROM ev
  UNION ALL
  SELECT '${EXECUTIONS_EXCHANGE}', 'enforcement.created', m.message_id, jsonb_build_object(
           'message_id', m.message_id, 'correlation_id', m.event_message_id, 'message_type', 'EnforcementCreated',
           'version', '1.0', 'timestamp', $15::text,
           'headers', jsonb_build_object('retry_count', 0, 'source_service', $16::text, 'trace_id', m.trace_id),
           'payload', jsonb_build_object('enforcement_id', m.id, 'rule_id', m.rule_id, 'rule_ref', m.rule_ref,
                                         'event_id', m.event_id, 'trigger_ref', m.trigger_ref, 'payload', m.payload))
    FROM m JOIN ins_enf USING (id)
  RETURNING 1
)
SELECT 'event' AS kind, ord::int AS ord, id, message_id FROM ev
UNION ALL
SELECT 'enforcement', m.ord::int, m.id, m.message_id FROM m JOIN ins_enf USING (id)
UNION ALL
SELECT 'outbox', count(*)::int, NULL, NULL FROM ins_out
UNION ALL
SELECT 'stale', 1, NULL, NULL FROM stale`

/** Draws event ids and reads the transaction's time (`event.created`'s default) in one round trip. */
const RESERVE_SQL = `SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS now,
  ARRAY(SELECT nextval('attune.event_id_seq'::regclass) FROM generate_series(1, $1::int)) AS ids`

export class EventPipeline {
  readonly rules: RuleCache
  readonly dedup: DedupCache
  private readonly sourceService: string

  constructor(
    private readonly store: Store,
    private readonly options: EventPipelineOptions = {},
  ) {
    this.rules = options.rules ?? new RuleCache()
    this.dedup = options.dedup ?? new DedupCache()
    this.sourceService = options.sourceService ?? SOURCE_SERVICE
  }

  /**
   * Stores the events of one or more polls with their enforcements and outbox rows, in one
   * transaction. Throws an `AbortError` for input that cannot be stored (naming the poll and
   * event) before touching the database; a database failure rolls everything back.
   */
  async persist(polls: PollEvents | readonly PollEvents[], options: PersistOptions = {}): Promise<PersistResult> {
    const list = Array.isArray(polls) ? (polls as readonly PollEvents[]) : [polls as PollEvents]
    const prepared = prepare(list)
    if (prepared.events.length === 0) return emptyResult()
    if (options.idempotencyKey !== undefined) {
      const {result, replayed} = await idempotentTransaction(this.store, options.idempotencyKey, (tx) => this.write(tx, list, prepared))
      // An answer recorded before deduplication existed has no `duplicates`.
      if (replayed) return {...result, duplicates: result.duplicates ?? [], deduplicated: result.deduplicated ?? 0, replayed: true}
      if (result.messages > 0) this.options.onCommitted?.(result)
      return result
    }
    const result = await this.store.transaction((tx) => this.write(tx, list, prepared))
    if (result.messages > 0) this.options.onCommitted?.(result)
    return result
  }

  /** As `persist`, inside a transaction the caller runs (and commits). */
  async persistIn(tx: Queryable, polls: readonly PollEvents[]): Promise<PersistResult> {
    const prepared = prepare(polls)
    if (prepared.events.length === 0) return emptyResult()
    return this.write(tx, polls, prepared)
  }

  /**
   * A dry run: which enabled rules each event would match, exactly as `persist` decides,
   * without writing anything. `explain` adds the condition-by-condition trace. An event of a
   * trigger that deduplicates gets `dedup`: its key, and whether storing now would drop it.
   */
  async preview(q: Queryable, polls: readonly PollEvents[], options: {explain?: boolean} = {}): Promise<PreviewResult> {
    const prepared = prepare(polls)
    const {byTrigger, warnings} = await this.rules.load(q, polls.map((poll) => poll.trigger.ref))
    const events = prepared.events.map(({poll, index}): PreviewEvent => {
      const source = polls[poll]
      const payload = source.events[index]
      const only = source.rule_ids
      const rules = (byTrigger.get(source.trigger.ref) ?? []).filter((rule) => !only || only.includes(rule.id)).map((rule): RuleMatch => {
        const base = {rule_id: rule.id, rule_ref: rule.ref, label: rule.label, action_ref: rule.action_ref}
        if (!options.explain) return {...base, matched: rule.test(payload)}
        const {matched, trace} = rule.explain(payload)
        return {...base, matched, trace}
      })
      return {poll, index, trigger_ref: source.trigger.ref, payload, rules}
    })
    if (prepared.events.length > 0) await this.previewDedup(q, polls, prepared, events, warnings)
    return {events, warnings}
  }

  /** Fills `dedup` of the preview's events: their keys, and which keys are held now (read only). */
  private async previewDedup(q: Queryable, polls: readonly PollEvents[], prepared: Prepared, events: PreviewEvent[], warnings: string[]): Promise<void> {
    const settings = await this.dedup.load(q, polls.map((poll) => poll.trigger.ref))
    if (settings.size === 0) return
    const keyed = eventKeys(polls, prepared, settings, warnings)
    if (keyed.length === 0) return
    const {rows} = await q.query<{key: string; result: {event_id?: number}}>(
      `SELECT key, result FROM attune_sensor.idempotency
        WHERE key = ANY($1::text[]) AND COALESCE(expires, created + $2::double precision * interval '1 millisecond') > now()`,
      [[...new Set(keyed.map((k) => k.key))], IDEMPOTENCY_RETENTION_MS],
    )
    const held = new Map(rows.map((row) => [row.key, row.result?.event_id]))
    const seen = new Set<string>()
    for (const {at, key, value} of keyed) {
      const duplicate = held.has(key) || seen.has(key)
      const eventId = held.get(key)
      events[at].dedup = {key: value, duplicate, ...(eventId === undefined ? {} : {event_id: Number(eventId)})}
      seen.add(key)
    }
  }

  private async write(tx: Queryable, polls: readonly PollEvents[], prepared: Prepared): Promise<PersistResult> {
    const mode = this.options.enforcements ?? 'attune'
    const refs = [...new Set(polls.map((poll) => poll.trigger.ref))]
    const {byTrigger, warnings} = mode === 'executor' ? {byTrigger: new Map<string, ActiveRule[]>(), warnings: [] as string[]} : await this.rules.load(tx, refs)
    let reserved: Reserved | undefined
    const reserve = async (): Promise<Reserved> => {
      if (!reserved) {
        const {rows} = await tx.query<{now: string; ids: Array<number | string>}>(RESERVE_SQL, [prepared.events.length])
        reserved = {now: rows[0].now, ids: rows[0].ids.map(Number)}
      }
      return reserved
    }
    if ([...byTrigger.values()].some((rules) => rules.length > 0)) await reserve()
    // The cached dedup settings are used as they are; the insert statement checks them. When
    // they changed, it stores nothing: release this attempt's keys, load them, write again.
    for (let attempt = 1; ; attempt++) {
      const dedup = await this.deduplicate(tx, polls, prepared, this.dedup.cached(refs), reserve)
      const matchWarnings: string[] = []
      const batch = match(polls, prepared, byTrigger, reserved, matchWarnings, dedup)
      const result = await this.insert(tx, batch, refs, dedup.versions)
      if (result) return finish(result, prepared, batch, dedup, [...warnings, ...dedup.warnings, ...matchWarnings])
      if (attempt === 3) throw new Error(`the dedup settings of ${refs.join(', ')} kept changing while storing their events`)
      await releaseKeys(tx, dedup.claimed)
      await this.dedup.load(tx, refs)
    }
  }

  /**
   * Claims the dedup keys of the events whose trigger deduplicates (one statement, plus one to
   * read the first events of held keys); events draw their ids first, as the claim records them.
   */
  private async deduplicate(tx: Queryable, polls: readonly PollEvents[], prepared: Prepared, settings: Map<string, TriggerDedup>, reserve: () => Promise<Reserved>): Promise<Dedup> {
    const dedup: Dedup = {duplicates: new Map(), messageIds: new Map(), claimed: [], versions: [...settings.values()].map((s) => s.version), warnings: []}
    if (settings.size === 0) return dedup
    const keyed = eventKeys(polls, prepared, settings, dedup.warnings)
    if (keyed.length === 0) return dedup
    const {ids} = await reserve()
    // The first event of each key in the call claims it; later ones duplicate that one.
    const first = new Map<string, (typeof keyed)[number]>()
    for (const item of keyed) if (!first.has(item.key)) first.set(item.key, item)
    const claims = [...first.values()]
    for (const {at} of claims) dedup.messageIds.set(at, randomUUID())
    const outcomes = await claimKeys<{event_id: number; message_id: string}>(
      tx,
      claims.map(({at, key, window}) => ({key, result: {event_id: ids[at], message_id: dedup.messageIds.get(at)}, ttlMs: window})),
    )
    const holder = new Map<string, {event_id: number; message_id: string}>()
    outcomes.forEach((outcome, i) => {
      const {at, key} = claims[i]
      if (outcome.claimed) dedup.claimed.push(key)
      else dedup.messageIds.delete(at)
      holder.set(key, {event_id: Number(outcome.result.event_id), message_id: String(outcome.result.message_id)})
    })
    for (const {at, key, value} of keyed) {
      const claim = first.get(key)!
      if (claim.at === at && dedup.messageIds.has(at)) continue
      dedup.duplicates.set(at, {value, ...holder.get(key)!})
    }
    return dedup
  }

  /** The insert statement; undefined when the dedup settings it was given are no longer current. */
  private async insert(tx: Queryable, batch: Batch, refs: string[], versions: string[]): Promise<InsertRows | undefined> {
    const {rows} = await tx.query<{kind: string; ord: number; id: number | null; message_id: string | null}>(INSERT_SQL, [
      batch.polls.map((p) => p.triggerId),
      batch.polls.map((p) => p.triggerRef),
      batch.polls.map((p) => p.sensorId),
      batch.polls.map((p) => p.sensorRef),
      batch.polls.map((p) => p.config),
      batch.polls.map((p) => p.traceId),
      batch.events.map((e) => e.poll),
      batch.events.map((e) => e.payload),
      batch.rules.map((r) => r.id),
      batch.rules.map((r) => r.ref),
      batch.rules.map((r) => r.condition),
      batch.rules.map((r) => JSON.stringify(r.stored_conditions)),
      batch.matches.map(([event]) => event),
      batch.matches.map(([, rule]) => rule),
      new Date().toISOString(),
      this.sourceService,
      batch.polls.map((p) => p.ruleId),
      batch.polls.map((p) => p.ruleRef),
      batch.events.some((e) => e.id !== null) ? batch.events.map((e) => e.id) : [],
      batch.matches.map(([, , config]) => config),
      refs,
      versions,
      batch.events.some((e) => e.messageId !== null) ? batch.events.map((e) => e.messageId) : [],
    ])
    if (rows.some((row) => row.kind === 'stale')) return undefined
    return rows
  }
}

type InsertRows = Array<{kind: string; ord: number; id: number | null; message_id: string | null}>

function emptyResult(): PersistResult {
  return {events: [], enforcements: [], messages: 0, warnings: [], duplicates: [], deduplicated: 0}
}

/** The dedup key of every event whose trigger deduplicates and that has one, in call order. */
function eventKeys(
  polls: readonly PollEvents[],
  prepared: Prepared,
  settings: Map<string, TriggerDedup>,
  warnings: string[],
): Array<{at: number; key: string; value: string; window: number}> {
  const keyed: Array<{at: number; key: string; value: string; window: number}> = []
  const warned = new Set<string>()
  prepared.events.forEach(({poll, index}, at) => {
    const ref = polls[poll].trigger.ref
    const setting = settings.get(ref)
    if (!setting) return
    if (!setting.keyOf) {
      if (setting.warning && !warned.has(ref)) warnings.push(setting.warning)
      warned.add(ref)
      return
    }
    const value = setting.keyOf(polls[poll].events[index], ref)
    if (value !== undefined) keyed.push({at, key: dedupClaimKey(ref, value), value, window: setting.window_ms})
  })
  return keyed
}

/** The result of a write: the statement's rows placed back in call order, with the duplicates. */
function finish(rows: InsertRows, prepared: Prepared, batch: Batch, dedup: Dedup, warnings: string[]): PersistResult {
  const events: StoredEvent[] = new Array(prepared.events.length)
  const stored: StoredEvent[] = new Array(batch.events.length)
  const enforcementRows: Array<{ord: number; id: number; message_id: string}> = []
  let messages = 0
  for (const row of rows) {
    if (row.kind === 'event') {
      const input = batch.events[row.ord - 1]
      const event: StoredEvent = {
        id: Number(row.id!),
        poll: input.poll - 1,
        index: input.index,
        trigger_ref: batch.polls[input.poll - 1].triggerRef,
        message_id: row.message_id!,
        enforcements: [],
      }
      stored[row.ord - 1] = event
      events[input.at] = event
    } else if (row.kind === 'enforcement') {
      enforcementRows.push({ord: row.ord, id: row.id!, message_id: row.message_id!})
    } else if (row.kind === 'outbox') {
      messages = row.ord
    }
  }
  const duplicates: DuplicateEvent[] = []
  for (const [at, duplicate] of [...dedup.duplicates].sort(([a], [b]) => a - b)) {
    const {poll, index} = prepared.events[at]
    const triggerRef = prepared.polls[poll].triggerRef
    events[at] = {id: duplicate.event_id, poll, index, trigger_ref: triggerRef, message_id: duplicate.message_id, enforcements: [], duplicate: true}
    duplicates.push({poll, index, trigger_ref: triggerRef, key: duplicate.value, event_id: duplicate.event_id})
  }
  const enforcements = enforcementRows
    .sort((a, b) => a.ord - b.ord)
    .map(({ord, id, message_id}): StoredEnforcement => {
      const [eventOrd, ruleOrd] = batch.matches[ord - 1]
      const event = stored[eventOrd - 1]
      const rule = batch.rules[ruleOrd - 1]
      const enforcement = {id, rule_id: rule.id, rule_ref: rule.ref, action_ref: rule.action_ref, event_id: event.id, message_id}
      event.enforcements.push(enforcement)
      return enforcement
    })
  return {events, enforcements, messages, warnings, duplicates, deduplicated: duplicates.length}
}

interface Prepared {
  polls: Batch['polls']
  /** Every event in call order: its poll (0-based), index in the poll, and payload as JSON. */
  events: Array<{poll: number; index: number; payload: string}>
}

const REF = /^[\w-]+(\.[\w-]+)+$/
/** Attune's `headers.trace_id` is a UUID: anything else is replaced by a fresh one. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Checks and serialises the input; every problem names the poll and event. */
function prepare(polls: readonly PollEvents[]): Prepared {
  const prepared: Prepared = {polls: [], events: []}
  polls.forEach((poll, p) => {
    const where = polls.length > 1 ? `poll ${p}: ` : ''
    if (!poll || typeof poll !== 'object') throw new AbortError(`${where}expected {trigger, events}`, {code: 'event_invalid'})
    if (typeof poll.trigger?.ref !== 'string' || !REF.test(poll.trigger.ref)) {
      throw new AbortError(`${where}trigger ref must look like pack.name, got ${JSON.stringify(poll.trigger?.ref)}`, {code: 'event_invalid'})
    }
    if (poll.sensor && (typeof poll.sensor.ref !== 'string' || !REF.test(poll.sensor.ref))) {
      throw new AbortError(`${where}sensor ref must look like pack.name, got ${JSON.stringify(poll.sensor.ref)}`, {code: 'event_invalid'})
    }
    if (!Array.isArray(poll.events)) throw new AbortError(`${where}events must be a list`, {code: 'event_invalid'})
    prepared.polls.push({
      triggerId: poll.trigger.id ?? null,
      triggerRef: poll.trigger.ref,
      sensorId: poll.sensor?.id ?? null,
      sensorRef: poll.sensor?.ref ?? null,
      config: poll.config === undefined || poll.config === null ? null : toStorableJson(poll.config, `${where}config`),
      traceId: poll.trace_id && UUID.test(poll.trace_id) ? poll.trace_id : randomUUID(),
      // An event of one rule's trigger instance (a timer) is tied to that rule, as Attune's are.
      ruleId: poll.rule_ids?.length === 1 ? poll.rule_ids[0] : null,
      ruleRef: poll.rule_ids?.length === 1 ? (poll.rule_ref ?? null) : null,
    })
    poll.events.forEach((payload, index) => {
      if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
        const type = payload === null ? 'null' : Array.isArray(payload) ? 'an array' : `a ${typeof payload}`
        throw new AbortError(`${where}event ${index} must be a JSON object, got ${type}`, {code: 'event_invalid'})
      }
      prepared.events.push({poll: p, index, payload: toStorableJson(payload, `${where}event ${index}`)})
    })
  })
  return prepared
}

/**
 * JSON text PostgreSQL's jsonb accepts. It refuses `\u0000` and unpaired surrogates, which
 * JavaScript strings may hold: refuse them here, by name, instead of failing the statement.
 */
function toStorableJson(value: unknown, what: string): string {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (error) {
    throw new AbortError(`${what} cannot be stored as JSON: ${(error as Error).message}`, {code: 'event_invalid'})
  }
  if (text === undefined) throw new AbortError(`${what} cannot be stored as JSON`, {code: 'event_invalid'})
  if (text.includes('\\u0000')) {
    throw new AbortError(`${what} contains a NUL character (\\u0000), which PostgreSQL cannot store in JSON`, {code: 'event_invalid'})
  }
  if (/\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}/i.test(text)) {
    throw new AbortError(`${what} contains an unpaired UTF-16 surrogate, which is not valid Unicode`, {code: 'event_invalid'})
  }
  return text
}

/**
 * Matches every event against its trigger's rules and renders each match's `enforcement.config`
 * (the rule's action_params against the event, as Attune's executor renders them); returns the
 * statement's input. A match whose action is gone, or whose config would carry a parameter the
 * action marks secret in plain text, gets no enforcement and a warning instead.
 */
function match(
  polls: readonly PollEvents[],
  prepared: Prepared,
  byTrigger: Map<string, ActiveRule[]>,
  reserved: Reserved | undefined,
  warnings: string[],
  dedup: Dedup,
): Batch {
  const batch: Batch = {polls: prepared.polls, events: [], rules: [], matches: []}
  const ruleOrdinals = new Map<number, number>()
  prepared.events.forEach(({poll, index, payload}, i) => {
    // A duplicate is not stored: no event row, no enforcement, no message.
    if (dedup.duplicates.has(i)) return
    batch.events.push({poll: poll + 1, index, payload, at: i, id: reserved?.ids[i] ?? null, messageId: dedup.messageIds.get(i) ?? null})
    const ordinal = batch.events.length
    const rules = byTrigger.get(polls[poll].trigger.ref)
    if (!rules || rules.length === 0 || !reserved) return
    const value = polls[poll].events[index]
    const only = polls[poll].rule_ids
    const id = reserved.ids[i]
    const info: EventInfo = {id, trigger_ref: polls[poll].trigger.ref, created: rfc3339(reserved.now)}
    for (const rule of rules) {
      if (only && !only.includes(rule.id)) continue
      if (!rule.test(value, info)) continue
      if (!rule.action) {
        warnings.push(`rule ${rule.ref} matched event ${id} but its action ${rule.action_ref} does not exist: no enforcement (Attune's executor could not run it)`)
        continue
      }
      const context = buildTemplateContext({
        event: {id, trigger_ref: polls[poll].trigger.ref, payload: value as JsonValue, created: reserved.now},
        rule: {id: rule.id, ref: rule.ref},
        pack: rule.pack ? {ref: rule.pack.ref, config: rule.pack.config as JsonValue, conf_schema: rule.pack.conf_schema as JsonValue} : null,
      })
      const rendered = renderActionParams(rule.action_params as JsonValue, context)
      const secret = plainSecretParams(rendered, rule.action.param_schema)
      if (secret.length > 0) {
        warnings.push(`${secretRefusalMessage(rule.ref, rule.action_ref, secret)} (event ${id} stored without this enforcement)`)
        continue
      }
      let ruleOrdinal = ruleOrdinals.get(rule.id)
      if (ruleOrdinal === undefined) {
        batch.rules.push(rule)
        ruleOrdinal = batch.rules.length
        ruleOrdinals.set(rule.id, ruleOrdinal)
      }
      batch.matches.push([ordinal, ruleOrdinal, JSON.stringify(rendered.value)])
    }
  })
  return batch
}
