/**
 * The fast path of a compiled rule as one generated JavaScript function per rule.
 *
 * Why: closures built from the same source line share V8's inline caches across every rule,
 * so field reads and calls go megamorphic and a rule runs several times slower than the same
 * test written by hand. A function generated per rule has its own caches and reads fields
 * with constant keys, which V8 optimises like hand-written code.
 *
 * Safety: the generated source contains only names made here, integer indexes, and keys and
 * primitive operands written with `JSON.stringify` (always a plain literal). Everything else
 * (regexes, sets, deep comparisons) stays a closure the function receives, never source.
 * The closure-built test remains the reference: if generation is unavailable (for example
 * `--disallow-code-generation-from-strings`) or the tree is very deep, it is used instead, and
 * `explain()` always walks the closures.
 */
import {MATCH, type Check} from './operators.js'
import type {PathSegment} from './path.js'
import type {EventInfo, JsonValue, OperatorName} from './types.js'

/** What the generator needs to know about one compiled leaf. */
export interface LeafPlan {
  kind: 'leaf'
  segments: readonly PathSegment[]
  operator: OperatorName
  expected: JsonValue | undefined
  check: Check
}

/** An expression condition: its compiled test is called with the payload and event info. */
export interface ExpressionPlan {
  kind: 'expression'
  test: (payload: unknown, event?: EventInfo) => boolean
}

export interface GroupPlan {
  kind: 'all' | 'any'
  children: Plan[]
}

export type Plan = LeafPlan | ExpressionPlan | GroupPlan

/** Deeper trees fall back to closures rather than risk the parser's recursion limit. */
const MAX_DEPTH = 64
/** `in` lists up to this size become a chain of `===`; longer ones use the Set of the check. */
const MAX_INLINE_LIST = 16

/** Generate the test, or `undefined` if the plan is too deep or code generation is off. */
export function generateTest(plan: Plan): ((payload: unknown, event?: EventInfo) => boolean) | undefined {
  if (depth(plan) > MAX_DEPTH) return undefined
  const captured: unknown[] = []
  const capture = (value: unknown): string => {
    captured.push(value)
    return `k${captured.length - 1}`
  }
  const body = expression(plan, capture)
  const bindings = captured.map((_, i) => `const k${i} = K[${i}];`).join('\n')
  const source = `'use strict';\n${bindings}\nreturn function test(p, e) {\n  let v;\n  return ${body};\n};`
  try {
    return new Function('K', source)(captured) as (payload: unknown, event?: EventInfo) => boolean
  } catch {
    return undefined
  }
}

function depth(plan: Plan): number {
  return plan.kind === 'leaf' || plan.kind === 'expression' ? 1 : 1 + Math.max(0, ...plan.children.map(depth))
}

function expression(plan: Plan, capture: (value: unknown) => string): string {
  if (plan.kind === 'leaf') return leafExpression(plan, capture)
  if (plan.kind === 'expression') return `${capture(plan.test)}(p, e)`
  if (plan.children.length === 0) return plan.kind === 'all' ? 'true' : 'false'
  const parts = plan.children.map((child) => expression(child, capture))
  return `(${parts.join(plan.kind === 'all' ? ' && ' : ' || ')})`
}

/** A literal for a primitive that reads back as exactly the same value, else undefined. */
function literal(value: JsonValue | undefined): string | undefined {
  if (typeof value === 'string' || typeof value === 'boolean' || value === null) return JSON.stringify(value)
  if (typeof value === 'number' && Number.isFinite(value) && !Object.is(value, -0)) return JSON.stringify(value)
  return undefined
}

function leafExpression(leaf: LeafPlan, capture: (value: unknown) => string): string {
  // Walk the path in `v`: every step leaves `v` undefined once the path breaks.
  const steps = ['v = p']
  for (const segment of leaf.segments) {
    if (typeof segment === 'string' && (segment in Object.prototype || segment in Array.prototype)) {
      // Keys a prototype could answer go through an own-property check, as in path.ts.
      const key = capture(segment)
      steps.push(`v = (v !== null && typeof v === "object" && !Array.isArray(v) && Object.hasOwn(v, ${key})) ? v[${key}] : undefined`)
    } else {
      const key = typeof segment === 'number' ? String(segment) : JSON.stringify(segment)
      steps.push(`v = (v !== null && typeof v === "object") ? v[${key}] : undefined`)
    }
  }
  const walk = steps.join(', ')
  if (leaf.operator === 'not_exists') return `(${walk}, v === undefined || v === null)`
  return `(${walk}, v !== undefined && ${comparison(leaf, capture)})`
}

/** The comparison on a present `v`: inlined for the common shapes, else a call to the check. */
function comparison(leaf: LeafPlan, capture: (value: unknown) => string): string {
  const e = leaf.expected
  const lit = literal(e)
  switch (leaf.operator) {
    case 'exists':
      return 'v !== null'
    case 'equals':
      if (lit !== undefined) return `v === ${lit}`
      break
    case 'not_equals':
      if (lit !== undefined) return `v !== ${lit}`
      break
    case 'greater_than':
    case 'less_than':
    case 'greater_or_equal':
    case 'less_or_equal':
      if (typeof e === 'number' && lit !== undefined) {
        const op = {greater_than: '>', less_than: '<', greater_or_equal: '>=', less_or_equal: '<='}[leaf.operator]
        return `(typeof v === "number" && v ${op} ${lit})`
      }
      break
    case 'starts_with':
    case 'ends_with':
      if (typeof e === 'string') return `(typeof v === "string" && v.${leaf.operator === 'starts_with' ? 'startsWith' : 'endsWith'}(${lit}))`
      break
    case 'in':
    case 'not_in':
      if (Array.isArray(e) && e.length <= MAX_INLINE_LIST) {
        const lits = e.map(literal)
        if (lits.every((l) => l !== undefined)) {
          if (leaf.operator === 'in') return lits.length === 0 ? 'false' : `(${lits.map((l) => `v === ${l}`).join(' || ')})`
          return lits.length === 0 ? 'true' : `(${lits.map((l) => `v !== ${l}`).join(' && ')})`
        }
      }
      break
    default:
      break
  }
  return `${capture(leaf.check)}(v) === ${MATCH}`
}
