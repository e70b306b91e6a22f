/**
 * The condition operators and their exact semantics.
 *
 * General rules:
 * - A missing field makes every operator false except `not_exists` (true). This holds for the
 *   negated operators too: `not_equals`, `not_in`, `not_contains` on a missing field are false.
 *   Write `{any: [not_exists, not_equals]}` to accept a missing field.
 * - A type mismatch (an operator that needs a string given a number, ...) is false, never an
 *   error, and again for the negated operators too. No coercion: `"5"` is not `5`, `"true"` is
 *   not `true`.
 * - Operands are checked when the rule is compiled: a wrong operand type, a bad regex or a
 *   bad glob is a compile-time error.
 *
 * | operator | field value | operand | true when |
 * |---|---|---|---|
 * | equals / not_equals | any | any | deep equality (objects ignore key order, arrays don't) / its negation |
 * | iequals | string | string | equal after lower-casing both |
 * | contains / not_contains | string, array, object | any (a string for strings and objects) | substring; an element deep-equals the operand; an own key equals the operand / negation |
 * | icontains | string, array, object | string | as `contains`, lower-casing both sides (array elements and keys must be strings) |
 * | starts_with / ends_with | string | string | prefix / suffix |
 * | greater_than, less_than, greater_or_equal, less_or_equal | number | number | numeric `>`, `<`, `>=`, `<=` |
 * | in / not_in | any | array | some element deep-equals the value / none does |
 * | matches | string | RE2 pattern | the pattern matches anywhere (a search; anchor with `^`/`$`) |
 * | matchwildcard | string | shell glob | the glob matches the whole value (fnmatch; see glob.ts) |
 * | exists / not_exists | any | none | the field is present and not null / missing or null |
 *
 * StackStorm names: `eq`→equals, `neq`/`nequals`→not_equals, `ieq`→iequals,
 * `ncontains`→not_contains, `startswith`→starts_with, `endswith`→ends_with,
 * `lt`/`lessthan`→less_than, `gt`/`greaterthan`→greater_than, `inside`→in,
 * `ninside`/`nin`→not_in, `regex`→matches, `iregex`→matches with `(?i)` prepended,
 * `matchregex` (deprecated in StackStorm: anchored at the start, `.` matches newlines)→matches
 * with `(?s)^(?:…)`, `nexists`→not_exists. StackStorm's `exists` is "not None", hence null
 * counts as absent here too. Operator names are case-insensitive.
 */
import {didYouMean} from '../suggest.js'
import {globToPattern} from './glob.js'
import {typeName} from './path.js'
import {compilePattern, PatternError} from './regex.js'
import type {JsonValue, OperatorName} from './types.js'

/** The result of one comparison, as a small integer so the fast path allocates nothing. */
export type Outcome = 0 | 1 | 2
export const NO_MATCH = 0
export const MATCH = 1
/** The field value has a type the operator does not accept. */
export const TYPE_MISMATCH = 2

/** Compares one field value (never `undefined`: missing fields are handled by the caller). */
export type Check = (actual: unknown) => Outcome

/** Thrown by `prepare` when the operand is unusable; the caller adds where the condition is. */
export class OperandError extends Error {
  override readonly name = 'OperandError'
}

export interface OperatorSpec {
  name: OperatorName
  /** Whether the condition takes a `value`. */
  takesValue: boolean
  /** The field types accepted (`typeName` names), for "type mismatch" reasons; empty: any. */
  accepts: readonly string[]
  /** Compile the operand into a check; throws `OperandError`. */
  prepare(expected: JsonValue | undefined): Check
  /** Reasons for a true and a false result. */
  reasons: readonly [matched: string, notMatched: string]
}

// ---------------------------------------------------------------------------------------------
// Helpers

function isPrimitive(value: unknown): boolean {
  return value === null || typeof value !== 'object'
}

