import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {demoHome} from '../events/demo-pack.js'
import {attune} from '../support/cli.js'

let world: Awaited<ReturnType<typeof demoHome>>
beforeAll(async () => {
  world = await demoHome()
})
afterAll(() => world?.cleanup())

const evalRule = (args: string[]) => attune(['rule', 'eval', ...args], {env: {ATTUNE_HOME: world.home}})

describe('attune rule eval with registered rules', () => {
  it('explains a registered rule by its ref (exit 0 on a match)', async () => {
    const run = await evalRule(['demo.page', '--event', '{"path": "/", "usage": 95}'])
    expect(run.exitCode).toBe(0)
    expect(run.stdout).toContain('✓ demo.page matched')
    expect(run.stdout).toMatch(/registered rule #\d+ {2}demo\.disk → core\.echo/)
    expect(run.stdout).toContain('└─ ✓ payload.usage greater_than 90  · actual 95 · greater than the value')
  })

  it('prints the structured result with --json and exits 1 when it does not match', async () => {
    const run = await evalRule(['demo.page', '--event', '{"usage": "full"}', '--json'])
    expect(run.exitCode).toBe(1)
    const result = JSON.parse(run.stdout as string)
    expect(result).toEqual({
      matched: false,
      rules: [
        {
          id: expect.any(Number),
          ref: 'demo.page',
          label: 'page',
          source: 'database',
          enabled: true,
          trigger_ref: 'demo.disk',
          action_ref: 'core.echo',
          matched: false,
          trace: {
            group: 'all',
            result: false,
            children: [
              {field: 'payload.usage', operator: 'greater_than', expected: 90, actual: 'full', result: false, reason: expect.stringMatching(/^type mismatch/)},
            ],
          },
        },
      ],
      warnings: [],
    })
  })

  it('evaluates a disabled rule too, and says so', async () => {
    const run = await evalRule(['demo.off', '--event', '{}'])
    expect(run.exitCode).toBe(0)
    expect(run.stdout).toContain('✓ demo.off matched (disabled: the daemon would not run it)')
  })

  it('--trigger: every enabled rule of the trigger, as the daemon matches an event', async () => {
    const run = await evalRule(['--trigger', 'demo.disk', '--event', '{"path": "/var", "usage": 50}'])
    expect(run.exitCode).toBe(0)
    expect(run.stdout).toContain('✓ demo.log_all matched')
    expect(run.stdout).toContain('✗ demo.page not matched')
    expect(run.stdout).not.toContain('demo.off')
    expect(run.stdout).toContain('1 of 2 enabled rules of demo.disk matched')
    const json = await evalRule(['--trigger', 'demo.disk', '--event', '{"path": "relative", "usage": 50}', '--json'])
    expect(json.exitCode).toBe(1)
    const result = JSON.parse(json.stdout as string)
    expect(result).toMatchObject({matched: false, trigger_ref: 'demo.disk', warnings: []})
    expect(result.rules.map((r: {ref: string; matched: boolean}) => [r.ref, r.matched])).toEqual([
      ['demo.log_all', false],
      ['demo.page', false],
    ])
  })

  it.each([
    ['an unknown rule ref', ['demo.nope', '-e', '{}'], /no rule "demo\.nope" is registered/],
    ['an unknown trigger', ['--trigger', 'demo.nope', '-e', '{}'], /no trigger "demo\.nope" is registered/],
    ['both RULE and --trigger', ['demo.page', '--trigger', 'demo.disk', '-e', '{}'], /pass RULE or --trigger, not both/],
    ['neither RULE nor --trigger', ['-e', '{}'], /missing RULE \(a rule file or a registered rule ref\) or --trigger REF/],
    ['--rule with a registered ref', ['demo.page', '--rule', 'demo.page', '-e', '{}'], /--rule selects a rule within a rule file/],
  ])('exits 2 on %s, naming it', async (_what, args, message) => {
    const run = await evalRule([...args, '--json'])
    expect(run.exitCode).toBe(2)
    expect(JSON.parse(run.stdout as string).error.message).toMatch(message)
  })

  it('names a stored rule that no longer compiles (exit 2), and --trigger skips it with a warning', async () => {
    const store = await world.open()
    try {
      await store.query(`UPDATE attune.rule SET conditions = '{"all": [{"field": "payload.usage", "operator": "bigger", "value": 1}]}' WHERE ref = 'demo.page'`)
    } finally {
      await store.close()
    }
    const run = await evalRule(['demo.page', '-e', '{}'])
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toMatch(/rule demo\.page: .*unknown operator "bigger"/)
    const trigger = await evalRule(['--trigger', 'demo.disk', '-e', '{"path": "/"}'])
    expect(trigger.exitCode).toBe(0)
    expect(trigger.stderr).toMatch(/Warning: rule demo\.page skipped: .*unknown operator "bigger"/)
    expect(trigger.stdout).toContain('1 of 1 enabled rules of demo.disk matched')
  })
})
