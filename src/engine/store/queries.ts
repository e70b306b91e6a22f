import {formatDuration} from '../time.js'
import {listAll, listPage, type ListSource, type Page, type PageRequest} from './list.js'
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

/** Packs with their counts of runtimes, triggers, sensors, actions and rules, by ref. */
export const PACK_LIST: ListSource<PackSummaryRow> = {
  noun: 'pack',
  select: `SELECT p.*,
      (SELECT count(*) FROM attune.runtime x WHERE x.pack = p.id) AS runtimes,
      (SELECT count(*) FROM attune.trigger x WHERE x.pack = p.id) AS triggers,
      (SELECT count(*) FROM attune.sensor x WHERE x.pack = p.id) AS sensors,
      (SELECT count(*) FROM attune.action x WHERE x.pack = p.id) AS actions,
      (SELECT count(*) FROM attune.rule x WHERE x.pack = p.id) AS rules
    FROM attune.pack p`,
  key: 'ref',
  keyType: 'text',
  descending: false,
}

export function listPacks(q: Queryable): Promise<PackSummaryRow[]> {
  return listAll(q, PACK_LIST)
}

export function pagePacks(q: Queryable, request: PageRequest): Promise<Page<PackSummaryRow>> {
  return listPage(q, PACK_LIST, [], request)
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

/** Triggers (with attune's settings of them), by ref. */
export const TRIGGER_LIST: ListSource<TriggerRow> = {noun: 'trigger', select: TRIGGER_SELECT, key: 'ref', keyType: 'text', descending: false, map: withDedupView}

export interface TriggerFilter {
  pack?: string
}

const triggerFilters = (filter: TriggerFilter): Array<[string, unknown]> => [['r.pack_ref = ?', filter.pack]]

export function listTriggers(q: Queryable, filter: TriggerFilter = {}): Promise<TriggerRow[]> {
  return listAll(q, TRIGGER_LIST, triggerFilters(filter))
}

export function pageTriggers(q: Queryable, filter: TriggerFilter, request: PageRequest): Promise<Page<TriggerRow>> {
  return listPage(q, TRIGGER_LIST, triggerFilters(filter), request)
}

/** Sensors as attune runs them, by ref. */
export const SENSOR_LIST: ListSource<SensorRow> = {noun: 'sensor', select: SENSOR_SELECT, key: 'ref', keyType: 'text', descending: false}

export interface SensorFilter {
  pack?: string
  enabled?: boolean
}

const sensorFilters = (filter: SensorFilter): Array<[string, unknown]> => [
  ['r.pack_ref = ?', filter.pack],
  ['r.enabled = ?', filter.enabled],
]

export function listSensors(q: Queryable, filter: SensorFilter = {}): Promise<SensorRow[]> {
  return listAll(q, SENSOR_LIST, sensorFilters(filter))
}

export function pageSensors(q: Queryable, filter: SensorFilter, request: PageRequest): Promise<Page<SensorRow>> {
  return listPage(q, SENSOR_LIST, sensorFilters(filter), request)
}

export async function listActions(q: Queryable, filter: {pack?: string} = {}): Promise<ActionRow[]> {
  const {clause, params} = where([['pack_ref = ?', filter.pack]])
  return (await q.query<ActionRow>(`SELECT * FROM attune.action ${clause} ORDER BY ref`, params)).rows
}

/** Rules, by ref. */
export const RULE_LIST: ListSource<RuleRow> = {noun: 'rule', select: 'SELECT * FROM attune.rule', key: 'ref', keyType: 'text', descending: false}

export interface RuleFilter {
  pack?: string
  trigger?: string
  enabled?: boolean
}

const ruleFilters = (filter: RuleFilter): Array<[string, unknown]> => [
  ['r.pack_ref = ?', filter.pack],
  ['r.trigger_ref = ?', filter.trigger],
  ['r.enabled = ?', filter.enabled],
]

export function listRules(q: Queryable, filter: RuleFilter = {}): Promise<RuleRow[]> {
  return listAll(q, RULE_LIST, ruleFilters(filter))
}

export function pageRules(q: Queryable, filter: RuleFilter, request: PageRequest): Promise<Page<RuleRow>> {
  return listPage(q, RULE_LIST, ruleFilters(filter), request)
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

/** Events, newest first (by id: the order they were stored in). */
export const EVENT_LIST: ListSource<EventRow> = {noun: 'event', select: 'SELECT * FROM attune.event', key: 'id', keyType: 'integer', descending: true}

/** Enforcements, newest first. */
export const ENFORCEMENT_LIST: ListSource<EnforcementRow> = {noun: 'enforcement', select: 'SELECT * FROM attune.enforcement', key: 'id', keyType: 'integer', descending: true}

export interface EventFilter {
  trigger?: string
  /** A point in time (a command turns `--since 1h` into one). */
  since?: Date
}

export interface EnforcementFilter {
  rule?: string
  since?: Date
}

export const eventFilters = (filter: EventFilter): Array<[string, unknown]> => [
  ['r.trigger_ref = ?', filter.trigger],
  ['r.created >= ?', filter.since],
]

export const enforcementFilters = (filter: EnforcementFilter): Array<[string, unknown]> => [
  ['r.rule_ref = ?', filter.rule],
  ['r.created >= ?', filter.since],
]

/** Newest first, at most `limit` (50). */
export function listEvents(q: Queryable, filter: EventFilter & {limit?: number} = {}): Promise<EventRow[]> {
  return listAll(q, EVENT_LIST, eventFilters(filter), filter.limit ?? 50)
}

export function pageEvents(q: Queryable, filter: EventFilter, request: PageRequest): Promise<Page<EventRow>> {
  return listPage(q, EVENT_LIST, eventFilters(filter), request)
}

/** Newest first, at most `limit` (50). */
export function listEnforcements(q: Queryable, filter: EnforcementFilter & {limit?: number} = {}): Promise<EnforcementRow[]> {
  return listAll(q, ENFORCEMENT_LIST, enforcementFilters(filter), filter.limit ?? 50)
}

export function pageEnforcements(q: Queryable, filter: EnforcementFilter, request: PageRequest): Promise<Page<EnforcementRow>> {
  return listPage(q, ENFORCEMENT_LIST, enforcementFilters(filter), request)
}
