import {describe, expect, it} from 'vitest'
import {AbortError} from '../../src/engine/errors.js'
import {
  issueSensorToken,
  jwtSecretKey,
  signSensorToken,
  validateTokenRequest,
  verifySensorToken,
} from '../../src/engine/tokens/index.js'
import {backends, useMigratedStore} from '../store/backends.js'
import {base64url, checkHs256, signHs256} from '../support/jwt.js'

const SECRET = 'a-test-secret-that-is-long-enough-0123456789'
const key = jwtSecretKey(SECRET)
const NOW = 1_800_000_000

const validPayload = (overrides: Record<string, unknown> = {}) => ({
  sub: '7',
  login: 'core.timer',
  iat: NOW,
  exp: NOW + 3600,
  token_type: 'sensor',
  scope: 'sensor',
  metadata: {trigger_types: ['core.intervaltimer']},
  ...overrides,
})

describe('signing and verifying sensor tokens', () => {
  it('signs exactly the SPEC claims with the TTL as expiry', async () => {
    const {token, claims} = await signSensorToken({identityId: 42, sensorRef: 'core.timer', triggerTypes: ['core.intervaltimer', 'core.crontimer'], ttlSeconds: 7200, now: NOW}, key)
    expect(claims).toEqual({
      sub: '42',
      login: 'core.timer',
      iat: NOW,
      exp: NOW + 7200,
      token_type: 'sensor',
      scope: 'sensor',
      metadata: {trigger_types: ['core.intervaltimer', 'core.crontimer']},
    })
    const independent = checkHs256(token, SECRET)
    expect(independent.valid).toBe(true)
    expect(independent.header).toEqual({alg: 'HS256', typ: 'JWT'})
    expect(independent.payload).toEqual(claims)
    const verified = await verifySensorToken(token, key, {now: NOW + 10})
    expect(verified).toEqual({valid: true, claims, expires_at: new Date((NOW + 7200) * 1000).toISOString()})
  })

  it('accepts a token made by an independent HMAC-SHA256 implementation', async () => {
    const token = signHs256({alg: 'HS256', typ: 'JWT'}, validPayload(), SECRET)
    expect((await verifySensorToken(token, key, {now: NOW})).valid).toBe(true)
  })

  const cases: Array<[string, () => string, string]> = [
    ['a tampered payload', () => {
      const [header, , signature] = signHs256({alg: 'HS256'}, validPayload(), SECRET).split('.')
      return `${header}.${base64url(JSON.stringify(validPayload({login: 'admin.everything'})))}.${signature}`
    }, 'bad_signature'],
    ['a tampered signature', () => {
      const token = signHs256({alg: 'HS256'}, validPayload(), SECRET)
      return `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`
    }, 'bad_signature'],
    ['another secret', () => signHs256({alg: 'HS256'}, validPayload(), `${SECRET}-other`), 'bad_signature'],
    ['alg none', () => `${base64url(JSON.stringify({alg: 'none', typ: 'JWT'}))}.${base64url(JSON.stringify(validPayload()))}.`, 'algorithm'],
    ['HS512 with the same secret', () => signHs256({alg: 'HS512', typ: 'JWT'}, validPayload(), SECRET, 'sha512'), 'algorithm'],
    ['an expired token', () => signHs256({alg: 'HS256'}, validPayload({iat: NOW - 7200, exp: NOW - 3600}), SECRET), 'expired'],
    ['a token not valid yet (nbf)', () => signHs256({alg: 'HS256'}, validPayload({nbf: NOW + 3600}), SECRET), 'not_yet_valid'],
    ['a token issued in the future', () => signHs256({alg: 'HS256'}, validPayload({iat: NOW + 3600, exp: NOW + 7200}), SECRET), 'not_yet_valid'],
    ['a user token', () => signHs256({alg: 'HS256'}, validPayload({token_type: 'access', scope: 'user'}), SECRET), 'wrong_type'],
    ['a token without sensor claims', () => signHs256({alg: 'HS256'}, validPayload({login: 'alice'}), SECRET), 'malformed'],
    ['a token without exp', () => signHs256({alg: 'HS256'}, validPayload({exp: undefined}), SECRET), 'malformed'],
    ['garbage', () => 'not-a-token', 'malformed'],
    ['three parts of garbage', () => 'aaa.bbb.ccc', 'malformed'],
    ['an empty string', () => '', 'malformed'],
  ]
  it.each(cases)('rejects %s', async (_name, make, reason) => {
    const result = await verifySensorToken(make(), key, {now: NOW})
    expect(result.valid).toBe(false)
    if (!result.valid) {
      expect(result.reason).toBe(reason)
      expect(result.message.length).toBeGreaterThan(5)
    }
  })

  it('refuses a missing or short secret, saying how to set one', () => {
    expect(() => jwtSecretKey(undefined)).toThrow(AbortError)
    expect(() => jwtSecretKey(undefined)).toThrow('No JWT secret is configured.')
    expect(() => jwtSecretKey('short')).toThrow('The JWT secret is 5 bytes long; at least 32 bytes other than whitespace are required.')
    // Whitespace does not count.
    expect(() => jwtSecretKey(' '.repeat(40))).toThrow('The JWT secret is 0 bytes long without its whitespace; at least 32')
    expect(() => jwtSecretKey(`${'x'.repeat(20)}${' '.repeat(20)}`)).toThrow(/20 bytes long without its whitespace/)
    expect(jwtSecretKey('y'.repeat(32))).toHaveLength(32)
    try {
      jwtSecretKey('')
    } catch (error) {
      expect((error as AbortError).hint).toContain('ATTUNE_JWT_SECRET')
    }
  })

  it.each([
    [{ttlSeconds: 3599}, /--ttl must be a whole number of seconds from 3600 to 259200, got 3599/],
    [{ttlSeconds: 259_201}, /from 3600 to 259200, got 259201/],
    [{ttlSeconds: 4000.5}, /--ttl/],
    [{sensorRef: 'nodots'}, /--sensor-ref must be a sensor ref/],
    [{triggerTypes: []}, /--trigger-types needs at least one/],
    [{triggerTypes: ['core.ok', 'bad type']}, /"bad type" is not a trigger ref/],
  ])('validates the request: %j', (override, message) => {
    expect(() => validateTokenRequest({sensorRef: 'core.timer', triggerTypes: ['core.intervaltimer'], ...override})).toThrow(message)
  })

  it('accepts the TTL bounds themselves', () => {
    expect(validateTokenRequest({sensorRef: 'a.b', triggerTypes: ['c.d'], ttlSeconds: 3600}).ttlSeconds).toBe(3600)
    expect(validateTokenRequest({sensorRef: 'a.b', triggerTypes: ['c.d'], ttlSeconds: 259_200}).ttlSeconds).toBe(259_200)
  })
})

