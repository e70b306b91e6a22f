import {createHmac} from 'node:crypto'
import {Registry} from 'prom-client'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startApi, type ApiServer} from '../../src/api/server.js'
import {ringLogger} from '../../src/daemon/logger.js'
import {EventPipeline} from '../../src/engine/events/index.js'
import type {Queryable} from '../../src/engine/store/index.js'
import {verificationKeys} from '../../src/engine/tokens/index.js'
import {disableWebhook, enableWebhook, regenerateWebhookKey, WEBHOOK_KEY, type WebhookConfig} from '../../src/engine/webhooks/index.js'
import {insertRule, insertTrigger} from '../events/helpers.js'
import {backends, useMigratedStore} from '../store/backends.js'

const SECRET = 'webhook-test-jwt-secret-0123456789abcdefghijklmnop'
const HMAC_SECRET = 'hmac-shared-secret-do-not-log-4711'

/** `sha256=<hex>` of exactly these bytes, computed here rather than with attune's helper. */
const sign = (body: string, secret = HMAC_SECRET, algorithm = 'sha256') => `${algorithm}=${createHmac(algorithm, secret).update(body).digest('hex')}`

/** A trigger with its webhook enabled (a fresh key) and this webhook_config; returns the key. */
async function webhookTrigger(db: Queryable, ref: string, config: WebhookConfig = {}): Promise<string> {
  await insertTrigger(db, ref)
  await db.query('UPDATE attune.trigger SET webhook_config = $2::jsonb WHERE ref = $1', [ref, JSON.stringify(config)])
  return (await enableWebhook(db, ref)).webhook_key!
}

interface LogRow {
  trigger_ref: string
  webhook_key: string
  event_id: number | null
  source_ip: string | null
  user_agent: string | null
  payload_size_bytes: number | null
  headers: unknown
  status_code: number
  error_message: string | null
  processing_time_ms: number | null
  hmac_verified: boolean | null
  rate_limited: boolean
  ip_allowed: boolean | null
}

