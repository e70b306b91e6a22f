import {describe, expect, it} from 'vitest'
import {
  buildTemplateContext,
  formatFloat,
  formatJsonNumber,
  interpolationText,
  lookup,
  plainSecretParams,
  possibleSecretParams,
  redactionMarker,
  redactSecrets,
  renderActionParams,
  renderTemplates,
  rfc3339,
  secretParamPaths,
  secretRefusalMessage,
  toJsonText,
  type TemplateContext,
} from '../../src/engine/events/template/index.js'
import type {JsonValue} from '../../src/engine/rules/types.js'

function context(overrides: Partial<TemplateContext> = {}): TemplateContext {
  return {
    event: {
      id: 123,
      trigger: 'core.error_event',
      created: '2026-01-17T15:30:00+00:00',
      payload: {
        service: 'api-gateway',
        message: 'Connection timeout',
        count: 42,
        ratio: 0.25,
        enabled: true,
        nothing: null,
        metadata: {port: 8080, host: 'web-01'},
        tags: ['production', 'backend'],
      },
    },
    pack: {ref: 'demo', config: {api_token: 'secret123', alert_channel: '#incidents', timeout: 30}},
    system: {timestamp: '2026-01-17T15:30:05.5+00:00', rule: {id: 42, ref: 'demo.on_error'}},
    ...overrides,
  }
}

const render = (params: JsonValue, ctx: TemplateContext = context()) => renderActionParams(params, ctx).value as {[key: string]: JsonValue}

describe('whole-value templates keep their JSON type', () => {
  it('numbers, booleans, objects, arrays and strings come back as they are', () => {
    const out = render({
      count: '{{ event.payload.count }}',
      ratio: '{{ event.payload.ratio }}',
      enabled: '{{ event.payload.enabled }}',
      metadata: '{{ event.payload.metadata }}',
      tags: '{{ event.payload.tags }}',
      service: '{{ event.payload.service }}',
    })
    expect(out).toEqual({count: 42, ratio: 0.25, enabled: true, metadata: {port: 8080, host: 'web-01'}, tags: ['production', 'backend'], service: 'api-gateway'})
  })

  it('a value found is a copy: changing the result leaves the context alone', () => {
    const ctx = context()
    const out = render({metadata: '{{ event.payload.metadata }}'}, ctx)
    ;(out.metadata as {[key: string]: JsonValue}).port = 1
    expect((ctx.event.payload as {metadata: {port: number}}).metadata.port).toBe(8080)
  })

  it('whitespace inside the braces does not matter, none is needed', () => {
    expect(render({a: '{{event.payload.count}}', b: '{{   event.payload.count \t}}', c: '{{\n event.payload.count\n}}'})).toEqual({a: 42, b: 42, c: 42})
  })

  it('Rust whitespace, not JS whitespace: U+0085 is trimmed, U+FEFF is not', () => {
    expect(render({a: '{{\u0085event.payload.count\u0085}}', b: '{{\ufeffevent.payload.count}}'})).toEqual({a: 42, b: null})
  })

  it('text around a single template makes it a string', () => {
    expect(render({a: ' {{ event.payload.count }}', b: '{{ event.payload.count }}!'})).toEqual({a: ' 42', b: '42!'})
  })

  it('two adjacent templates are interpolated, not typed', () => {
    expect(render({a: '{{ event.payload.count }}{{ event.payload.count }}'})).toEqual({a: '4242'})
  })
})