/** Structural equality of JSON values. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b)) return false
  const ka = Object.keys(a)
  if (ka.length !== Object.keys(b).length) return false
  for (const key of ka) {
    if (!Object.hasOwn(b, key)) return false
    if (!deepEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])) return false
  }
  return true
}

function describeOperand(value: JsonValue | undefined): string {
  return value === undefined ? 'nothing' : `${typeName(value)} ${JSON.stringify(value)}`
}

function needString(op: OperatorName, expected: JsonValue | undefined): string {
  if (typeof expected !== 'string') throw new OperandError(`${op} needs a string value, got ${describeOperand(expected)}`)
  return expected
}

function needNumber(op: OperatorName, expected: JsonValue | undefined): number {
  if (typeof expected !== 'number' || !Number.isFinite(expected)) {
    throw new OperandError(`${op} needs a number value, got ${describeOperand(expected)}`)
  }
  return expected
}

function needArray(op: OperatorName, expected: JsonValue | undefined): JsonValue[] {
  if (!Array.isArray(expected)) throw new OperandError(`${op} needs a list value, got ${describeOperand(expected)}`)
  return expected
}

function needValue(op: OperatorName, expected: JsonValue | undefined): JsonValue {
  if (expected === undefined) throw new OperandError(`${op} needs a value`)
  return expected
}

/** `what` names the operand as the author wrote it, e.g. `regular expression "(a"`. */
function pattern(op: OperatorName, source: string, what: string): (input: string) => boolean {
  try {
    return compilePattern(source)
  } catch (error) {
    if (error instanceof PatternError) throw new OperandError(`${op}: invalid ${what}: ${error.message}`)
    throw error
  }
}

const negate =
  (check: Check): Check =>
  (actual) => {
    const outcome = check(actual)
    return outcome === TYPE_MISMATCH ? outcome : outcome === MATCH ? NO_MATCH : MATCH
  }

function equalsCheck(expected: JsonValue): Check {
  if (isPrimitive(expected)) return (actual) => (actual === expected ? MATCH : NO_MATCH)
  return (actual) => (deepEqual(actual, expected) ? MATCH : NO_MATCH)
}

function containsCheck(expected: JsonValue): Check {
  const primitive = isPrimitive(expected)
  return (actual) => {
    if (typeof actual === 'string') {
      if (typeof expected !== 'string') return TYPE_MISMATCH
      return actual.includes(expected) ? MATCH : NO_MATCH
    }
    if (Array.isArray(actual)) {
      if (primitive) return actual.includes(expected) ? MATCH : NO_MATCH
      for (const element of actual) if (deepEqual(element, expected)) return MATCH
      return NO_MATCH
    }
    if (actual !== null && typeof actual === 'object') {
      if (typeof expected !== 'string') return TYPE_MISMATCH
      return Object.hasOwn(actual, expected) ? MATCH : NO_MATCH
    }
    return TYPE_MISMATCH
  }
}

function icontainsCheck(expected: string): Check {
  const lower = expected.toLowerCase()
  return (actual) => {
    if (typeof actual === 'string') return actual.toLowerCase().includes(lower) ? MATCH : NO_MATCH
    if (Array.isArray(actual)) {
      for (const element of actual) {
        if (typeof element === 'string' && element.toLowerCase() === lower) return MATCH
      }
      return NO_MATCH
    }
    if (actual !== null && typeof actual === 'object') {
      for (const key of Object.keys(actual)) if (key.toLowerCase() === lower) return MATCH
      return NO_MATCH
    }
    return TYPE_MISMATCH
  }
}

function inCheck(list: JsonValue[]): Check {
  // Primitives through a Set (O(1)); objects and arrays need deep comparison.
  const primitives = new Set<unknown>()
  const composites: JsonValue[] = []
  for (const element of list) {
    if (isPrimitive(element)) primitives.add(element)
    else composites.push(element)
  }
  return (actual) => {
    if (isPrimitive(actual)) return primitives.has(actual) ? MATCH : NO_MATCH
    for (const element of composites) if (deepEqual(actual, element)) return MATCH
    return NO_MATCH
  }
}

function stringCheck(test: (actual: string) => boolean): Check {
  return (actual) => (typeof actual !== 'string' ? TYPE_MISMATCH : test(actual) ? MATCH : NO_MATCH)
}

function numberCheck(test: (actual: number) => boolean): Check {
  return (actual) => (typeof actual !== 'number' ? TYPE_MISMATCH : test(actual) ? MATCH : NO_MATCH)
}

// ---------------------------------------------------------------------------------------------
// The table

const ANY: readonly string[] = []