describe.each(backends())('sensor identities on $name', (backend) => {
  const store = useMigratedStore(backend)

  it.skipIf(backend.skip)('creates the identity on first issue and reuses it after', async () => {
    const first = await issueSensorToken(store, {sensorRef: 'core.timer', triggerTypes: ['core.intervaltimer']}, SECRET)
    const second = await issueSensorToken(store, {sensorRef: 'core.timer', triggerTypes: ['core.intervaltimer', 'core.crontimer']}, SECRET)
    const other = await issueSensorToken(store, {sensorRef: 'examples.disk', triggerTypes: ['examples.disk_full']}, SECRET)
    expect(second.identity_id).toBe(first.identity_id)
    expect(other.identity_id).not.toBe(first.identity_id)
    const {rows} = await store.query<{login: string; attributes: {sensor_ref: string; trigger_types: string[]}}>(
      "SELECT login, attributes FROM attune.identity WHERE login LIKE 'sensor:%' ORDER BY id",
    )
    expect(rows.map((row) => row.login)).toEqual(['sensor:core.timer', 'sensor:examples.disk'])
    expect(rows[0].attributes).toMatchObject({sensor_ref: 'core.timer', trigger_types: ['core.intervaltimer', 'core.crontimer']})
    const verified = await verifySensorToken(second.token, key)
    expect(verified.valid && verified.claims.sub).toBe(String(first.identity_id))
    const expiresIn = Date.parse(second.expires_at) - Date.now()
    expect(expiresIn).toBeGreaterThan(86_400_000 - 60_000)
    expect(expiresIn).toBeLessThanOrEqual(86_400_000)
  })

  it.skipIf(backend.skip)('writes nothing for a bad request', async () => {
    const before = await store.query('SELECT id FROM attune.identity')
    await expect(issueSensorToken(store, {sensorRef: 'bad', triggerTypes: ['a.b']}, SECRET)).rejects.toThrow(AbortError)
    await expect(issueSensorToken(store, {sensorRef: 'ok.ref', triggerTypes: ['a.b']}, 'short')).rejects.toThrow(AbortError)
    const after = await store.query('SELECT id FROM attune.identity')
    expect(after.rowCount).toBe(before.rowCount)
  })
})