describe('interpolation inside strings', () => {
  it('replaces every template with the text of its value', () => {
    expect(render({summary: 'Event {{ event.id }} from {{ event.trigger }} at {{ event.created }}'})).toEqual({
      summary: 'Event 123 from core.error_event at 2026-01-17T15:30:00+00:00',
    })
  })

  it('formats numbers, booleans, null, objects and arrays as Attune does', () => {
    expect(
      render({
        s: 'n={{ event.payload.count }} r={{ event.payload.ratio }} b={{ event.payload.enabled }} z=[{{ event.payload.nothing }}] m={{ event.payload.metadata }} t={{ event.payload.tags }}',
      }),
    ).toEqual({s: 'n=42 r=0.25 b=true z=[] m={"host":"web-01","port":8080} t=["production","backend"]'})
  })

  it('a missing value becomes the empty string', () => {
    expect(render({s: 'x{{ event.payload.nope }}y{{ unknown.thing }}z'})).toEqual({s: 'xyz'})
  })

  it('replaces repeated templates everywhere and is textual: a value that spells a later template is rendered too', () => {
    const ctx = context({event: {id: 7, payload: {a: '{{ event.id }}'}}})
    expect(render({s: '{{ event.payload.a }}/{{ event.id }}/{{ event.payload.a }}'}, ctx)).toEqual({s: '7/7/7'})
  })

  it('does not treat $ in values as a replacement pattern', () => {
    const ctx = context({event: {payload: {price: '$& $1 $$'}}})
    expect(render({s: 'cost: {{ event.payload.price }}'}, ctx)).toEqual({s: 'cost: $& $1 $$'})
  })

  it('keeps unicode text around templates', () => {
    expect(render({m: '🚨 Error in {{ event.payload.service }}: {{ event.payload.message }}'})).toEqual({m: '🚨 Error in api-gateway: Connection timeout'})
  })

  it('leaves strings without a complete template alone (no escape syntax exists)', () => {
    expect(render({a: 'plain', b: '{{ not closed', c: '{ single }', d: '{{}}'})).toEqual({a: 'plain', b: '{{ not closed', c: '{ single }', d: '{{}}'})
  })

  it('an empty template (only spaces) finds nothing', () => {
    expect(render({a: '{{   }}', b: 'x{{ }}y'})).toEqual({a: null, b: 'xy'})
  })
})

describe('number text (serde_json as the executor prints it)', () => {
  it('integers without a fraction, with the digits JSON.stringify stored; -0 as 0', () => {
    expect([0, -0, 42, -7, 2 ** 53, 2 ** 63, -(2 ** 62), 2 ** 64 - 2048].map(formatJsonNumber)).toEqual([
      '0',
      '0',
      '42',
      '-7',
      '9007199254740992',
      '9223372036854776000',
      '-4611686018427388000',
      '18446744073709550000',
    ])
  })

  it('a negative whole number whose stored digits pass -2^63 is a float (serde reads i64 only)', () => {
    // -(2**63) is stored as -9223372036854776000, one step beyond i64::MIN.
    expect([-(2 ** 63), -9223372036854774784].map(formatJsonNumber)).toEqual(['-9.223372036854776e+18', '-9223372036854775000'])
  })

  it('floats shortest, fixed notation for exponents -5..15, exponent with sign otherwise', () => {
    expect([0.5, -1.5, 0.1 + 0.2, 1e-5, 1.5e-5, 1e-6, 1.5e-7, 43210.1, 5.444310685350916e14, 3.439070283483335e35, 6.606854224493745e-17, 5e-324].map(formatJsonNumber)).toEqual([
      '0.5',
      '-1.5',
      '0.30000000000000004',
      '0.00001',
      '0.000015',
      '1e-6',
      '1.5e-7',
      '43210.1',
      '544431068535091.6',
      '3.439070283483335e+35',
      '6.606854224493745e-17',
      '5e-324',
    ])
  })

  it('whole numbers outside the 64-bit integer range are floats: 1e+20, -1e+19 (JS would write 100000000000000000000)', () => {
    expect([1e20, 2 ** 64, -(2 ** 64), 1e21, 1.5e300].map(formatJsonNumber)).toEqual(['1e+20', '1.8446744073709552e+19', '-1.8446744073709552e+19', '1e+21', '1.5e+300'])
  })

  it('a float with a whole value keeps .0 (what Attune prints for a 1.0 stored by another tool)', () => {
    expect([1, 0, -0, 43210, 1e15, -5942736479622170, 1e16].map(formatFloat)).toEqual(['1.0', '0.0', '-0.0', '43210.0', '1000000000000000.0', '-5942736479622170.0', '1e+16'])
  })

  it('is what interpolation and nested JSON use', () => {
    const ctx = context({event: {payload: {tiny: 1e-6, big: 1e20, list: [1e-6, 0.5, 3]}}})
    expect(render({s: '{{ event.payload.tiny }} {{ event.payload.big }} {{ event.payload.list }}'}, ctx)).toEqual({s: '1e-6 1e+20 [1e-6,0.5,3]'})
  })
})

