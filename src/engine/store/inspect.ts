/**
 * One thing by its ref or id, with what relates to it (`attune sensor|rule|trigger|pack show
 * REF`, `attune event|enforcement show ID`), and switching sensors and rules on and off
 * (`attune sensor|rule enable|disable REF`). Commands only render what this returns.
 */
import {publishRuleLifecycle} from '../bus/rules.js'
import {AbortError} from '../errors.js'
import {closestName} from '../suggest.js'
import {
  getRule,
  getSensor,
  getTrigger,
  type EnforcementRow,
  type EventRow,
  type PackRow,
  type RuleRow,
  type SensorRow,
  type TriggerRow,
} from './queries.js'
import {sensorStatuses, type SensorStatusRow} from './status.js'
import type {Queryable, Store} from './types.js'

export type RefKind = 'sensor' | 'rule' | 'trigger' | 'pack' | 'action'

/**
 * An `AbortError` (exit 2) for a ref that is not registered, naming the closest registered ref
 * of that kind when one is plausibly meant.
 */
export async function unknownRef(q: Queryable, kind: RefKind, ref: string): Promise<AbortError> {
  const {rows} = await q.query<{ref: string}>(`SELECT ref FROM attune."${kind}" ORDER BY ref`)
  const close = closestName(ref, rows.map((row) => row.ref))
  return new AbortError(`Unknown ${kind} '${ref}'${close ? ` (did you mean '${close}'?)` : ''}`, {
    code: `${kind}_not_found`,
    hint:
      rows.length === 0
        ? `No ${kind}s are registered: register a pack with \`attune pack register DIR\`.`
        : `See the registered ${kind}s with \`attune ${kind === 'action' ? 'pack show PACK' : `${kind} list`}\`.`,
  })
}

function unknownId(kind: 'event' | 'enforcement', id: number): AbortError {
  return new AbortError(`No ${kind} with id ${id}`, {code: `${kind}_not_found`, hint: `See the newest ${kind}s with \`attune ${kind} list\`.`})
}

/** A rule as the other views list it. */
export interface RuleSummary {
  ref: string
  enabled: boolean
  trigger_ref: string
  action_ref: string
}

const ruleSummary = (rule: RuleRow): RuleSummary => ({ref: rule.ref, enabled: rule.enabled, trigger_ref: rule.trigger_ref, action_ref: rule.action_ref})

async function rulesOfTriggers(q: Queryable, triggerRefs: readonly string[]): Promise<RuleSummary[]> {
  if (triggerRefs.length === 0) return []
  const {rows} = await q.query<RuleRow>('SELECT * FROM attune.rule WHERE trigger_ref = ANY($1::text[]) ORDER BY ref', [[...triggerRefs]])
  return rows.map(ruleSummary)
}

export interface SensorShow {
  sensor: SensorRow
  /** What the daemons last reported about it (`attune sensor status`). */
  status: SensorStatusRow | null
  /** The triggers it emits, each with whether it is registered. */
  triggers: Array<{ref: string; registered: boolean; enabled: boolean | null}>
  /** The rules its events are matched against (rules of its triggers). */
  rules: RuleSummary[]
}

export async function showSensor(q: Queryable, ref: string): Promise<SensorShow> {
  const sensor = await getSensor(q, ref)
  if (!sensor) throw await unknownRef(q, 'sensor', ref)
  const status = (await sensorStatuses(q)).find((row) => row.ref === sensor.ref) ?? null
  const {rows} = await q.query<{ref: string; enabled: boolean}>('SELECT ref, enabled FROM attune.trigger WHERE ref = ANY($1::text[])', [sensor.trigger_types])
  const known = new Map(rows.map((row) => [row.ref, row.enabled]))
  const triggers = sensor.trigger_types.map((trigger) => ({ref: trigger, registered: known.has(trigger), enabled: known.get(trigger) ?? null}))
  return {sensor, status, triggers, rules: await rulesOfTriggers(q, sensor.trigger_types)}
}

export interface RuleShow {
  rule: RuleRow
  /** Its trigger: whether it is registered (null: it is not) and enabled. */
  trigger: {ref: string; registered: boolean; enabled: boolean | null; sensors: string[]}
  /** Its action: whether it is registered. */
  action: {ref: string; registered: boolean}
}

