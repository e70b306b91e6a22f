import {AbortError} from '../errors.js'
import {compileRule, normaliseRule, type DocPath} from '../rules/index.js'
import {parseTimerRule, TimerConfigError, timerKind} from '../timers/params.js'
import type {RuleDefinition} from '../rules/index.js'
import {FieldError, formatField, type FieldPath} from './errors.js'

/** A rule as the `rule` table stores it: the rules module's normalised form. */
export type NormalizedRule = RuleDefinition

export interface RuleContext {
  /** The pack the rule belongs to, when it is loaded from a pack. */
  pack_ref?: string
  /** Turns a field path into `file:line: field` for warnings; the bare field by default. */
  describe?: (path: FieldPath) => string
}

export interface NormalizedRuleResult {
  rule: NormalizedRule
  /** Non-fatal findings (unknown fields), already located. */
  warnings: string[]
}

// The rules module names places through a `locate` callback that goes into its messages.
// We hand it a marker carrying the path, then read the path back out, so a failure
// becomes a FieldError the pack loader can point at a YAML line.
const MARK = '\u0001'
const marker = (path: DocPath) => `${MARK}${JSON.stringify(path)}${MARK}`
const MARKED = new RegExp(`${MARK}([^${MARK}]*)${MARK}(?:: )?`)

function unmark(error: unknown): never {
  if (error instanceof AbortError) {
    const found = MARKED.exec(error.message)
    if (found) throw new FieldError(JSON.parse(found[1]) as FieldPath, error.message.replace(MARKED, ''))
    throw new FieldError([], error.message)
  }
  throw error
}

/**
 * Reads a rule document in either form of SPEC §5 (Attune: `ref`, `trigger`, `conditions`,
 * `action`; StackStorm: `name`, `pack`, `criteria`) into the stored form, and compiles its
 * conditions once so an unknown operator or a bad pattern fails here. The work is done by
 * the rules module (`src/engine/rules`); this adds what a pack implies: a bare `name`
 * belongs to the pack, and a rule may not claim another pack's ref.
 * Throws a `FieldError` naming the bad field.
 */
export function normalizeRuleDocument(doc: Record<string, unknown>, context: RuleContext = {}): NormalizedRuleResult {
  const packRef = context.pack_ref
  const raw = packRef && doc.ref === undefined && doc.pack === undefined ? {...doc, pack: packRef} : doc
  const sources = new WeakMap<object, DocPath>()
  let result: ReturnType<typeof normaliseRule>
  try {
    result = normaliseRule(raw, {locate: marker, sources})
    compileRule(result.rule, {codegen: false, locate: (node, position) => marker(sources.get(node) ?? [position])})
  } catch (error) {
    unmark(error)
  }
  const {rule} = result
  if (packRef && rule.pack_ref !== packRef) {
    throw new FieldError([doc.ref !== undefined ? 'ref' : 'pack'], `'${rule.ref}' is not in pack '${packRef}' (it must start with '${packRef}.')`)
  }
  checkTimerParameters(rule, doc)
  const describe = context.describe ?? ((path: FieldPath) => formatField(path))
  const warnings = result.warnings.map((warning) =>
    warning.replace(new RegExp(MARKED.source, 'g'), (_, path: string) => `${describe(JSON.parse(path) as FieldPath)}: `),
  )
  return {rule, warnings}
}

/**
 * A rule on a core timer trigger is checked as the timer sensor will read it (a bad cron
 * expression, unit or time zone), so the mistake is reported when the pack is registered
 * rather than when the daemon loads the rule.
 */
function checkTimerParameters(rule: NormalizedRule, doc: Record<string, unknown>): void {
  if (!timerKind(rule.trigger_ref)) return
  try {
    parseTimerRule(rule)
  } catch (error) {
    if (!(error instanceof TimerConfigError)) throw error
    const [head, ...rest] = error.field.split('.')
    const trigger = doc.trigger
    let path: FieldPath
    if (head !== 'trigger_params') path = [doc.trigger_ref !== undefined ? 'trigger_ref' : 'trigger']
    else if (typeof trigger === 'object' && trigger !== null && 'parameters' in trigger) path = ['trigger', 'parameters', ...rest]
    else if (doc.trigger_params !== undefined) path = ['trigger_params', ...rest]
    else path = ['trigger']
    throw new FieldError(path, error.message.replace(/^rule '[^']*': [^:]*: /, ''))
  }
}
