import {formatDuration} from '../time.js'
import type {Queryable} from './types.js'

// Row shapes of Attune's tables (migrations/001_attune_platform.sql), as both backends return
// them, plus what attune keeps beside them in schema attune_sensor.
type Json = unknown

export interface PackRow {
  id: number
  ref: string
  label: string
  description: string | null
  version: string
  conf_schema: Json
  config: Json
  meta: Json
  tags: string[]
  runtime_deps: string[]
  dependencies: string[]
  is_standard: boolean
  /** The folder the pack was registered from: sensor entry points are resolved in its `sensors/`. */
  storage_path: string | null
  created: Date
  updated: Date
}

export interface RuntimeRow {
  id: number
  ref: string
  pack: number | null
  pack_ref: string | null
  name: string
  description: string | null
  aliases: string[]
  distributions: Record<string, Json>
  installation: Json
  execution_config: Json
  auto_detected: boolean
  detection_config: Json
  created: Date
  updated: Date
}

export interface TriggerRow {
  id: number
  ref: string
  pack: number | null
  pack_ref: string | null
  label: string
  description: string | null
  enabled: boolean
  is_adhoc: boolean
  param_schema: Record<string, Json> | null
  out_schema: Record<string, Json> | null
  webhook_enabled: boolean
  webhook_key: string | null
  webhook_config: Json
  /** The sensor that serves this trigger (Attune's link). */
  sensor: number | null
  sensor_ref: string | null
  created: Date
  updated: Date
  /** attune's event deduplication (`attune_sensor.trigger_settings`), null when it has none. */
  dedup: {key: string; window: string; window_ms: number} | null
}

export type SensorExecution = 'poll' | 'persistent' | 'long_running'

/**
 * A sensor as attune runs it: Attune's `sensor` row, its runtime's name and aliases, the
 * triggers it serves (Attune's `trigger.sensor`), its pack's folder, and attune's settings
 * (`attune_sensor.sensor_settings`). A sensor without settings (registered by Attune's API
 * or loader) is long-running, as Attune runs every sensor.
 */
export interface SensorRow {
  id: number
  ref: string
  pack: number | null
  pack_ref: string | null
  label: string
  description: string | null
  /** As Attune stores it: the file name inside the pack's `sensors/` folder (or an absolute path). */
  entrypoint: string
  runtime: number
  runtime_ref: string
  runtime_name: string
  runtime_aliases: string[]
  /** The runtime's `execution_config.interpreter.binary` (Attune's runtimes name their interpreter). */
  runtime_interpreter: string | null
  enabled: boolean
  param_schema: Record<string, Json> | null
  config: Record<string, Json> | null
  /** `storage_path` of the sensor's pack. */
  pack_path: string | null
  /** The triggers this sensor serves, the one its file lists first first. */
  trigger_types: string[]
  /** The first of `trigger_types` (null: the sensor serves no trigger). */
  trigger: number | null
  trigger_ref: string
  poll_interval: number | null
  execution: SensorExecution
  env: Record<string, string> | null
  /** Whether attune's settings row exists (false: registered by Attune, run long-running). */
  has_settings: boolean
  created: Date
  updated: Date
}

export interface ActionRow {
  id: number
  ref: string
  pack: number
  pack_ref: string
  label: string
  description: string | null
  entrypoint: string
  runtime: number | null
  param_schema: Record<string, Json> | null
  out_schema: Record<string, Json> | null
  created: Date
  updated: Date
}

export interface RuleRow {
  id: number
  ref: string
  pack: number
  pack_ref: string
  label: string
  description: string | null
  action: number | null
  action_ref: string
  trigger: number | null
  trigger_ref: string
  /** Attune's forms: a list of {field, operator, value}, {expression}, or attune's condition tree. */
  conditions: Json
  action_params: Record<string, Json> | null
  trigger_params: Record<string, Json> | null
  enabled: boolean
  created: Date
  updated: Date
}

export interface EventRow {
  id: number
  trigger: number | null
  trigger_ref: string
  config: Json
  payload: Json
  source: number | null
  source_ref: string | null
  created: Date
  rule: number | null
  rule_ref: string | null
}

export type EnforcementStatus = 'created' | 'processed' | 'disabled'