describe.each(backends())('webhooks on $name (real HTTP)', (backend) => {
  const keys: Record<string, string> = {}
  const store = useMigratedStore(backend, {
    setup: async (db) => {
      keys.plain = await webhookTrigger(db, 'hook.plain')
      await insertRule(db, 'hook.on_plain', 'hook.plain', {all: [{field: 'payload.n', operator: 'greater_than', value: 10}]}, {action: 'core.echo', actionParams: {message: '{{ event.payload.n }}'}})
      keys.signed = await webhookTrigger(db, 'hook.signed', {hmac: {enabled: true, secret: HMAC_SECRET, algorithm: 'sha256'}})
      keys.github = await webhookTrigger(db, 'hook.github', {hmac: {enabled: true, secret: HMAC_SECRET, algorithm: 'sha256'}, body_as_payload: true})
      await insertRule(db, 'hook.on_push', 'hook.github', {all: [{field: 'payload.ref', operator: 'equals', value: 'refs/heads/main'}]})
      keys.limited = await webhookTrigger(db, 'hook.limited', {rate_limit: {enabled: true, requests: 3, window_seconds: 60}})
      keys.burst = await webhookTrigger(db, 'hook.burst', {rate_limit: {enabled: true, requests: 5, window_seconds: 60}})
      keys.elsewhere = await webhookTrigger(db, 'hook.elsewhere', {ip_whitelist: {enabled: true, ips: ['10.0.0.0/8', '192.168.1.7']}})
      keys.local = await webhookTrigger(db, 'hook.local', {ip_whitelist: {enabled: true, ips: ['127.0.0.0/8', '::1']}})
      keys.small = await webhookTrigger(db, 'hook.small', {payload_size_limit_kb: 1})
      keys.off = await webhookTrigger(db, 'hook.off')
      await db.query("UPDATE attune.trigger SET webhook_enabled = FALSE WHERE ref = 'hook.off'") // a key, but disabled
      keys.gone = await webhookTrigger(db, 'hook.gone')
      keys.rotated = await webhookTrigger(db, 'hook.rotated')
    },
  })
  const logger = ringLogger(2000, 'debug')
  const registry = new Registry()
  let api: ApiServer
  let proxied: ApiServer
  const hook = (key: string, body: string, headers: Record<string, string> = {}, server?: ApiServer) =>
    fetch(`${(server ?? api).url}/api/v1/webhooks/${key}`, {method: 'POST', headers: {'content-type': 'application/json', 'user-agent': 'attune-test/1.0', ...headers}, body})
  const count = async (sql: string, params: unknown[] = []) => Number((await store.query<{n: number}>(sql, params)).rows[0].n)
  const logRows = async (ref: string) => (await store.query<LogRow>('SELECT * FROM attune.webhook_event_log WHERE trigger_ref = $1 ORDER BY id', [ref])).rows
  const events = (ref: string) => count('SELECT count(*)::int AS n FROM attune.event WHERE trigger_ref = $1', [ref])

  beforeAll(async () => {
    if (backend.skip) return
    const options = {host: '127.0.0.1', port: 0, bodyLimit: 64 * 1024, rateLimit: 1000, store, pipeline: new EventPipeline(store), keys: verificationKeys(SECRET), logger}
    api = await startApi({...options, registry})
    proxied = await startApi({...options, trustProxy: true})
  })
  afterAll(async () => {
    await api?.close()
    await proxied?.close()
  })

  it.skipIf(backend.skip)('stores the payload of {"payload": ...} as an event with its enforcements, committed before answering 200 {data: {event_id, ...}}, without a token', async () => {
    expect(keys.plain).toMatch(WEBHOOK_KEY)
    const body = JSON.stringify({payload: {n: 42, who: 'ci'}, headers: {'x-origin': 'test'}})
    const response = await hook(keys.plain, body)
    expect(response.status).toBe(200)
    const {data} = (await response.json()) as {data: {event_id: number; trigger_ref: string; received_at: string; message: string}}
    expect(Object.keys(data).sort()).toEqual(['event_id', 'message', 'received_at', 'trigger_ref'])
    expect(data).toMatchObject({trigger_ref: 'hook.plain', message: 'Webhook received successfully'})
    expect(Math.abs(new Date(data.received_at).getTime() - Date.now())).toBeLessThan(60_000)

    const {rows} = await store.query<{payload: unknown; config: Record<string, unknown>; source: number | null; source_ref: string | null; trigger: number}>(
      'SELECT payload, config, source, source_ref, trigger FROM attune.event WHERE id = $1',
      [data.event_id],
    )
    expect(rows[0].payload).toEqual({n: 42, who: 'ci'})
    expect(rows[0].source).toBeNull() // no sensor
    expect(rows[0].config).toMatchObject({source: 'webhook', source_ip: '127.0.0.1', user_agent: 'attune-test/1.0', headers: {'x-origin': 'test'}})
    expect(rows[0].config).not.toHaveProperty('webhook_key')
    expect(rows[0].config).not.toHaveProperty('hmac_verified') // only when HMAC is on, as in Attune
    const enforcements = (await store.query<{rule_ref: string; config: unknown}>('SELECT rule_ref, config FROM attune.enforcement WHERE event = $1', [data.event_id])).rows
    expect(enforcements).toEqual([{rule_ref: 'hook.on_plain', config: {message: 42}}])
    expect(await count("SELECT count(*)::int AS n FROM attune_sensor.outbox WHERE message->'payload'->>'event_id' = $1", [String(data.event_id)])).toBe(2)

    const [row] = await logRows('hook.plain')
    expect(row).toMatchObject({
      webhook_key: keys.plain,
      event_id: data.event_id,
      source_ip: '127.0.0.1',
      user_agent: 'attune-test/1.0',
      payload_size_bytes: Buffer.byteLength(body),
      headers: null,
      status_code: 200,
      error_message: null,
      hmac_verified: null,
      rate_limited: false,
      ip_allowed: null,
    })
    expect(row.processing_time_ms).toBeGreaterThanOrEqual(0)
    // A payload no rule matches is stored all the same.
    expect((await hook(keys.plain, JSON.stringify({payload: {n: 1}}))).status).toBe(200)
    expect(await events('hook.plain')).toBe(2)
  })

  it.skipIf(backend.skip)('verifies the HMAC over the raw bytes, in X-Webhook-Signature or GitHub\'s X-Hub-Signature-256, and refuses a wrong or missing one with 401', async () => {
    // Odd spacing: a signature over re-serialised JSON would not match these bytes.
    const body = '{ "payload" :{"n":7,   "text": "caf\u00e9"} }\n'
    const ok = await hook(keys.signed, body, {'x-webhook-signature': sign(body)})
    expect(ok.status).toBe(200)
    const {data} = (await ok.json()) as {data: {event_id: number}}
    const stored = (await store.query<{payload: unknown; config: Record<string, unknown>}>('SELECT payload, config FROM attune.event WHERE id = $1', [data.event_id])).rows[0]
    expect(stored.payload).toEqual({n: 7, text: 'café'})
    expect(stored.config.hmac_verified).toBe(true)
    expect((await hook(keys.signed, body, {'x-hub-signature-256': sign(body)})).status).toBe(200)
    expect((await hook(keys.signed, body, {'x-webhook-signature': sign(body).slice('sha256='.length)})).status).toBe(200) // bare hex, as Attune accepts

    const refused: Array<[string, Record<string, string>, RegExp, string]> = [
      ['missing', {}, /Signature required/, 'HMAC signature required but not provided'],
      ['wrong secret', {'x-webhook-signature': sign(body, 'another-secret')}, /Invalid webhook signature/, 'Invalid HMAC signature'],
      ['other bytes', {'x-webhook-signature': sign(body.trim())}, /Invalid webhook signature/, 'Invalid HMAC signature'],
      ['truncated', {'x-hub-signature-256': sign(body).slice(0, -2)}, /Invalid webhook signature/, 'Invalid HMAC signature'],
      ['other algorithm', {'x-webhook-signature': sign(body, HMAC_SECRET, 'sha1')}, /Algorithm mismatch: expected sha256, got sha1/, 'HMAC verification error: Algorithm mismatch: expected sha256, got sha1'],
      ['not hex', {'x-webhook-signature': 'sha256=zz'}, /Invalid hex signature/, 'HMAC verification error: Invalid hex signature'],
    ]
    const before = await events('hook.signed')
    const logged = (await logRows('hook.signed')).length
    for (const [name, headers, answer, error] of refused) {
      const response = await hook(keys.signed, body, headers)
      expect(response.status, name).toBe(401)
      const json = (await response.json()) as {error: string; code: string}
      expect(json.code, name).toBe('UNAUTHORIZED')
      expect(json.error, name).toMatch(answer)
      const rows = await logRows('hook.signed')
      expect(rows.at(-1), name).toMatchObject({status_code: 401, error_message: error, hmac_verified: false, event_id: null, rate_limited: false})
    }
    expect(await events('hook.signed')).toBe(before)
    expect((await logRows('hook.signed')).length).toBe(logged + refused.length)
    expect((await logRows('hook.signed')).slice(0, 3).map((row) => [row.status_code, row.hmac_verified])).toEqual([
      [200, true],
      [200, true],
      [200, true],
    ])
  })

  it.skipIf(backend.skip)('takes the whole body as the payload with body_as_payload (a GitHub push, any content type)', async () => {
    const push = JSON.stringify({ref: 'refs/heads/main', repository: {full_name: 'octo/hello'}, commits: [{id: 'abc'}]})
    const response = await hook(keys.github, push, {'x-hub-signature-256': sign(push), 'x-github-event': 'push', 'user-agent': 'GitHub-Hookshot/1'})
    expect(response.status).toBe(200)
    const {data} = (await response.json()) as {data: {event_id: number}}
    const stored = (await store.query<{payload: unknown}>('SELECT payload FROM attune.event WHERE id = $1', [data.event_id])).rows[0]
    expect(stored.payload).toEqual(JSON.parse(push))
    expect((await store.query('SELECT 1 FROM attune.enforcement WHERE event = $1 AND rule_ref = $2', [data.event_id, 'hook.on_push'])).rows).toHaveLength(1)
    // Not JSON-typed: still the bytes that were signed, parsed as JSON (as Attune's receiver).
    const text = await hook(keys.github, push, {'content-type': 'text/plain', 'x-hub-signature-256': sign(push)})
    expect(text.status).toBe(200)
  })

  it.skipIf(backend.skip)('answers 404 for an unknown key and a disabled trigger (logged only when the key names a trigger)', async () => {
    const unknown = await hook('wh_00000000000000000000000000000000', JSON.stringify({payload: {}}))
    expect(unknown.status).toBe(404)
    expect(await unknown.json()).toEqual({error: 'Invalid webhook key', code: 'NOT_FOUND'})
    expect((await hook('wh_'.padEnd(90, 'f'), JSON.stringify({payload: {}}))).status).toBe(404) // longer than a key can be
    expect(await count("SELECT count(*)::int AS n FROM attune.webhook_event_log WHERE webhook_key = 'wh_00000000000000000000000000000000'")).toBe(0)

    const off = await hook(keys.off, JSON.stringify({payload: {}}))
    expect(off.status).toBe(404)
    expect(((await off.json()) as {code: string}).code).toBe('NOT_FOUND')
    expect(await logRows('hook.off')).toMatchObject([{status_code: 404, error_message: 'Webhooks are not enabled for this trigger', event_id: null}])
    expect(await events('hook.off')).toBe(0)

    expect((await hook(keys.gone, JSON.stringify({payload: {}}))).status).toBe(200)
    await disableWebhook(store, 'hook.gone')
    expect((await hook(keys.gone, JSON.stringify({payload: {}}))).status).toBe(404)

    const fresh = (await regenerateWebhookKey(store, 'hook.rotated')).webhook_key!
    expect(fresh).not.toBe(keys.rotated)
    expect((await hook(keys.rotated, JSON.stringify({payload: {}}))).status).toBe(404)
    expect((await hook(fresh, JSON.stringify({payload: {}}))).status).toBe(200)
  })

  it.skipIf(backend.skip)('limits a trigger to rate_limit.requests per window with 429 and Retry-After, recorded as rate limited', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) {
      const response = await hook(keys.limited, JSON.stringify({payload: {i}}))
      statuses.push(response.status)
      if (response.status === 429) {
        expect(response.headers.get('retry-after')).toBe('60')
        expect(await response.json()).toEqual({error: 'Rate limit exceeded. Maximum 3 requests per 60 seconds', code: 'TOO_MANY_REQUESTS'})
      }
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429])
    expect(await events('hook.limited')).toBe(3)
    const rows = await logRows('hook.limited')
    expect(rows.map((row) => [row.status_code, row.rate_limited, row.event_id === null])).toEqual([
      [200, false, false],
      [200, false, false],
      [200, false, false],
      [429, true, true],
      [429, true, true],
    ])
    expect(rows[3].error_message).toBe('Rate limit exceeded')
  })

  it.skipIf(backend.skip)('holds the rate limit under a concurrent burst: exactly rate_limit.requests get through', async () => {
    const burst = await Promise.all(Array.from({length: 12}, (_, i) => hook(keys.burst, JSON.stringify({payload: {i}})).then((response) => response.status)))
    expect(burst.filter((status) => status === 200)).toHaveLength(5)
    expect(burst.filter((status) => status === 429)).toHaveLength(7)
    expect(await events('hook.burst')).toBe(5)
    expect(await count("SELECT count(*)::int AS n FROM attune.webhook_event_log WHERE trigger_ref = 'hook.burst' AND status_code = 200")).toBe(5)
  })

  it.skipIf(backend.skip)('refuses an address outside ip_whitelist with 403 (X-Forwarded-For counts only when the API trusts proxies)', async () => {
    const body = JSON.stringify({payload: {}})
    const outside = await hook(keys.elsewhere, body)
    expect(outside.status).toBe(403)
    expect(await outside.json()).toEqual({error: 'IP address not allowed', code: 'FORBIDDEN'})
    // A sender cannot claim an allowed address by itself.
    expect((await hook(keys.elsewhere, body, {'x-forwarded-for': '10.1.2.3'})).status).toBe(403)
    expect(await logRows('hook.elsewhere')).toMatchObject([
      {status_code: 403, ip_allowed: false, source_ip: '127.0.0.1', error_message: 'IP address not in whitelist'},
      {status_code: 403, ip_allowed: false, source_ip: '127.0.0.1'},
    ])
    // Behind a trusted proxy the forwarded address is the sender's.
    expect((await hook(keys.elsewhere, body, {'x-forwarded-for': '10.1.2.3'}, proxied)).status).toBe(200)
    expect((await hook(keys.elsewhere, body, {'x-forwarded-for': '192.168.1.7'}, proxied)).status).toBe(200)
    expect((await hook(keys.elsewhere, body, {'x-forwarded-for': '192.168.1.8'}, proxied)).status).toBe(403)
    expect((await logRows('hook.elsewhere')).slice(2).map((row) => [row.source_ip, row.ip_allowed])).toEqual([
      ['10.1.2.3', true],
      ['192.168.1.7', true],
      ['192.168.1.8', false],
    ])

    const inside = await hook(keys.local, body)
    expect(inside.status).toBe(200)
    expect(await logRows('hook.local')).toMatchObject([{status_code: 200, ip_allowed: true}])
    expect(await events('hook.elsewhere')).toBe(2)
  })

  it.skipIf(backend.skip)('answers 400 for a body that is not JSON or lacks "payload", 422 for a payload that is not an object, 413 above payload_size_limit_kb', async () => {
    const cases: Array<[string, number, RegExp]> = [
      ['{"payload": ', 400, /Invalid JSON payload/],
      ['', 400, /Invalid JSON payload: the body is empty/],
      [JSON.stringify({n: 1}), 400, /missing field `payload`.*body_as_payload/],
      [JSON.stringify({payload: [1, 2]}), 422, /must be a JSON object, got an array/],
      [JSON.stringify({payload: 'text'}), 422, /got a string/],
    ]
    for (const [body, status, message] of cases) {
      const response = await hook(keys.plain, body)
      expect(response.status, body).toBe(status)
      expect(((await response.json()) as {error: string}).error, body).toMatch(message)
    }
    const rows = (await logRows('hook.plain')).slice(-cases.length)
    expect(rows.map((row) => row.status_code)).toEqual(cases.map(([, status]) => status))

    const big = JSON.stringify({payload: {blob: 'x'.repeat(2000)}})
    const tooBig = await hook(keys.small, big)
    expect(tooBig.status).toBe(413)
    expect(((await tooBig.json()) as {code: string}).code).toBe('PAYLOAD_TOO_LARGE')
    expect(await logRows('hook.small')).toMatchObject([{status_code: 413, payload_size_bytes: Buffer.byteLength(big)}])
    expect((await hook(keys.small, JSON.stringify({payload: {blob: 'x'}}))).status).toBe(200)
    // The rest of the API still takes JSON only.
    expect((await fetch(`${api.url}/api/v1/events`, {method: 'POST', headers: {'content-type': 'text/plain'}, body: 'hi'})).status).toBe(415)
  })

  it.skipIf(backend.skip)('never logs the HMAC secret, a signature or a whole key, and counts webhook answers in the API metrics', async () => {
    const body = JSON.stringify({payload: {n: 1}})
    expect((await hook(keys.signed, body, {'x-webhook-signature': sign(body)})).status).toBe(200)
    const text = JSON.stringify(logger.records())
    expect(text).not.toContain(HMAC_SECRET)
    expect(text).not.toContain(sign(body).slice(7))
    for (const key of Object.values(keys)) expect(text).not.toContain(key)
    expect(text).toContain('webhook event stored')
    const metrics = await registry.metrics()
    expect(metrics).toMatch(/attune_api_requests_total\{route="\/api\/v1\/webhooks\/:webhook_key",status="200"\} \d+/)
    expect(metrics).toMatch(/attune_api_refusals_total\{route="\/api\/v1\/webhooks\/:webhook_key",status="401"\} \d+/)
    expect(metrics).toMatch(/attune_api_refusals_total\{route="\/api\/v1\/webhooks\/:webhook_key",status="429"\} \d+/)
    expect(metrics).not.toContain('wh_')
  })
})