describe('JSON text of objects and arrays inside strings', () => {
  it('sorts keys by UTF-8 bytes at every level, compact, JSON escapes', () => {
    expect(toJsonText({b: 1, a: {d: [true, null], c: 'x"\n\u0001/é'}, B: 2, é: 3, '\u{1F600}': 4, '\uffff': 5})).toBe(
      '{"B":2,"a":{"c":"x\\"\\n\\u0001/é","d":[true,null]},"b":1,"é":3,"\uffff":5,"\u{1F600}":4}',
    )
  })

  it('interpolationText: strings raw, null empty', () => {
    expect([interpolationText('a"b'), interpolationText(null), interpolationText(false), interpolationText([])]).toEqual(['a"b', '', 'false', '[]'])
  })
})

describe('paths: what a template can reach', () => {
  it('event metadata, pack config, system values', () => {
    expect(
      render({
        id: '{{ event.id }}',
        trigger: '{{ event.trigger }}',
        created: '{{ event.created }}',
        token: '{{ pack.config.api_token }}',
        timeout: '{{ pack.config.timeout }}',
        ts: '{{ system.timestamp }}',
        rule_id: '{{ system.rule.id }}',
        rule_ref: '{{ system.rule.ref }}',
      }),
    ).toEqual({
      id: 123,
      trigger: 'core.error_event',
      created: '2026-01-17T15:30:00+00:00',
      token: 'secret123',
      timeout: 30,
      ts: '2026-01-17T15:30:05.5+00:00',
      rule_id: 42,
      rule_ref: 'demo.on_error',
    })
  })

  it('whole namespaces: event (its four fields), pack.config, system', () => {
    const out = render({e: '{{ event }}', p: '{{ pack.config }}', s: '{{ system }}', es: 'e={{ event }}'})
    expect(out.e).toEqual({payload: context().event.payload, id: 123, trigger: 'core.error_event', created: '2026-01-17T15:30:00+00:00'})
    expect(out.p).toEqual(context().pack.config)
    expect(out.s).toEqual(context().system)
    expect(String(out.es).startsWith('e={"created":"2026-01-17T15:30:00+00:00","id":123,"payload":{"count":42,')).toBe(true)
  })

  it('array indexes are digits (a leading + or zeros are accepted, as Rust parses them)', () => {
    expect(render({a: '{{ event.payload.tags.0 }}', b: '{{ event.payload.tags.1 }}', c: '{{ event.payload.tags.2 }}', d: '{{ event.payload.tags.+1 }}', e: '{{ event.payload.tags.01 }}', f: '{{ event.payload.tags.-1 }}'})).toEqual({
      a: 'production',
      b: 'backend',
      c: null,
      d: 'backend',
      e: 'backend',
      f: null,
    })
  })

  it('finds nothing for unknown roots, pack.<not config>, steps into scalars, inherited properties, bracket syntax', () => {
    expect(
      render({
        a: '{{ unknown.field }}',
        b: '{{ pack.invalid.field }}',
        c: '{{ pack }}',
        d: '{{ event.payload.service.length }}',
        e: '{{ event.payload.constructor }}',
        f: '{{ event.payload.tags.length }}',
        g: '{{ event.payload["service"] }}',
        h: '{{ payload.service }}',
        i: '{{ event.payload. }}',
      }),
    ).toEqual({a: null, b: null, c: null, d: null, e: null, f: null, g: null, h: null, i: null})
  })

  it('a null found is null whole and empty inside a string', () => {
    expect(render({a: '{{ event.payload.nothing }}', b: '<{{ event.payload.nothing }}>'})).toEqual({a: null, b: '<>'})
  })

  it('a context without event metadata finds nothing for it', () => {
    const ctx: TemplateContext = {event: {payload: {service: 'test'}}, pack: {config: {}}, system: {timestamp: 't', rule: {id: 1, ref: 'r'}}}
    expect(render({s: '{{ event.payload.service }}', id: '{{ event.id }}', t: '{{ event.trigger }}', c: '{{ event.created }}'}, ctx)).toEqual({s: 'test', id: null, t: null, c: null})
    expect(lookup(ctx, 'event.payload')).toEqual({service: 'test'})
  })
})

