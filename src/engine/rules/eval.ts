/**
 * `attune rule eval`: evaluate the rules of a file against one event payload and explain
 * every decision. Commands only render what this returns.
 */
import {AbortError} from '../errors.js'
import {explain} from './evaluate.js'
import {loadRuleFile} from './parse.js'
import type {GroupTrace, LoadedRule} from './types.js'

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
}

export interface RuleEvalOptions {
  /** Only the rule with this ref (a file may hold several rules). */
  ref?: string
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
    const {matched, trace} = explain(compiled, payload)
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