export async function showRule(q: Queryable, ref: string): Promise<RuleShow> {
  const rule = await getRule(q, ref)
  if (!rule) throw await unknownRef(q, 'rule', ref)
  const trigger = await getTrigger(q, rule.trigger_ref)
  const {rows: actions} = await q.query<{ref: string}>('SELECT ref FROM attune.action WHERE ref = $1', [rule.action_ref])
  return {
    rule,
    trigger: {ref: rule.trigger_ref, registered: Boolean(trigger), enabled: trigger?.enabled ?? null, sensors: await sensorsOfTrigger(q, rule.trigger_ref)},
    action: {ref: rule.action_ref, registered: actions.length > 0},
  }
}

/** The sensors that emit a trigger: those whose file lists it, else Attune's `trigger.sensor` link. */
async function sensorsOfTrigger(q: Queryable, triggerRef: string): Promise<string[]> {
  const {rows} = await q.query<{ref: string}>(
    `SELECT s.ref FROM attune.sensor s JOIN attune_sensor.sensor_settings st ON st.sensor = s.id WHERE $1 = ANY(st.trigger_types)
     UNION SELECT s.ref FROM attune.sensor s JOIN attune.trigger t ON t.sensor = s.id WHERE t.ref = $1
     ORDER BY 1`,
    [triggerRef],
  )
  return rows.map((row) => row.ref)
}

export interface TriggerShow {
  trigger: TriggerRow
  sensors: string[]
  rules: RuleSummary[]
  /** Its webhook: enabled, the key and the path senders POST to (null while disabled). */
  webhook: {enabled: boolean; key: string | null; path: string | null}
}

export async function showTrigger(q: Queryable, ref: string): Promise<TriggerShow> {
  const trigger = await getTrigger(q, ref)
  if (!trigger) throw await unknownRef(q, 'trigger', ref)
  const key = trigger.webhook_enabled ? trigger.webhook_key : null
  return {
    trigger,
    sensors: await sensorsOfTrigger(q, ref),
    rules: await rulesOfTriggers(q, [ref]),
    webhook: {enabled: trigger.webhook_enabled, key, path: key ? `/api/v1/webhooks/${key}` : null},
  }
}

export interface PackContents {
  runtimes: string[]
  triggers: string[]
  sensors: string[]
  actions: string[]
  rules: string[]
}

export interface PackShow {
  pack: PackRow
  counts: Record<keyof PackContents, number>
  /** The refs of its rows, by kind. */
  contents: PackContents
  /** Events of its triggers and enforcements of its rules stored so far. */
  history: {events: number; enforcements: number}
}

export async function packContents(q: Queryable, packRef: string): Promise<PackContents> {
  const contents: PackContents = {runtimes: [], triggers: [], sensors: [], actions: [], rules: []}
  for (const table of ['runtime', 'trigger', 'sensor', 'action', 'rule'] as const) {
    const {rows} = await q.query<{ref: string}>(`SELECT ref FROM attune."${table}" WHERE pack_ref = $1 ORDER BY ref`, [packRef])
    contents[`${table}s`] = rows.map((row) => row.ref)
  }
  return contents
}

export async function showPack(q: Queryable, ref: string): Promise<PackShow> {
  const pack = (await q.query<PackRow>('SELECT * FROM attune.pack WHERE ref = $1', [ref])).rows[0]
  if (!pack) throw await unknownRef(q, 'pack', ref)
  const contents = await packContents(q, ref)
  const counts = Object.fromEntries(Object.entries(contents).map(([kind, refs]) => [kind, refs.length])) as PackShow['counts']
  const {rows} = await q.query<{events: number; enforcements: number}>(
    `SELECT (SELECT count(*) FROM attune.event WHERE trigger_ref = ANY($1::text[]))::int AS events,
            (SELECT count(*) FROM attune.enforcement WHERE rule_ref = ANY($2::text[]))::int AS enforcements`,
    [contents.triggers, contents.rules],
  )
  return {pack, counts, contents, history: rows[0]}
}

