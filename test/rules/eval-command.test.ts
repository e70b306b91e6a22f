import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {attune} from '../support/cli.js'

const dir = mkdtempSync(join(tmpdir(), 'attune-rule-eval-cli-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))
const write = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

const rules = write(
  'rules.yaml',
  `ref: mypack.deploy_on_push
trigger: {type: github.push, parameters: {}}
conditions:
  any:
    - {field: payload.branch, operator: equals, value: main}
    - all: [{field: payload.tag, operator: exists}, {field: payload.tag, operator: matches, value: '^v\\d+'}]
action: {ref: core.echo, parameters: {message: hi}}
---
name: st2_style
pack: mypack
trigger: {type: core.st2.webhook}
criteria: {trigger.body.name: {type: equals, pattern: st2}}
action: {ref: core.local}
`,
)
const pushEvent = write('push.json', JSON.stringify({branch: 'dev', tag: 'v1.4'}))

describe('attune rule eval', () => {
  it('explains a match as a tree and exits 0', async () => {
    const run = await attune(['rule', 'eval', rules, '--event', pushEvent])
    expect(run.exitCode).toBe(0)
    expect(run.stdout).toContain('✓ mypack.deploy_on_push matched')
    expect(run.stdout).toContain('├─ ✗ payload.branch equals "main"  · actual "dev" · not equal')
    expect(run.stdout).toContain('└─ ✓ all (2 of 2 true)')
    expect(run.stdout).toContain('✗ mypack.st2_style not matched')
    expect(run.stdout).toContain('field missing: payload has no key "body"')
    expect(run.stdout).toContain('1 of 2 rules matched')
    expect(run.stdout).not.toMatch(/\u001B\[/)
  })

  it('exits 1 when no rule matches', async () => {
    const run = await attune(['rule', 'eval', rules, '--event', '{"branch": "dev"}'])
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toContain('0 of 2 rules matched')
  })

  it('prints one JSON document with --json, reading the event from stdin', async () => {
    const run = await attune(['rule', 'eval', rules, '--rule', 'mypack.st2_style', '--event', '-', '--json'], {input: '{"body": {"name": "st2"}}'})
    expect(run.exitCode).toBe(0)
    const result = JSON.parse(run.stdout as string)
    expect(result).toEqual({
      matched: true,
      rules: [
        {
          ref: 'mypack.st2_style',
          label: 'st2_style',
          file: rules,
          line: 9,
          enabled: true,
          trigger_ref: 'core.st2.webhook',
          action_ref: 'core.local',
          matched: true,
          trace: {group: 'all', result: true, children: [{field: 'payload.body.name', operator: 'equals', expected: 'st2', actual: 'st2', result: true, reason: 'equal'}]},
        },
      ],
      warnings: [],
    })
  })

  it('reads a YAML event file', async () => {
    const event = write('event.yaml', 'branch: main\n')
    const run = await attune(['rule', 'eval', rules, '-e', event, '-r', 'mypack.deploy_on_push', '--json'])
    expect(run.exitCode).toBe(0)
    expect(JSON.parse(run.stdout as string).matched).toBe(true)
  })

  it('prints rule file warnings on stderr, not stdout', async () => {
    const typo = write('typo.yaml', 'ref: p.r\ntrigger: {type: t.x}\naction: {ref: a.y}\ncondition: []\n')
    const run = await attune(['rule', 'eval', typo, '--event', '{}'])
    expect(run.exitCode).toBe(0)
    expect(run.stderr).toContain(`Warning: ${typo}:4: condition: unknown field ignored`)
    expect(run.stdout).not.toContain('Warning')
  })

  it.each([
    ['an unknown operator, by file and line', () => [write('bad-op.yaml', 'ref: p.r\ntrigger: {type: t.x}\naction: {ref: a.y}\nconditions:\n  - {field: a, operator: equalz, value: 1}\n'), '-e', '{}'], /bad-op\.yaml:5: conditions\[0\]\.operator: unknown operator "equalz" \(did you mean "equals"\?\)/],
    ['an invalid regex', () => [write('bad-re.yaml', "ref: p.r\ntrigger: {type: t.x}\naction: {ref: a.y}\ncriteria:\n  trigger.a: {type: regex, pattern: '(a'}\n"), '-e', '{}'], /bad-re\.yaml:5: criteria\["trigger\.a"\]: matches: invalid regular expression "\(a"/],
    ['a bad field path', () => [write('bad-path.yaml', "ref: p.r\ntrigger: {type: t.x}\naction: {ref: a.y}\nconditions:\n  - {field: 'a..b', operator: exists}\n"), '-e', '{}'], /bad-path\.yaml:5: conditions\[0\]\.field: bad field path "a\.\.b"/],
    ['broken YAML', () => [write('broken.yaml', 'ref: p.r\ntrigger: {type: t.x}\n  action: {ref: a.y}\n'), '-e', '{}'], /broken\.yaml:3: invalid YAML/],
    ['a missing rule file', () => [join(dir, 'absent.yaml'), '-e', '{}'], /cannot read rule file .*absent\.yaml: no such file/],
    ['invalid inline JSON', () => [rules, '-e', '{"branch": '], /--event is not valid JSON/],
    ['a missing event file', () => [rules, '-e', join(dir, 'absent.json')], /--event: cannot read .*absent\.json \(no such file\)/],
    ['an event that is not an object', () => [rules, '-e', '[1, 2]'], /--event must be a JSON object, got an array/],
    ['an unknown --rule', () => [rules, '-e', '{}', '--rule', 'mypack.nope'], /no rule "mypack\.nope" in .*rules\.yaml\n\s+Rules in the file: mypack\.deploy_on_push, mypack\.st2_style/],
  ])('exits 2 on %s, naming it, without a stack trace', async (_what, args, message) => {
    const run = await attune(['rule', 'eval', ...args()])
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toMatch(message)
    expect(run.stderr).not.toMatch(/\n\s+at /)
    const json = await attune(['rule', 'eval', ...args(), '--json'])
    expect(json.exitCode).toBe(2)
    expect(JSON.parse(json.stdout as string).error.message).toMatch(new RegExp(message.source.split('\\n')[0]))
  })
})
