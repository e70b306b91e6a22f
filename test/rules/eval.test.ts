import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {AbortError} from '../../src/engine/errors.js'
import {evaluateRuleFile, evaluateRules} from '../../src/engine/rules/eval.js'
import {parseRules} from '../../src/engine/rules/index.js'
import {renderRuleEvalResult} from '../../src/ui/rule-trace.js'

const RULES = `ref: mypack.deploy_on_push
trigger: {type: github.push}
conditions:
  any:
    - {field: payload.branch, operator: equals, value: main}
    - all: [{field: payload.tag, operator: exists}, {field: payload.tag, operator: matches, value: '^v\\d+'}]
action: {ref: core.echo}
---
name: st2_style
pack: mypack
enabled: false
trigger: {type: core.st2.webhook}
criteria: {trigger.body.name: {type: equals, pattern: st2}}
action: {ref: core.local}
`

describe('evaluateRules', () => {
  const loaded = parseRules(RULES, 'rules.yaml')

  it('evaluates every rule of the file, disabled ones included', () => {
    const result = evaluateRules(loaded, {branch: 'dev', body: {name: 'st2'}})
    expect(result.matched).toBe(true)
    expect(result.rules.map((r) => [r.ref, r.enabled, r.matched, r.line])).toEqual([
      ['mypack.deploy_on_push', true, false, 1],
      ['mypack.st2_style', false, true, 9],
    ])
    expect(result.rules[0]).toMatchObject({file: 'rules.yaml', label: 'deploy_on_push', trigger_ref: 'github.push', action_ref: 'core.echo'})
    expect(result.rules[0].trace.children[0]).toEqual({field: 'payload.branch', operator: 'equals', expected: 'main', actual: 'dev', result: false, reason: 'not equal'})
  })

  it('selects one rule by ref, and names the refs there are when it is absent', () => {
    expect(evaluateRules(loaded, {branch: 'main'}, {ref: 'mypack.deploy_on_push'}).rules).toHaveLength(1)
    try {
      evaluateRules(loaded, {}, {ref: 'mypack.nope'})
      throw new Error('expected an error')
    } catch (error) {
      expect(error).toBeInstanceOf(AbortError)
      expect((error as AbortError).message).toBe('no rule "mypack.nope" in rules.yaml')
      expect((error as AbortError).hint).toBe('Rules in the file: mypack.deploy_on_push, mypack.st2_style')
    }
  })

  it('is false overall when nothing matches', () => {
    expect(evaluateRules(loaded, {}).matched).toBe(false)
  })

  describe('files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'attune-rule-eval-'))
    afterAll(() => rmSync(dir, {recursive: true, force: true}))

    it('loads and evaluates a file', () => {
      const file = join(dir, 'rules.yaml')
      writeFileSync(file, RULES)
      expect(evaluateRuleFile(file, {tag: 'v3'}).rules[0].matched).toBe(true)
    })

    it('refuses a file without rules', () => {
      const file = join(dir, 'empty.yaml')
      writeFileSync(file, '# nothing yet\n')
      expect(() => evaluateRuleFile(file, {})).toThrow(`no rule in ${file}`)
    })
  })
})

describe('the rendered trace', () => {
  it('draws a tree with a verdict, the source and one line per condition', () => {
    // No terminal under vitest: chalk adds no colour codes.
    const text = renderRuleEvalResult(evaluateRules(parseRules(RULES, 'rules.yaml'), {branch: 'dev', tag: 'nightly', body: {name: 'st2'}}))
    expect(text).toBe(
      [
        '✗ mypack.deploy_on_push not matched',
        '  rules.yaml:1  github.push → core.echo',
        '  ✗ any (0 of 2 true)',
        '  ├─ ✗ payload.branch equals "main"  · actual "dev" · not equal',
        '  └─ ✗ all (1 of 2 true)',
        '     ├─ ✓ payload.tag exists  · actual "nightly" · field present',
        '     └─ ✗ payload.tag matches "^v\\\\d+"  · actual "nightly" · the pattern does not match',
        '',
        '✓ mypack.st2_style matched (disabled: the daemon would not run it)',
        '  rules.yaml:9  core.st2.webhook → core.local',
        '  ✓ all (1 of 1 true)',
        '  └─ ✓ payload.body.name equals "st2"  · actual "st2" · equal',
        '',
        '1 of 2 rules matched',
      ].join('\n'),
    )
  })

  it('says when a rule has no conditions, and cuts long values', () => {
    const [rule] = parseRules('ref: p.r\ntrigger: {type: t.x}\naction: {ref: a.y}\n', 'r.yaml')
    expect(renderRuleEvalResult(evaluateRules([rule], {}))).toContain('no conditions: every event of the trigger matches')
    const [long] = parseRules('ref: p.r\ntrigger: {type: t.x}\naction: {ref: a.y}\nconditions: [{field: x, operator: equals, value: y}]\n', 'r.yaml')
    const text = renderRuleEvalResult(evaluateRules([long], {x: 'z'.repeat(1000)}))
    expect(text).toContain(`actual "${'z'.repeat(78)}…`)
    expect(text.length).toBeLessThan(400)
  })
})