export interface EnforcementRow {
  id: number
  rule: number | null
  rule_ref: string
  trigger_ref: string
  /** The rule's action_params rendered against the event. */
  config: Json
  event: number | null
  status: EnforcementStatus
  payload: Json
  condition: 'all' | 'any'
  conditions: Json
  created: Date
  resolved_at: Date | null
}

/**
 * The SELECT behind every SensorRow. A sensor attune registered serves the triggers its file
 * lists (several sensors may emit one trigger); one registered by Attune serves the triggers
 * linked to it (`trigger.sensor`, one sensor per trigger in Attune's model).
 */
export const SENSOR_SELECT = `
  SELECT s.id, s.ref, s.pack, s.pack_ref, s.label, s.description, s.entrypoint, s.runtime, s.runtime_ref,
         r.name AS runtime_name, r.aliases AS runtime_aliases, r.execution_config->'interpreter'->>'binary' AS runtime_interpreter,
         s.enabled, s.param_schema, s.config,
         p.storage_path AS pack_path,
         COALESCE(t.refs, '{}'::text[]) AS trigger_types,
         (SELECT x.id FROM attune.trigger x WHERE x.ref = t.refs[1]) AS trigger, COALESCE(t.refs[1], '') AS trigger_ref,
         st.poll_interval, COALESCE(st.execution, 'long_running') AS execution, st.env,
         (st.sensor IS NOT NULL) AS has_settings, s.created,
         -- the settings (env, execution, interval) are part of the definition: a change there is a new version
         GREATEST(s.updated, st.updated) AS updated
    FROM attune.sensor s
    JOIN attune.runtime r ON r.id = s.runtime
    LEFT JOIN attune.pack p ON p.id = s.pack
    LEFT JOIN attune_sensor.sensor_settings st ON st.sensor = s.id
    LEFT JOIN LATERAL (
      SELECT CASE WHEN cardinality(st.trigger_types) > 0 THEN st.trigger_types
                  ELSE (SELECT array_agg(x.ref::text ORDER BY x.id) FROM attune.trigger x WHERE x.sensor = s.id) END AS refs
    ) t ON true`

export interface PackSummaryRow extends PackRow {
  runtimes: number
  triggers: number
  sensors: number
  actions: number
  rules: number
}

/** Builds `WHERE a = $1 AND b = $2` from the filters that are set. */
function where(filters: Array<[string, unknown]>): {clause: string; params: unknown[]} {
  const params: unknown[] = []
  const parts: string[] = []
  for (const [condition, value] of filters) {
    if (value === undefined) continue
    params.push(value)
    parts.push(condition.replace('?', `$${params.length}`))
  }
  return {clause: parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : '', params}
}

export async function listPacks(q: Queryable): Promise<PackSummaryRow[]> {
  const {rows} = await q.query<PackSummaryRow>(`
    SELECT p.*,
      (SELECT count(*) FROM attune.runtime x WHERE x.pack = p.id) AS runtimes,
      (SELECT count(*) FROM attune.trigger x WHERE x.pack = p.id) AS triggers,
      (SELECT count(*) FROM attune.sensor x WHERE x.pack = p.id) AS sensors,
      (SELECT count(*) FROM attune.action x WHERE x.pack = p.id) AS actions,
      (SELECT count(*) FROM attune.rule x WHERE x.pack = p.id) AS rules
    FROM attune.pack p ORDER BY p.ref`)
  return rows
}

export async function listRuntimes(q: Queryable, filter: {pack?: string} = {}): Promise<RuntimeRow[]> {
  const {clause, params} = where([['pack_ref = ?', filter.pack]])
  return (await q.query<RuntimeRow>(`SELECT * FROM attune.runtime ${clause} ORDER BY ref`, params)).rows
}

/** A trigger row with attune's settings of it (`TriggerRow.dedup`). */
const TRIGGER_SELECT = `SELECT t.*, CASE WHEN ts.dedup_key IS NULL THEN NULL
         ELSE jsonb_build_object('key', ts.dedup_key, 'window_ms', ts.dedup_window_ms) END AS dedup
    FROM attune.trigger t LEFT JOIN attune_sensor.trigger_settings ts ON ts.trigger = t.id`

