import {describe, expect, it} from 'vitest'
import {compileCondition, compileConditions, evaluate, explain, type ConditionGroup, type ConditionNode, type GroupTrace, type LeafTrace, type OperatorName} from '../../src/engine/rules/index.js'

const T: ConditionNode = {field: 'ok', operator: 'equals', value: true}
const F: ConditionNode = {field: 'ok', operator: 'equals', value: false}
const payload = {ok: true}

const run = (tree: ConditionGroup) => {
  const compiled = compileConditions(tree)
  const fast = evaluate(compiled, payload)
  expect(evaluate(compileConditions(tree, {codegen: false}), payload)).toBe(fast)
  expect(explain(compiled, payload).matched).toBe(fast)
  return fast
}

describe('all / any', () => {
  it('empty all matches, empty any does not', () => {
    expect(run({all: []})).toBe(true)
    expect(run({any: []})).toBe(false)
  })

  it.each([1, 2, 3, 4, 7])('all and any over %i children', (n) => {
    const allTrue = Array.from({length: n}, () => T)
    const lastFalse = [...allTrue.slice(1), F]
    const firstTrue = [T, ...Array.from({length: n - 1}, () => F)]
    const lastTrue = [...Array.from({length: n - 1}, () => F), T]
    expect(run({all: allTrue})).toBe(true)
    expect(run({all: lastFalse})).toBe(false)
    expect(run({any: lastTrue})).toBe(true)
    expect(run({any: firstTrue})).toBe(true)
    expect(run({any: Array.from({length: n}, () => F)})).toBe(false)
  })

  it('nests to any depth (deep trees fall back from generated code to closures)', () => {
    let tree: ConditionNode = T
    for (let depth = 0; depth < 200; depth++) tree = depth % 2 ? {all: [tree, T]} : {any: [F, tree]}
    expect(run({all: [tree]})).toBe(true)
    let falseTree: ConditionNode = F
    for (let depth = 0; depth < 200; depth++) falseTree = depth % 2 ? {all: [T, falseTree]} : {any: [falseTree, F]}
    expect(run({all: [falseTree]})).toBe(false)
  })

  it('combines as boolean logic over every truth assignment', () => {
    // (a or (b and c)) and not-d, built from leaves over a payload of booleans.
    const leaf = (name: string, value: boolean): ConditionNode => ({field: name, operator: 'equals', value})
    const tree: ConditionGroup = {all: [{any: [leaf('a', true), {all: [leaf('b', true), leaf('c', true)]}]}, leaf('d', false)]}
    const compiled = compileConditions(tree)
    const closures = compileConditions(tree, {codegen: false})
    for (let bits = 0; bits < 16; bits++) {
      const [a, b, c, d] = [1, 2, 4, 8].map((bit) => (bits & bit) !== 0)
      const expected = (a || (b && c)) && !d
      expect(evaluate(compiled, {a, b, c, d})).toBe(expected)
      expect(evaluate(closures, {a, b, c, d})).toBe(expected)
      expect(explain(compiled, {a, b, c, d}).matched).toBe(expected)
    }
  })

  it('explains every child, even after the answer is known', () => {
    const tree: ConditionGroup = {
      any: [
        {field: 'payload.branch', operator: 'equals', value: 'main'},
        {all: [{field: 'payload.tag', operator: 'exists'}, {field: 'payload.tag', operator: 'matches', value: '^v\\d+'}]},
      ],
    }
    const result = explain(compileConditions(tree), {branch: 'main', tag: 'nightly'})
    expect(result.matched).toBe(true)
    expect(result.trace).toEqual({
      group: 'any',
      result: true,
      children: [
        {field: 'payload.branch', operator: 'equals', expected: 'main', actual: 'main', result: true, reason: 'equal'},
        {
          group: 'all',
          result: false,
          children: [
            {field: 'payload.tag', operator: 'exists', actual: 'nightly', result: true, reason: 'field present'},
            {field: 'payload.tag', operator: 'matches', expected: '^v\\d+', actual: 'nightly', result: false, reason: 'the pattern does not match'},
          ],
        },
      ],
    })
    // Trace keys come in reading order.
    const leaf = result.trace.children[0] as LeafTrace
    expect(Object.keys(leaf)).toEqual(['field', 'operator', 'expected', 'actual', 'result', 'reason'])
    expect(JSON.parse(JSON.stringify(result))).toEqual(result)
  })

  it('omits actual for a missing field and expected for exists', () => {
    const result = explain(compileConditions({all: [{field: 'gone', operator: 'exists'}]}), {})
    const leaf = (result.trace as GroupTrace).children[0]
    expect(leaf).toEqual({field: 'payload.gone', operator: 'exists', result: false, reason: 'field missing: payload has no key "gone"'})
  })

  it('compiles a single leaf and wraps its trace in a group', () => {
    // Aliases are accepted by the compiler too, not only by the file parser.
    const compiled = compileCondition({field: 'ok', operator: 'eq' as OperatorName, value: true})
    expect(evaluate(compiled, payload)).toBe(true)
    expect(explain(compiled, payload).trace.group).toBe('all')
  })

  it('rejects a root that is not a group, and malformed groups', () => {
    expect(() => compileConditions(T as unknown as ConditionGroup)).toThrow(/root of a condition tree must be an all or any group/)
    expect(() => compileConditions({all: 'x'} as unknown as ConditionGroup)).toThrow(/conditions\.all: expected a list/)
    expect(() => compileConditions({all: [{any: [T, 7]}]} as unknown as ConditionGroup)).toThrow(/conditions\.all\[0\]\.any\[1\]: expected a condition/)
  })
})
