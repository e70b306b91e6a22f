import {describe, expect, it} from 'vitest'
import {
  ATTUNE_EXCHANGES,
  ATTUNE_MESSAGE_TYPES,
  attuneEnvelope,
  attuneOutbound,
  attuneTypeForRoute,
  enforcementCreatedPayload,
  eventCreatedPayload,
  packRegisteredPayload,
  ruleCreatedPayload,
  ruleDisabledPayload,
  ruleEnabledPayload,
  type AttuneMessageType,
  type AttuneOutbound,
} from '../../src/engine/bus/attune.js'
import {makeEnvelope, outbound, packRegisteredMessage, ruleLifecycleMessage} from '../../src/engine/bus/envelope.js'
import {checkAttuneMessage, chronoTimestampError, isAttuneUuid} from '../support/attune-messages.js'

const TRACE = '7d444840-9dc0-11d1-b245-5ffdce74fad2'

function sample(type: AttuneMessageType): AttuneOutbound {
  switch (type) {
    case 'EventCreated':
      return attuneOutbound(
        attuneEnvelope(
          'EventCreated',
          eventCreatedPayload({eventId: 5, triggerId: 2, triggerRef: 'core.timer', sensorId: 3, sensorRef: 'core.timer_sensor', payload: {n: 1}, config: {interval: 10}}),
          {traceId: TRACE},
        ),
      )
    case 'EnforcementCreated':
      return attuneOutbound(
        attuneEnvelope('EnforcementCreated', enforcementCreatedPayload({enforcementId: 9, ruleId: 4, ruleRef: 'core.r', eventId: 5, triggerRef: 'core.timer', payload: {n: 1}})),
      )
    case 'RuleCreated':
      return attuneOutbound(
        attuneEnvelope(
          'RuleCreated',
          ruleCreatedPayload({ruleId: 4, ruleRef: 'core.r', triggerId: 2, triggerRef: 'core.timer', actionId: 7, actionRef: 'core.echo', triggerParams: {interval: 5}, enabled: true}),
        ),
      )
    case 'RuleEnabled':
      return attuneOutbound(attuneEnvelope('RuleEnabled', ruleEnabledPayload({ruleId: 4, ruleRef: 'core.r', triggerRef: 'core.timer', triggerParams: {interval: 5}})))
    case 'RuleDisabled':
      return attuneOutbound(attuneEnvelope('RuleDisabled', ruleDisabledPayload({ruleId: 4, ruleRef: 'core.r', triggerRef: 'core.timer'})))
    case 'PackRegistered':
      return attuneOutbound(attuneEnvelope('PackRegistered', packRegisteredPayload({packId: 1, packRef: 'core', version: '1.0.0', runtimeNames: ['Python', 'shell']})))
  }
}

const TYPES = Object.keys(ATTUNE_MESSAGE_TYPES) as AttuneMessageType[]

/** A mutable JSON copy of a valid message's envelope. */
function body(type: AttuneMessageType = 'EventCreated'): Record<string, unknown> & {headers: Record<string, unknown>; payload: Record<string, unknown>} {
  return JSON.parse(JSON.stringify(sample(type).envelope))
}

function check(type: AttuneMessageType, envelope: unknown): string[] {
  const route = ATTUNE_MESSAGE_TYPES[type]
  return checkAttuneMessage(route.exchange, route.routingKey, envelope)
}

/** `text` with `from` replaced by `to` (the edit must apply: a test that edits nothing proves nothing). */
function edit(text: string, from: string, to: string): string {
  expect(text).toContain(from)
  return text.replace(from, to)
}

function rejected(reasons: string[], pattern: RegExp): void {
  expect(reasons.some((r) => pattern.test(r)), `expected a reason matching ${pattern}, got ${JSON.stringify(reasons)}`).toBe(true)
}

