import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startApi, type ApiServer} from '../../src/api/server.js'
import {ringLogger} from '../../src/daemon/logger.js'
import {EventPipeline} from '../../src/engine/events/index.js'
import {issueSensorToken, jwtSecretKey, signSensorToken, verificationKeys} from '../../src/engine/tokens/index.js'
import {Registry} from 'prom-client'
import {insertRule, insertSensor, insertTrigger} from '../events/helpers.js'
import {backends, useMigratedStore} from '../store/backends.js'
import {signHs256} from '../support/jwt.js'

const SECRET = 'api-test-secret-0123456789abcdefghijklmnopqrstuvwxyz'
const PREVIOUS = 'api-test-previous-secret-0123456789abcdefghijklmnop'
const OTHER = 'someone-elses-secret-0123456789abcdefghijklmnopqrst'

describe.each(backends())('the sensor API on $name (real HTTP)', (backend) => {
  const store = useMigratedStore(backend, {
    setup: async (db) => {
      await insertTrigger(db, 'api.tick')
      await insertTrigger(db, 'api.other')
      await insertSensor(db, 'api.sensor', 'api.tick')
      await insertRule(db, 'api.all', 'api.tick', {all: []}, {action: 'core.echo', actionParams: {message: '{{ event.payload.n }}'}})
      await insertRule(db, 'api.big', 'api.tick', {all: [{field: 'payload.n', operator: 'greater_than', value: 10}]})
      await insertRule(db, 'api.off', 'api.tick', {all: []}, {enabled: false})
    },
  })
  const logger = ringLogger(1000, 'debug')
  const registry = new Registry()
  let api: ApiServer
  let token: string
  let url: string
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, {method: 'POST', headers: {'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers}, body: typeof body === 'string' ? body : JSON.stringify(body)})
  const get = (path: string, bearer = token) => fetch(`${url}${path}`, {headers: {authorization: `Bearer ${bearer}`}})
  const count = async (sql: string, params: unknown[] = []) => Number((await store.query<{n: number}>(sql, params)).rows[0].n)

  beforeAll(async () => {
    if (backend.skip) return
    api = await startApi({
      host: '127.0.0.1',
      port: 0,
      bodyLimit: 4096,
      rateLimit: 1000,
      store,
      pipeline: new EventPipeline(store),
      keys: verificationKeys(SECRET, PREVIOUS),
      logger,
      registry,
    })
    url = api.url
    token = (await issueSensorToken(store, {sensorRef: 'api.sensor', triggerTypes: ['api.tick']}, SECRET)).token
  })
  afterAll(async () => {
    await api?.close()
  })

  it.skipIf(backend.skip)('GET /health answers without a token', async () => {
    const response = await fetch(`${url}/health`)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({status: 'ok'})
  })

  it.skipIf(backend.skip)('POST /api/v1/events stores the event with its enforcements and outbox rows before answering 201 {data: {id}}', async () => {
    const response = await post('/api/v1/events', {trigger_ref: 'api.tick', payload: {n: 42}, config: {interval: 5}})
    expect(response.status).toBe(201)
    const {data} = (await response.json()) as {data: {id: number; source_ref: string; enforcements: Array<{rule_ref: string}>}}
    expect(Number.isInteger(data.id)).toBe(true)
    expect(data.source_ref).toBe('api.sensor')
    expect(data.enforcements.map((enforcement) => enforcement.rule_ref).sort()).toEqual(['api.all', 'api.big'])
    const {rows} = await store.query<{source_ref: string; source: number | null; payload: unknown; config: unknown}>('SELECT source, source_ref, payload, config FROM attune.event WHERE id = $1', [data.id])
    expect(rows[0]).toMatchObject({source_ref: 'api.sensor', payload: {n: 42}, config: {interval: 5}})
    expect(rows[0].source).not.toBeNull()
    const config = (await store.query<{config: unknown}>("SELECT config FROM attune.enforcement WHERE event = $1 AND rule_ref = 'api.all'", [data.id])).rows[0].config
    expect(config).toEqual({message: 42})
    expect(await count('SELECT count(*)::int AS n FROM attune_sensor.outbox WHERE message->\'payload\'->>\'event_id\' = $1', [String(data.id)])).toBe(3)
  })

  it.skipIf(backend.skip)('ties an event to one rule with trigger_instance_id rule_<id> or a bare id (never a deduplication key)', async () => {
    const ruleId = await count("SELECT id AS n FROM attune.rule WHERE ref = 'api.all'")
    for (const instance of [`rule_${ruleId}`, ruleId, String(ruleId)]) {
      const response = await post('/api/v1/events', {trigger_ref: 'api.tick', payload: {n: 99}, trigger_instance_id: instance})
      expect(response.status).toBe(201)
      const {data} = (await response.json()) as {data: {id: number; rule_ref: string; enforcements: Array<{rule_ref: string}>}}
      expect(data.rule_ref).toBe('api.all')
      expect(data.enforcements.map((enforcement) => enforcement.rule_ref)).toEqual(['api.all']) // api.big would match 99 too
    }
    const events = await count("SELECT count(*)::int AS n FROM attune.event WHERE rule_ref = 'api.all'")
    expect(events).toBe(3) // the same instance id three times: three events
  })

  it.skipIf(backend.skip)('answers a retry with the same Idempotency-Key with the first answer and no second event', async () => {
    const before = await count('SELECT count(*)::int AS n FROM attune.event')
    const first = await post('/api/v1/events', {trigger_ref: 'api.tick', payload: {n: 1}}, {'idempotency-key': 'retry-1'})
    const again = await post('/api/v1/events', {trigger_ref: 'api.tick', payload: {n: 1}}, {'idempotency-key': 'retry-1'})
    expect(first.status).toBe(201)
    expect(again.status).toBe(201)
    expect(again.headers.get('idempotent-replayed')).toBe('true')
    const [a, b] = [(await first.json()) as {data: {id: number}}, (await again.json()) as {data: {id: number}}]
    expect(b.data.id).toBe(a.data.id)
    expect(await count('SELECT count(*)::int AS n FROM attune.event')).toBe(before + 1)
    const other = await post('/api/v1/events', {trigger_ref: 'api.tick', payload: {n: 1}}, {'idempotency-key': 'retry-2'})
    expect(((await other.json()) as {data: {id: number}}).data.id).not.toBe(a.data.id)
    expect((await post('/api/v1/events', {trigger_ref: 'api.tick'}, {'idempotency-key': 'bad key with spaces'})).status).toBe(400)
  })

  it.skipIf(backend.skip)('answers a duplicate within the trigger\'s dedup window with 200 and the first event\'s id, storing nothing', async () => {
    await store.query("INSERT INTO attune_sensor.trigger_settings (trigger, dedup_key, dedup_window_ms) SELECT id, 'payload.delivery', 600000 FROM attune.trigger WHERE ref = 'api.tick'")
    try {
      const before = await count('SELECT count(*)::int AS n FROM attune.event')
      const first = await post('/api/v1/events', {trigger_ref: 'api.tick', payload: {n: 5, delivery: 'd-1'}})
      const again = await post('/api/v1/events', {trigger_ref: 'api.tick', payload: {n: 6, delivery: 'd-1'}})
      expect(first.status).toBe(201)
      expect(again.status).toBe(200)
      expect(again.headers.get('attune-deduplicated')).toBe('true')
      const [a, b] = [(await first.json()) as {data: {id: number}}, (await again.json()) as {data: {id: number; enforcements: unknown[]}}]
      expect(b.data.id).toBe(a.data.id)
      expect(b.data.enforcements).toEqual([])
      expect(await count('SELECT count(*)::int AS n FROM attune.event')).toBe(before + 1)
      expect((await post('/api/v1/events', {trigger_ref: 'api.tick', payload: {n: 7, delivery: 'd-2'}})).status).toBe(201)
    } finally {
      await store.query("DELETE FROM attune_sensor.trigger_settings WHERE trigger = (SELECT id FROM attune.trigger WHERE ref = 'api.tick')")
    }
  })

  it.skipIf(backend.skip)('refuses every bad token with 401, on every authenticated route', async () => {
    const now = Math.floor(Date.now() / 1000)
    const claims = {sub: '1', login: 'api.sensor', iat: now, exp: now + 3600, token_type: 'sensor', scope: 'sensor', metadata: {trigger_types: ['api.tick']}}
    const identity = (await store.query<{id: number}>("SELECT id FROM attune.identity WHERE login = 'sensor:api.sensor'")).rows[0].id
    const bad: Record<string, string | undefined> = {
      missing: undefined,
      notBearer: `Basic ${Buffer.from('a:b').toString('base64')}`,
      garbage: 'Bearer not-a-token',
      forged: `Bearer ${signHs256({alg: 'HS256', typ: 'JWT'}, {...claims, sub: String(identity)}, OTHER)}`,
      algNone: `Bearer ${Buffer.from(JSON.stringify({alg: 'none', typ: 'JWT'})).toString('base64url')}.${Buffer.from(JSON.stringify({...claims, sub: String(identity)})).toString('base64url')}.`,
      expired: `Bearer ${signHs256({alg: 'HS256', typ: 'JWT'}, {...claims, sub: String(identity), iat: now - 7200, exp: now - 3600}, SECRET)}`,
      wrongType: `Bearer ${signHs256({alg: 'HS256', typ: 'JWT'}, {...claims, sub: String(identity), token_type: 'access', scope: 'user'}, SECRET)}`,
      noIdentity: `Bearer ${(await signSensorToken({identityId: 999_999, sensorRef: 'api.sensor', triggerTypes: ['api.tick'], ttlSeconds: 3600}, jwtSecretKey(SECRET))).token}`,
    }
    const before = await count('SELECT count(*)::int AS n FROM attune.event')
    for (const [name, authorization] of Object.entries(bad)) {
      const headers: Record<string, string> = {'content-type': 'application/json'}
      if (authorization) headers.authorization = authorization
      for (const [method, path] of [
        ['POST', '/api/v1/events'],
        ['GET', '/api/v1/triggers/api.tick'],
        ['GET', '/api/v1/triggers/api.tick/rules'],
        ['POST', '/api/v1/auth/refresh'],
      ]) {
        const response = await fetch(`${url}${path}`, {method, headers, body: method === 'POST' ? JSON.stringify({trigger_ref: 'api.tick', payload: {}}) : undefined})
        expect(response.status, `${name} ${method} ${path}`).toBe(401)
        const body = (await response.json()) as {error: string; code: string}
        expect(body.code).toBe('UNAUTHORIZED')
        expect(body.error.length).toBeGreaterThan(5)
      }
    }
    expect(await count('SELECT count(*)::int AS n FROM attune.event')).toBe(before)
  })

  it.skipIf(backend.skip)('refuses a frozen identity with 403 and a trigger outside the token with 403', async () => {
    const outside = await post('/api/v1/events', {trigger_ref: 'api.other', payload: {}})
    expect(outside.status).toBe(403)
    expect(((await outside.json()) as {error: string}).error).toMatch(/api.sensor may not emit events for trigger api.other/)
    expect((await get('/api/v1/triggers/api.other/rules')).status).toBe(403)
    const frozen = await issueSensorToken(store, {sensorRef: 'api.frozen', triggerTypes: ['api.tick']}, SECRET)
    await store.query("UPDATE attune.identity SET frozen = true WHERE login = 'sensor:api.frozen'")
    const response = await fetch(`${url}/api/v1/events`, {method: 'POST', headers: {'content-type': 'application/json', authorization: `Bearer ${frozen.token}`}, body: JSON.stringify({trigger_ref: 'api.tick', payload: {}})})
    expect(response.status).toBe(403)
  })

  it.skipIf(backend.skip)('answers bad requests with 400, 404, 413, 415 and 422 as JSON', async () => {
    const malformed = await post('/api/v1/events', '{"trigger_ref": ')
    expect(malformed.status).toBe(400)
    expect(await malformed.json()).toMatchObject({code: 'BAD_REQUEST', error: expect.stringMatching(/JSON/)})
    expect((await post('/api/v1/events', {trigger_ref: 'api.tick', payload: {blob: 'x'.repeat(5000)}})).status).toBe(413)
    expect((await post('/api/v1/events', {payload: {}})).status).toBe(422)
    expect((await post('/api/v1/events', {trigger_ref: 'api.tick', payload: [1, 2]})).status).toBe(422)
    const text = await fetch(`${url}/api/v1/events`, {method: 'POST', headers: {'content-type': 'text/plain', authorization: `Bearer ${token}`}, body: 'hi'})
    expect(text.status).toBe(415)
    const unknownTrigger = await issueSensorToken(store, {sensorRef: 'api.sensor', triggerTypes: ['api.tick', 'api.nope']}, SECRET)
    const missing = await fetch(`${url}/api/v1/events`, {method: 'POST', headers: {'content-type': 'application/json', authorization: `Bearer ${unknownTrigger.token}`}, body: JSON.stringify({trigger_ref: 'api.nope', payload: {}})})
    expect(missing.status).toBe(404)
    expect((await get('/api/v1/triggers/api.nope')).status).toBe(404)
    const route = await fetch(`${url}/api/v1/nothing`)
    expect(route.status).toBe(404)
    expect(await route.json()).toMatchObject({code: 'NOT_FOUND'})
  })

  it.skipIf(backend.skip)('lists only the enabled rules of a trigger, with their trigger_params', async () => {
    const response = await get('/api/v1/triggers/api.tick/rules')
    expect(response.status).toBe(200)
    const {data} = (await response.json()) as {data: Array<{id: number; ref: string; enabled: boolean; trigger_params: unknown}>}
    expect(data.map((rule) => rule.ref)).toEqual(['api.all', 'api.big'])
    expect(data.every((rule) => rule.enabled && Number.isInteger(rule.id) && rule.trigger_params !== undefined)).toBe(true)
    const trigger = await get('/api/v1/triggers/api.tick')
    expect(((await trigger.json()) as {data: {ref: string; webhook_key?: string}}).data).toMatchObject({ref: 'api.tick'})
  })

  it.skipIf(backend.skip)('refreshes a token as Attune\'s sensor client expects, and accepts tokens of the previous secret', async () => {
    const response = await post('/api/v1/auth/refresh', {})
    expect(response.status).toBe(200)
    const body = (await response.json()) as {token: string; expires_at: string}
    expect(Object.keys(body).sort()).toEqual(['expires_at', 'token'])
    expect(new Date(body.expires_at).getTime()).toBeGreaterThan(Date.now() + 3_000_000)
    const fresh = await post('/api/v1/events', {trigger_ref: 'api.tick', payload: {}}, {authorization: `Bearer ${body.token}`})
    expect(fresh.status).toBe(201)
    const old = await issueSensorToken(store, {sensorRef: 'api.sensor', triggerTypes: ['api.tick']}, PREVIOUS)
    expect((await post('/api/v1/events', {trigger_ref: 'api.tick', payload: {}}, {authorization: `Bearer ${old.token}`})).status).toBe(201)
    // Refreshing an old token moves it onto the current secret.
    const moved = (await (await post('/api/v1/auth/refresh', {}, {authorization: `Bearer ${old.token}`})).json()) as {token: string}
    expect((await verificationKeys(SECRET).current).length).toBeGreaterThan(0)
    expect(moved.token).not.toBe(old.token)
  })

  it.skipIf(backend.skip)('never logs a token, and counts requests and refusals in the metrics', async () => {
    const text = JSON.stringify(logger.records())
    expect(text).not.toContain(token)
    expect(text).not.toContain(token.split('.')[2])
    const metrics = await registry.metrics()
    expect(metrics).toMatch(/attune_api_requests_total\{route="\/api\/v1\/events",status="201"\} \d+/)
    expect(metrics).toMatch(/attune_api_refusals_total\{route="\/api\/v1\/events",status="401"\} \d+/)
    expect(metrics).toContain('attune_api_request_duration_seconds_bucket')
  })
})

describe.each(backends())('the API rate limit on $name', (backend) => {
  const store = useMigratedStore(backend, {setup: async (db) => void (await insertTrigger(db, 'rl.tick'))})
  let api: ApiServer
  beforeAll(async () => {
    if (backend.skip) return
    api = await startApi({host: '127.0.0.1', port: 0, bodyLimit: 1024, rateLimit: 5, store, pipeline: new EventPipeline(store), keys: verificationKeys(SECRET), logger: ringLogger()})
  })
  afterAll(async () => {
    await api?.close()
  })

  it.skipIf(backend.skip)('answers 429 past the per-token limit; another token has its own budget', async () => {
    const tokens = await Promise.all(['rl.a', 'rl.b'].map(async (ref) => (await issueSensorToken(store, {sensorRef: ref, triggerTypes: ['rl.tick']}, SECRET)).token))
    const send = (bearer: string) =>
      fetch(`${api.url}/api/v1/triggers/rl.tick`, {headers: {authorization: `Bearer ${bearer}`}}).then(async (response) => ({status: response.status, body: (await response.json()) as {code?: string}}))
    const burst = await Promise.all(Array.from({length: 12}, () => send(tokens[0])))
    const limited = burst.filter((response) => response.status === 429)
    expect(limited.length).toBeGreaterThanOrEqual(5) // 12 in well under a second, 5 allowed per second
    expect(limited[0].body.code).toBe('TOO_MANY_REQUESTS')
    expect((await send(tokens[1])).status).toBe(200)
  })
})
