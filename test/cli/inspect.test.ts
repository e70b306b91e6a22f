import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {serveEmbeddedDatabase, type EmbeddedServer} from '../../src/engine/store/index.js'
import {attune, ROOT} from '../support/cli.js'
import {writePack} from '../support/daemon.js'

// show, enable/disable, pack remove and rule eval --event-id on one embedded database: the
// core and examples packs, and two stored events of examples.disk_full (only the first matches
// examples.alert_on_full_root: enforcement 1).
const home = mkdtempSync(join(tmpdir(), 'attune-cli-inspect-'))
const env = {ATTUNE_HOME: home}
const run = (args: string[]) => attune(args, {env, stdin: 'ignore'})
async function json<T = Record<string, unknown>>(args: string[], exitCode = 0): Promise<T> {
  const result = await run([...args, '--json'])
  expect(result.exitCode, `attune ${args.join(' ')}: ${result.stderr}${result.stdout}`).toBe(exitCode)
  return JSON.parse(result.stdout as string) as T
}
type ErrorDoc = {error: {message: string; code: string; hint?: string; exit_code: number}}

// Served from this process (as a daemon serves it): each command connects instead of loading
// the database itself, which keeps the many short commands below fast.
let served: EmbeddedServer
beforeAll(async () => {
  served = await serveEmbeddedDatabase(home)
  const registered = await run(['pack', 'register', join(ROOT, 'packs', 'core'), join(ROOT, 'packs', 'examples')])
  expect(registered.exitCode, registered.stderr as string).toBe(0)
  const sensor = writePack(join(home, 'emit'), {
    'full.sh': `#!/bin/sh\necho '{"events": [{"path": "/", "usage_percent": 95}, {"path": "/home", "usage_percent": 95}]}'\n`,
  })
  const persisted = await run(['sensor', 'run-once', join(sensor, 'full.sh'), '--trigger-ref', 'examples.disk_full', '--persist'])
  expect(persisted.exitCode, persisted.stderr as string).toBe(0)
}, 180_000)
afterAll(async () => {
  await served?.close()
  rmSync(home, {recursive: true, force: true})
})

