import {describe, expect, it} from 'vitest'
import {AbortError} from '../../src/engine/errors.js'
import {compileConditions, resolveOperator, type ConditionNode} from '../../src/engine/rules/index.js'
import {check, MISSING, reasonFor} from './helpers.js'

type Row = [label: string, value: unknown, actual: unknown, expected: boolean]

/**
 * Per operator: rows of (what, operand, field value, expected result). Every operator is run
 * on strings, numbers, booleans, null, arrays, nested objects, a missing field and a type
 * mismatch.
 */
const TABLE: Record<string, Row[]> = {
  equals: [
    ['same string', 'main', 'main', true],
    ['other string', 'main', 'Main', false],
    ['same number', 5, 5, true],
    ['integer and float', 5, 5.0, true],
    ['number vs numeric string', 5, '5', false],
    ['boolean', true, true, true],
    ['boolean vs string', true, 'true', false],
    ['boolean vs number', true, 1, false],
    ['null', null, null, true],
    ['null vs 0', null, 0, false],
    ['array', [1, 2], [1, 2], true],
    ['array order matters', [1, 2], [2, 1], false],
    ['nested object, key order ignored', {a: 1, b: {c: [2]}}, {b: {c: [2]}, a: 1}, true],
    ['object with extra key', {a: 1}, {a: 1, b: 2}, false],
    ['array vs object', [], {}, false],
    ['missing field', 'main', MISSING, false],
    ['missing field vs null', null, MISSING, false],
  ],
  not_equals: [
    ['other string', 'a', 'b', true],
    ['same string', 'a', 'a', false],
    ['number vs string', 5, '5', true],
    ['same number', 5, 5, false],
    ['boolean', false, true, true],
    ['null vs null', null, null, false],
    ['null vs value', null, 'x', true],
    ['array', [1], [1, 2], true],
    ['nested object', {a: {b: 1}}, {a: {b: 2}}, true],
    ['equal nested object', {a: {b: 1}}, {a: {b: 1}}, false],
    ['missing field', 'a', MISSING, false],
  ],
  iequals: [
    ['case differs', 'main', 'MAIN', true],
    ['same', 'main', 'main', true],
    ['other', 'main', 'dev', false],
    ['number field', '5', 5, false],
    ['boolean field', 'true', true, false],
    ['null field', 'x', null, false],
    ['array field', 'a', ['a'], false],
    ['object field', 'a', {a: 1}, false],
    ['missing field', 'a', MISSING, false],
  ],
  contains: [
    ['substring', 'lo w', 'hello world', true],
    ['not a substring', 'z', 'abc', false],
    ['case-sensitive', 'A', 'abc', false],
    ['empty string', '', 'abc', true],
    ['array of strings', 'b', ['a', 'b'], true],
    ['array of numbers', 2, [1, 2], true],
    ['array, no coercion', '1', [1], false],
    ['array of objects', {a: 1}, [{a: 2}, {a: 1}], true],
    ['array of arrays', [1], [[1], [2]], true],
    ['array of booleans', true, [false], false],
    ['array with null', null, [null], true],
    ['object key', 'k', {k: 1}, true],
    ['object without the key', 'z', {k: 1}, false],
    ['object, number operand (mismatch)', 1, {1: 1}, false],
    ['number field (mismatch)', '2', 123, false],
    ['string field, number operand (mismatch)', 1, 'a1', false],
    ['boolean field (mismatch)', 'true', true, false],
    ['null field', 'x', null, false],
    ['missing field', 'x', MISSING, false],
  ],
  not_contains: [
    ['not a substring', 'z', 'abc', true],
    ['substring', 'b', 'abc', false],
    ['array without the element', 'c', ['a', 'b'], true],
    ['array with the element', 'a', ['a', 'b'], false],
    ['object without the key', 'z', {k: 1}, true],
    ['number field (mismatch)', '2', 123, false],
    ['boolean field (mismatch)', 'x', false, false],
    ['null field (mismatch)', 'x', null, false],
    ['missing field', 'x', MISSING, false],
  ],
  icontains: [
    ['substring ignoring case', 'HELL', 'hello', true],
    ['not a substring', 'z', 'hello', false],
    ['array element ignoring case', 'b', ['A', 'B'], true],
    ['array, only whole elements', 'b', ['ab'], false],
    ['array of numbers', '1', [1], false],
    ['object key ignoring case', 'key', {Key: 1}, true],
    ['number field (mismatch)', '1', 1, false],
    ['null field', 'x', null, false],
    ['missing field', 'x', MISSING, false],
  ],
  starts_with: [
    ['prefix', 'v', 'v1.2', true],
    ['not a prefix', 'v', 'x1', false],
    ['case-sensitive', 'V', 'v1', false],
    ['number field (mismatch)', '1', 12, false],
    ['array field (mismatch)', 'v', ['v'], false],
    ['boolean field', 't', true, false],
    ['null field', 'n', null, false],
    ['missing field', 'v', MISSING, false],
  ],
  ends_with: [
    ['suffix', '.log', 'app.log', true],
    ['not a suffix', '.log', 'app.txt', false],
    ['number field (mismatch)', '2', 12, false],
    ['object field', 'x', {x: 1}, false],
    ['null field', 'l', null, false],
    ['missing field', '.log', MISSING, false],
  ],
  greater_than: [
    ['greater', 5, 10, true],
    ['equal', 5, 5, false],
    ['smaller', 5, 4, false],
    ['float', 5, 5.5, true],
    ['negative', 0, -1, false],
    ['numeric string (mismatch)', 5, '10', false],
    ['boolean (mismatch)', 0, true, false],
    ['null (mismatch)', -1, null, false],
    ['array (mismatch)', 0, [1], false],
    ['object (mismatch)', 0, {a: 1}, false],
    ['missing field', 5, MISSING, false],
  ],
  less_than: [
    ['smaller', 5, 1, true],
    ['equal', 5, 5, false],
    ['greater', 5, 6, false],
    ['numeric string (mismatch)', 5, '1', false],
    ['null (mismatch)', 5, null, false],
    ['missing field', 5, MISSING, false],
  ],
  greater_or_equal: [
    ['equal', 5, 5, true],
    ['greater', 5, 6, true],
    ['smaller', 5, 4, false],
    ['numeric string (mismatch)', 5, '5', false],
    ['boolean (mismatch)', 1, true, false],
    ['missing field', 5, MISSING, false],
  ],
  less_or_equal: [
    ['equal', 5, 5, true],
    ['smaller', 5, -5, true],
    ['greater', 5, 6, false],
    ['array (mismatch)', 5, [1], false],
    ['missing field', 5, MISSING, false],
  ],
  in: [
    ['string member', ['a', 'b'], 'b', true],
    ['string not a member', ['a', 'b'], 'c', false],
    ['number member', [1, 2], 1, true],
    ['no coercion', [1, 2], '1', false],
    ['boolean member', [true], true, true],
    ['null member', [null], null, true],
    ['object member', [{a: 1}], {a: 1}, true],
    ['array member', [[1]], [1], true],
    ['nested object not a member', [{a: {b: 1}}], {a: {b: 2}}, false],
    ['empty list', [], 'a', false],
    ['missing field', ['a'], MISSING, false],
  ],
  not_in: [
    ['not a member', ['a', 'b'], 'c', true],
    ['member', ['a'], 'a', false],
    ['number not a member', [1], 2, true],
    ['null not a member', ['x'], null, true],
    ['object not a member', [{a: 1}], {a: 2}, true],
    ['array member', [[1]], [1], false],
    ['empty list', [], 'a', true],
    ['missing field', ['a'], MISSING, false],
  ],
  matches: [
    ['anchored match', '^v\\d+', 'v12', true],
    ['anchored, no match', '^v\\d+', 'xv12', false],
    ['unanchored search', 'v\\d+', 'xv12', true],
    ['full anchors', '^abc$', 'abcd', false],
    ['inline flag', '(?i)^main$', 'MAIN', true],
    ['unicode', '^é+$', 'éé', true],
    ['number field (mismatch)', '\\d', 12, false],
    ['boolean field (mismatch)', 'true', true, false],
    ['null field', 'null', null, false],
    ['array field', 'a', ['a'], false],
    ['missing field', '.*', MISSING, false],
  ],
  matchwildcard: [
    ['star', '*.log', 'app.log', true],
    ['whole value', '*.log', 'app.log.1', false],
    ['star crosses slashes', '*.txt', 'a/b/c.txt', true],
    ['question mark', 'a?c', 'abc', true],
    ['question mark needs one char', 'a?c', 'ac', false],
    ['class', '[abc]', 'b', true],
    ['range', 'v[0-9]', 'v7', true],
    ['negated class', '[!abc]', 'd', true],
    ['negated class, member', '[!abc]', 'a', false],
    ['unclosed bracket is literal', '[x', '[x', true],
    ['regex metacharacters are literal', 'a.b+(c)', 'a.b+(c)', true],
    ['dot is literal', 'a.b', 'axb', false],
    ['case-sensitive', '*.log', 'APP.LOG', false],
    ['star matches newlines', 'a*b', 'a\nb', true],
    ['number field (mismatch)', '*', 5, false],
    ['null field', '*', null, false],
    ['missing field', '*', MISSING, false],
  ],
  exists: [
    ['string', undefined, 'x', true],
    ['empty string', undefined, '', true],
    ['zero', undefined, 0, true],
    ['false', undefined, false, true],
    ['empty array', undefined, [], true],
    ['empty object', undefined, {}, true],
    ['null counts as absent', undefined, null, false],
    ['missing field', undefined, MISSING, false],
  ],
  not_exists: [
    ['missing field', undefined, MISSING, true],
    ['null', undefined, null, true],
    ['string', undefined, 'x', false],
    ['zero', undefined, 0, false],
    ['false', undefined, false, false],
    ['object', undefined, {a: null}, false],
  ],
}

