import {readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {parse} from 'yaml'
import {afterAll, describe, expect, it} from 'vitest'
import {AbortError} from '../../src/engine/errors.js'
import {PackError, registerPacks, type RegisterReport} from '../../src/engine/packs/index.js'
import {
  listPacks,
  listRules,
  listRuntimes,
  listSensors,
  listTriggers,
  type Store,
} from '../../src/engine/store/index.js'
import {backends, useMigratedStore} from './backends.js'
import {ATTUNE_CORE_PACK, CORE_FIXTURE, CORE_FIXTURE_ITEMS, copyOfCoreFixture, makePack, removeTempDirs, writeFiles} from './pack-files.js'

const CORE_RUNTIMES = ['core.go', 'core.java', 'core.native', 'core.nodejs', 'core.perl', 'core.python', 'core.r', 'core.ruby', 'core.shell']
const CORE_TRIGGERS = [
  'core.alert',
  'core.crontimer',
  'core.datetimetimer',
  'core.intervaltimer',
  'core.queue_empty',
  'core.queue_started',
  'core.rruletimer',
]

function statuses(report: RegisterReport): Record<string, string> {
  return Object.fromEntries(report.items.filter((i) => i.ref).map((i) => [`${i.kind} ${i.ref}`, i.status]))
}

async function counts(store: Store): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const table of ['pack', 'runtime', 'trigger', 'sensor', 'rule']) {
    const {rows} = await store.query<{n: number}>(`SELECT count(*)::int AS n FROM attune."${table}"`)
    out[table] = rows[0].n
  }
  return out
}

async function registerError(store: Store, dirs: string[]): Promise<PackError> {
  try {
    await registerPacks(store, dirs)
  } catch (error) {
    expect(error).toBeInstanceOf(PackError)
    expect(error).toBeInstanceOf(AbortError) // commands: exit 2, no stack trace
    return error as PackError
  }
  throw new Error('registerPacks succeeded but should have failed')
}

/** A small pack with a trigger, a python sensor and a rule in each form. */
function examplePack(overrides: Record<string, string> = {}): string {
  return makePack('demo', {
    'triggers/tick.yaml': `ref: demo.tick
label: Tick
parameters:
  every: {type: integer, description: seconds, default: 5, required: true}
  token: {type: string, secret: true}
output:
  type: object
  properties:
    n: {type: integer}
  required: [n]
`,
    'sensors/ticker.yaml': `ref: demo.ticker
runner_type: python
entry_point: ticker.py
trigger_types: [demo.tick]
poll_interval: 10
parameters:
  every: {type: integer, default: 5}
config: {every: 7}
env: {TICK_MODE: fast, TICK_COUNT: 3}
`,
    'sensors/ticker.py': 'def poll_sensor(config):\n    return [{"n": 1}]\n',
    'actions/echo.yaml': 'ref: demo.echo\nrunner_type: shell\nentry_point: echo.sh\nparameters:\n  message: {type: string}\n',
    'actions/local.yaml': 'ref: demo.local\nrunner_type: shell\nentry_point: local.sh\n',
    'rules/rules.yaml': `ref: demo.on_tick
trigger: {type: demo.tick, parameters: {every: 5}}
conditions:
  any:
    - {field: payload.n, operator: equals, value: 1}
    - all: [{field: payload.n, operator: exists}, {field: payload.n, operator: greater_than, value: 5}]
action: {ref: demo.echo, parameters: {message: hi}}
---
name: st2_style
pack: demo
trigger: {type: demo.tick}
criteria: {trigger.n: {type: equals, pattern: 3}}
action: {ref: demo.local}
enabled: false
`,
    ...overrides,
  })
}

