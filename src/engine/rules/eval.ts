/**
 * `attune rule eval`: evaluate rules against one event payload and explain every decision:
 * the rules of a file, one registered rule, or every enabled rule of a registered trigger.
 * Commands only render what this returns.
 */
import {AbortError} from '../errors.js'
import {enabledRulesForTrigger, getRule, getTrigger} from '../store/queries.js'
import type {Queryable} from '../store/types.js'
import {compileRule, type CompileOptions} from './compile.js'
import {normaliseConditions} from './conditions.js'
import {explain} from './evaluate.js'
import {plainLocator} from './location.js'
import {loadRuleFile} from './parse.js'
import type {CompiledRule, EventInfo, GroupTrace, JsonObject, LoadedRule, RuleDefinition} from './types.js'

/** One rule's decision on the payload. */
export interface RuleEvaluation {
  ref: string
  label: string
  file: string
  line: number
  enabled: boolean
  trigger_ref: string
  action_ref: string
  matched: boolean
  trace: GroupTrace
}

/** The `--json` document of `attune rule eval`. */
export interface RuleEvalResult {
  /** True if at least one evaluated rule matched. */
  matched: boolean
  rules: RuleEvaluation[]
  /** Non-fatal remarks on the rule file (unknown fields). */
  warnings: string[]
  /** Set for `--event-id`: the stored event that was evaluated. */
  event?: EvaluatedEvent
}

/** The stored event `rule eval --event-id` evaluated. */
export interface EvaluatedEvent {
  id: number
  trigger_ref: string
  payload: unknown
}

export interface RuleEvalOptions {
  /** Only the rule with this ref (a file may hold several rules). */
  ref?: string
  /** What is known of the event besides its payload, for expression conditions. */
  event?: EventInfo
}

/**
 * Evaluate loaded rules. Disabled rules are evaluated too (this is for authoring) and
 * reported as disabled.
 */
export function evaluateRules(loaded: LoadedRule[], payload: unknown, options: RuleEvalOptions = {}): RuleEvalResult {
  const selected = options.ref === undefined ? loaded : loaded.filter((r) => r.rule.ref === options.ref)
  if (options.ref !== undefined && selected.length === 0) {
    const refs = loaded.map((r) => r.rule.ref)
    throw new AbortError(`no rule ${JSON.stringify(options.ref)} in ${loaded[0]?.source.file ?? 'the rule file'}`, {
      code: 'rule_not_found',
      hint: refs.length > 0 ? `Rules in the file: ${refs.join(', ')}` : undefined,
    })
  }
  const rules = selected.map(({rule, compiled, source}): RuleEvaluation => {
    const {matched, trace} = explain(compiled, payload, options.event)
    return {
      ref: rule.ref,
      label: rule.label,
      file: source.file,
      line: source.line,
      enabled: rule.enabled,
      trigger_ref: rule.trigger_ref,
      action_ref: rule.action_ref,
      matched,
      trace,
    }
  })
  return {matched: rules.some((r) => r.matched), rules, warnings: selected.flatMap((r) => r.warnings)}
}

/** Load a rule file (every rule in it, or `options.ref`) and evaluate it against the payload. */
export function evaluateRuleFile(path: string, payload: unknown, options: RuleEvalOptions = {}): RuleEvalResult {
  const loaded = loadRuleFile(path)
  if (loaded.length === 0) throw new AbortError(`no rule in ${path} (the file holds no YAML document with a rule)`, {code: 'rule_invalid'})
  return evaluateRules(loaded, payload, options)
}

/** The columns of a `rule` row that evaluation needs. */
export interface StoredRuleRow {
  id: number
  ref: string
  pack_ref: string | null
  label: string
  description: string | null
  enabled: boolean
  trigger_ref: string
  action_ref: string
  conditions: unknown
  trigger_params: unknown
  action_params: unknown
}

/** A registered rule's decision on the payload. */
export interface StoredRuleEvaluation {
  id: number
  ref: string
  label: string
  source: 'database'
  enabled: boolean
  trigger_ref: string
  action_ref: string
  matched: boolean
  trace: GroupTrace
}

/** The `--json` document of `attune rule eval REF` and `attune rule eval --trigger REF`. */
export interface StoredRuleEvalResult {
  matched: boolean
  /** Set for `--trigger`: the trigger whose enabled rules were evaluated. */
  trigger_ref?: string
  rules: StoredRuleEvaluation[]
  /** Rules that were skipped (they no longer compile), as the daemon skips them. */
  warnings: string[]
  /** Set for `--event-id`: the stored event that was evaluated. */
  event?: EvaluatedEvent
}

/**
 * A stored rule as the compiler's normalised definition. Conditions are normalised again, so a
 * row written by hand in the Attune list form (`[{field, operator, value}]`) works too.
 * Throws an `AbortError` naming the rule when they do not.
 */