describe('show', {timeout: 180_000}, () => {
  it('sensor show: runtime, triggers, rules of its triggers, state; an unknown ref exits 2 naming the closest', async () => {
    const shown = await json<{sensor: {ref: string; runtime_ref: string; poll_interval: number}; triggers: unknown[]; rules: Array<{ref: string}>; status: {state: string}}>(['sensor', 'show', 'examples.disk_usage'])
    expect(shown.sensor).toMatchObject({ref: 'examples.disk_usage', runtime_ref: 'core.shell', poll_interval: 60})
    expect(shown.triggers).toEqual([{ref: 'examples.disk_full', registered: true, enabled: true}])
    expect(shown.rules.map((rule) => rule.ref)).toEqual(['examples.alert_on_full_root'])
    expect(shown.status.state).toBe('not polled')
    const human = await run(['sensor', 'show', 'examples.disk_usage'])
    expect(human.stdout).toMatch(/^sensor examples\.disk_usage$/m)
    expect(human.stdout).toMatch(/^ {2}runtime\s+core\.shell \(Shell\)$/m)
    expect(human.stdout).toMatch(/^ {2}execution\s+poll, every 60s$/m)
    expect(human.stdout).toContain('examples.alert_on_full_root  enabled  examples.disk_full → core.echo')

    const unknown = await run(['sensor', 'show', 'examples.disk_usag'])
    expect(unknown.exitCode).toBe(2)
    expect(unknown.stderr).toContain("Unknown sensor 'examples.disk_usag' (did you mean 'examples.disk_usage'?)")
    const unknownJson = await json<ErrorDoc>(['sensor', 'show', 'nothing.close_to_this'], 2)
    expect(unknownJson.error).toMatchObject({code: 'sensor_not_found', exit_code: 2})
    expect(unknownJson.error.message).not.toContain('did you mean')
  })

  it('rule show: trigger, action, criteria, enabled', async () => {
    const shown = await json<{rule: {ref: string; enabled: boolean; conditions: unknown}; trigger: unknown; action: unknown}>(['rule', 'show', 'examples.alert_on_full_root'])
    expect(shown.rule).toMatchObject({ref: 'examples.alert_on_full_root', enabled: true})
    expect(JSON.stringify(shown.rule.conditions)).toContain('payload.usage_percent')
    expect(shown.trigger).toEqual({ref: 'examples.disk_full', registered: true, enabled: true, sensors: ['examples.disk_usage']})
    expect(shown.action).toEqual({ref: 'core.echo', registered: true})
    const human = await run(['rule', 'show', 'examples.alert_on_full_root'])
    expect(human.stdout).toMatch(/^ {2}trigger\s+examples\.disk_full {2}enabled {2}\(emitted by examples\.disk_usage\)$/m)
    expect(human.stdout).toMatch(/^ {2}criteria\s+\{$/m)
    expect((await json<ErrorDoc>(['rule', 'show', 'examples.alert_on_full_rot'], 2)).error.message).toContain("did you mean 'examples.alert_on_full_root'")
  })

  it('trigger show: sensors, rules and webhook', async () => {
    const before = await json<{webhook: unknown; sensors: string[]; rules: Array<{ref: string}>}>(['trigger', 'show', 'examples.disk_full'])
    expect(before.webhook).toEqual({enabled: false, key: null, path: null})
    expect(before.sensors).toEqual(['examples.disk_usage'])
    expect(before.rules.map((rule) => rule.ref)).toEqual(['examples.alert_on_full_root'])
    expect((await run(['trigger', 'webhook', 'enable', 'examples.disk_full'])).exitCode).toBe(0)
    const human = await run(['trigger', 'show', 'examples.disk_full', '--base-url', 'https://hooks.example.com'])
    expect(human.stdout).toMatch(/^ {2}webhook\s+enabled {2}https:\/\/hooks\.example\.com\/api\/v1\/webhooks\/wh_[0-9a-f]{32}$/m)
    expect(human.stdout).toMatch(/^ {2}payload\s+path, threshold, event_type, usage_percent$/m)
  })

  it('pack show: counts and contents', async () => {
    const shown = await json<{counts: Record<string, number>; contents: {sensors: string[]}; history: unknown}>(['pack', 'show', 'examples'])
    expect(shown.counts).toEqual({runtimes: 0, triggers: 5, sensors: 4, actions: 0, rules: 7})
    expect(shown.contents.sensors).toContain('examples.disk_usage')
    expect(shown.history).toEqual({events: 2, enforcements: 1})
    const human = await run(['pack', 'show', 'core'])
    expect(human.stdout).toMatch(/^ {2}runtimes \(5\)\s+core\./m)
    expect(human.stdout).toMatch(/^ {2}rules \(0\)\s+-$/m)
    expect((await run(['pack', 'show', 'cor'])).stderr).toContain("Unknown pack 'cor' (did you mean 'core'?)")
  })

  it('event show: payload and the enforcements it created; an unknown id exits 2', async () => {
    const first = await json<{event: {id: number; payload: unknown}; enforcements: Array<{id: number; rule_ref: string}>}>(['event', 'show', '1'])
    expect(first.event).toMatchObject({id: 1, payload: {path: '/', usage_percent: 95}})
    expect(first.enforcements.map((item) => [item.id, item.rule_ref])).toEqual([[1, 'examples.alert_on_full_root']])
    const human = await run(['event', 'show', '2'])
    expect(human.stdout).toMatch(/^ {2}trigger\s+examples\.disk_full$/m)
    expect(human.stdout).toContain('"path": "/home"')
    expect(human.stdout).toContain('none: it matched no rule')
    const missing = await run(['event', 'show', '99'])
    expect(missing.exitCode).toBe(2)
    expect(missing.stderr).toContain('No event with id 99')
    expect((await run(['event', 'show', 'abc'])).exitCode).toBe(2)
  })

  it('enforcement show: its rule and event', async () => {
    const shown = await json<{enforcement: {id: number; rule_ref: string; config: unknown}; rule: unknown; event: {id: number}}>(['enforcement', 'show', '1'])
    expect(shown.enforcement).toMatchObject({id: 1, rule_ref: 'examples.alert_on_full_root', config: {message: 'root filesystem is nearly full'}})
    expect(shown.rule).toEqual({ref: 'examples.alert_on_full_root', enabled: true, trigger_ref: 'examples.disk_full', action_ref: 'core.echo'})
    expect(shown.event.id).toBe(1)
    const human = await run(['enforcement', 'show', '1'])
    expect(human.stdout).toMatch(/^ {2}rule\s+examples\.alert_on_full_root {2}enabled {2}→ core\.echo$/m)
    expect(human.stdout).toMatch(/^ {2}event\s+1 {2}examples\.disk_full /m)
    expect((await json<ErrorDoc>(['enforcement', 'show', '42'], 2)).error.code).toBe('enforcement_not_found')
  })
})

describe('rule eval --event-id (a stored event)', {timeout: 180_000}, () => {
  it('matches event 1 (exit 0) with the trace, not event 2 (exit 1)', async () => {
    const matched = await run(['rule', 'eval', '--event-id', '1'])
    expect(matched.exitCode).toBe(0)
    expect(matched.stdout).toContain('✓ examples.alert_on_full_root matched')
    expect(matched.stdout).toContain('payload.usage_percent greater_or_equal 90')
    expect(matched.stderr).toContain('Event 1 (examples.disk_full)')
    const missed = await json<{matched: boolean; event: unknown; rules: Array<{ref: string; matched: boolean}>}>(['rule', 'eval', 'examples.alert_on_full_root', '--event-id', '2'], 1)
    expect(missed.matched).toBe(false)
    expect(missed.event).toEqual({id: 2, trigger_ref: 'examples.disk_full', payload: {path: '/home', usage_percent: 95}})
    expect(missed.rules.map((rule) => [rule.ref, rule.matched])).toEqual([['examples.alert_on_full_root', false]])
  })

  it('a rule of another trigger is evaluated with a warning', async () => {
    const result = await run(['rule', 'eval', 'examples.heartbeat', '--event-id', '1'])
    expect(result.exitCode).toBe(0)
    expect(result.stderr).toContain('rule examples.heartbeat listens to core.intervaltimer, but event 1 is of examples.disk_full')
  })

  it('exactly one of --event and --event-id; an unknown id exits 2', async () => {
    expect((await json<ErrorDoc>(['rule', 'eval', '--event-id', '99'], 2)).error.code).toBe('event_not_found')
    const both = await run(['rule', 'eval', 'examples.heartbeat', '--event-id', '1', '--event', '{}'])
    expect(both.exitCode).toBe(2)
    expect(both.stderr).toContain('--event cannot also be provided when using --event-id')
    const neither = await run(['rule', 'eval', 'examples.heartbeat'])
    expect(neither.exitCode).toBe(2)
    expect(neither.stderr).toContain('Exactly one of the following must be provided: --event, --event-id')
  })
})

describe('enable and disable', {timeout: 180_000}, () => {
  it('disables and enables a sensor, idempotently, with a note', async () => {
    expect(await json(['sensor', 'disable', 'examples.disk_usage'])).toEqual({kind: 'sensor', ref: 'examples.disk_usage', enabled: false, changed: true})
    const again = await run(['sensor', 'disable', 'examples.disk_usage'])
    expect(again.exitCode).toBe(0)
    expect(again.stdout).toContain('sensor examples.disk_usage is already disabled: nothing changed.')
    expect((await json<{sensor: {enabled: boolean}}>(['sensor', 'show', 'examples.disk_usage'])).sensor.enabled).toBe(false)
    const enabled = await run(['sensor', 'enable', 'examples.disk_usage'])
    expect(enabled.stdout).toContain('Sensor examples.disk_usage enabled.')
    expect(await json(['sensor', 'enable', 'examples.disk_usage'])).toMatchObject({changed: false, note: 'sensor examples.disk_usage is already enabled'})
    expect((await run(['sensor', 'enable', 'examples.disk_usag'])).exitCode).toBe(2)
  })

  it('disables a rule (announced through the outbox) and enables it again', async () => {
    expect(await json(['rule', 'disable', 'examples.alert_on_full_root'])).toEqual({kind: 'rule', ref: 'examples.alert_on_full_root', enabled: false, changed: true, rule_messages: 1})
    // A disabled rule is out of --event-id's default set (the enabled rules of the trigger).
    expect((await json<{rules: unknown[]}>(['rule', 'eval', '--event-id', '1'], 1)).rules).toEqual([])
    expect((await json(['rule', 'disable', 'examples.alert_on_full_root'])).changed).toBe(false)
    expect((await run(['rule', 'enable', 'examples.alert_on_full_root'])).stdout).toContain('Rule examples.alert_on_full_root enabled.')
    expect((await json<ErrorDoc>(['rule', 'enable', 'nope.rule'], 2)).error.code).toBe('rule_not_found')
  })
})

describe('pack remove', {timeout: 240_000}, () => {
  it('refuses the core pack and an unknown pack (exit 2)', async () => {
    const core = await json<ErrorDoc>(['pack', 'remove', 'core'], 2)
    expect(core.error.code).toBe('pack_protected')
    const unknown = await run(['pack', 'remove', 'exampels'])
    expect(unknown.exitCode).toBe(2)
    expect(unknown.stderr).toContain("did you mean 'examples'?")
  })

  it("refuses while another pack's rule uses it; --dry-run --force lists everything and writes nothing; --force removes it and that rule, keeping history", async () => {
    const other = writePack(join(home, 'other'), {
      'pack.yaml': 'ref: other\n',
      'rules/r.yaml': 'ref: other.on_full\ntrigger: {type: examples.disk_full}\naction: {ref: core.echo}\n',
    })
    expect((await run(['pack', 'register', other])).exitCode).toBe(0)

    const refused = await run(['pack', 'remove', 'examples'])
    expect(refused.exitCode).toBe(2)
    expect(refused.stderr).toContain('rule other.on_full (pack other) uses trigger examples.disk_full')

    const dry = await run(['pack', 'remove', 'examples', '--dry-run', '--force'])
    expect(dry.exitCode).toBe(0)
    expect(dry.stdout).toContain('Dry run (nothing written): pack examples would be removed, with:')
    expect(dry.stdout).toContain('rule other.on_full (pack other, uses trigger examples.disk_full): deleted')
    expect(dry.stdout).toContain('Kept (history): 2 event(s), 1 enforcement(s).')
    expect((await json<{counts: {sensors: number}}>(['pack', 'show', 'examples'])).counts.sensors).toBe(4)

    const removed = await json<{dry_run: boolean; removed: {sensors: string[]; rules: string[]}; dependents: unknown[]; kept: unknown; rule_messages: number}>(['pack', 'remove', 'examples', '--force'])
    expect(removed.dry_run).toBe(false)
    expect(removed.removed.sensors).toEqual(['examples.disk_usage', 'examples.file_watcher', 'examples.http_monitor', 'examples.load_reporter'])
    expect(removed.removed.rules).toHaveLength(7)
    expect(removed.dependents).toEqual([{kind: 'rule', ref: 'other.on_full', pack_ref: 'other', uses: 'trigger examples.disk_full', with_force: 'deleted'}])
    expect(removed.kept).toEqual({events: 2, enforcements: 1})
    expect(removed.rule_messages).toBe(8)

    const packs = await json<{packs: Array<{ref: string}>}>(['pack', 'list'])
    expect(packs.packs.map((pack) => pack.ref)).toEqual(['core', 'other'])
    expect((await run(['rule', 'show', 'other.on_full'])).exitCode).toBe(2)
    expect((await run(['sensor', 'show', 'examples.disk_usage'])).exitCode).toBe(2)
    // History stays, unlinked: the refs remain as text.
    const event = await json<{event: {trigger: number | null; trigger_ref: string}; enforcements: unknown[]}>(['event', 'show', '1'])
    expect(event.event).toMatchObject({trigger: null, trigger_ref: 'examples.disk_full'})
    expect(event.enforcements).toHaveLength(1)
    const enforcement = await json<{enforcement: {rule: number | null; rule_ref: string}; rule: unknown}>(['enforcement', 'show', '1'])
    expect(enforcement.enforcement).toMatchObject({rule: null, rule_ref: 'examples.alert_on_full_root'})
    expect(enforcement.rule).toBeNull()
    expect((await run(['enforcement', 'show', '1'])).stdout).toContain('examples.alert_on_full_root  (no longer registered)')
  })
})
