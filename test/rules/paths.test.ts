import {describe, expect, it} from 'vitest'
import {compileConditions, evaluate, explain, FieldPathError, formatPath, parseFieldPath, type LeafTrace} from '../../src/engine/rules/index.js'

const payload = {
  branch: 'main',
  items: [{name: 'first', tags: ['a']}, {name: 'second'}],
  headers: {'X-Token': 'secret', 'a.b': 'dotted'},
  nested: {deep: {deeper: {deepest: 42}}},
  payload: {inner: true},
  numeric: {0: 'zero'},
  count: 3,
  nothing: null,
}

function valueAt(field: string): {found: boolean; actual: unknown; reason: string} {
  const compiled = compileConditions({all: [{field, operator: 'exists'}]})
  const leaf = explain(compiled, payload).trace.children[0] as LeafTrace
  // exists is false for null, so use the trace to tell "null" from "missing".
  return {found: 'actual' in leaf, actual: leaf.actual, reason: leaf.reason}
}

describe('field paths', () => {
  it.each([
    ['payload.branch', 'main'],
    ['branch', 'main'],
    ['trigger.branch', 'main'],
    ['event.payload.branch', 'main'],
    ['payload.items.0.name', 'first'],
    ['items.1.name', 'second'],
    ['payload.items[0].tags[0]', 'a'],
    ["trigger.headers['X-Token']", 'secret'],
    ['headers["a.b"]', 'dotted'],
    ['nested.deep.deeper.deepest', 42],
    ['payload.payload.inner', true],
    ['numeric.0', 'zero'],
  ])('%s resolves', (field, expected) => {
    expect(valueAt(field)).toMatchObject({found: true, actual: expected})
  })

  it('addresses the whole payload with payload, trigger or event.payload', () => {
    for (const field of ['payload', 'trigger', 'event.payload']) expect(valueAt(field).actual).toEqual(payload)
  })

  it.each([
    ['payload.missing', 'field missing: payload has no key "missing"'],
    ['items.5.name', 'field missing: payload.items has 2 element(s), no index 5'],
    ['items.name', 'field missing: payload.items is an array, it has no key "name"'],
    ['branch.length', 'field missing: payload.branch is string, not an object or array'],
    ['count.x', 'field missing: payload.count is number, not an object or array'],
    ['nothing.x', 'field missing: payload.nothing is null, not an object or array'],
    ['items.1.tags.0', 'field missing: payload.items.1 has no key "tags"'],
    ['constructor', 'field missing: payload has no key "constructor"'],
    ['__proto__', 'field missing: payload has no key "__proto__"'],
    ['toString', 'field missing: payload has no key "toString"'],
    ['items.length', 'field missing: payload.items is an array, it has no key "length"'],
    ['items.map', 'field missing: payload.items is an array, it has no key "map"'],
  ])('%s is missing, never a throw or an inherited property', (field, reason) => {
    expect(valueAt(field)).toEqual({found: false, actual: undefined, reason})
    const compiled = compileConditions({all: [{field, operator: 'not_exists'}]})
    expect(evaluate(compiled, payload)).toBe(true)
  })

  it('keeps fast paths and trace in agreement on prototype keys', () => {
    for (const field of ['constructor', 'items.0.constructor', 'hasOwnProperty', 'a.b.c.d.toString', 'items.length']) {
      const own = {constructor: 1, hasOwnProperty: 2, items: [{constructor: 3}], a: {b: {c: {d: {toString: 4}}}}}
      for (const codegen of [true, false]) {
        const compiled = compileConditions({all: [{field, operator: 'exists'}]}, {codegen})
        expect(evaluate(compiled, payload)).toBe(false)
        expect(evaluate(compiled, own)).toBe(field !== 'items.length')
        expect(explain(compiled, own).matched).toBe(field !== 'items.length')
      }
    }
  })

  it('treats hostile keys as plain keys in generated code', () => {
    const keys = ['a"]; throw new Error("injected"); //', "b'); process.exit(1); ('", 'c\u2028d', 'e\\', '${x}', '`f`', 'g\nh']
    for (const key of keys) {
      const tree = {all: [{field: `payload[${JSON.stringify(key)}]`, operator: 'equals' as const, value: key}]}
      for (const codegen of [true, false]) {
        const compiled = compileConditions(tree, {codegen})
        expect(evaluate(compiled, {[key]: key})).toBe(true)
        expect(evaluate(compiled, {[key]: 'other'})).toBe(false)
        expect(evaluate(compiled, {})).toBe(false)
      }
    }
    const operand = '"; throw new Error("injected"); "'
    const compiled = compileConditions({all: [{field: 'x', operator: 'in', value: [operand, 1, null, true]}]})
    expect(evaluate(compiled, {x: operand})).toBe(true)
    expect(evaluate(compiled, {x: 'other'})).toBe(false)
  })

  it('works on payloads that are not objects', () => {
    for (const weird of [null, undefined, 'text', 42, true, [], [1, 2]]) {
      const compiled = compileConditions({all: [{field: 'a.b.c.d.e', operator: 'equals', value: 1}]})
      expect(evaluate(compiled, weird)).toBe(false)
      expect(explain(compiled, weird).matched).toBe(false)
    }
    expect(evaluate(compileConditions({all: [{field: 'payload', operator: 'equals', value: 'text'}]}), 'text')).toBe(true)
    expect(evaluate(compileConditions({all: [{field: '1', operator: 'equals', value: 2}]}), [1, 2])).toBe(true)
  })

  it('canonicalises spellings to one form starting with payload', () => {
    expect(parseFieldPath('trigger.body.name').canonical).toBe('payload.body.name')
    expect(parseFieldPath('event.payload.items[0].name').canonical).toBe('payload.items.0.name')
    expect(parseFieldPath("headers['X-Token']").canonical).toBe('payload.headers.X-Token')
    expect(parseFieldPath("headers['a.b']").canonical).toBe('payload.headers["a.b"]')
    expect(parseFieldPath('event.other').canonical).toBe('payload.event.other')
    expect(parseFieldPath('payload').segments).toEqual([])
    expect(parseFieldPath('items.0.01').segments).toEqual(['items', 0, '01'])
    expect(parseFieldPath("h['it\\'s']").segments).toEqual(['h', "it's"])
    for (const key of ['a.b', 'quote"d', "it's", 'new\nline', 'back\\slash', 'sp ace', '[x]', '']) {
      expect(parseFieldPath(formatPath([key, 0])).segments).toEqual([key, 0])
    }
  })

  it.each(['', ' ', 'a.', '.a', 'a..b', 'a[', 'a[x]', 'a[-1]', "a['x", 'a]b', 'a[0]b'])('rejects %j', (field) => {
    expect(() => parseFieldPath(field)).toThrow(FieldPathError)
  })
})