function withDedupView(row: TriggerRow): TriggerRow {
  if (!row.dedup) return row
  const windowMs = Number(row.dedup.window_ms)
  return {...row, dedup: {key: row.dedup.key, window: formatDuration(windowMs), window_ms: windowMs}}
}

export async function listTriggers(q: Queryable, filter: {pack?: string} = {}): Promise<TriggerRow[]> {
  const {clause, params} = where([['t.pack_ref = ?', filter.pack]])
  return (await q.query<TriggerRow>(`${TRIGGER_SELECT} ${clause} ORDER BY t.ref`, params)).rows.map(withDedupView)
}

export async function listSensors(q: Queryable, filter: {pack?: string; enabled?: boolean} = {}): Promise<SensorRow[]> {
  const {clause, params} = where([
    ['s.pack_ref = ?', filter.pack],
    ['s.enabled = ?', filter.enabled],
  ])
  return (await q.query<SensorRow>(`${SENSOR_SELECT} ${clause} ORDER BY s.ref`, params)).rows
}

export async function listActions(q: Queryable, filter: {pack?: string} = {}): Promise<ActionRow[]> {
  const {clause, params} = where([['pack_ref = ?', filter.pack]])
  return (await q.query<ActionRow>(`SELECT * FROM attune.action ${clause} ORDER BY ref`, params)).rows
}

export async function listRules(
  q: Queryable,
  filter: {pack?: string; trigger?: string; enabled?: boolean} = {},
): Promise<RuleRow[]> {
  const {clause, params} = where([
    ['pack_ref = ?', filter.pack],
    ['trigger_ref = ?', filter.trigger],
    ['enabled = ?', filter.enabled],
  ])
  return (await q.query<RuleRow>(`SELECT * FROM attune.rule ${clause} ORDER BY ref`, params)).rows
}

export async function getSensor(q: Queryable, ref: string): Promise<SensorRow | undefined> {
  return (await q.query<SensorRow>(`${SENSOR_SELECT} WHERE s.ref = $1`, [ref])).rows[0]
}

export async function getTrigger(q: Queryable, ref: string): Promise<TriggerRow | undefined> {
  const row = (await q.query<TriggerRow>(`${TRIGGER_SELECT} WHERE t.ref = $1`, [ref])).rows[0]
  return row && withDedupView(row)
}

export async function getRule(q: Queryable, ref: string): Promise<RuleRow | undefined> {
  return (await q.query<RuleRow>('SELECT * FROM attune.rule WHERE ref = $1', [ref])).rows[0]
}

/** The daemon's sensor list (served by Attune's partial index on enabled sensors). */
export async function listEnabledSensors(q: Queryable): Promise<SensorRow[]> {
  return (await q.query<SensorRow>(`${SENSOR_SELECT} WHERE s.enabled ORDER BY s.created, s.id`)).rows
}

/** The rules an event of `triggerRef` is matched against. */
export async function enabledRulesForTrigger(q: Queryable, triggerRef: string): Promise<RuleRow[]> {
  return (
    await q.query<RuleRow>('SELECT * FROM attune.rule WHERE trigger_ref = $1 AND enabled ORDER BY created, id', [
      triggerRef,
    ])
  ).rows
}

/** Rows of an append-only table, newest first, with equality filters, a `since` and a limit. */
async function newest<T>(q: Queryable, table: 'event' | 'enforcement', filters: Array<[string, unknown]>, since?: Date, limit = 50): Promise<T[]> {
  const {clause, params} = where([...filters, ['created >= ?', since]])
  params.push(limit)
  return (await q.query<T>(`SELECT * FROM attune.${table} ${clause} ORDER BY created DESC, id DESC LIMIT $${params.length}`, params)).rows
}

/** Newest first. `since` is a point in time (a command turns `--since 1h` into one). */
export function listEvents(q: Queryable, filter: {trigger?: string; since?: Date; limit?: number} = {}): Promise<EventRow[]> {
  return newest<EventRow>(q, 'event', [['trigger_ref = ?', filter.trigger]], filter.since, filter.limit)
}

/** Newest first. */
export function listEnforcements(q: Queryable, filter: {rule?: string; since?: Date; limit?: number} = {}): Promise<EnforcementRow[]> {
  return newest<EnforcementRow>(q, 'enforcement', [['rule_ref = ?', filter.rule]], filter.since, filter.limit)
}
