import {describe, expect, it} from 'vitest'
import {evaluate, explain, parseRules, type LoadedRule} from '../../src/engine/rules/index.js'

/**
 * StackStorm `criteria` rules and their hand translations into Attune `conditions` must make
 * the same decisions on every payload and normalise to the same tree.
 */
const PAIRS: [what: string, criteria: string, conditions: string][] = [
  [
    'webhook body equals',
    `criteria:\n  trigger.body.name: {type: equals, pattern: st2}`,
    `conditions:\n  - {field: payload.body.name, operator: equals, value: st2}`,
  ],
  [
    'several criteria are ANDed',
    `criteria:\n  trigger.body.name: {type: eq, pattern: st2}\n  trigger.body.count: {type: gt, pattern: 3}\n  trigger.headers['X-Env']: {type: inside, pattern: [prod, staging]}`,
    `conditions:\n  all:\n    - {field: payload.body.name, operator: equals, value: st2}\n    - {field: payload.body.count, operator: greater_than, value: 3}\n    - {field: "payload.headers.X-Env", operator: in, value: [prod, staging]}`,
  ],
  [
    'negations and existence',
    `criteria:\n  trigger.body.name: {type: neq, pattern: bot}\n  trigger.body.tags: {type: ncontains, pattern: skip}\n  trigger.body.error: {type: nexists}\n  trigger.body.user: {type: exists}`,
    `conditions:\n  - {field: body.name, operator: not_equals, value: bot}\n  - {field: body.tags, operator: not_contains, value: skip}\n  - {field: body.error, operator: not_exists}\n  - {field: body.user, operator: exists}`,
  ],
  [
    'string operators',
    `criteria:\n  trigger.body.ref: {type: startswith, pattern: refs/heads/}\n  trigger.body.file: {type: endswith, pattern: .py}\n  trigger.body.title: {type: icontains, pattern: fix}\n  trigger.body.kind: {type: ieq, pattern: PUSH}`,
    `conditions:\n  - {field: event.payload.body.ref, operator: starts_with, value: refs/heads/}\n  - {field: event.payload.body.file, operator: ends_with, value: .py}\n  - {field: event.payload.body.title, operator: icontains, value: fix}\n  - {field: event.payload.body.kind, operator: iequals, value: PUSH}`,
  ],
  [
    'regexes and globs',
    `criteria:\n  trigger.body.version: {type: regex, pattern: '^v\\d+\\.\\d+'}\n  trigger.body.branch: {type: iregex, pattern: '^release/'}\n  trigger.body.path: {type: matchwildcard, pattern: 'src/*.ts'}`,
    `conditions:\n  - {field: body.version, operator: matches, value: '^v\\d+\\.\\d+'}\n  - {field: body.branch, operator: matches, value: '(?i)^release/'}\n  - {field: body.path, operator: matchwildcard, value: 'src/*.ts'}`,
  ],
  [
    'numeric bounds',
    `criteria:\n  trigger.cpu: {type: lt, pattern: 90}\n  trigger.mem: {type: greaterthan, pattern: 10}\n  trigger.zone: {type: ninside, pattern: [eu-1]}`,
    `conditions:\n  - {field: cpu, operator: less_than, value: 90}\n  - {field: mem, operator: greater_than, value: 10}\n  - {field: zone, operator: not_in, value: [eu-1]}`,
  ],
]

const PAYLOADS: unknown[] = [
  {},
  {body: {}},
  {body: {name: 'st2', count: 4, tags: ['a'], user: 'me'}, headers: {'X-Env': 'prod'}},
  {body: {name: 'st2', count: 3}, headers: {'X-Env': 'prod'}},
  {body: {name: 'st2', count: 9}, headers: {'X-Env': 'dev'}},
  {body: {name: 'bot', tags: ['skip'], error: null, user: null}},
  {body: {name: 'human', tags: 'no skipping', user: 'x'}},
  {body: {name: 'human', tags: ['x'], error: 'boom', user: 'x'}},
  {body: {ref: 'refs/heads/main', file: 'a.py', title: 'Fix: bug', kind: 'push'}},
  {body: {ref: 'refs/tags/v1', file: 'a.py', title: 'Fix', kind: 'push'}},
  {body: {ref: 'refs/heads/x', file: 'a.js', title: 'FIX', kind: 'Push'}},
  {body: {ref: 5, file: ['a.py'], title: null, kind: true}},
  {body: {version: 'v1.2', branch: 'RELEASE/1', path: 'src/a.ts'}},
  {body: {version: 'v1', branch: 'release/1', path: 'src/a/b.ts'}},
  {body: {version: 'x v1.2', branch: 'hotfix', path: 'lib/a.ts'}},
  {cpu: 50, mem: 20, zone: 'us-1'},
  {cpu: 95, mem: 20, zone: 'us-1'},
  {cpu: '50', mem: 20, zone: 'us-1'},
  {cpu: 50, mem: 20, zone: 'eu-1'},
  {cpu: 50, mem: 20},
  'not an object',
  null,
]

const rule = (body: string): LoadedRule => {
  const [loaded] = parseRules(`name: r\npack: p\ntrigger: {type: core.t}\naction: {ref: core.a}\n${body}\n`, 'r.yaml')
  return loaded
}

describe('StackStorm criteria behave like their Attune translations', () => {
  it.each(PAIRS)('%s', (_what, criteria, conditions) => {
    const st2 = rule(criteria)
    const attune = rule(conditions)
    expect(st2.rule.conditions).toEqual(attune.rule.conditions)
    let matched = 0
    for (const payload of PAYLOADS) {
      const decision = evaluate(st2.compiled, payload)
      expect(decision, JSON.stringify(payload)).toBe(evaluate(attune.compiled, payload))
      expect(explain(st2.compiled, payload)).toEqual(explain(attune.compiled, payload))
      if (decision) matched++
    }
    // Each pair is exercised both ways by the payloads.
    expect(matched).toBeGreaterThan(0)
    expect(matched).toBeLessThan(PAYLOADS.length)
  })

  it('keeps criteria in their written order', () => {
    const st2 = rule(`criteria:\n  trigger.b: {type: exists}\n  trigger.a: {type: exists}\n  trigger.c: {type: exists}`)
    expect(st2.rule.conditions).toEqual({all: ['b', 'a', 'c'].map((f) => ({field: `payload.${f}`, operator: 'exists'}))})
  })

  it('treats a pattern of null like any other operand', () => {
    const st2 = rule(`criteria:\n  trigger.a: {type: equals, pattern: null}`)
    expect(evaluate(st2.compiled, {a: null})).toBe(true)
    expect(evaluate(st2.compiled, {})).toBe(false)
  })

  it('accepts empty criteria as match-all', () => {
    expect(evaluate(rule('criteria: {}').compiled, {})).toBe(true)
  })
})