describe('the example of docs/pipeline.md', () => {
  it('renders as documented', () => {
    const ctx = context({event: {id: 812, payload: {host: 'web-01', usage: 97.5, labels: {team: 'ops'}}}, pack: {config: {alert_channel: '#ops'}}})
    const params = {
      channel: '{{ pack.config.alert_channel }}',
      text: '{{ event.payload.host }} at {{ event.payload.usage }}% (event {{ event.id }})',
      usage: '{{ event.payload.usage }}',
      labels: '{{ event.payload.labels }}',
    }
    expect(render(params, ctx)).toEqual({channel: '#ops', text: 'web-01 at 97.5% (event 812)', usage: 97.5, labels: {team: 'ops'}})
  })
})

describe('structure', () => {
  it('renders nested objects and arrays value by value, never keys; other values pass through', () => {
    expect(
      render({
        nested: {field1: '{{ event.payload.service }}', field2: '{{ pack.config.timeout }}', '{{ event.id }}': 'key'},
        array: ['{{ event.payload.message }}', 'static', 5, false, null, ['{{ event.id }}']],
        number: 123,
        boolean: false,
        nothing: null,
      }),
    ).toEqual({
      nested: {field1: 'api-gateway', field2: 30, '{{ event.id }}': 'key'},
      array: ['Connection timeout', 'static', 5, false, null, [123]],
      number: 123,
      boolean: false,
      nothing: null,
    })
  })

  it('action_params that are not a non-empty object render to {}', () => {
    for (const params of [null, undefined, {}, [], 'x', 3] as Array<JsonValue | undefined>) {
      expect(renderActionParams(params, context())).toEqual({value: {}, sensitivePaths: [], secretSources: []})
    }
    expect(renderTemplates('{{ event.id }}', context()).value).toBe(123)
  })

  it('a key named __proto__ stays an own key', () => {
    const params = JSON.parse('{"__proto__": "{{ event.id }}"}') as JsonValue
    const out = renderActionParams(params, context()).value as object
    expect(Object.hasOwn(out, '__proto__')).toBe(true)
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype)
    expect(JSON.stringify(out)).toBe('{"__proto__":123}')
  })
})

describe('the executor context', () => {
  it('buildTemplateContext fills event, pack and system like the executor', () => {
    const ctx = buildTemplateContext({
      event: {id: 9, trigger_ref: 'core.webhook', payload: null, created: '2026-02-05 10:00:00.123456+00'},
      rule: {id: 3, ref: 'demo.rule'},
      pack: {ref: 'demo', config: {url: 'https://x'}, conf_schema: {token: {type: 'string', secret: true}}},
      now: new Date(Date.UTC(2026, 1, 5, 10, 0, 1, 250)),
    })
    expect(ctx).toEqual({
      event: {id: 9, trigger: 'core.webhook', payload: {}, created: '2026-02-05T10:00:00.123456+00:00'},
      pack: {ref: 'demo', config: {url: 'https://x'}, conf_schema: {token: {type: 'string', secret: true}}},
      system: {timestamp: '2026-02-05T10:00:01.250+00:00', rule: {id: 3, ref: 'demo.rule'}},
    })
  })

  it('a missing pack gives an empty config and no secrets', () => {
    const ctx = buildTemplateContext({event: {id: 1, trigger_ref: 't', payload: {a: 1}, created: new Date(0)}, rule: {id: 1, ref: 'r'}, pack: null, now: new Date(0)})
    expect(ctx.pack).toEqual({config: {}})
    expect(render({c: '{{ pack.config }}', x: '{{ pack.config.x }}'}, ctx)).toEqual({c: {}, x: null})
  })

  it('rfc3339 writes chrono AutoSi fractions (none, 3, 6 or 9 digits) and +00:00', () => {
    expect([
      rfc3339(new Date(Date.UTC(2026, 0, 17, 15, 30, 0, 0))),
      rfc3339(new Date(Date.UTC(2026, 0, 17, 15, 30, 0, 5))),
      rfc3339('2026-01-17 15:30:00.123+00'),
      rfc3339('2026-01-17T15:30:00.123400Z'),
      rfc3339('2026-01-17T15:30:00.000000001Z'),
      rfc3339('2026-01-17T17:30:00.5+02:00'),
      rfc3339('2026-01-17T10:00:00-05:30'),
      rfc3339('2026-01-17 15:30:00'),
      rfc3339('0001-01-01T00:00:00Z'),
      rfc3339('+10000-01-01T00:00:00Z'),
    ]).toEqual([
      '2026-01-17T15:30:00+00:00',
      '2026-01-17T15:30:00.005+00:00',
      '2026-01-17T15:30:00.123+00:00',
      '2026-01-17T15:30:00.123400+00:00',
      '2026-01-17T15:30:00.000000001+00:00',
      '2026-01-17T15:30:00.500+00:00',
      '2026-01-17T15:30:00+00:00',
      '2026-01-17T15:30:00+00:00',
      '0001-01-01T00:00:00+00:00',
      '+10000-01-01T00:00:00+00:00',
    ])
    expect(() => rfc3339('yesterday')).toThrow(/not a timestamp/)
  })
})

