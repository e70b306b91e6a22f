import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {AbortError} from '../../src/engine/errors.js'
import {sharedPath} from '../support/shared.js'
import {compileRule, evaluate, explain, loadRuleFile, normaliseRule, parseRules} from '../../src/engine/rules/index.js'

/** Attune's own timer examples live next to the repository (`../shared`), not in it. */
const TIMER_RULES = sharedPath('fixtures/attune-timer-rules.yaml')

const SPEC_EXAMPLE = `ref: mypack.deploy_on_push
trigger: {type: github.push, parameters: {}}
conditions:
  any:
    - {field: payload.branch, operator: equals, value: main}
    - all: [{field: payload.tag, operator: exists}, {field: payload.tag, operator: matches, value: '^v\\d+'}]
action: {ref: core.echo, parameters: {message: hi}}
enabled: true
---
name: st2_style
pack: mypack
trigger: {type: core.st2.webhook}
criteria: {trigger.body.name: {type: equals, pattern: st2}}
action: {ref: core.local}
`

function errorOf(run: () => unknown): AbortError {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(AbortError)
    return error as AbortError
  }
  throw new Error('expected an error')
}

describe('parsing the two rule forms', () => {
  const [attune, st2] = parseRules(SPEC_EXAMPLE, 'spec.yaml')

  it('normalises the Attune form', () => {
    expect(attune.rule).toEqual({
      ref: 'mypack.deploy_on_push',
      pack_ref: 'mypack',
      label: 'deploy_on_push',
      description: null,
      trigger_ref: 'github.push',
      trigger_params: {},
      conditions: {
        any: [
          {field: 'payload.branch', operator: 'equals', value: 'main'},
          {all: [{field: 'payload.tag', operator: 'exists'}, {field: 'payload.tag', operator: 'matches', value: '^v\\d+'}]},
        ],
      },
      action_ref: 'core.echo',
      action_params: {message: 'hi'},
      enabled: true,
    })
    expect(attune.source).toEqual({file: 'spec.yaml', line: 1, document: 0})
    expect(attune.warnings).toEqual([])
  })

  it('normalises the StackStorm form', () => {
    expect(st2.rule).toEqual({
      ref: 'mypack.st2_style',
      pack_ref: 'mypack',
      label: 'st2_style',
      description: null,
      trigger_ref: 'core.st2.webhook',
      trigger_params: {},
      conditions: {all: [{field: 'payload.body.name', operator: 'equals', value: 'st2'}]},
      action_ref: 'core.local',
      action_params: {},
      enabled: true,
    })
    expect(st2.source.line).toBe(10)
  })

  it('compiles on load', () => {
    expect(evaluate(attune.compiled, {branch: 'main'})).toBe(true)
    expect(evaluate(attune.compiled, {branch: 'dev', tag: 'v2'})).toBe(true)
    expect(evaluate(attune.compiled, {branch: 'dev', tag: 'x2'})).toBe(false)
    expect(evaluate(st2.compiled, {body: {name: 'st2'}})).toBe(true)
    expect(explain(st2.compiled, {body: {}}).trace.children[0]).toMatchObject({result: false, reason: 'field missing: payload.body has no key "name"'})
  })

  it('stores a normalised rule that survives JSON and recompiles to the same decisions', () => {
    const stored = JSON.parse(JSON.stringify(attune.rule))
    // The stored form is also Attune's loader form (trigger_ref, action_ref, action_params, ...).
    const again = normaliseRule(stored)
    expect(again.rule.conditions).toEqual(attune.rule.conditions)
    const recompiled = compileRule(stored)
    for (const payload of [{branch: 'main'}, {tag: 'v1'}, {tag: 'x'}, {}]) {
      expect(evaluate(recompiled, payload)).toBe(evaluate(attune.compiled, payload))
    }
  })

  it('accepts JSON rule files', () => {
    const json = JSON.stringify({ref: 'p.r', trigger: {type: 'core.x'}, action: {ref: 'core.y'}, conditions: [{field: 'a', operator: 'gt', value: 1}]})
    const [rule] = parseRules(json, 'rule.json')
    expect(rule.rule.conditions).toEqual({all: [{field: 'payload.a', operator: 'greater_than', value: 1}]})
  })

  it('applies defaults and label rules', () => {
    const [rule] = parseRules('ref: p.some.rule\ntrigger: {type: t.x}\naction: {ref: a.y}\n', 'r.yaml')
    expect(rule.rule).toMatchObject({ref: 'p.some.rule', pack_ref: 'p', label: 'some.rule', enabled: true, conditions: {all: []}, trigger_params: {}, action_params: {}})
    expect(evaluate(rule.compiled, {anything: 1})).toBe(true)
    const [labelled] = parseRules('ref: p.r\nlabel: Nice\nname: n\ndescription: d\nenabled: false\ntrigger: {type: t.x}\naction: {ref: a.y}\n', 'r.yaml')
    expect(labelled.rule).toMatchObject({label: 'Nice', description: 'd', enabled: false})
  })

  it('normalises a single leaf and a bare list at the root', () => {
    const base = {ref: 'p.r', trigger: {type: 't.x'}, action: {ref: 'a.y'}}
    expect(normaliseRule({...base, conditions: {field: 'a', operator: 'eq', value: 1}}).rule.conditions).toEqual({all: [{field: 'payload.a', operator: 'equals', value: 1}]})
    expect(normaliseRule({...base, conditions: [{any: []}]}).rule.conditions).toEqual({all: [{any: []}]})
  })

  it('warns about unknown fields, quietly ignores StackStorm bookkeeping', () => {
    const [rule] = parseRules('ref: p.r\ncondition: []\ntags: [x]\ntrigger: {type: t.x, params: {}}\naction: {ref: a.y}\n', 'r.yaml')
    expect(rule.warnings).toEqual(['r.yaml:2: condition: unknown field ignored (did you mean "conditions"?)', 'r.yaml:4: trigger.params: unknown field ignored'])
  })

  it('skips documents that hold only comments, and returns nothing for an empty file', () => {
    expect(parseRules('# nothing\n---\n# still nothing\n', 'empty.yaml')).toEqual([])
    expect(parseRules('', 'empty.yaml')).toEqual([])
    const rules = parseRules('---\n# comment\n---\nref: p.r\ntrigger: {type: t.x}\naction: {ref: a.y}\n---\n# trailing\n', 'r.yaml')
    expect(rules.map((r) => [r.rule.ref, r.source.line, r.source.document])).toEqual([['p.r', 4, 1]])
  })
})