describe.each(backends())('packs on $name', (backend) => {
  const store = useMigratedStore(backend, {resetEach: true})
  afterAll(() => removeTempDirs())

  it.skipIf(backend.skip)('registers the core pack fixture in Attune format', async () => {
    const report = await registerPacks(store, [CORE_FIXTURE])
    expect(report.packs).toEqual(['core'])
    expect(report.summary).toEqual({created: CORE_FIXTURE_ITEMS, updated: 0, unchanged: 0, skipped: 0, deleted: 0})
    expect((await listRuntimes(store)).map((r) => r.ref)).toEqual(['core.native', 'core.python', 'core.shell'])
    expect((await listTriggers(store)).map((t) => t.ref)).toEqual(['core.alert', 'core.crontimer', 'core.datetimetimer', 'core.intervaltimer'])
    const [pack] = await listPacks(store)
    expect(pack).toMatchObject({ref: 'core', label: 'Core Pack', version: '1.0.0', is_standard: true, runtimes: 3, triggers: 4, sensors: 1})
    expect(pack.conf_schema).toMatchObject({type: 'object', properties: {poll_budget: {type: 'integer', default: 30, minimum: 1, maximum: 600}}})
    const interval = (await listTriggers(store)).find((t) => t.ref === 'core.intervaltimer')!
    expect(interval.param_schema).toMatchObject({required: ['unit', 'interval']})
    const [sensor] = await listSensors(store)
    expect(sensor).toMatchObject({ref: 'core.timer_sensor', runtime_ref: 'core.native', trigger_types: ['core.intervaltimer', 'core.crontimer', 'core.datetimetimer']})
    expect(report.items.find((i) => i.kind === 'sensor')!.warnings).toEqual([expect.stringContaining('entry point attune-core-timer-sensor not found')])
  })

  it.skipIf(backend.skip || ATTUNE_CORE_PACK.skip)("registers Attune's own core pack (../shared) unchanged", async () => {
    const CORE = ATTUNE_CORE_PACK.path
    const report = await registerPacks(store, [CORE])
    expect(report.dry_run).toBe(false)
    expect(report.packs).toEqual(['core'])
    expect(report.summary).toEqual({created: 18, updated: 0, unchanged: 0, skipped: 0, deleted: 0})

    expect((await listRuntimes(store)).map((r) => r.ref)).toEqual(CORE_RUNTIMES)
    expect((await listTriggers(store)).map((t) => t.ref)).toEqual(CORE_TRIGGERS)
    const [pack] = await listPacks(store)
    expect(pack).toMatchObject({ref: 'core', label: 'Core Pack', version: '1.0.0', is_standard: true, runtimes: 9, triggers: 7, sensors: 1, rules: 0})
    // conf_schema: flat form with extra keywords kept
    expect(pack.conf_schema).toEqual({
      type: 'object',
      properties: {
        max_action_timeout: {type: 'integer', description: 'Maximum timeout for action execution in seconds', default: 300, minimum: 1, maximum: 3600},
        enable_debug_logging: {type: 'boolean', description: 'Enable debug logging for core pack actions', default: false},
      },
    })

    // Runtimes keep their verification metadata exactly as written.
    const python = (await listRuntimes(store)).find((r) => r.ref === 'core.python')!
    const yaml = parse(readFileSync(join(CORE, 'runtimes/python.yaml'), 'utf8'))
    expect(python).toMatchObject({name: 'Python', pack_ref: 'core', aliases: ['python', 'python3']})
    expect(python.distributions).toEqual(yaml.distributions)
    expect(python.installation).toEqual(yaml.installation)
    expect(python.execution_config).toEqual(yaml.execution_config)

    // Trigger schemas: StackStorm flat form converted to JSON Schema (inline required lifted).
    const interval = (await listTriggers(store)).find((t) => t.ref === 'core.intervaltimer')!
    expect(interval.param_schema).toEqual({
      type: 'object',
      properties: {
        unit: {type: 'string', enum: ['seconds', 'minutes', 'hours'], description: 'Time unit for the interval', default: 'seconds'},
        interval: {type: 'integer', description: 'Number of time units between each trigger', default: 60},
      },
      required: ['unit', 'interval'],
    })
    expect(interval.out_schema).toMatchObject({type: 'object', required: ['type', 'interval_seconds', 'fired_at']})
    expect((interval.out_schema!.properties as Record<string, unknown>).type).toEqual({
      type: 'string',
      const: 'interval',
      description: 'Trigger type identifier',
    })
    const alert = (await listTriggers(store)).find((t) => t.ref === 'core.alert')!
    expect(alert.param_schema).toEqual({type: 'object', properties: {}})

    // The sensor: native runtime resolved to the pack's runtime row, all four trigger types.
    const [sensor] = await listSensors(store)
    expect(sensor).toMatchObject({
      ref: 'core.timer_sensor',
      label: 'Timer Sensor',
      runtime_ref: 'core.native',
      trigger_ref: 'core.intervaltimer',
      trigger_types: ['core.intervaltimer', 'core.crontimer', 'core.datetimetimer', 'core.rruletimer'],
      poll_interval: 1,
      execution: 'poll',
      enabled: true,
      // As Attune stores it: the file name, resolved in the pack's sensors/ folder.
      entrypoint: 'attune-core-timer-sensor',
      pack_path: CORE,
    })
    expect(sensor.runtime).toBe((await listRuntimes(store)).find((r) => r.ref === 'core.native')!.id)
    expect(sensor.param_schema).toMatchObject({properties: {check_interval_seconds: {type: 'integer', minimum: 1, maximum: 60, default: 1}}})
    const sensorItem = report.items.find((i) => i.kind === 'sensor')!
    expect(sensorItem.warnings).toEqual([expect.stringContaining('entry point attune-core-timer-sensor not found')])
  })

  it.skipIf(backend.skip)('reports actions, workflows and permission sets as skipped, one line each', async () => {
    const dir = copyOfCoreFixture({
      'actions/echo.yaml': 'ref: core.echo\nrunner_type: shell\nentry_point: echo.sh\n',
      'actions/echo.sh': 'echo hi\n',
      'actions/workflows/deploy.yaml': 'ref: core.deploy\ntasks: {}\n',
      'workflows/nightly.yaml': 'name: nightly\n',
      'permission_sets/admin.yaml': 'ref: core.admin\ngrants: []\n',
    })
    const report = await registerPacks(store, [dir])
    const skipped = report.items.filter((i) => i.status === 'skipped')
    expect(skipped.map((i) => [i.kind, i.ref, i.file.slice(dir.length + 1)])).toEqual([
      ['workflow', 'core.deploy', 'actions/workflows/deploy.yaml'],
      ['workflow', 'nightly', 'workflows/nightly.yaml'],
      ['permission_set', 'core.admin', 'permission_sets/admin.yaml'],
    ])
    for (const item of skipped) expect(item.reason).toMatch(/not|executor|API/)
    // Actions are registered (rules name them; Attune's executor runs them).
    expect(report.items.find((i) => i.kind === 'action')).toMatchObject({ref: 'core.echo', status: 'created'})
    expect(report.summary).toEqual({created: CORE_FIXTURE_ITEMS + 1, updated: 0, unchanged: 0, skipped: 3, deleted: 0})
  })

  it.skipIf(backend.skip)('a second run changes nothing; a changed field is an update of that field only', async () => {
    const dir = copyOfCoreFixture()
    const first = await registerPacks(store, [dir])
    const before = await listTriggers(store)
    const second = await registerPacks(store, [dir])
    expect(second.summary).toEqual({created: 0, updated: 0, unchanged: CORE_FIXTURE_ITEMS, skipped: 0, deleted: 0})
    expect(second.items.map((i) => i.id)).toEqual(first.items.map((i) => i.id))
    expect((await listTriggers(store)).map((t) => t.updated.getTime())).toEqual(before.map((t) => t.updated.getTime()))

    const file = join(dir, 'triggers/alert.yaml')
    const text = readFileSync(file, 'utf8')
    const {writeFileSync} = await import('node:fs')
    writeFileSync(file, text.replace('label: "Operator Alert"', 'label: "Alert"'))
    const third = await registerPacks(store, [dir])
    expect(third.summary).toEqual({created: 0, updated: 1, unchanged: CORE_FIXTURE_ITEMS - 1, skipped: 0, deleted: 0})
    expect(third.items.find((i) => i.status === 'updated')).toMatchObject({kind: 'trigger', ref: 'core.alert', changed: ['label'], reason: 'changed: label'})
  })

  it.skipIf(backend.skip)('registers sensors and rules of both forms from another pack, resolving runtimes by alias', async () => {
    await registerPacks(store, [CORE_FIXTURE])
    const report = await registerPacks(store, [examplePack()])
    expect(statuses(report)).toEqual({
      'pack demo': 'created',
      'trigger demo.tick': 'created',
      'sensor demo.ticker': 'created',
      'action demo.echo': 'created',
      'action demo.local': 'created',
      'rule demo.on_tick': 'created',
      'rule demo.st2_style': 'created',
    })
    const sensor = (await listSensors(store, {pack: 'demo'}))[0]
    expect(sensor).toMatchObject({runtime_ref: 'core.python', config: {every: 7}, env: {TICK_MODE: 'fast', TICK_COUNT: '3'}, poll_interval: 10})
    expect(sensor.runtime).not.toBeNull()
    const rules = await listRules(store, {pack: 'demo'})
    expect(rules.map((r) => [r.ref, r.trigger_ref, r.action_ref, r.enabled])).toEqual([
      ['demo.on_tick', 'demo.tick', 'demo.echo', true],
      ['demo.st2_style', 'demo.tick', 'demo.local', false],
    ])
    expect(rules[0]).toMatchObject({trigger_params: {every: 5}, action_params: {message: 'hi'}, label: 'on_tick'})
    // Stored in the rules module's normalised form where Attune's forms cannot say it: a group at the root.
    expect(rules[0].conditions).toEqual({
      any: [
        {field: 'payload.n', operator: 'equals', value: 1},
        {all: [{field: 'payload.n', operator: 'exists'}, {field: 'payload.n', operator: 'greater_than', value: 5}]},
      ],
    })
    // ... and in Attune's list form where it fits (fields relative to the payload, Attune's operators).
    expect(rules[1].conditions).toEqual([{field: 'n', operator: 'equals', value: 3}])
    const trigger = (await listTriggers(store, {pack: 'demo'}))[0]
    expect(trigger.param_schema).toEqual({
      type: 'object',
      properties: {every: {type: 'integer', description: 'seconds', default: 5}, token: {type: 'string', secret: true}},
      required: ['every'],
    })
  })

  it.skipIf(backend.skip)('a dry run reports what it would do and keeps nothing', async () => {
    const report = await registerPacks(store, [CORE_FIXTURE], {dryRun: true})
    expect(report.dry_run).toBe(true)
    expect(report.summary.created).toBe(CORE_FIXTURE_ITEMS)
    expect(report.items.every((i) => i.id === undefined)).toBe(true)
    expect(await counts(store)).toEqual({pack: 0, runtime: 0, trigger: 0, sensor: 0, rule: 0})
  })

  it.skipIf(backend.skip)('broken YAML: the error names the file and line; nothing is registered', async () => {
    const bad = examplePack({'triggers/broken.yaml': 'ref: demo.broken\nparameters:\n  a: {type: string\n  b: 1\n'})
    const error = await registerError(store, [CORE_FIXTURE, bad])
    expect(error.problems).toHaveLength(1)
    expect(error.problems[0].file).toBe(join(bad, 'triggers/broken.yaml'))
    expect(error.problems[0].line).toBeGreaterThanOrEqual(3)
    expect(error.message).toMatch(/triggers\/broken\.yaml:\d+: invalid YAML/)
    expect(await counts(store)).toEqual({pack: 0, runtime: 0, trigger: 0, sensor: 0, rule: 0})
  })

  it.skipIf(backend.skip)('a sensor naming a missing trigger rolls back the whole run', async () => {
    await registerPacks(store, [CORE_FIXTURE])
    const before = await counts(store)
    const bad = examplePack({
      'sensors/other.yaml': 'ref: demo.other\nrunner_type: shell\nentry_point: other.sh\ntrigger_types:\n  - demo.tick\n  - demo.nope\n',
      'sensors/cobol.yaml': 'ref: demo.cobol\nrunner_type: cobol\nentry_point: run.cbl\ntrigger_types: [demo.tick]\n',
    })
    // The pack, its trigger and first sensor are written before the problem is found:
    // all of it must be rolled back, and the core pack left as it was.
    const error = await registerError(store, [copyOfCoreFixture(), bad])
    expect(error.problems).toEqual([
      {
        file: join(bad, 'sensors/cobol.yaml'),
        line: 2,
        field: 'runner_type',
        message: "unknown runtime 'cobol': no runtime has that ref, name or alias (register the core pack first: attune pack register packs/core)",
      },
      {
        file: join(bad, 'sensors/other.yaml'),
        line: 6,
        field: 'trigger_types[1]',
        message: "trigger 'demo.nope' does not exist (not in this run, not in the database)",
      },
    ])
    expect(error.message).toContain(`${join(bad, 'sensors/other.yaml')}:6: trigger_types[1]: trigger 'demo.nope' does not exist`)
    expect(await counts(store)).toEqual(before)
    expect((await listPacks(store)).map((p) => p.ref)).toEqual(['core'])
  })

  it.skipIf(backend.skip)('a schema ajv rejects is an error naming file, line and field', async () => {
    const bad = examplePack({
      'triggers/typo.yaml': 'ref: demo.typo\nparameters:\n  when:\n    type: strnig\n    description: x\noutput:\n  type: object\n  properties:\n    at: {type: string, format: not-a-format}\n',
    })
    const error = await registerError(store, [bad])
    expect(error.problems.map((p) => [p.file.slice(bad.length + 1), p.line, p.field])).toEqual([
      ['triggers/typo.yaml', 4, 'parameters.when.type'],
      ['triggers/typo.yaml', 9, 'output.properties.at.format'],
    ])
    expect(error.problems[0].message).toMatch(/invalid schema: must be equal to one of the allowed values/)
    expect(error.problems[1].message).toMatch(/unknown format "not-a-format"/)
    expect(await counts(store)).toEqual({pack: 0, runtime: 0, trigger: 0, sensor: 0, rule: 0})
  })

  it.skipIf(backend.skip)('a rule with an unknown operator, and sensor config against its schema, are errors', async () => {
    const bad = examplePack({
      'rules/bad.yaml': 'ref: demo.bad\ntrigger: {type: demo.tick}\nconditions:\n  - {field: payload.n, operator: equalz, value: 1}\naction: {ref: demo.echo}\n',
      'sensors/ticker.yaml': 'ref: demo.ticker\nrunner_type: python\nentry_point: ticker.py\ntrigger_types: [demo.tick]\nparameters:\n  every: {type: integer, required: true}\nconfig: {every: soon}\n',
    })
    const error = await registerError(store, [bad])
    expect(error.problems.map((p) => `${p.file.slice(bad.length + 1)}:${p.line}: ${p.field}: ${p.message}`)).toEqual([
      'sensors/ticker.yaml:7: config.every: must be integer',
      expect.stringMatching(/^rules\/bad\.yaml:4: conditions\[0\]\.operator: unknown operator "equalz"/),
    ])
  })

  it.skipIf(backend.skip)('refs are owned by their pack and unique in a run', async () => {
    const bad = examplePack({'triggers/stray.yaml': 'ref: other.stray\n---\nref: demo.tick\n'})
    const error = await registerError(store, [bad])
    expect(error.problems.map((p) => p.message)).toEqual([
      "'other.stray' is not in pack 'demo' (it must start with 'demo.')",
      "trigger 'demo.tick' is also defined in " + join(bad, 'triggers/stray.yaml'),
    ])
  })

  it.skipIf(backend.skip)('announces rule changes through the outbox in the same transaction, and only real changes', async () => {
    const messages = async () =>
      (await store.query<{routing_key: string; exchange: string; message: {message_type: string; payload: Record<string, unknown>}}>(
        "SELECT routing_key, exchange, message FROM attune_sensor.outbox WHERE routing_key LIKE 'rule.%' ORDER BY id",
      )).rows
    await registerPacks(store, [CORE_FIXTURE]) // the runtimes
    const dir = examplePack()
    const dry = await registerPacks(store, [dir], {dryRun: true})
    expect(dry.rule_messages).toBe(2)
    expect(await messages()).toEqual([]) // rolled back with the rest

    const first = await registerPacks(store, [dir])
    expect(first.rule_messages).toBe(2)
    const created = await messages()
    expect(created.map((m) => [m.exchange, m.routing_key, m.message.payload.rule_ref, m.message.payload.enabled])).toEqual([
      ['attune.events', 'rule.created', 'demo.on_tick', true],
      ['attune.events', 'rule.created', 'demo.st2_style', false],
    ])
    const onTick = first.items.find((i) => i.ref === 'demo.on_tick')!
    expect(created[0].message).toMatchObject({
      message_type: 'RuleCreated',
      version: '1.0',
      payload: {rule_id: onTick.id, trigger_ref: 'demo.tick', trigger_params: {every: 5}, action_ref: 'demo.echo'},
    })

    expect((await registerPacks(store, [dir])).rule_messages).toBe(0)
    expect(await messages()).toHaveLength(2)

    // Switch both rules over.
    const rules = readFileSync(join(dir, 'rules/rules.yaml'), 'utf8')
    writeFiles(dir, {
      'rules/rules.yaml': rules
        .replace('enabled: false\n', 'enabled: true\n')
        .replace('action: {ref: demo.echo, parameters: {message: hi}}', 'action: {ref: demo.echo, parameters: {message: hi}}\nenabled: false'),
    })
    const switched = await registerPacks(store, [dir])
    expect((await messages()).slice(2).map((m) => [m.routing_key, m.message.payload.rule_ref])).toEqual([
      ['rule.disabled', 'demo.on_tick'],
      ['rule.enabled', 'demo.st2_style'],
    ])
    expect(switched.rule_messages).toBe(2)

    // A new definition of an enabled rule is announced (as enabled); one of a disabled rule is not.
    const now = readFileSync(join(dir, 'rules/rules.yaml'), 'utf8')
    writeFiles(dir, {'rules/rules.yaml': now.replace('pattern: 3', 'pattern: 4').replace('{message: hi}', '{message: bye}')})
    const edited = await registerPacks(store, [dir])
    expect(edited.summary.updated).toBe(2)
    expect((await messages()).slice(4).map((m) => [m.routing_key, m.message.payload.rule_ref])).toEqual([['rule.enabled', 'demo.st2_style']])
  })

  it.skipIf(backend.skip)('keeps what left the folder and lists it as stale; --prune deletes it unless still used', async () => {
    const dir = examplePack({
      'triggers/extra.yaml': 'ref: demo.extra\n',
      'rules/extra.yaml': 'ref: demo.extra_rule\ntrigger: {type: demo.tick}\naction: {ref: demo.echo}\n',
    })
    await registerPacks(store, [CORE_FIXTURE]) // the runtimes
    await registerPacks(store, [dir])
    const before = await counts(store)
    for (const file of ['triggers/extra.yaml', 'rules/extra.yaml', 'sensors/ticker.yaml', 'triggers/tick.yaml']) rmSync(join(dir, file))

    const kept = await registerPacks(store, [dir])
    expect(kept.summary.deleted).toBe(0)
    expect(kept.stale).toEqual([
      {kind: 'rule', ref: 'demo.extra_rule', pack_ref: 'demo'},
      {kind: 'sensor', ref: 'demo.ticker', pack_ref: 'demo'},
      {kind: 'trigger', ref: 'demo.extra', pack_ref: 'demo'},
      {kind: 'trigger', ref: 'demo.tick', pack_ref: 'demo', kept_because: 'still used by rule demo.extra_rule'},
    ])
    expect(await counts(store)).toEqual(before)

    const dry = await registerPacks(store, [dir], {prune: true, dryRun: true})
    expect(dry.summary.deleted).toBe(3)
    expect(await counts(store)).toEqual(before)

    const pruned = await registerPacks(store, [dir], {prune: true})
    expect(pruned.items.filter((i) => i.status === 'deleted').map((i) => [i.kind, i.ref, i.reason])).toEqual([
      ['rule', 'demo.extra_rule', 'no longer in the pack folder'],
      ['sensor', 'demo.ticker', 'no longer in the pack folder'],
      ['trigger', 'demo.extra', 'no longer in the pack folder'],
    ])
    // demo.tick left the folder too, but the remaining rules still fire on it.
    expect(pruned.stale).toEqual([{kind: 'trigger', ref: 'demo.tick', pack_ref: 'demo', kept_because: 'still used by rule demo.on_tick'}])
    expect(await counts(store)).toEqual({...before, rule: before.rule - 1, sensor: before.sensor - 1, trigger: before.trigger - 1})
    // Attune has no rule deletion message: a pruned rule is announced as disabled.
    const deleted = await store.query<{payload: {rule_ref: string}}>("SELECT message->'payload' AS payload FROM attune_sensor.outbox WHERE routing_key = 'rule.disabled'")
    expect(deleted.rows.map((r) => r.payload.rule_ref)).toEqual(['demo.extra_rule'])
    // Another pack's rows are never touched.
    expect((await registerPacks(store, [dir], {prune: true})).summary.deleted).toBe(0)
  })

  it.skipIf(backend.skip)('checks timer rules as the timer sensor will: bad interval, cron or time zone name the field', async () => {
    await registerPacks(store, [CORE_FIXTURE])
    const bad = makePack('clock', {
      'rules/interval.yaml': 'ref: clock.zero\ntrigger:\n  type: core.intervaltimer\n  parameters: {unit: seconds, interval: 0}\naction: {ref: core.echo}\n',
      'rules/cron.yaml': 'ref: clock.cron\ntrigger:\n  type: core.crontimer\n  parameters:\n    expression: "61 * * * * *"\naction: {ref: core.echo}\n',
      'rules/zone.yaml': 'name: zone\npack: clock\ntrigger:\n  type: core.crontimer\n  parameters:\n    expression: "0 0 * * * *"\n    timezone: Mars/Olympus\naction: {ref: core.echo}\n',
    })
    const error = await registerError(store, [bad])
    expect(error.problems.map((p) => [p.file.slice(bad.length + 1), p.line, p.field])).toEqual([
      ['rules/cron.yaml', 5, 'trigger.parameters.expression'],
      ['rules/interval.yaml', 4, 'trigger.parameters.interval'],
      ['rules/zone.yaml', 7, 'trigger.parameters.timezone'],
    ])
    expect(error.problems[1].message).toBe('must be an integer >= 1; got 0')
    expect(error.problems[2].message).toMatch(/unknown time zone "Mars\/Olympus"/)
    expect((await listPacks(store)).map((p) => p.ref)).toEqual(['core'])
  })
})