const SPECS: readonly OperatorSpec[] = [
  {
    name: 'equals',
    takesValue: true,
    accepts: ANY,
    prepare: (e) => equalsCheck(needValue('equals', e)),
    reasons: ['equal', 'not equal'],
  },
  {
    name: 'not_equals',
    takesValue: true,
    accepts: ANY,
    prepare: (e) => negate(equalsCheck(needValue('not_equals', e))),
    reasons: ['not equal', 'equal'],
  },
  {
    name: 'iequals',
    takesValue: true,
    accepts: ['string'],
    prepare(e) {
      const lower = needString('iequals', e).toLowerCase()
      return stringCheck((a) => a.toLowerCase() === lower)
    },
    reasons: ['equal ignoring case', 'not equal ignoring case'],
  },
  {
    name: 'contains',
    takesValue: true,
    accepts: ['string', 'array', 'object'],
    prepare: (e) => containsCheck(needValue('contains', e)),
    reasons: ['contains the value', 'does not contain the value'],
  },
  {
    name: 'not_contains',
    takesValue: true,
    accepts: ['string', 'array', 'object'],
    prepare: (e) => negate(containsCheck(needValue('not_contains', e))),
    reasons: ['does not contain the value', 'contains the value'],
  },
  {
    name: 'icontains',
    takesValue: true,
    accepts: ['string', 'array', 'object'],
    prepare: (e) => icontainsCheck(needString('icontains', e)),
    reasons: ['contains the value ignoring case', 'does not contain the value ignoring case'],
  },
  {
    name: 'starts_with',
    takesValue: true,
    accepts: ['string'],
    prepare(e) {
      const prefix = needString('starts_with', e)
      return stringCheck((a) => a.startsWith(prefix))
    },
    reasons: ['starts with the value', 'does not start with the value'],
  },
  {
    name: 'ends_with',
    takesValue: true,
    accepts: ['string'],
    prepare(e) {
      const suffix = needString('ends_with', e)
      return stringCheck((a) => a.endsWith(suffix))
    },
    reasons: ['ends with the value', 'does not end with the value'],
  },
  {
    name: 'greater_than',
    takesValue: true,
    accepts: ['number'],
    prepare(e) {
      const n = needNumber('greater_than', e)
      return numberCheck((a) => a > n)
    },
    reasons: ['greater than the value', 'not greater than the value'],
  },
  {
    name: 'less_than',
    takesValue: true,
    accepts: ['number'],
    prepare(e) {
      const n = needNumber('less_than', e)
      return numberCheck((a) => a < n)
    },
    reasons: ['less than the value', 'not less than the value'],
  },
  {
    name: 'greater_or_equal',
    takesValue: true,
    accepts: ['number'],
    prepare(e) {
      const n = needNumber('greater_or_equal', e)
      return numberCheck((a) => a >= n)
    },
    reasons: ['greater than or equal to the value', 'less than the value'],
  },
  {
    name: 'less_or_equal',
    takesValue: true,
    accepts: ['number'],
    prepare(e) {
      const n = needNumber('less_or_equal', e)
      return numberCheck((a) => a <= n)
    },
    reasons: ['less than or equal to the value', 'greater than the value'],
  },
  {
    name: 'in',
    takesValue: true,
    accepts: ANY,
    prepare: (e) => inCheck(needArray('in', e)),
    reasons: ['in the list', 'not in the list'],
  },
  {
    name: 'not_in',
    takesValue: true,
    accepts: ANY,
    prepare: (e) => negate(inCheck(needArray('not_in', e))),
    reasons: ['not in the list', 'in the list'],
  },
  {
    name: 'matches',
    takesValue: true,
    accepts: ['string'],
    prepare(e) {
      const source = needString('matches', e)
      return stringCheck(pattern('matches', source, `regular expression ${JSON.stringify(source)}`))
    },
    reasons: ['the pattern matches', 'the pattern does not match'],
  },
  {
    name: 'matchwildcard',
    takesValue: true,
    accepts: ['string'],
    prepare(e) {
      const glob = needString('matchwildcard', e)
      return stringCheck(pattern('matchwildcard', globToPattern(glob), `glob ${JSON.stringify(glob)}`))
    },
    reasons: ['the glob matches', 'the glob does not match'],
  },
  {
    name: 'exists',
    takesValue: false,
    accepts: ANY,
    prepare: () => (actual) => (actual === null ? NO_MATCH : MATCH),
    reasons: ['field present', 'field is null'],
  },
  {
    name: 'not_exists',
    takesValue: false,
    accepts: ANY,
    prepare: () => (actual) => (actual === null ? MATCH : NO_MATCH),
    reasons: ['field is null', 'field present'],
  },
]

