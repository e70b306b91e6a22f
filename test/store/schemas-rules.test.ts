import {readFileSync} from 'node:fs'
import {parseAllDocuments} from 'yaml'
import {describe, expect, it} from 'vitest'
import {
  compileSchema,
  FieldError,
  isFlatSchema,
  loadPack,
  normalizeRuleDocument,
  PackError,
  toJsonSchema,
  validationProblems,
} from '../../src/engine/packs/index.js'
import {ATTUNE_CORE_PACK, ATTUNE_TIMER_RULES, CORE_FIXTURE, makePack, TIMER_RULES_FIXTURE} from './pack-files.js'

function fieldError(fn: () => unknown): FieldError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(FieldError)
    return error as FieldError
  }
  throw new Error('expected a FieldError')
}

describe('parameter schemas', () => {
  it('converts the flat form, lifting inline required and keeping secret and other keywords', () => {
    const flat = {
      user: {type: 'string', required: true},
      password: {type: 'string', secret: true, required: true},
      retries: {type: 'integer', default: 3, minimum: 0, required: false},
      headers: {type: 'object', properties: {accept: {type: 'string', required: true}}},
    }
    const schema = toJsonSchema(flat)!
    expect(schema).toEqual({
      type: 'object',
      properties: {
        user: {type: 'string'},
        password: {type: 'string', secret: true},
        retries: {type: 'integer', default: 3, minimum: 0},
        headers: {type: 'object', properties: {accept: {type: 'string'}}, required: ['accept']},
      },
      required: ['user', 'password'],
    })
    const validate = compileSchema(schema, flat)
    expect(validationProblems(validate, {user: 'a', password: 'b'})).toEqual([])
    expect(validationProblems(validate, {user: 'a'})).toEqual([{path: ['password'], message: "must have required property 'password'"}])
  })

  it('keeps JSON Schema as it is, and tells the forms apart even with a parameter called type', () => {
    const json = {type: 'object', properties: {a: {type: 'string'}}, required: ['a'], additionalProperties: false}
    expect(toJsonSchema(json)).toEqual(json)
    expect(isFlatSchema({type: {type: 'string', const: 'cron'}, fired_at: {type: 'string'}})).toBe(true)
    expect(isFlatSchema({properties: {a: {type: 'string'}}})).toBe(false)
    expect(toJsonSchema({})).toEqual({type: 'object', properties: {}})
    expect(toJsonSchema(null)).toBeUndefined()
  })

  it('rejects what ajv rejects, with the path in the source form', () => {
    const flat = {a: {type: 'strnig'}}
    expect(fieldError(() => compileSchema(toJsonSchema(flat)!, flat)).field).toEqual(['a', 'type'])
    const typo = {type: 'object', properties: {a: {tpye: 'string'}}}
    const error = fieldError(() => compileSchema(toJsonSchema(typo)!, typo))
    expect(error.field).toEqual(['properties', 'a', 'tpye'])
    expect(error.message).toMatch(/unknown keyword: "tpye"/)
    const shorthand = {a: 'string', b: {type: 'integer'}}
    expect(fieldError(() => compileSchema(toJsonSchema(shorthand)!, shorthand)).message).toMatch(
      /unknown keyword: "a" \(a parameter must be a mapping/,
    )
    expect(fieldError(() => toJsonSchema({a: {type: 'string', required: 'yes'}})).field).toEqual(['a', 'required'])
  })
})

describe('rule documents', () => {
  it('normalises every rule of an Attune-form rule file (several documents, comments)', () => {
    const docs = parseAllDocuments(readFileSync(TIMER_RULES_FIXTURE, 'utf8'))
    if (!Array.isArray(docs)) throw new Error('not a stream')
    const rules = docs.map((d) => d.toJS()).filter((d) => d !== null).map((d) => normalizeRuleDocument(d))
    expect(rules).toHaveLength(3)
    expect(rules.every((r) => r.warnings.length === 0)).toBe(true)
    expect(rules[1].rule).toEqual({
      ref: 'ops.nightly',
      pack_ref: 'ops',
      label: 'nightly',
      description: 'At 03:00 in Berlin',
      trigger_ref: 'core.crontimer',
      trigger_params: {expression: '0 0 3 * * *', timezone: 'Europe/Berlin'},
      conditions: {all: []},
      action_ref: 'core.http_request',
      action_params: {url: 'https://example.invalid/nightly', method: 'POST'},
      enabled: true,
    })
    expect(rules[2].rule.description).toBeNull()
  })

  it.skipIf(ATTUNE_TIMER_RULES.skip)("normalises every rule of Attune's own timer examples (../shared: several documents, comments, empty tail)", () => {
    const docs = parseAllDocuments(readFileSync(ATTUNE_TIMER_RULES.path, 'utf8'))
    if (!Array.isArray(docs)) throw new Error('not a stream')
    const rules = docs.map((d) => d.toJS()).filter((d) => d !== null).map((d) => normalizeRuleDocument(d))
    expect(rules).toHaveLength(9)
    expect(rules.every((r) => r.warnings.length === 0)).toBe(true)
    expect(rules[0].rule).toEqual({
      ref: 'monitoring.health_check',
      pack_ref: 'monitoring',
      label: 'health_check_rule',
      description: 'Periodic health check every 30 seconds',
      trigger_ref: 'core.intervaltimer',
      trigger_params: {unit: 'seconds', interval: 30},
      conditions: {all: []},
      action_ref: 'core.http_request',
      action_params: {url: 'https://api.example.com/health', method: 'GET', timeout: 5},
      enabled: true,
    })
  })

  it('reads the StackStorm form (name + pack, criteria ANDed), a bare name belongs to the pack', () => {
    const {rule} = normalizeRuleDocument({
      name: 'st2_style',
      pack: 'mypack',
      trigger: {type: 'core.st2.webhook'},
      criteria: {'trigger.body.name': {type: 'equals', pattern: 'st2'}, 'trigger.body.tag': {type: 'exists'}},
      action: {ref: 'core.local'},
    })
    expect(rule).toMatchObject({
      ref: 'mypack.st2_style',
      trigger_ref: 'core.st2.webhook',
      conditions: {
        all: [
          {field: 'payload.body.name', operator: 'equals', value: 'st2'},
          {field: 'payload.body.tag', operator: 'exists'},
        ],
      },
      action_ref: 'core.local',
      action_params: {},
      enabled: true,
    })
    const named = normalizeRuleDocument({name: 'r', trigger: {type: 'p.t'}, action: {ref: 'core.echo'}, colour: 1}, {pack_ref: 'p'})
    expect(named.rule.ref).toBe('p.r')
    expect(named.warnings).toEqual(['colour: unknown field ignored'])
  })

  it('names the bad field', () => {
    const base = {ref: 'p.r', trigger: {type: 'p.t'}, action: {ref: 'core.echo'}}
    expect(fieldError(() => normalizeRuleDocument({...base, action: undefined})).message).toBe('missing action (action: {ref, parameters} or action_ref)')
    expect(fieldError(() => normalizeRuleDocument({...base, action: {ref: 'echo'}})).field).toEqual(['action', 'ref'])
    expect(fieldError(() => normalizeRuleDocument({...base, conditions: {any: [{field: 'x', operator: 'nope'}]}})).field).toEqual([
      'conditions',
      'any',
      0,
      'operator',
    ])
    expect(fieldError(() => normalizeRuleDocument({...base, ref: 'q.r'}, {pack_ref: 'p'})).message).toMatch(/not in pack 'p'/)
    expect(fieldError(() => normalizeRuleDocument({...base, enabled: 'yes'})).field).toEqual(['enabled'])
  })

  it('checks rrule timer parameters as the timer sensor reads them, at register time', () => {
    const rule = (parameters: Record<string, unknown>) => ({ref: 'p.r', trigger: {type: 'core.rruletimer', parameters}, action: {ref: 'core.echo'}})
    const at = {dtstart: '2026-05-04T13:00:00Z'}
    expect(normalizeRuleDocument(rule({...at, freq: 'WEEKLY', interval: 2, by_day: ['MO'], timezone: 'America/New_York'})).rule.trigger_params).toMatchObject({freq: 'WEEKLY'})
    const hour = fieldError(() => normalizeRuleDocument(rule({...at, freq: 'DAILY', by_hour: [24]})))
    expect([hour.field, hour.message]).toEqual([['trigger', 'parameters', 'by_hour'], '24 is out of range (0..23)'])
    expect(fieldError(() => normalizeRuleDocument(rule({...at, rule: 'FREQ=DAILY;FOO=1'}))).field).toEqual(['trigger', 'parameters', 'rule'])
    expect(fieldError(() => normalizeRuleDocument(rule({freq: 'DAILY'}))).field).toEqual(['trigger', 'parameters', 'dtstart'])
    const never = fieldError(() => normalizeRuleDocument(rule({...at, freq: 'YEARLY', by_month: [4], by_month_day: [31]})))
    expect([never.field, never.message]).toEqual([['trigger', 'parameters'], expect.stringMatching(/never matches a date/)])
  })
})

describe('loadPack (no database)', () => {
  it('loads the fixture core pack', async () => {
    const pack = await loadPack(CORE_FIXTURE)
    expect(pack.pack.ref).toBe('core')
    expect([pack.runtimes.length, pack.triggers.length, pack.sensors.length, pack.rules.length, pack.skipped.length]).toEqual([3, 4, 1, 0, 0])
    expect(pack.sensors[0]).toMatchObject({runner_type: 'native', execution: 'poll'})
  })

  it.skipIf(ATTUNE_CORE_PACK.skip)("loads Attune's own core pack (../shared)", async () => {
    const pack = await loadPack(ATTUNE_CORE_PACK.path)
    expect(pack.pack.ref).toBe('core')
    expect([pack.runtimes.length, pack.triggers.length, pack.sensors.length, pack.rules.length, pack.skipped.length]).toEqual([9, 7, 1, 0, 0])
    expect(pack.sensors[0]).toMatchObject({runner_type: 'native', execution: 'poll'})
  })

  it('collects every problem with file, line and field', async () => {
    const dir = makePack('bad', {
      'sensors/s.yaml': 'ref: bad.s\nrunner_type: standalone\ntrigger_types: []\npoll_interval: -1\nexecution: sometimes\nenv: {1X: a}\n',
      'runtimes/r.yaml': 'ref: bad.r\ndistributions:\n  verification:\n    commands:\n      - args: [--version]\n',
      'triggers/t.yaml': '- just\n- a list\n',
    })
    const error = await loadPack(dir).catch((e) => e)
    expect(error).toBeInstanceOf(PackError)
    expect(error.problems.map((p: {file: string; line?: number; field?: string; message: string}) => `${p.file.slice(dir.length + 1)}:${p.line}: ${p.field ?? ''}: ${p.message}`)).toEqual([
      'runtimes/r.yaml:5: distributions.verification.commands[0].binary: is required (the program to run)',
      'triggers/t.yaml:1: : must be a mapping of fields',
      'sensors/s.yaml:1: entry_point: is required (the sensor code, relative to the sensors folder)',
      'sensors/s.yaml:3: trigger_types: must name at least one trigger',
      'sensors/s.yaml:4: poll_interval: must be a whole number of seconds greater than 0',
      'sensors/s.yaml:5: execution: must be one of poll, persistent, long_running',
      'sensors/s.yaml:6: env.1X: is not a valid environment variable name',
    ])
  })

  it('runner_type standalone means a long-running sensor', async () => {
    const dir = makePack('lr', {'sensors/s.yaml': 'ref: lr.s\nrunner_type: standalone\nentry_point: s\ntrigger_types: [lr.t]\n'})
    const pack = await loadPack(dir)
    expect(pack.sensors[0].execution).toBe('long_running')
  })
})