describe('operator table', () => {
  for (const [operator, rows] of Object.entries(TABLE)) {
    describe(operator, () => {
      it.each(rows)('%s', (_label, value, actual, expected) => {
        expect(check(operator, value, actual)).toBe(expected)
      })
    })
  }

  it('covers every canonical operator', () => {
    expect(Object.keys(TABLE).sort()).toEqual(
      [
        'equals', 'not_equals', 'iequals', 'contains', 'not_contains', 'icontains', 'starts_with', 'ends_with',
        'greater_than', 'less_than', 'greater_or_equal', 'less_or_equal', 'in', 'not_in', 'matches', 'matchwildcard',
        'exists', 'not_exists',
      ].sort(),
    )
  })
})

describe('StackStorm aliases', () => {
  const aliases: [alias: string, canonical: string, rows: Row[]][] = [
    ['eq', 'equals', [['equal', 'a', 'a', true], ['differ', 'a', 'b', false]]],
    ['neq', 'not_equals', [['differ', 'a', 'b', true], ['equal', 'a', 'a', false]]],
    ['nequals', 'not_equals', [['differ', 1, 2, true], ['missing', 1, MISSING, false]]],
    ['ieq', 'iequals', [['case', 'abc', 'ABC', true], ['differ', 'abc', 'abd', false]]],
    ['ncontains', 'not_contains', [['absent', 'z', 'abc', true], ['present', 'b', 'abc', false]]],
    ['startswith', 'starts_with', [['prefix', 'ab', 'abc', true], ['no', 'b', 'abc', false]]],
    ['endswith', 'ends_with', [['suffix', 'bc', 'abc', true], ['no', 'b', 'abc', false]]],
    ['lt', 'less_than', [['less', 3, 2, true], ['equal', 3, 3, false]]],
    ['lessthan', 'less_than', [['less', 3, 2, true], ['greater', 3, 4, false]]],
    ['gt', 'greater_than', [['greater', 3, 4, true], ['equal', 3, 3, false]]],
    ['greaterthan', 'greater_than', [['greater', 3, 4, true], ['less', 3, 2, false]]],
    ['inside', 'in', [['member', ['a'], 'a', true], ['not', ['a'], 'b', false]]],
    ['ninside', 'not_in', [['not member', ['a'], 'b', true], ['member', ['a'], 'a', false]]],
    ['nin', 'not_in', [['not member', ['a'], 'b', true], ['member', ['a'], 'a', false]]],
    ['regex', 'matches', [['search', 'b+', 'abbc', true], ['no', '^b', 'abc', false]]],
    ['iregex', 'matches', [['ignoring case', '^hel', 'HELLO', true], ['no', '^x', 'hello', false]]],
    ['matchregex', 'matches', [['anchored at start', 'a.c', 'abc', true], ['not at start', 'b', 'abc', false], ['dot matches newline', 'a.b', 'a\nb', true]]],
    ['nexists', 'not_exists', [['missing', undefined, MISSING, true], ['present', undefined, 1, false]]],
    ['MatchWildcard', 'matchwildcard', [['names are case-insensitive', '*.log', 'x.log', true]]],
  ]
  for (const [alias, canonical, rows] of aliases) {
    describe(`${alias} → ${canonical}`, () => {
      it('resolves to the canonical operator', () => {
        expect(resolveOperator(alias, 'x')?.operator).toBe(canonical)
      })
      it.each(rows)('%s', (_label, value, actual, expected) => {
        expect(check(alias, value, actual)).toBe(expected)
      })
    })
  }

  it('rewrites iregex and matchregex patterns into RE2 flags', () => {
    expect(resolveOperator('iregex', 'abc')).toEqual({operator: 'matches', value: '(?i)abc'})
    expect(resolveOperator('matchregex', 'a|b')).toEqual({operator: 'matches', value: '(?s)^(?:a|b)'})
  })
})

