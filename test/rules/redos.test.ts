import {describe, expect, it} from 'vitest'
import {compileConditions, evaluate, explain, type OperatorName} from '../../src/engine/rules/index.js'

/**
 * Patterns that make a backtracking engine take exponential time. With RE2 they finish in
 * time linear in the input; the assertions are on correctness, and the generous timeout only
 * catches a hang (a backtracking engine would not finish `(a+)+$` on 100k characters at all).
 */
const N = 100_000

describe('hostile patterns run in linear time', () => {
  const cases: [pattern: string, input: string, expected: boolean][] = [
    ['(a+)+$', `${'a'.repeat(N)}b`, false],
    ['(a+)+$', 'a'.repeat(N), true],
    ['^(a|aa)+$', `${'a'.repeat(N)}!`, false],
    ['(x+x+)+y', 'x'.repeat(N), false],
    ['^(\\w+\\s?)*$', `${'word '.repeat(N / 5)}!`, false],
    ['(.*a){20}', 'a'.repeat(N), true],
  ]
  it.each(cases)('%s on %#', (pattern, input, expected) => {
    const compiled = compileConditions({all: [{field: 'text', operator: 'matches', value: pattern}]})
    expect(evaluate(compiled, {text: input})).toBe(expected)
    expect(explain(compiled, {text: input}).matched).toBe(expected)
  }, 30_000)

  it('also through the StackStorm regex and glob operators', () => {
    const compiled = compileConditions({
      any: [
        {field: 'text', operator: 'regex' as OperatorName, value: '(a+)+$'},
        {field: 'text', operator: 'iregex' as OperatorName, value: '(A+)+$'},
        {field: 'text', operator: 'matchwildcard', value: '*a*a*a*a*a*a*a*a*a*a*b'},
      ],
    })
    expect(evaluate(compiled, {text: `${'a'.repeat(N)}c`})).toBe(false)
    expect(evaluate(compiled, {text: `${'a'.repeat(N)}b`})).toBe(true)
  }, 30_000)
})