describe('secretParamPaths', () => {
  it('JSON Schema: secret properties at any depth of properties, sorted', () => {
    const schema = {
      type: 'object',
      secret: true,
      properties: {
        username: {type: 'string'},
        token: {type: 'string', secret: true},
        db: {type: 'object', properties: {password: {type: 'string', secret: true}, host: {type: 'string'}}},
        vault: {type: 'object', secret: true, properties: {inner: {secret: true}}},
        'a/b~c': {secret: true},
        loose: {secret: 'true'},
        list: {type: 'array', items: {secret: true}},
      },
    }
    expect(secretParamPaths(schema)).toEqual(['/a~1b~0c', '/db/password', '/token', '/vault'])
  })

  it('flat schema: each key a parameter, nested properties searched', () => {
    expect(secretParamPaths({username: {type: 'string'}, password: {type: 'string', secret: true}, db: {properties: {key: {secret: true}}}, note: 'x'})).toEqual(['/db/key', '/password'])
  })

  it('type object without properties is read as flat; nothing for non-objects', () => {
    expect(secretParamPaths({type: 'object', token: {secret: true}})).toEqual(['/token'])
    expect([secretParamPaths(null), secretParamPaths(undefined), secretParamPaths([{secret: true}]), secretParamPaths('x')]).toEqual([[], [], [], []])
  })
})