describe('rule files in the shape of Attune timer examples', () => {
  // Written for this test in the shape of fixtures/attune-timer-rules.yaml: name and ref,
  // trigger parameters, action parameters with lists and block scalars, comment-only docs.
  const TEXT = `# Timer rules
---
# interval
name: heartbeat_rule
ref: ops.heartbeat
description: "Ping every minute"
enabled: true
trigger:
  type: core.intervaltimer
  parameters:
    unit: minutes
    interval: 1
action:
  ref: core.http_request
  parameters:
    url: "https://example.invalid/ping"
    timeout: 5
---
name: nightly_rule
ref: ops.nightly
description: "Nightly job"
enabled: false
trigger:
  type: core.crontimer
  parameters:
    expression: "0 0 3 * * *"  # 03:00
    timezone: "UTC"
action:
  ref: core.shell
  parameters:
    cmd: |
      echo one
      echo two
    recipients:
      - a@example.invalid
---
# Notes only, no rule here.
`
  it('reads every rule with its parameters', () => {
    const rules = parseRules(TEXT, 'timers.yaml')
    expect(rules.map((r) => r.rule.ref)).toEqual(['ops.heartbeat', 'ops.nightly'])
    expect(rules[0].rule).toMatchObject({
      label: 'heartbeat_rule',
      pack_ref: 'ops',
      trigger_ref: 'core.intervaltimer',
      trigger_params: {unit: 'minutes', interval: 1},
      action_params: {url: 'https://example.invalid/ping', timeout: 5},
      conditions: {all: []},
    })
    expect(rules[1].rule).toMatchObject({enabled: false, trigger_params: {expression: '0 0 3 * * *', timezone: 'UTC'}})
    expect(rules[1].rule.action_params.cmd).toBe('echo one\necho two\n')
    expect(rules.map((r) => r.source.line)).toEqual([4, 19])
  })

  it.skipIf(TIMER_RULES.skip)('reads the shared fixture attune-timer-rules.yaml unchanged', () => {
    const rules = loadRuleFile(TIMER_RULES.path)
    expect(rules).toHaveLength(9)
    for (const {rule, warnings} of rules) {
      expect(warnings).toEqual([])
      expect(rule.ref).toMatch(/^[\w-]+\.[\w.-]+$/)
      expect(rule.pack_ref).toBe(rule.ref.split('.')[0])
      expect(['core.intervaltimer', 'core.crontimer', 'core.datetimetimer']).toContain(rule.trigger_ref)
      expect(rule.conditions).toEqual({all: []})
      expect(rule.enabled).toBe(true)
      expect(Object.keys(rule.trigger_params).length).toBeGreaterThan(0)
    }
    const first = rules[0].rule
    expect(first).toMatchObject({ref: 'monitoring.health_check', label: 'health_check_rule', trigger_params: {unit: 'seconds', interval: 30}})
    expect(rules.find((r) => r.rule.trigger_ref === 'core.crontimer')?.rule.trigger_params.expression).toMatch(/^\S+( \S+){5}$/)
  })
})

