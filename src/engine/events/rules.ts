/**
 * The enabled rules of each trigger, compiled once and kept until they change. Every lookup
 * asks the database which enabled rules a trigger has and at which row version (`xmin`, which
 * changes with every update), in one small query; only new or changed rules are fetched and
 * compiled again. So a rule edited, enabled, disabled or deleted by any process (another
 * daemon, `attune pack register`) is seen by the next batch, with no message needed.
 */
import {compileStoredRule} from '../rules/eval.js'
import type {CompiledRule, ConditionGroup, ConditionNode, EventInfo, GroupTrace} from '../rules/index.js'
import {errorMessage} from '../errors.js'
import type {RuleRow} from '../store/queries.js'
import type {Queryable} from '../store/types.js'

/** A rule ready to match: its row's identity and its compiled conditions. */
export interface ActiveRule {
  id: number
  ref: string
  label: string
  trigger_ref: string
  action_ref: string
  /** The row version this was compiled from. */
  version: string
  /** Root group kind (Attune's enforcement_condition_enum). */
  condition: 'all' | 'any'
  conditions: ConditionNode[]
  /** The rule's conditions as stored (copied into `enforcement.conditions`, as Attune does). */
  stored_conditions: unknown
  /** What `enforcement.config` is rendered from, with the pack and action it needs. */
  action_params: unknown
  pack: {id: number; ref: string; config: unknown; conf_schema: unknown} | null
  action: {id: number; param_schema: unknown} | null
  compiled: CompiledRule
  /** `event`: what is known of the event besides its payload (for expression conditions). */
  test(payload: unknown, event?: EventInfo): boolean
  explain(payload: unknown, event?: EventInfo): {matched: boolean; trace: GroupTrace}
}

export interface RuleLoad {
  /** Enabled rules per trigger ref, in creation order (every asked ref has an entry). */
  byTrigger: Map<string, ActiveRule[]>
  /** Rules that could not be compiled (edited in the database by hand): skipped, named here. */
  warnings: string[]
}

/** Turns a stored rule row into a compiled rule; throws an `AbortError` naming the rule. */
export type RuleContextRow = RuleRow & {
  pack_config?: unknown
  pack_conf_schema?: unknown
  action_param_schema?: unknown
  action_exists?: boolean
}

export function activateRule(row: RuleContextRow, version = ''): ActiveRule {
  const compiled = compileStoredRule(row)
  const group: ConditionGroup = compiled.rule.conditions
  const {conditions} = compiled
  return {
    id: row.id,
    ref: row.ref,
    label: row.label,
    trigger_ref: row.trigger_ref,
    action_ref: row.action_ref,
    version,
    condition: 'all' in group ? 'all' : 'any',
    conditions: 'all' in group ? group.all : group.any,
    stored_conditions: row.conditions ?? [],
    action_params: row.action_params ?? {},
    pack: row.pack === null || row.pack === undefined ? null : {id: row.pack, ref: row.pack_ref, config: row.pack_config ?? {}, conf_schema: row.pack_conf_schema ?? {}},
    action: row.action_exists && row.action !== null ? {id: row.action, param_schema: row.action_param_schema ?? null} : null,
    compiled,
    test: conditions.test,
    explain(payload, event) {
      const trace = conditions.explain(payload, event)
      return {matched: trace.result, trace}
    },
  }
}

export class RuleCache {
  private readonly rules = new Map<number, ActiveRule>()
  private readonly broken = new Map<number, {version: string; warning: string}>()
  /** How many rules were compiled so far (tests and metrics: a warm cache compiles none). */
  compilations = 0

  /** Forgets everything: the next lookup compiles afresh. */
  invalidate(): void {
    this.rules.clear()
    this.broken.clear()
  }

  /** The enabled rules of the given triggers, as of now in `q` (a transaction sees its own view). */
  async load(q: Queryable, triggerRefs: Iterable<string>): Promise<RuleLoad> {
    const refs = [...new Set(triggerRefs)]
    const byTrigger = new Map<string, ActiveRule[]>(refs.map((ref) => [ref, []]))
    const warnings: string[] = []
    if (refs.length === 0) return {byTrigger, warnings}
    // The version covers the rule, its pack (config) and its action (parameter schema).
    const {rows: current} = await q.query<{id: number; trigger_ref: string; version: string}>(
      `SELECT r.id, r.trigger_ref, r.xmin::text || ':' || COALESCE(p.xmin::text, '') || ':' || COALESCE(a.xmin::text, '') AS version
         FROM attune.rule r LEFT JOIN attune.pack p ON p.id = r.pack LEFT JOIN attune.action a ON a.id = r.action
        WHERE r.enabled AND r.trigger_ref = ANY($1::text[]) ORDER BY r.created, r.id`,
      [refs],
    )
    const stale = current.filter((r) => this.rules.get(r.id)?.version !== r.version && this.broken.get(r.id)?.version !== r.version)
    if (stale.length > 0) {
      const {rows} = await q.query<RuleContextRow & {version: string}>(
        `SELECT r.*, r.xmin::text || ':' || COALESCE(p.xmin::text, '') || ':' || COALESCE(a.xmin::text, '') AS version,
                p.config AS pack_config, p.conf_schema AS pack_conf_schema, a.param_schema AS action_param_schema, (a.id IS NOT NULL) AS action_exists
           FROM attune.rule r LEFT JOIN attune.pack p ON p.id = r.pack LEFT JOIN attune.action a ON a.id = r.action
          WHERE r.id = ANY($1::bigint[])`,
        [stale.map((r) => r.id)],
      )
      for (const row of rows) {
        this.rules.delete(row.id)
        this.broken.delete(row.id)
        try {
          this.rules.set(row.id, activateRule(row, row.version))
          this.compilations++
        } catch (error) {
          this.broken.set(row.id, {version: row.version, warning: `rule ${row.ref} skipped: ${errorMessage(error)}`})
        }
      }
    }
    for (const {id, trigger_ref: triggerRef, version} of current) {
      const rule = this.rules.get(id)
      if (rule && rule.version === version) byTrigger.get(triggerRef)?.push(rule)
      else {
        const broken = this.broken.get(id)
        if (broken) warnings.push(broken.warning)
      }
    }
    // Rules that are gone or disabled leave the cache, so it never outgrows the table.
    const live = new Set(current.map((r) => r.id))
    for (const [id, rule] of this.rules) if (!live.has(id) && byTrigger.has(rule.trigger_ref)) this.rules.delete(id)
    return {byTrigger, warnings}
  }
}