describe('sensitive paths from pack config secrets', () => {
  const secretContext = () =>
    context({pack: {ref: 'demo', config: {api: {token: 'tok', url: 'u'}, plain: 'p'}, conf_schema: {type: 'object', properties: {api: {type: 'object', properties: {token: {type: 'string', secret: true}}}}}}})

  it('a whole template reading the secret marks its destination', () => {
    const rendered = renderActionParams({password: '{{ pack.config.api.token }}', url: '{{ pack.config.api.url }}'}, secretContext())
    expect(rendered.value).toEqual({password: 'tok', url: 'u'})
    expect(rendered.sensitivePaths).toEqual(['/password'])
    expect(rendered.secretSources).toEqual([{path: '/password', source: {kind: 'pack_config', ref: 'demo:/api/token'}}])
  })

  it('a whole template reading an object that holds the secret marks the secret inside the destination', () => {
    const rendered = renderActionParams({conn: {settings: '{{ pack.config.api }}'}, all: '{{ pack.config }}'}, secretContext())
    expect(rendered.sensitivePaths).toEqual(['/all/api/token', '/conn/settings/token'])
  })

  it('interpolating the secret, or an object holding it, marks the whole string', () => {
    const rendered = renderActionParams({h: ['Bearer {{ pack.config.api.token }}'], j: 'cfg={{ pack.config.api }}', ok: 'x {{ pack.config.plain }}'}, secretContext())
    expect(rendered.value).toEqual({h: ['Bearer tok'], j: 'cfg={"token":"tok","url":"u"}', ok: 'x p'})
    expect(rendered.sensitivePaths).toEqual(['/h/0', '/j'])
  })

  it('reading below a secret, a missing secret value, and bracket spellings still count', () => {
    const ctx = secretContext()
    ctx.pack.config = {}
    const rendered = renderActionParams({a: '{{ pack.config.api.token.x }}', b: '{{ pack.config.api.token }}', c: '{{ pack.config["api"]["token"] }}'}, ctx)
    expect(rendered.value).toEqual({a: null, b: null, c: null})
    expect(rendered.sensitivePaths).toEqual(['/a', '/b', '/c'])
  })

  it('without a conf_schema nothing is sensitive; without a pack ref the source is the pointer', () => {
    expect(renderActionParams({p: '{{ pack.config.api.token }}'}, context()).sensitivePaths).toEqual([])
    const ctx = secretContext()
    ctx.pack.ref = null
    expect(renderActionParams({p: '{{ pack.config.api.token }}'}, ctx).secretSources[0].source.ref).toBe('/api/token')
  })

  it('event and system values are never secret', () => {
    expect(renderActionParams({a: '{{ event.payload }}', b: '{{ system }}', c: '{{ event.payload.service }}'}, secretContext()).sensitivePaths).toEqual([])
  })
})