describe('Attune message table', () => {
  it('routes every type the sensor side publishes as Attune does', () => {
    expect(ATTUNE_MESSAGE_TYPES).toEqual({
      EventCreated: {exchange: 'attune.events', routingKey: 'event.created'},
      EnforcementCreated: {exchange: 'attune.executions', routingKey: 'enforcement.created'},
      RuleCreated: {exchange: 'attune.events', routingKey: 'rule.created'},
      RuleEnabled: {exchange: 'attune.events', routingKey: 'rule.enabled'},
      RuleDisabled: {exchange: 'attune.events', routingKey: 'rule.disabled'},
      PackRegistered: {exchange: 'attune.events', routingKey: 'pack.registered'},
    })
    expect(attuneTypeForRoute('attune.events', 'rule.deleted')).toBeUndefined()
  })

  it('declares the exchanges with Attune’s kinds', () => {
    expect(Object.values(ATTUNE_EXCHANGES).map((e) => [e.name, e.kind, e.durable])).toEqual([
      ['attune.events', 'topic', true],
      ['attune.executions', 'topic', true],
      ['attune.notifications', 'fanout', true],
      ['attune.dlx', 'direct', true],
    ])
  })
})

describe('builders', () => {
  it.each(TYPES)('%s: a built message passes, as an object and as published bytes', (type) => {
    const message = sample(type)
    expect(checkAttuneMessage(message.exchange, message.routingKey, message.envelope)).toEqual([])
    expect(checkAttuneMessage(message.exchange, message.routingKey, Buffer.from(JSON.stringify(message.envelope)))).toEqual([])
    expect(message.envelope.message_type).toBe(type)
  })

  it('fills the envelope as Attune’s MessageEnvelope::new does', () => {
    const e = sample('RuleDisabled').envelope
    expect(isAttuneUuid(e.message_id)).toBe(true)
    expect(e.correlation_id).toBe(e.message_id)
    expect(e.version).toBe('1.0')
    expect(chronoTimestampError(e.timestamp)).toBeNull()
    expect(e.headers).toEqual({retry_count: 0, source_service: 'attune-sensor'})
    expect('trace_id' in e.headers).toBe(false)
  })

  it('takes correlation id, trace id, source, retry count and custom headers', () => {
    const correlationId = '0f5b2a5e-3d6c-4b8e-9f0a-1c2d3e4f5a6b'
    const e = attuneEnvelope('RuleDisabled', ruleDisabledPayload({ruleId: 1, ruleRef: 'a.b', triggerRef: 'a.t'}), {
      correlationId,
      traceId: TRACE.toUpperCase(),
      sourceService: null,
      retryCount: 3,
      customHeaders: {poll: 'p1'},
    })
    expect(e.correlation_id).toBe(correlationId)
    expect(e.headers).toEqual({retry_count: 3, trace_id: TRACE, poll: 'p1'})
    expect(check('RuleDisabled', e)).toEqual([])
  })

  it('refuses what Attune could not decode', () => {
    const p = ruleDisabledPayload({ruleId: 1, ruleRef: 'a.b', triggerRef: 'a.t'})
    expect(() => attuneEnvelope('RuleDisabled', p, {traceId: 'poll-42'})).toThrow(/traceId/)
    expect(() => attuneEnvelope('RuleDisabled', p, {correlationId: 'x'})).toThrow(/correlationId/)
    expect(() => attuneEnvelope('RuleDisabled', p, {retryCount: -1})).toThrow(/u32/)
    expect(() => attuneEnvelope('RuleDisabled', p, {retryCount: 2 ** 32})).toThrow(/u32/)
    expect(() => attuneEnvelope('RuleDisabled', p, {customHeaders: {trace_id: 'x'}})).toThrow(/collides/)
    expect(() => ruleDisabledPayload({ruleId: 1.5, ruleRef: 'a.b', triggerRef: 'a.t'})).toThrow(/ruleId/)
    expect(() => packRegisteredPayload({packId: 2 ** 53, packRef: 'p', version: '1'})).toThrow(/packId/)
  })

  it('fills payload fields as Attune’s own publishers do', () => {
    expect(eventCreatedPayload({eventId: 1, triggerRef: 't'})).toEqual({
      event_id: 1,
      trigger_id: null,
      trigger_ref: 't',
      sensor_id: null,
      sensor_ref: null,
      payload: {},
      config: null,
    })
    expect(ruleCreatedPayload({ruleId: 1, ruleRef: 'r', triggerRef: 't', actionRef: 'a', enabled: false})).toEqual({
      rule_id: 1,
      rule_ref: 'r',
      trigger_id: null,
      trigger_ref: 't',
      action_id: null,
      action_ref: 'a',
      trigger_params: {},
      enabled: false,
    })
    expect(ruleEnabledPayload({ruleId: 1, ruleRef: 'r', triggerRef: 't'}).trigger_params).toEqual({})
    expect(packRegisteredPayload({packId: 1, packRef: 'p', version: '2.0.1', runtimeNames: ['Python', 'NodeJS']}).runtime_names).toEqual(['python', 'nodejs'])
  })
})

