/**
 * Types of the rule compiler. Everything a rule turns into on its way from a YAML file to a
 * match decision: the normalised rule (what the database stores), its condition tree, the
 * compiled form, and the trace that explains a decision.
 */

/** Any value JSON can carry: what payloads, operands and parameters are made of. */
export type JsonValue = string | number | boolean | null | JsonValue[] | {[key: string]: JsonValue}

/** A JSON object. */
export type JsonObject = {[key: string]: JsonValue}

/**
 * Canonical operator names. StackStorm names are aliases that resolve to these (see
 * `operators.ts`); `matchwildcard` has no Attune counterpart and keeps its name.
 */
export type OperatorName =
  | 'equals'
  | 'not_equals'
  | 'iequals'
  | 'contains'
  | 'not_contains'
  | 'icontains'
  | 'starts_with'
  | 'ends_with'
  | 'greater_than'
  | 'less_than'
  | 'greater_or_equal'
  | 'less_or_equal'
  | 'in'
  | 'not_in'
  | 'matches'
  | 'matchwildcard'
  | 'exists'
  | 'not_exists'

/**
 * One comparison. `field` is canonical: `payload` followed by the path inside the payload
 * (`payload.items.0.name`). `value` is absent for `exists` / `not_exists`.
 */
export interface ConditionLeaf {
  field: string
  operator: OperatorName
  value?: JsonValue
}

/** `all` (every child true; empty is true) or `any` (some child true; empty is false). */
export type ConditionGroup = {all: ConditionNode[]} | {any: ConditionNode[]}

/**
 * A condition in Attune's expression language, as Attune writes it:
 * `{expression: "{{ event.payload.count > 2 }}"}`. The text is kept as written (the `{{ }}` are
 * optional); it is true when the value is truthy, false on any evaluation error.
 */
export interface ConditionExpression {
  expression: string
}

export type ConditionNode = ConditionLeaf | ConditionGroup | ConditionExpression

/**
 * A rule in its one normalised form (snake_case, as stored in the `rule` table).
 * `conditions` is always a group at the root; `{all: []}` matches every event.
 */
export interface RuleDefinition {
  ref: string
  pack_ref: string
  label: string
  description: string | null
  trigger_ref: string
  trigger_params: JsonObject
  conditions: ConditionGroup
  action_ref: string
  action_params: JsonObject
  enabled: boolean
}

/** Why one comparison came out as it did. `actual` is absent when the field is missing. */
export interface LeafTrace {
  field: string
  operator: OperatorName
  expected?: JsonValue
  actual?: unknown
  result: boolean
  reason: string
}

export interface GroupTrace {
  group: 'all' | 'any'
  result: boolean
  children: TraceNode[]
}

/**
 * Why an expression came out as it did: its value (absent when evaluation failed) and the
 * reason (`value 3 is truthy`, or the error, which makes it false).
 */
export interface ExpressionTrace {
  expression: string
  value?: unknown
  result: boolean
  reason: string
  /** Set when the expression could not be evaluated (unknown variable or field, type error...). */
  error?: string
}

export type TraceNode = LeafTrace | GroupTrace | ExpressionTrace

/** The answer of `explain()`. */
export interface Explanation {
  matched: boolean
  trace: GroupTrace
}

/**
 * What is known of an event besides its payload, for expressions (their `event` variable).
 * Anything left out is filled in: id null, the rule's trigger, created now.
 */
export interface EventInfo {
  id?: number | string | null
  trigger_ref?: string | null
  /** RFC 3339 text (used as given) or a time. */
  created?: string | Date
}

/**
 * A condition tree compiled into closures; built once, evaluated per event. Only expression
 * conditions read `event`; field conditions see the payload alone.
 */
export interface CompiledCondition {
  /** Fast path: no allocation beyond what the operator itself needs. */
  readonly test: (payload: unknown, event?: EventInfo) => boolean
  /** Slow path: evaluates every child (no short-circuit) so the trace is complete. */
  readonly explain: (payload: unknown, event?: EventInfo) => TraceNode
}

/** A compiled group: the root of every compiled rule. */
export interface CompiledGroup extends CompiledCondition {
  readonly explain: (payload: unknown, event?: EventInfo) => GroupTrace
}

/** A normalised rule and its compiled conditions. */
export interface CompiledRule {
  readonly rule: RuleDefinition
  readonly conditions: CompiledGroup
}

/** Where a rule came from, for messages. */
export interface RuleSource {
  file: string
  /** 1-based line of the rule's YAML document. */
  line: number
  /** 0-based index of the document in the file (empty documents count). */
  document: number
}

/** A rule read from a file: normalised, compiled, and the non-fatal remarks made on the way. */
export interface LoadedRule {
  rule: RuleDefinition
  compiled: CompiledRule
  source: RuleSource
  warnings: string[]
}