describe('what Attune would do with secrets, and the refusal check', () => {
  const actionSchema = {type: 'object', properties: {username: {type: 'string'}, password: {type: 'string', secret: true}, db: {type: 'object', properties: {key: {type: 'string', secret: true}}}}}
  const packContext = () => context({pack: {ref: 'demo', config: {token: 'tok'}, conf_schema: {token: {type: 'string', secret: true}}}})

  it('redactSecrets: schema secrets present in the config are taken out and replaced by the marker', () => {
    const rendered = renderActionParams({username: 'alice', password: '{{ event.payload.service }}', db: {key: 'k', host: 'h'}}, context())
    const redaction = redactSecrets(rendered, actionSchema)
    expect(redaction.rejected).toEqual([])
    expect(redaction.config).toEqual({username: 'alice', password: redactionMarker(), db: {key: redactionMarker(), host: 'h'}})
    expect(redaction.secrets).toEqual([
      {json_path: '/db/key', value: 'k', source_kind: 'parameter_schema', source_ref: '/db/key'},
      {json_path: '/password', value: 'api-gateway', source_kind: 'parameter_schema', source_ref: '/password'},
    ])
    expect(rendered.value).toEqual({username: 'alice', password: 'api-gateway', db: {key: 'k', host: 'h'}})
  })

  it('redactSecrets: a null value is still a secret; an absent parameter is not', () => {
    const redaction = redactSecrets(renderActionParams({password: '{{ event.payload.nope }}'}, context()), actionSchema)
    expect(redaction.secrets).toEqual([{json_path: '/password', value: null, source_kind: 'parameter_schema', source_ref: '/password'}])
  })

  it('redactSecrets: pack secrets come first and keep their source; a path below a redacted one is skipped', () => {
    const schema = {type: 'object', properties: {db: {type: 'object', secret: true, properties: {key: {secret: true}}}}}
    const ctx = context({pack: {ref: 'demo', config: {db: {key: 'k'}}, conf_schema: {db: {secret: true}}}})
    const redaction = redactSecrets(renderActionParams({db: '{{ pack.config.db }}'}, ctx), schema)
    expect(redaction.secrets).toEqual([{json_path: '/db', value: {key: 'k'}, source_kind: 'pack_config', source_ref: 'demo:/db'}])
    expect(redaction.config).toEqual({db: redactionMarker()})
  })

  it('redactSecrets: two pack secrets in one string give one secret row for that path', () => {
    const ctx = context({pack: {ref: 'demo', config: {a: 'A', b: 'B'}, conf_schema: {a: {secret: true}, b: {secret: true}}}})
    const rendered = renderActionParams({password: '{{ pack.config.b }}:{{ pack.config.a }}'}, ctx)
    expect(rendered.secretSources.map((entry) => entry.source.ref)).toEqual(['demo:/a', 'demo:/b'])
    expect(redactSecrets(rendered, actionSchema).secrets).toEqual([{json_path: '/password', value: 'B:A', source_kind: 'pack_config', source_ref: 'demo:/a'}])
  })

  it('redactSecrets: a pack secret on a non-secret parameter is rejected (Attune refuses the enforcement)', () => {
    const redaction = redactSecrets(renderActionParams({username: '{{ pack.config.token }}', password: '{{ pack.config.token }}'}, packContext()), actionSchema)
    expect(redaction.rejected).toEqual(['/username'])
  })

  it('a pack secret below a secret parameter is allowed', () => {
    const schema = {type: 'object', properties: {auth: {type: 'object', secret: true}}}
    const ctx = context({pack: {ref: 'demo', config: {token: 'tok'}, conf_schema: {token: {secret: true}}}})
    expect(redactSecrets(renderActionParams({auth: {bearer: '{{ pack.config.token }}'}}, ctx), schema).rejected).toEqual([])
  })

  it('plainSecretParams names every parameter that would carry a secret, with the reason', () => {
    const rendered = renderActionParams({username: 'Bearer {{ pack.config.token }}', password: 'literal', other: 1}, packContext())
    expect(plainSecretParams(rendered, actionSchema)).toEqual([
      {path: '/password', parameter: 'password', reason: 'secret_parameter', source_kind: 'parameter_schema', source_ref: '/password'},
      {path: '/username', parameter: 'username', reason: 'not_secret_parameter', source_kind: 'pack_config', source_ref: 'demo:/token'},
    ])
  })

  it('plainSecretParams is empty when no secret is involved', () => {
    expect(plainSecretParams(renderActionParams({username: '{{ event.payload.service }}', db: {host: 'h'}}, packContext()), actionSchema)).toEqual([])
    expect(plainSecretParams(renderActionParams({}, packContext()), actionSchema)).toEqual([])
    expect(plainSecretParams(renderActionParams({password: 'x'}, packContext()), null)).toEqual([])
  })

  it('plainSecretParams finds a nested secret that only rendering creates', () => {
    const ctx = context({event: {payload: {db: {key: 'k'}}}})
    expect(plainSecretParams(renderActionParams({db: '{{ event.payload.db }}'}, ctx), actionSchema).map((p) => p.parameter)).toEqual(['db.key'])
    const other = context({event: {payload: {db: 'just a string'}}})
    expect(plainSecretParams(renderActionParams({db: '{{ event.payload.db }}'}, other), actionSchema)).toEqual([])
  })

  it('possibleSecretParams checks a rule before any event', () => {
    const confSchema = {token: {type: 'string', secret: true}}
    expect(possibleSecretParams({username: '{{ pack.config.token }}', db: '{{ event.payload.db }}'}, actionSchema, confSchema).map((p) => [p.parameter, p.reason])).toEqual([
      ['db.key', 'secret_parameter'],
      ['username', 'not_secret_parameter'],
    ])
    expect(possibleSecretParams({username: 'u', db: 'no template'}, actionSchema, confSchema)).toEqual([])
    expect(possibleSecretParams({password: '{{ event.payload.pw }}'}, actionSchema).map((p) => p.parameter)).toEqual(['password'])
    expect(possibleSecretParams({}, actionSchema)).toEqual([])
  })

  it('secretRefusalMessage names the rule, the action and each parameter', () => {
    const params = plainSecretParams(renderActionParams({username: '{{ pack.config.token }}', password: 'x'}, packContext()), actionSchema)
    const message = secretRefusalMessage('demo.on_error', 'demo.notify', params)
    expect(message).toContain("Rule 'demo.on_error'")
    expect(message).toContain("action 'demo.notify'")
    expect(message).toContain("'password' (secret in the action's schema)")
    expect(message).toContain("'username' (gets pack secret demo:/token)")
  })
})