describe('bad rule files', () => {
  const head = 'ref: p.r\ntrigger: {type: t.x}\naction: {ref: a.y}\n'
  const cases: [what: string, text: string, message: string | RegExp][] = [
    ['unknown operator, with line and field', `${head}conditions:\n  any:\n    - {field: a, operator: equals, value: 1}\n    - {field: b, operator: equalz, value: 1}\n`, /^r\.yaml:7: conditions\.any\[1\]\.operator: unknown operator "equalz"/],
    ['unknown StackStorm type', `${head}criteria:\n  trigger.a: {type: timediff_lt, pattern: 5}\n`, /^r\.yaml:5: criteria\["trigger\.a"\]\.type: unknown operator "timediff_lt"/],
    ['bad regex, with the pattern', `${head}conditions:\n  - {field: a, operator: matches, value: '(unclosed'}\n`, 'r.yaml:5: conditions[0]: matches: invalid regular expression "(unclosed": error parsing regexp: missing closing ): `(unclosed`'],
    ['bad iregex names the alias', `${head}criteria:\n  trigger.a:\n    type: iregex\n    pattern: '[a'\n`, /^r\.yaml:5: criteria\["trigger\.a"\]: matches: invalid regular expression "\(\?i\)\[a".*\(iregex is matches\)$/],
    ['wrong operand type', `${head}conditions:\n  - field: a\n    operator: greater_than\n    value: "10"\n`, /^r\.yaml:5: conditions\[0\]: greater_than needs a number value, got string "10"$/],
    ['missing value', `${head}conditions:\n  - {field: a, operator: contains}\n`, /^r\.yaml:5: conditions\[0\]: contains needs a value/],
    ['bad path', `${head}conditions:\n  - {field: 'a..b', operator: exists}\n`, /^r\.yaml:5: conditions\[0\]\.field: bad field path "a\.\.b"/],
    ['unknown condition key', `${head}conditions:\n  - {field: a, operator: equals, valeu: 1}\n`, /^r\.yaml:5: conditions\[0\]\.valeu: unknown key in a condition/],
    ['group with two keys', `${head}conditions:\n  all: []\n  any: []\n`, /^r\.yaml:4: conditions: a group has exactly one key, all or any; found all, any$/],
    ['group not a list', `${head}conditions:\n  any: {field: a, operator: exists}\n`, /^r\.yaml:5: conditions\.any: expected a list of conditions/],
    ['StackStorm search', `${head}criteria:\n  trigger.items:\n    type: search\n    condition: any\n    pattern: {}\n`, /search operator is not supported/],
    ['both forms', `${head}conditions: []\ncriteria: {}\n`, /^r\.yaml:5: criteria: a rule has conditions \(Attune form\) or criteria \(StackStorm form\), not both$/],
    ['missing trigger', 'ref: p.r\naction: {ref: a.y}\n', /^r\.yaml:1: \(document\): missing trigger \(trigger: \{type, parameters\} or trigger_ref\)$/],
    ['missing trigger type', 'ref: p.r\ntrigger:\n  parameters: {}\naction: {ref: a.y}\n', /^r\.yaml:2: trigger: missing type$/],
    ['bad trigger ref', 'ref: p.r\ntrigger: {type: 5}\naction: {ref: a.y}\n', /^r\.yaml:2: trigger\.type: expected a ref like pack\.name, got number 5$/],
    ['missing action ref', 'ref: p.r\ntrigger: {type: t.x}\naction: {parameters: {}}\n', /^r\.yaml:3: action: missing ref$/],
    ['parameters not a mapping', 'ref: p.r\ntrigger: {type: t.x}\naction: {ref: a.y, parameters: [1]}\n', /^r\.yaml:3: action\.parameters: expected a mapping, got a list$/],
    ['ref without a pack', 'ref: nodot\ntrigger: {type: t.x}\naction: {ref: a.y}\n', /^r\.yaml:1: ref: invalid ref "nodot": expected pack\.name$/],
    ['StackStorm name without pack', 'name: r\ntrigger: {type: t.x}\naction: {ref: a.y}\n', /missing pack: a rule named "r" needs pack/],
    ['pack disagrees with ref', 'ref: p.r\npack: q\ntrigger: {type: t.x}\naction: {ref: a.y}\n', /^r\.yaml:2: pack: pack "q" does not match ref "p\.r"$/],
    ['enabled not a boolean', 'ref: p.r\nenabled: "yes"\ntrigger: {type: t.x}\naction: {ref: a.y}\n', /^r\.yaml:2: enabled: expected true or false/],
    ['document not a mapping', '- just\n- a list\n', /^r\.yaml:1: \(document\): a rule must be a mapping$/],
    ['broken YAML, with its line', 'ref: p.r\ntrigger: {type: t.x}\n  action: {ref: a.y}\n', 'r.yaml:3: invalid YAML: All mapping items must start at the same column'],
    ['tab indentation', 'ref: p.r\ntrigger:\n\t- tab\naction: {ref: a.y}\n', 'r.yaml:3: invalid YAML: Tabs are not allowed as indentation'],
    ['reserved character', 'ref: p.r\ntrigger: {type: t.x}\naction: {ref: a.y}\ndescription: @bad\n', /^r\.yaml:4: invalid YAML: Plain value cannot start with reserved character @$/],
    ['unclosed flow mapping', 'ref: p.r\ntrigger: {type: t.x\n', /^r\.yaml:\d: invalid YAML: /],
    ['duplicate key', 'ref: p.r\nref: p.s\ntrigger: {type: t.x}\naction: {ref: a.y}\n', /^r\.yaml:2: invalid YAML: Map keys must be unique/],
    ['broken second document', `${head}---\nref: [\n`, /^r\.yaml:[56]: invalid YAML: /],
  ]
  it.each(cases)('%s', (_what, text, message) => {
    const error = errorOf(() => parseRules(text, 'r.yaml'))
    expect(error.code).toBe('rule_invalid')
    if (typeof message === 'string') expect(error.message).toBe(message)
    else expect(error.message).toMatch(message)
  })

  it('refuses an alias bomb', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]']
    for (let i = 0; i < 8; i++) lines.push(`${'b'.repeat(i + 1)}: &${'b'.repeat(i + 1)} [${Array(10).fill(i === 0 ? '*a' : `*${'b'.repeat(i)}`).join(', ')}]`)
    const error = errorOf(() => parseRules(`ref: p.r\ntrigger: {type: t.x}\naction: {ref: a.y, parameters: {${lines.join(', ')}}}\n`, 'bomb.yaml'))
    expect(error.message).toMatch(/^bomb\.yaml:1: invalid YAML: Excessive alias count/)
  })

  describe('files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'attune-rules-'))
    afterAll(() => rmSync(dir, {recursive: true, force: true}))

    it('loads a file and names it in errors', () => {
      const good = join(dir, 'good.yaml')
      writeFileSync(good, SPEC_EXAMPLE)
      expect(loadRuleFile(good).map((r) => r.source.file)).toEqual([good, good])
      const bad = join(dir, 'bad.yaml')
      writeFileSync(bad, `${head}conditions:\n  - {field: a, operator: nope, value: 1}\n`)
      expect(errorOf(() => loadRuleFile(bad)).message).toMatch(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5: conditions\\[0\\]\\.operator: unknown operator "nope"`))
    })

    it('reports a missing file by its path', () => {
      const error = errorOf(() => loadRuleFile(join(dir, 'absent.yaml')))
      expect(error.message).toBe(`cannot read rule file ${join(dir, 'absent.yaml')}: no such file`)
      expect(error.code).toBe('file_unreadable')
    })
  })
})