export interface EventShow {
  event: EventRow
  /** The enforcements (rule matches) this event created. */
  enforcements: EnforcementRow[]
}

export async function getEvent(q: Queryable, id: number): Promise<EventRow | undefined> {
  return (await q.query<EventRow>('SELECT * FROM attune.event WHERE id = $1', [id])).rows[0]
}

/** A stored event, or an `AbortError` (exit 2) naming the id. */
export async function requireEvent(q: Queryable, id: number): Promise<EventRow> {
  const event = await getEvent(q, id)
  if (!event) throw unknownId('event', id)
  return event
}

export async function showEvent(q: Queryable, id: number): Promise<EventShow> {
  const event = await requireEvent(q, id)
  const {rows} = await q.query<EnforcementRow>('SELECT * FROM attune.enforcement WHERE event = $1 ORDER BY id', [id])
  return {event, enforcements: rows}
}

export interface EnforcementShow {
  enforcement: EnforcementRow
  /** Its rule as registered now (null: removed since; `enforcement.rule_ref` keeps the name). */
  rule: RuleSummary | null
  /** The event that matched (null: none recorded, or removed). */
  event: EventRow | null
}

export async function showEnforcement(q: Queryable, id: number): Promise<EnforcementShow> {
  const enforcement = (await q.query<EnforcementRow>('SELECT * FROM attune.enforcement WHERE id = $1', [id])).rows[0]
  if (!enforcement) throw unknownId('enforcement', id)
  const rule = enforcement.rule === null ? undefined : (await q.query<RuleRow>('SELECT * FROM attune.rule WHERE id = $1', [enforcement.rule])).rows[0]
  const event = enforcement.event === null ? undefined : await getEvent(q, Number(enforcement.event))
  return {enforcement, rule: rule ? ruleSummary(rule) : null, event: event ?? null}
}

/** What `attune sensor|rule enable|disable` did. */
export interface EnabledChange {
  kind: 'sensor' | 'rule'
  ref: string
  enabled: boolean
  /** False: it already was in that state (nothing was written). */
  changed: boolean
  note?: string
  /** Rule lifecycle messages written to the outbox (rules only). */
  rule_messages?: number
}

/**
 * Enables or disables a sensor or a rule. Idempotent: one already in that state is left as it
 * is, with a note. A running daemon needs no signal: its reconciler reads the enabled sensors
 * and rules every tick. A rule's change is announced (`RuleEnabled`/`RuleDisabled`) through
 * the outbox in the same transaction, as registration announces it.
 */
export async function setEnabled(store: Store, kind: 'sensor' | 'rule', ref: string, enabled: boolean): Promise<EnabledChange> {
  return store.transaction(async (tx) => {
    const {rows} = await tx.query<RuleRow>(`SELECT * FROM attune."${kind}" WHERE ref = $1 FOR UPDATE`, [ref])
    const row = rows[0]
    if (!row) throw await unknownRef(tx, kind, ref)
    const state = enabled ? 'enabled' : 'disabled'
    if (row.enabled === enabled) return {kind, ref, enabled, changed: false, note: `${kind} ${ref} is already ${state}`}
    await tx.query(`UPDATE attune."${kind}" SET enabled = $2 WHERE id = $1`, [row.id, enabled])
    const change: EnabledChange = {kind, ref, enabled, changed: true}
    if (kind === 'rule') {
      change.rule_messages = await publishRuleLifecycle(tx, [
        {kind: state, rule: {id: row.id, ref: row.ref, trigger_ref: row.trigger_ref, trigger_params: row.trigger_params, action_ref: row.action_ref, enabled}},
      ])
    }
    return change
  })
}

/** An event or enforcement id as typed: a positive integer, else an `AbortError` (exit 2). */
export function parseId(text: string, kind: 'event' | 'enforcement'): number {
  const id = /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN
  if (!Number.isSafeInteger(id) || id < 1) {
    throw new AbortError(`${kind} id must be a positive integer, got ${JSON.stringify(text)}`, {code: 'bad_input', hint: `See the ids with \`attune ${kind} list\`.`})
  }
  return id
}
