/**
 * `attune config show`: the effective configuration with each value's source, secrets redacted,
 * bad environment values named (exit 2); `attune runtime detect` writes UTC ISO times.
 */
import {chmodSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import type {ConfigReport} from '../../src/engine/config-report.js'
import {renderRuntimeReport} from '../../src/ui/runtime-detect.js'
import {attune} from '../support/cli.js'

const home = mkdtempSync(join(tmpdir(), 'attune-config-show-'))
afterAll(() => rmSync(home, {recursive: true, force: true}))
const env = {ATTUNE_HOME: home}

const show = (args: string[], extra: Record<string, string> = {}) => attune(['config', 'show', ...args], {env: {...env, ...extra}})
const settingOf = (report: ConfigReport, key: string) => report.settings.find((setting) => setting.key === key)

describe('attune config show', () => {
  it('reports each daemon setting from its ATTUNE_* variable, a flag over it, and the defaults', async () => {
    const run = await show(['--json', '--lease-seconds', '45'], {
      ATTUNE_HEALTH_PORT: '9470',
      ATTUNE_HEALTH_HOST: '0.0.0.0',
      ATTUNE_LEASE_SECONDS: '30',
      ATTUNE_SHUTDOWN_TIMEOUT: '12',
      ATTUNE_LOG_LEVEL: 'warn',
      ATTUNE_SENSOR_MAX_CONCURRENT_SENSORS: '3',
      ATTUNE_DAEMON_NAME: 'edge-7',
      ATTUNE_UI: 'false',
      ATTUNE_API_ENABLED: 'false',
      ATTUNE_PACKS: 'packs/core,packs/examples',
      ATTUNE_HEALTHPORT: '9471',
    })
    expect(run.exitCode, run.stderr as string).toBe(0)
    const report = JSON.parse(run.stdout as string) as ConfigReport
    expect(report.file).toBeNull()
    // A variable that is no setting (a typo) is named, not an error.
    expect(report.ignored_env).toEqual(['ATTUNE_HEALTHPORT'])
    expect(run.stderr).toContain('Warning: ignored ATTUNE_HEALTHPORT: not an attune setting')
    const expected: Array<[string, unknown, string]> = [
      ['health.port', 9470, 'env:ATTUNE_HEALTH_PORT'],
      ['health.host', '0.0.0.0', 'env:ATTUNE_HEALTH_HOST'],
      ['daemon.lease_seconds', 45, 'flag:--lease-seconds'],
      ['daemon.shutdown_timeout', 12, 'env:ATTUNE_SHUTDOWN_TIMEOUT'],
      ['daemon.log_level', 'warn', 'env:ATTUNE_LOG_LEVEL'],
      ['sensor.max_concurrent_sensors', 3, 'env:ATTUNE_SENSOR_MAX_CONCURRENT_SENSORS'],
      ['daemon.name', 'edge-7', 'env:ATTUNE_DAEMON_NAME'],
      ['daemon.ui', false, 'env:ATTUNE_UI'],
      ['api.enabled', false, 'env:ATTUNE_API_ENABLED'],
      ['daemon.packs', ['packs/core', 'packs/examples'], 'env:ATTUNE_PACKS'],
      ['api.port', 9465, 'default'],
      ['sensor.poll_interval', 30, 'default'],
    ]
    for (const [key, value, source] of expected) expect(settingOf(report, key), key).toMatchObject({value, source})
  })

  it('names the config file as the source of what it sets', async () => {
    const file = join(home, 'daemon.yaml')
    writeFileSync(file, 'daemon:\n  lease_seconds: 20\nhealth:\n  port: 9464\n')
    const run = await show(['--json', '--config-file', file])
    expect(run.exitCode, run.stderr as string).toBe(0)
    const report = JSON.parse(run.stdout as string) as ConfigReport
    expect(report.file).toBe(file)
    expect(settingOf(report, 'daemon.lease_seconds')).toMatchObject({value: 20, source: `file:${file}`})
    expect(settingOf(report, 'health.port')).toMatchObject({value: 9464, source: `file:${file}`})
  })

  it('never shows a secret, in the table or the JSON', async () => {
    const tokenFile = join(home, 'metrics-token')
    writeFileSync(tokenFile, 'token-from-file-0123\n')
    chmodSync(tokenFile, 0o600)
    const secrets = {
      ATTUNE_JWT_SECRET: 'jwt-secret-never-shown-0123456789-abcdef',
      ATTUNE_DATABASE_URL: 'postgres://attune:db-password-never-shown@db.internal/attune',
      ATTUNE_AMQP_URL: 'amqp://attune:mq-password-never-shown@rabbit',
      ATTUNE_METRICS_TOKEN_FILE: tokenFile,
    }
    for (const args of [[], ['--json']]) {
      const run = await show(args, secrets)
      expect(run.exitCode, run.stderr as string).toBe(0)
      const out = run.stdout as string
      for (const secret of ['jwt-secret-never-shown', 'db-password-never-shown', 'mq-password-never-shown', 'token-from-file-0123']) expect(out).not.toContain(secret)
      expect(out).toContain('postgres://attune:***@db.internal/attune')
      expect(out).toContain('env:ATTUNE_METRICS_TOKEN_FILE')
    }
    const table = (await show([], secrets)).stdout as string
    expect(table).toMatch(/^auth\.jwt_secret\s+\*\*\*\s+env:ATTUNE_JWT_SECRET$/m)
    expect(table).toMatch(/^daemon\.lease_seconds\s+15\s+default$/m)
  })

  it('a bad value in the environment exits 2 naming the variable', async () => {
    const human = await show([], {ATTUNE_LOG_LEVEL: 'chatty'})
    expect(human.exitCode).toBe(2)
    expect(human.stderr).toContain('ATTUNE_LOG_LEVEL must be one of debug, info, warn, error, got "chatty"')
    const json = await show(['--json'], {ATTUNE_HEALTH_PORT: 'ninety'})
    expect(json.exitCode).toBe(2)
    expect(JSON.parse(json.stdout as string).error).toMatchObject({code: 'env_invalid', message: 'ATTUNE_HEALTH_PORT must be a port number from 0 to 65535, got "ninety"'})
  })

  it('the daemon refuses a bad setting from the environment before starting (exit 2)', async () => {
    const run = await attune(['daemon', '--no-ui'], {env: {...env, ATTUNE_LEASE_SECONDS: '1'}})
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toContain('ATTUNE_LEASE_SECONDS must be a number from 2 to 3600, got "1"')
  })
})

describe('UTC times', () => {
  it('runtime detect writes UTC ISO times whatever the local zone', () => {
    const previous = process.env.TZ
    process.env.TZ = 'America/Los_Angeles'
    try {
      const text = renderRuntimeReport({
        runtimes: [],
        available: ['shell'],
        source: 'detection',
        source_detail: 'runtime table (1 runtime)',
        cached: true,
        checked_at: '2026-11-30T20:05:09.123Z',
        duration_ms: 5,
        worker: {name: 'host-1', created: false, worker_role: 'sensor', status: 'active', last_heartbeat: '2026-11-30T21:00:00.000Z'},
      } as unknown as Parameters<typeof renderRuntimeReport>[0])
      expect(text).toContain('cached result of 2026-11-30T20:05:09Z')
      expect(text).toContain('heartbeat 2026-11-30T21:00:00Z')
      expect(text).not.toMatch(/[AP]M\b/)
    } finally {
      if (previous === undefined) delete process.env.TZ
      else process.env.TZ = previous
    }
  })

  it(
    'attune runtime detect --register in another time zone prints its heartbeat in UTC',
    async () => {
      const run = await attune(['runtime', 'detect', '--register', '--worker-name', 'utc-host'], {env: {...env, TZ: 'Asia/Kolkata', ATTUNE_SENSOR_RUNTIMES: ''}})
      expect(run.exitCode, run.stderr as string).toBe(0)
      const heartbeat = /heartbeat (\S+)\)/.exec(run.stdout as string)?.[1]
      expect(heartbeat).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
      expect(Math.abs(Date.parse(heartbeat!) - Date.now())).toBeLessThan(10 * 60_000)
    },
    120_000,
  )
})
