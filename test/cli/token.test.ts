import {mkdtempSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {attune} from '../support/cli.js'
import {checkHs256, signHs256} from '../support/jwt.js'

const SECRET = 'cli-test-secret-0123456789-0123456789-abcdef'
const home = mkdtempSync(join(tmpdir(), 'attune-token-home-'))
afterAll(() => rmSync(home, {recursive: true, force: true}))
const env = {NO_COLOR: '1', NODE_ENV: 'production', ATTUNE_HOME: home, ATTUNE_JWT_SECRET: SECRET}

describe('attune token', () => {
  it('issues a token alone on stdout that verify accepts, and reuses the identity', async () => {
    const issued = await attune(['token', 'issue', '--sensor-ref', 'core.timer', '--trigger-types', 'core.intervaltimer,core.crontimer'], {env})
    expect(issued.exitCode, issued.stderr as string).toBe(0)
    const token = (issued.stdout as string).trim()
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)
    expect(issued.stdout).toBe(token) // nothing else on stdout
    const independent = checkHs256(token, SECRET)
    expect(independent.valid).toBe(true)
    expect(independent.payload).toMatchObject({login: 'core.timer', token_type: 'sensor', scope: 'sensor', metadata: {trigger_types: ['core.intervaltimer', 'core.crontimer']}})
    expect((independent.payload.exp as number) - (independent.payload.iat as number)).toBe(86_400)

    const verified = await attune(['token', 'verify', token], {env})
    expect(verified.exitCode).toBe(0)
    expect(verified.stdout).toContain('✓ valid sensor token')
    expect(verified.stdout).toContain('core.timer')

    const again = await attune(['token', 'issue', '--sensor-ref', 'core.timer', '--trigger-types', 'core.intervaltimer', '--ttl', '3600', '--json'], {env})
    const json = JSON.parse(again.stdout as string)
    expect(Object.keys(json).sort()).toEqual(['expires_at', 'identity_id', 'sensor_ref', 'token', 'trigger_types'])
    expect(json.identity_id).toBe(Number(independent.payload.sub))
    expect(checkHs256(json.token, SECRET).payload.exp).toBe((checkHs256(json.token, SECRET).payload.iat as number) + 3600)
  })

  it('verifies a token made without attune, read from stdin', async () => {
    const now = Math.floor(Date.now() / 1000)
    const token = signHs256({alg: 'HS256', typ: 'JWT'}, {sub: '1', login: 'x.y', iat: now, exp: now + 3600, token_type: 'sensor', scope: 'sensor', metadata: {trigger_types: ['x.t']}}, SECRET)
    const run = await attune(['token', 'verify', '-', '--json'], {env, input: `${token}\n`})
    expect(run.exitCode).toBe(0)
    expect(JSON.parse(run.stdout as string)).toMatchObject({valid: true, claims: {login: 'x.y'}})
  })

  it('exits 1 with the reason for an invalid token', async () => {
    const now = Math.floor(Date.now() / 1000)
    const expired = signHs256({alg: 'HS256'}, {sub: '1', login: 'x.y', iat: now - 7200, exp: now - 3600, token_type: 'sensor', scope: 'sensor', metadata: {trigger_types: []}}, SECRET)
    const run = await attune(['token', 'verify', expired], {env})
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toMatch(/✗ invalid token \(expired\): the token expired at/)
    const json = await attune(['token', 'verify', 'garbage', '--json'], {env})
    expect(json.exitCode).toBe(1)
    expect(JSON.parse(json.stdout as string)).toMatchObject({valid: false, reason: 'malformed'})
  })

  it('generates a secret for an embedded home on first use, says so once, and verifies with it', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'attune-token-fresh-'))
    try {
      const homeEnv = {...env, ATTUNE_JWT_SECRET: '', ATTUNE_HOME: fresh}
      const first = await attune(['token', 'issue', '--sensor-ref', 'x.y', '--trigger-types', 'x.t'], {env: homeEnv})
      expect(first.exitCode, first.stderr as string).toBe(0)
      expect(first.stderr).toContain(`Generated a JWT secret for this home in ${join(fresh, 'jwt-secret')} (mode 0600)`)
      expect(statSync(join(fresh, 'jwt-secret')).mode & 0o777).toBe(0o600)
      const second = await attune(['token', 'issue', '--sensor-ref', 'x.y', '--trigger-types', 'x.t'], {env: homeEnv})
      expect(second.stderr).not.toContain('Generated')
      const verified = await attune(['token', 'verify', String(first.stdout).trim(), '--json'], {env: homeEnv})
      expect(JSON.parse(verified.stdout as string)).toMatchObject({valid: true})
      // A configured secret wins: the home's tokens are not valid under it.
      const other = await attune(['token', 'verify', String(first.stdout).trim(), '--json'], {env: {...homeEnv, ATTUNE_JWT_SECRET: SECRET}})
      expect(JSON.parse(other.stdout as string)).toMatchObject({valid: false, reason: 'bad_signature'})
    } finally {
      rmSync(fresh, {recursive: true, force: true})
    }
  })

  it.each([
    // With PostgreSQL a secret must be configured (the embedded default generates one, below).
    [['token', 'issue', '--sensor-ref', 'core.timer', '--trigger-types', 'a.b'], {ATTUNE_JWT_SECRET: '', ATTUNE_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none'}, /No JWT secret is configured/],
    [['token', 'issue', '--sensor-ref', 'core.timer', '--trigger-types', 'a.b'], {ATTUNE_JWT_SECRET: 'tooshort'}, /8 bytes long; at least 32 bytes other than whitespace/],
    [['token', 'issue', '--sensor-ref', 'core.timer', '--trigger-types', 'a.b', '--ttl', '60'], {}, /--ttl must be a whole number of seconds from 3600 to 259200, got 60/],
    [['token', 'issue', '--sensor-ref', 'core.timer'], {}, /Missing required flag trigger-types/],
    [['token', 'issue', '--sensor-ref', 'timer', '--trigger-types', 'a.b'], {}, /--sensor-ref must be a sensor ref/],
    [['token', 'verify'], {}, /Missing 1 required arg/],
    [['token', 'verify', 'x.y.z'], {ATTUNE_JWT_SECRET: '', ATTUNE_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none'}, /No JWT secret is configured/],
  ])('exits 2 for bad usage: %j', async (args, extraEnv, message) => {
    const run = await attune(args, {env: {...env, ...extraEnv}})
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toMatch(message)
    expect(run.stdout).toBe('')
    expect(run.stderr).not.toContain(SECRET)
  })
})