export function ruleDefinitionFromRow(row: StoredRuleRow): RuleDefinition {
  const locate = plainLocator(`rule ${row.ref}`)
  return {
    ref: row.ref,
    pack_ref: row.pack_ref ?? row.ref.split('.')[0],
    label: row.label,
    description: row.description,
    trigger_ref: row.trigger_ref,
    trigger_params: (isObject(row.trigger_params) ? row.trigger_params : {}) as JsonObject,
    conditions: normaliseConditions(row.conditions, ['conditions'], {locate}),
    action_ref: row.action_ref,
    action_params: (isObject(row.action_params) ? row.action_params : {}) as JsonObject,
    enabled: row.enabled,
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** Compiles a stored rule exactly as the event pipeline does. */
export function compileStoredRule(row: StoredRuleRow, options: CompileOptions = {}): CompiledRule {
  return compileRule(ruleDefinitionFromRow(row), {locate: (_node, position) => `rule ${row.ref}: ${position}`, ...options})
}

function evaluateStored(row: StoredRuleRow, compiled: CompiledRule, payload: unknown, event?: EventInfo): StoredRuleEvaluation {
  const {matched, trace} = explain(compiled, payload, event)
  return {
    id: row.id,
    ref: row.ref,
    label: row.label,
    source: 'database',
    enabled: row.enabled,
    trigger_ref: row.trigger_ref,
    action_ref: row.action_ref,
    matched,
    trace,
  }
}

/** `attune rule eval REF`: one registered rule (enabled or not) against the payload. */
export async function evaluateRegisteredRule(q: Queryable, ref: string, payload: unknown, event?: EventInfo): Promise<StoredRuleEvalResult> {
  const row = await getRule(q, ref)
  if (!row) {
    throw new AbortError(`no rule ${JSON.stringify(ref)} is registered (and there is no file of that name)`, {
      code: 'rule_not_found',
      hint: 'List the registered rules with `attune rule list`, or pass the path of a rule file.',
    })
  }
  const evaluation = evaluateStored(row, compileStoredRule(row, {codegen: false}), payload, event)
  return {matched: evaluation.matched, rules: [evaluation], warnings: []}
}

/**
 * `attune rule eval --trigger REF`: every enabled rule of a registered trigger, as the daemon
 * would match an event of it. A rule that does not compile is skipped with a warning.
 */
export async function evaluateTriggerRules(q: Queryable, triggerRef: string, payload: unknown, event?: EventInfo): Promise<StoredRuleEvalResult> {
  if (!(await getTrigger(q, triggerRef))) {
    throw new AbortError(`no trigger ${JSON.stringify(triggerRef)} is registered`, {
      code: 'trigger_not_found',
      hint: 'List the registered triggers with `attune trigger list`.',
    })
  }
  const rules: StoredRuleEvaluation[] = []
  const warnings: string[] = []
  for (const row of await enabledRulesForTrigger(q, triggerRef)) {
    let compiled: CompiledRule
    try {
      compiled = compileStoredRule(row, {codegen: false})
    } catch (error) {
      warnings.push(`rule ${row.ref} skipped: ${(error as Error).message}`)
      continue
    }
    rules.push(evaluateStored(row, compiled, payload, event))
  }
  return {matched: rules.some((r) => r.matched), trigger_ref: triggerRef, rules, warnings}
}

/** A stored event as `rule eval --event-id` evaluates it: its payload and what expressions see of it. */
export interface StoredEventInput {
  id: number
  trigger_ref: string
  payload: unknown
  event: EventInfo
}

/**
 * The event `--event-id ID` names (st2-rule-tester's `--trigger-instance-id`), read from the
 * database; an `AbortError` (exit 2) when there is none.
 */
export async function storedEventInput(q: Queryable, id: number): Promise<StoredEventInput> {
  const {rows} = await q.query<{id: number; trigger_ref: string; payload: unknown; created: Date}>('SELECT id, trigger_ref, payload, created FROM attune.event WHERE id = $1', [id])
  const row = rows[0]
  if (!row) throw new AbortError(`No event with id ${id}`, {code: 'event_not_found', hint: 'See the newest events with `attune event list`.'})
  const payload = row.payload ?? {}
  return {id: Number(row.id), trigger_ref: row.trigger_ref, payload, event: {id: Number(row.id), trigger_ref: row.trigger_ref, created: new Date(row.created)}}
}

/** Warnings for evaluated rules that listen to another trigger than the stored event's. */
export function triggerMismatches(rules: ReadonlyArray<{ref: string; trigger_ref: string}>, event: StoredEventInput): string[] {
  return rules
    .filter((rule) => rule.trigger_ref !== event.trigger_ref)
    .map((rule) => `rule ${rule.ref} listens to ${rule.trigger_ref}, but event ${event.id} is of ${event.trigger_ref}: the daemon would not match them`)
}
