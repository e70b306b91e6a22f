import type {Queryable} from './types.js'

// Row shapes of the attune schema (migrations/001_initial.sql), as both backends return them.
type Json = unknown

export interface PackRow {
  id: number
  ref: string
  label: string
  description: string | null
  version: string | null
  conf_schema: Json
  config: Json
  meta: Json
  tags: string[]
  runtime_deps: string[]
  is_standard: boolean
  enabled: boolean
  path: string | null
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
  runtime_type: string | null
  aliases: string[]
  distributions: Record<string, Json>
  installation: Json
  execution_config: Json
  versions: Json
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
  param_schema: Record<string, Json> | null
  out_schema: Record<string, Json> | null
  created: Date
  updated: Date
}

export interface SensorRow {
  id: number
  ref: string
  pack: number | null
  pack_ref: string | null
  label: string
  description: string | null
  entrypoint: string
  runtime: number | null
  runtime_ref: string
  trigger: number | null
  trigger_ref: string
  trigger_types: string[]
  enabled: boolean
  param_schema: Record<string, Json> | null
  config: Record<string, Json> | null
  poll_interval: number | null
  execution: 'poll' | 'persistent' | 'long_running'
  env: Record<string, string> | null
  created: Date
  updated: Date
}

export interface RuleRow {
  id: number
  ref: string
  pack: number | null
  pack_ref: string | null
  label: string
  description: string | null
  action: number | null
  action_ref: string
  trigger: number | null
  trigger_ref: string
  conditions: Json
  action_params: Record<string, Json>
  trigger_params: Record<string, Json>
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
  updated: Date
}

export interface EnforcementRow {
  id: number
  rule: number | null
  rule_ref: string
  trigger_ref: string
  event: number | null
  status: string
  payload: Json
  condition: 'all' | 'any'
  conditions: Json
  created: Date
  updated: Date
}

export interface PackSummaryRow extends PackRow {
  runtimes: number
  triggers: number
  sensors: number
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
      (SELECT count(*) FROM attune.rule x WHERE x.pack = p.id) AS rules
    FROM attune.pack p ORDER BY p.ref`)
  return rows
}

export async function listRuntimes(q: Queryable, filter: {pack?: string} = {}): Promise<RuntimeRow[]> {
  const {clause, params} = where([['pack_ref = ?', filter.pack]])
  return (await q.query<RuntimeRow>(`SELECT * FROM attune.runtime ${clause} ORDER BY ref`, params)).rows
}

export async function listTriggers(q: Queryable, filter: {pack?: string} = {}): Promise<TriggerRow[]> {
  const {clause, params} = where([['pack_ref = ?', filter.pack]])
  return (await q.query<TriggerRow>(`SELECT * FROM attune.trigger ${clause} ORDER BY ref`, params)).rows
}

export async function listSensors(q: Queryable, filter: {pack?: string; enabled?: boolean} = {}): Promise<SensorRow[]> {
  const {clause, params} = where([
    ['pack_ref = ?', filter.pack],
    ['enabled = ?', filter.enabled],
  ])
  return (await q.query<SensorRow>(`SELECT * FROM attune.sensor ${clause} ORDER BY ref`, params)).rows
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
  return (await q.query<SensorRow>('SELECT * FROM attune.sensor WHERE ref = $1', [ref])).rows[0]
}

export async function getTrigger(q: Queryable, ref: string): Promise<TriggerRow | undefined> {
  return (await q.query<TriggerRow>('SELECT * FROM attune.trigger WHERE ref = $1', [ref])).rows[0]
}

export async function getRule(q: Queryable, ref: string): Promise<RuleRow | undefined> {
  return (await q.query<RuleRow>('SELECT * FROM attune.rule WHERE ref = $1', [ref])).rows[0]
}

/** The daemon's sensor list (served by the partial index on enabled sensors). */
export async function listEnabledSensors(q: Queryable): Promise<SensorRow[]> {
  return (await q.query<SensorRow>('SELECT * FROM attune.sensor WHERE enabled ORDER BY created, id')).rows
}

/** The rules an event of `triggerRef` is matched against (partial index on enabled rules). */
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