describe("attune's own builders (bus/envelope.ts)", () => {
  it('build EventCreated as Attune deserializes it', () => {
    const m = outbound(
      makeEnvelope('EventCreated', {event_id: 1, trigger_id: 2, trigger_ref: 't.x', sensor_id: null, sensor_ref: null, payload: {}, config: null}, {traceId: TRACE}),
    )
    expect(m.routing_key).toBe('event.created')
    expect(checkAttuneMessage(m.exchange, m.routing_key, m.envelope)).toEqual([])
  })

  it('build every rule lifecycle message and PackRegistered as Attune deserializes them', () => {
    const rule = {id: 1, ref: 'p.r', trigger_ref: 'p.t', action_ref: 'p.a', enabled: true, trigger_params: {n: 1}}
    for (const kind of ['created', 'enabled', 'disabled'] as const) {
      const m = ruleLifecycleMessage(kind, rule)
      expect(checkAttuneMessage(m.exchange, m.routing_key, m.envelope), kind).toEqual([])
    }
    const pack = packRegisteredMessage({id: 3, ref: 'p', version: '1.0.0', runtime_names: ['Python']})
    expect(checkAttuneMessage(pack.exchange, pack.routing_key, pack.envelope)).toEqual([])
  })

  it('leave out a trace id that is not given, and the validator rejects one that is no UUID', () => {
    const m = outbound(makeEnvelope('RuleDisabled', {rule_id: 1, rule_ref: 'p.r', trigger_ref: 'p.t'}))
    expect(m.envelope.headers).not.toHaveProperty('trace_id')
    m.envelope.headers.trace_id = 'poll-1'
    rejected(checkAttuneMessage(m.exchange, m.routing_key, m.envelope), /headers\.trace_id: not a UUID/)
  })
})