describe('trace reasons', () => {
  it('says why a condition is false', () => {
    expect(reasonFor('equals', 'main', 'dev')).toBe('not equal')
    expect(reasonFor('greater_than', 5, '10')).toBe('type mismatch: greater_than needs a number, the field is a string')
    expect(reasonFor('contains', 1, 'a1')).toBe('type mismatch: contains on a string field needs a string value, got a number')
    expect(reasonFor('starts_with', 'a', null)).toBe('type mismatch: starts_with needs a string, the field is null')
    expect(reasonFor('equals', 'main', MISSING)).toBe('field missing: payload has no key "x"')
    expect(reasonFor('exists', undefined, null)).toBe('field is null')
  })
  it('says why a condition is true', () => {
    expect(reasonFor('in', ['a'], 'a')).toBe('in the list')
    expect(reasonFor('not_exists', undefined, MISSING)).toBe('field missing: payload has no key "x"')
  })
})

describe('compile-time errors', () => {
  const compileOne = (leaf: Record<string, unknown>) => () => compileConditions({any: [{field: 'payload.a', operator: 'equals', value: 1}, leaf as unknown as ConditionNode]})
  const cases: [what: string, leaf: Record<string, unknown>, message: RegExp][] = [
    ['unknown operator', {field: 'x', operator: 'equalz', value: 1}, /condition conditions\.any\[1\]: unknown operator "equalz"/],
    ['invalid regex', {field: 'x', operator: 'matches', value: '(a'}, /conditions\.any\[1\]: matches: invalid regular expression "\(a"/],
    ['backreference (not RE2)', {field: 'x', operator: 'regex', value: '(a)\\1'}, /invalid regular expression/],
    ['lookahead (not RE2)', {field: 'x', operator: 'matches', value: 'a(?=b)'}, /invalid regular expression/],
    ['bad glob range', {field: 'x', operator: 'matchwildcard', value: '[z-a]'}, /matchwildcard: invalid glob "\[z-a\]"/],
    ['number operator with a string', {field: 'x', operator: 'greater_than', value: '5'}, /greater_than needs a number value, got string "5"/],
    ['in with a scalar', {field: 'x', operator: 'in', value: 'abc'}, /in needs a list value, got string "abc"/],
    ['iequals with a number', {field: 'x', operator: 'iequals', value: 5}, /iequals needs a string value/],
    ['starts_with with null', {field: 'x', operator: 'starts_with', value: null}, /starts_with needs a string value, got null/],
    ['equals without a value', {field: 'x', operator: 'equals'}, /equals needs a value/],
    ['bad path', {field: 'a..b', operator: 'exists'}, /bad field path "a\.\.b": empty segment/],
    ['bad index', {field: 'a[-1]', operator: 'exists'}, /bad field path "a\[-1\]"/],
    ['field not a string', {field: 5, operator: 'exists'}, /field must be a string/],
  ]
  it.each(cases)('%s', (_what, leaf, message) => {
    const run = compileOne(leaf)
    expect(run).toThrow(AbortError)
    expect(run).toThrow(message)
  })

  it('suggests the closest operator and lists all of them in the hint', () => {
    const error = (() => {
      try {
        compileConditions({all: [{field: 'x', operator: 'equalz' as 'equals', value: 1}]})
      } catch (e) {
        return e as AbortError
      }
      throw new Error('expected an error')
    })()
    expect(error.message).toBe('condition conditions.all[0]: unknown operator "equalz" (did you mean "equals"?)')
    expect(error.code).toBe('rule_invalid')
    expect(error.hint).toMatch(/^Operators: equals, not_equals, .*StackStorm names: eq, neq/)
    expect(() => compileConditions({all: [{field: 'x', operator: 'frobnicate' as 'equals', value: 1}]})).toThrow(/unknown operator "frobnicate"$/)
    expect(() => compileConditions({all: [{field: 'x', operator: 'timediff_lt' as 'equals', value: 1}]})).toThrow(/StackStorm operator attune does not support/)
  })

  it('accepts exists and not_exists without a value', () => {
    expect(() => compileConditions({all: [{field: 'x', operator: 'exists'}, {field: 'y', operator: 'not_exists'}]})).not.toThrow()
  })
})