const BY_NAME = new Map<string, OperatorSpec>(SPECS.map((spec) => [spec.name, spec]))

/** The canonical operator names, in documentation order. */
export const OPERATOR_NAMES: readonly OperatorName[] = SPECS.map((spec) => spec.name)

/** An alias: the canonical operator and, for some regex aliases, how the operand is rewritten. */
interface Alias {
  operator: OperatorName
  rewrite?: (value: JsonValue | undefined) => JsonValue | undefined
}

const prefixPattern =
  (prefix: string, suffix = '') =>
  (value: JsonValue | undefined): JsonValue | undefined =>
    typeof value === 'string' ? `${prefix}${value}${suffix}` : value

const ALIASES: ReadonlyMap<string, Alias> = new Map<string, Alias>([
  ['eq', {operator: 'equals'}],
  ['neq', {operator: 'not_equals'}],
  ['nequals', {operator: 'not_equals'}],
  ['ieq', {operator: 'iequals'}],
  ['ncontains', {operator: 'not_contains'}],
  ['startswith', {operator: 'starts_with'}],
  ['endswith', {operator: 'ends_with'}],
  ['lt', {operator: 'less_than'}],
  ['lessthan', {operator: 'less_than'}],
  ['gt', {operator: 'greater_than'}],
  ['greaterthan', {operator: 'greater_than'}],
  ['inside', {operator: 'in'}],
  ['ninside', {operator: 'not_in'}],
  ['nin', {operator: 'not_in'}],
  ['regex', {operator: 'matches'}],
  ['iregex', {operator: 'matches', rewrite: prefixPattern('(?i)')}],
  ['matchregex', {operator: 'matches', rewrite: prefixPattern('(?s)^(?:', ')')}],
  ['nexists', {operator: 'not_exists'}],
])

/** The StackStorm alias names accepted. */
export const ALIAS_NAMES: readonly string[] = [...ALIASES.keys()]

/**
 * Resolve a canonical name or an alias (case-insensitive) to the canonical operator and the
 * operand it implies. `undefined` for an unknown name.
 */
export function resolveOperator(
  name: string,
  value: JsonValue | undefined,
): {operator: OperatorName; value: JsonValue | undefined} | undefined {
  const key = name.toLowerCase()
  const spec = BY_NAME.get(key)
  if (spec) return {operator: spec.name, value}
  const alias = ALIASES.get(key)
  if (!alias) return undefined
  return {operator: alias.operator, value: alias.rewrite ? alias.rewrite(value) : value}
}

/** The spec of a canonical operator. */
export function operatorSpec(name: OperatorName): OperatorSpec {
  const spec = BY_NAME.get(name)
  if (!spec) throw new OperandError(`unknown operator ${JSON.stringify(name)}`)
  return spec
}

/** The message for an unknown operator, with the closest known name if one is near. */
export function unknownOperatorMessage(name: unknown): string {
  const text = String(name)
  if (UNSUPPORTED_STACKSTORM.has(text.toLowerCase())) {
    return `unknown operator ${JSON.stringify(name)} (a StackStorm operator attune does not support; for the case-insensitive ones use matches with (?i))`
  }
  const suggestion = didYouMean(text, [...OPERATOR_NAMES, ...ALIAS_NAMES])
  return `unknown operator ${JSON.stringify(name)}${suggestion}`
}

/** StackStorm operators with no counterpart here (time arithmetic, list search, negated case variants). */
const UNSUPPORTED_STACKSTORM = new Set(['search', 'timediff_lt', 'timediff_gt', 'td_lt', 'td_gt', 'istartswith', 'iendswith', 'incontains'])

/** The list of accepted operator names, for the hint under an unknown-operator error. */
export const OPERATORS_HINT = `Operators: ${OPERATOR_NAMES.join(', ')}. StackStorm names: ${ALIAS_NAMES.join(', ')}.`