describe('routing', () => {
  it('message_type must match the routing key', () => {
    const b = body('RuleEnabled')
    b.message_type = 'RuleDisabled'
    rejected(check('RuleEnabled', b), /message_type RuleDisabled does not match routing key rule\.enabled/)
  })

  it('a routing key on the wrong exchange is rejected', () => {
    rejected(checkAttuneMessage('attune.events', 'enforcement.created', body('EnforcementCreated')), /belongs on exchange attune\.executions/)
  })

  it('an exchange Attune does not declare is rejected', () => {
    rejected(checkAttuneMessage('attune', 'event.created', body('EventCreated')), /not one Attune declares/)
  })

  it('nothing the sensor side publishes goes to the notifications or dead-letter exchange', () => {
    rejected(checkAttuneMessage('attune.notifications', 'event.created', body('EventCreated')), /belongs on exchange attune\.events, not attune\.notifications/)
    rejected(checkAttuneMessage('attune.dlx', 'event.created', body('EventCreated')), /belongs on exchange attune\.events, not attune\.dlx/)
    rejected(checkAttuneMessage('attune.notifications', '', body('EventCreated')), /no message type Attune's consumers expect/)
  })
})

describe('envelope fields', () => {
  it('unknown message_type values are rejected (variant names are case-sensitive)', () => {
    for (const value of ['Foo', 'eventCreated', 'EVENT_CREATED']) {
      const b = body()
      b.message_type = value
      rejected(check('EventCreated', b), /message_type: unknown variant/)
    }
    const b = body()
    b.message_type = {EventCreated: null}
    rejected(check('EventCreated', b), /message_type: invalid type: map/)
  })

  it('missing required fields are rejected; defaulted ones are not', () => {
    for (const key of ['message_type', 'timestamp', 'payload']) {
      const b = body()
      delete b[key]
      rejected(check('EventCreated', b), new RegExp(`missing field \`${key}\``))
    }
    const b = body()
    delete b.message_id
    delete b.correlation_id
    delete b.version
    delete (b as Record<string, unknown>).headers
    expect(check('EventCreated', b)).toEqual([])
  })

  it('message_id and correlation_id: null is allowed, a non-UUID string is not', () => {
    const ok = body()
    ok.message_id = null
    ok.correlation_id = null
    expect(check('EventCreated', ok)).toEqual([])
    for (const [key, value] of [
      ['message_id', 'msg-1'],
      ['correlation_id', ''],
      ['message_id', 12],
      ['correlation_id', '7d444840-9dc0-11d1-b245-5ffdce74fad'],
    ] as const) {
      const b = body()
      b[key] = value
      rejected(check('EventCreated', b), new RegExp(`^${key}: `))
    }
  })

  it('uuid forms the uuid crate parses are accepted', () => {
    for (const id of [TRACE, TRACE.toUpperCase(), TRACE.replaceAll('-', ''), `{${TRACE}}`, `urn:uuid:${TRACE}`]) {
      const b = body()
      b.message_id = id
      b.headers.trace_id = id
      expect(check('EventCreated', b), id).toEqual([])
    }
    expect(isAttuneUuid(`URN:UUID:${TRACE}`)).toBe(false)
    expect(isAttuneUuid(`{${TRACE.replaceAll('-', '')}}`)).toBe(false)
  })

  it('version must be a string when present', () => {
    for (const value of [1, 1.0, null]) {
      const b = body()
      b.version = value
      rejected(check('EventCreated', b), /^version: invalid type/)
    }
    const b = body()
    b.version = '2.0'
    expect(check('EventCreated', b)).toEqual([])
  })

  it('timestamp must be a string chrono parses', () => {
    for (const value of [1767225600000, null, '2026-01-01T00:00:00', 'nope']) {
      const b = body()
      b.timestamp = value
      rejected(check('EventCreated', b), /^timestamp: /)
    }
  })

  it('headers: missing is fine, null or a non-map is not', () => {
    for (const value of [null, [], 'h']) {
      const b = body()
      b.headers = value as never
      rejected(check('EventCreated', b), /^headers: invalid type/)
    }
  })

  it('headers.retry_count must be a u32 (missing defaults to 0)', () => {
    const ok = body()
    delete ok.headers.retry_count
    expect(check('EventCreated', ok)).toEqual([])
    ok.headers.retry_count = 4294967295
    expect(check('EventCreated', ok)).toEqual([])
    for (const value of [4294967296, -1, 1.5, '1', null]) {
      const b = body()
      b.headers.retry_count = value
      rejected(check('EventCreated', b), /^headers\.retry_count: invalid (type|value)/)
    }
  })

  it('headers.source_service and trace_id: optional, typed when present; custom headers pass', () => {
    const ok = body()
    ok.headers.source_service = null
    ok.headers.trace_id = null
    ok.headers.poll_id = 42
    ok.headers.anything = {nested: [1, 'x']}
    expect(check('EventCreated', ok)).toEqual([])
    const a = body()
    a.headers.source_service = 5
    rejected(check('EventCreated', a), /^headers\.source_service: invalid type/)
    const b = body()
    b.headers.trace_id = 'trace-123'
    rejected(check('EventCreated', b), /^headers\.trace_id: not a UUID/)
    const c = body()
    c.headers.trace_id = 123
    rejected(check('EventCreated', c), /^headers\.trace_id: invalid type/)
  })

  it('a struct written as an array is rejected', () => {
    rejected(check('EventCreated', Object.values(body())), /a JSON array where Attune expects struct MessageEnvelope/)
    const b = body()
    b.payload = Object.values(b.payload) as never
    rejected(check('EventCreated', b), /payload: a JSON array/)
  })
})

describe('timestamps as chrono parses them', () => {
  it.each([
    '2026-01-01T00:00:00.123Z',
    '2026-01-01T00:00:00Z',
    '2026-01-01T02:00:00+02:00',
    '2026-01-01T00:00:00-05:30',
    '2026-01-01 00:00:00+0200',
    '2026-01-01t00:00:00z',
    '2026-01-01T00:00:00 UTC',
    '2026-01-01T00:00:00.123456789123Z',
    '2016-12-31T23:59:60Z',
    '+012026-01-01T00:00:00.000Z',
    '2026-1-1T0:0:0Z',
    '2024-02-29T00:00:00Z',
  ])('accepts %s', (ts) => {
    expect(chronoTimestampError(ts)).toBeNull()
    const b = body()
    b.timestamp = ts
    expect(check('EventCreated', b)).toEqual([])
  })

  it.each([
    '2026-01-01T00:00:00',
    '2026-01-01',
    '2026-01-01T00:00Z',
    '2026-02-30T00:00:00Z',
    '2025-02-29T00:00:00Z',
    '2026-01-01T24:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-01-01T00:00:00+24:00',
    '2026-01-01T00:00:00+02',
    '2026-01-01T00:00:00+02:60',
    '2026-01-01T00:00:00.Z',
    '2026-01-01T00:00:00Zjunk',
    '2026-01-01_00:00:00Z',
    'Thu, 01 Jan 2026 00:00:00 GMT',
    '',
  ])('rejects %j', (ts) => {
    expect(chronoTimestampError(ts)).not.toBeNull()
    const b = body()
    b.timestamp = ts
    rejected(check('EventCreated', b), /^timestamp: .* is not a date chrono parses/)
  })
})

describe('payload fields', () => {
  it.each(TYPES)('%s: every required field is required', (type) => {
    const required: Record<AttuneMessageType, string[]> = {
      EventCreated: ['event_id', 'trigger_ref', 'payload'],
      EnforcementCreated: ['enforcement_id', 'rule_ref', 'trigger_ref', 'payload'],
      RuleCreated: ['rule_id', 'rule_ref', 'trigger_ref', 'action_ref', 'enabled'],
      RuleEnabled: ['rule_id', 'rule_ref', 'trigger_ref'],
      RuleDisabled: ['rule_id', 'rule_ref', 'trigger_ref'],
      PackRegistered: ['pack_id', 'pack_ref', 'version', 'runtime_names'],
    }
    for (const field of required[type]) {
      const b = body(type)
      expect(b.payload).toHaveProperty(field)
      delete b.payload[field]
      rejected(check(type, b), new RegExp(`^payload\\.${field}: missing field`))
    }
  })

  it.each(TYPES)('%s: Option fields may be missing or null', (type) => {
    const optional: Record<AttuneMessageType, string[]> = {
      EventCreated: ['trigger_id', 'sensor_id', 'sensor_ref', 'config'],
      EnforcementCreated: ['rule_id', 'event_id'],
      RuleCreated: ['trigger_id', 'action_id', 'trigger_params'],
      RuleEnabled: ['trigger_params'],
      RuleDisabled: [],
      PackRegistered: [],
    }
    const nulls = body(type)
    const missing = body(type)
    for (const field of optional[type]) {
      expect(nulls.payload).toHaveProperty(field)
      nulls.payload[field] = null
      delete missing.payload[field]
    }
    expect(check(type, nulls)).toEqual([])
    expect(check(type, missing)).toEqual([])
  })

  it('null is rejected where the field is not an Option (a JSON value field may be null)', () => {
    for (const [type, field] of [
      ['EventCreated', 'event_id'],
      ['EventCreated', 'trigger_ref'],
      ['RuleCreated', 'enabled'],
      ['RuleDisabled', 'trigger_ref'],
      ['PackRegistered', 'runtime_names'],
    ] as const) {
      const b = body(type)
      b.payload[field] = null
      rejected(check(type, b), new RegExp(`^payload\\.${field}: invalid type: null`))
    }
    const b = body('EventCreated')
    b.payload.payload = null
    expect(check('EventCreated', b)).toEqual([])
    const n = body('RuleCreated')
    n.payload = null as never
    rejected(check('RuleCreated', n), /^payload: invalid type: null, expected struct RuleCreatedPayload/)
  })

  it('wrong JSON types are rejected', () => {
    for (const [type, field, value, pattern] of [
      ['EventCreated', 'event_id', '5', /expected i64/],
      ['EventCreated', 'sensor_ref', 3, /expected a string/],
      ['RuleCreated', 'enabled', 'true', /expected a boolean/],
      ['RuleCreated', 'trigger_id', '2', /expected i64/],
      ['PackRegistered', 'runtime_names', 'python', /expected a sequence/],
      ['PackRegistered', 'runtime_names', ['python', 3], /\[1\]: invalid type: integer/],
      ['PackRegistered', 'version', 1, /expected a string/],
    ] as const) {
      const b = body(type)
      b.payload[field] = value
      rejected(check(type, b), new RegExp(`^payload\\.${field}: .*${pattern.source}`))
    }
  })

  it('ids overflowing i64 are rejected; the i64 extremes pass', () => {
    const text = JSON.stringify(body('EventCreated'))
    expect(check('EventCreated', edit(text, '"event_id":5', '"event_id":9223372036854775807'))).toEqual([])
    expect(check('EventCreated', edit(text, '"event_id":5', '"event_id":-9223372036854775808'))).toEqual([])
    rejected(check('EventCreated', edit(text, '"event_id":5', '"event_id":9223372036854775808')), /^payload\.event_id: invalid value: integer/)
    rejected(check('EventCreated', edit(text, '"event_id":5', '"event_id":-9223372036854775809')), /^payload\.event_id: invalid type: floating point/)
    rejected(check('EventCreated', edit(text, '"event_id":5', '"event_id":18446744073709551616')), /^payload\.event_id: invalid type: floating point/)
    const b = body('EventCreated')
    b.payload.event_id = 2 ** 63
    rejected(check('EventCreated', b), /^payload\.event_id: invalid value/)
  })

  it('floats are rejected where integers are required, however they are written', () => {
    const text = JSON.stringify(body('RuleEnabled'))
    for (const written of ['4.5', '4.0', '4e0', '4E+0', '-0']) {
      rejected(check('RuleEnabled', edit(text, '"rule_id":4', `"rule_id":${written}`)), /^payload\.rule_id: invalid type: floating point/)
    }
    const b = body('RuleEnabled')
    b.payload.rule_id = 4.5
    rejected(check('RuleEnabled', b), /^payload\.rule_id: invalid type: floating point/)
  })

  it('unknown payload fields are ignored', () => {
    const b = body('RuleCreated')
    b.payload.extra = {anything: true}
    b.extra_envelope_field = 1
    expect(check('RuleCreated', b)).toEqual([])
  })
})

describe('JSON as serde_json reads it', () => {
  it('rejects what is not strict JSON', () => {
    const text = JSON.stringify(body('RuleDisabled'))
    expect(check('RuleDisabled', text)).toEqual([])
    for (const bad of [text.slice(0, -1) + ',}', '\ufeff' + text, text + 'x', '', 'undefined']) {
      rejected(check('RuleDisabled', bad), /^not JSON serde_json parses/)
    }
    rejected(check('RuleDisabled', Buffer.from([0x7b, 0xff, 0x7d])), /not valid UTF-8/)
    rejected(check('RuleDisabled', {n: 1n}), /does not serialize/)
  })

  it('rejects nesting at serde_json’s recursion limit', () => {
    const deep = (n: number): unknown => (n === 0 ? 0 : [deep(n - 1)])
    const ok = body('EventCreated')
    ok.payload.payload = deep(125) // envelope + payload struct + 125 arrays = 127 levels
    expect(check('EventCreated', ok)).toEqual([])
    const b = body('EventCreated')
    b.payload.payload = deep(126)
    rejected(check('EventCreated', b), /recursion limit/)
  })

  it('rejects a lone surrogate escape', () => {
    const text = JSON.stringify(body('RuleDisabled'))
    rejected(check('RuleDisabled', edit(text, '"core.r"', '"core.r\\ud800"')), /surrogate/)
    expect(check('RuleDisabled', edit(text, '"core.r"', '"core.r\\ud83d\\ude00"'))).toEqual([])
  })

  it('duplicate keys fail where serde decodes a struct directly; the last one wins in a JSON value', () => {
    const env = JSON.stringify(body('EventCreated'))
    rejected(check('EventCreated', edit(env, '{', `{"message_id":"${TRACE}",`)), /duplicate field `message_id`/)
    rejected(check('EventCreated', edit(env, '"event_id":5', '"event_id":5,"event_id":6')), /duplicate field `event_id`/)
    const rule = JSON.stringify(body('RuleDisabled'))
    expect(check('RuleDisabled', edit(rule, '"rule_id":4', '"rule_id":"x","rule_id":4'))).toEqual([])
    rejected(check('RuleDisabled', edit(rule, '"rule_id":4', '"rule_id":4,"rule_id":"x"')), /^payload\.rule_id: invalid type: string/)
  })
})
