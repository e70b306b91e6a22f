import {expect} from 'vitest'
import {compileConditions, evaluate, explain, type ConditionNode, type LeafTrace} from '../../src/engine/rules/index.js'

/** Marks a field as absent from the payload. */
export const MISSING = Symbol('missing')

/**
 * Evaluate one condition on `payload.x = actual` through both paths, check they agree and
 * that the trace carries a reason, and return the result.
 */
export function check(operator: string, value: unknown, actual: unknown): boolean {
  const leaf = value === undefined ? {field: 'payload.x', operator} : {field: 'payload.x', operator, value}
  const compiled = compileConditions({all: [leaf as ConditionNode]})
  const payload = actual === MISSING ? {} : {x: actual}
  const fast = evaluate(compiled, payload)
  // The generated fast path, the closure fast path and the trace must all agree.
  const closures = compileConditions({all: [leaf as ConditionNode]}, {codegen: false})
  expect(evaluate(closures, payload), 'generated and closure tests disagree').toBe(fast)
  const {matched, trace} = explain(compiled, payload)
  expect(matched, 'explain() and evaluate() disagree').toBe(fast)
  const leafTrace = trace.children[0] as LeafTrace
  expect(leafTrace.result).toBe(fast)
  expect(leafTrace.reason.length).toBeGreaterThan(0)
  return fast
}

/** The reason `explain()` gives for one condition on `payload.x = actual`. */
export function reasonFor(operator: string, value: unknown, actual: unknown): string {
  const leaf = value === undefined ? {field: 'payload.x', operator} : {field: 'payload.x', operator, value}
  const compiled = compileConditions({all: [leaf as ConditionNode]})
  const payload = actual === MISSING ? {} : {x: actual}
  return (explain(compiled, payload).trace.children[0] as LeafTrace).reason
}
