/**
 * Every daemon setting from a flag, an `ATTUNE_*` variable, the config file or its default, in
 * that order, with where each value came from (`attune config show`), and bad values named.
 */
import {chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {describeConfig} from '../../src/engine/config-report.js'
import {loadConfig, SETTING_NAMES, settingKeys, type ConfigOverrides} from '../../src/engine/config.js'
import {AbortError} from '../../src/engine/errors.js'

const dir = mkdtempSync(join(tmpdir(), 'attune-config-sources-'))
const home = join(dir, 'home')
mkdirSync(home)
afterAll(() => rmSync(dir, {recursive: true, force: true}))

function configFile(name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  chmodSync(path, 0o600)
  return path
}

const load = (env: Record<string, string>, options: {file?: string; overrides?: ConfigOverrides} = {}) => loadConfig({env: {ATTUNE_HOME: home, ...env}, cwd: dir, ...options})

function abortOf(fn: () => unknown): AbortError {
  try {
    fn()
  } catch (error) {
    if (error instanceof AbortError) return error
    throw error
  }
  throw new Error('expected an AbortError')
}

/** Each daemon setting: its variable, a value as text, and the value it must become. */
const daemonSettings: Array<[key: string, variable: string, raw: string, value: unknown]> = [
  ['health.port', 'ATTUNE_HEALTH_PORT', '9999', 9999],
  ['health.host', 'ATTUNE_HEALTH_HOST', '0.0.0.0', '0.0.0.0'],
  ['health.metrics_token', 'ATTUNE_METRICS_TOKEN', 'scrape-me', 'scrape-me'],
  ['daemon.lease_seconds', 'ATTUNE_LEASE_SECONDS', '40', 40],
  ['daemon.shutdown_timeout', 'ATTUNE_SHUTDOWN_TIMEOUT', '5', 5],
  ['daemon.log_level', 'ATTUNE_LOG_LEVEL', 'debug', 'debug'],
  ['daemon.name', 'ATTUNE_DAEMON_NAME', 'edge-1', 'edge-1'],
  ['daemon.ui', 'ATTUNE_UI', 'false', false],
  ['daemon.packs', 'ATTUNE_PACKS', 'packs/core, packs/examples', ['packs/core', 'packs/examples']],
  ['sensor.max_concurrent_sensors', 'ATTUNE_SENSOR_MAX_CONCURRENT_SENSORS', '4', 4],
  ['sensor.max_restart_attempts', 'ATTUNE_SENSOR_MAX_RESTART_ATTEMPTS', '7', 7],
  ['sensor.max_output_bytes', 'ATTUNE_SENSOR_MAX_OUTPUT_BYTES', '2048', 2048],
  ['sensor.interpreters.python', 'ATTUNE_SENSOR_INTERPRETERS_PYTHON', '/opt/py/bin/python3', '/opt/py/bin/python3'],
  ['api.enabled', 'ATTUNE_API_ENABLED', '0', false],
  ['api.host', 'ATTUNE_API_HOST', '0.0.0.0', '0.0.0.0'],
  ['api.port', 'ATTUNE_API_PORT', '9000', 9000],
  ['api.body_limit', 'ATTUNE_API_BODY_LIMIT', '4096', 4096],
  ['api.rate_limit', 'ATTUNE_API_RATE_LIMIT', '5', 5],
  ['amqp.url', 'ATTUNE_AMQP_URL', 'amqp://rabbit', 'amqp://rabbit'],
]

const get = (config: unknown, key: string) => key.split('.').reduce<unknown>((value, part) => (value as Record<string, unknown> | undefined)?.[part], config)

describe('daemon settings from the environment', () => {
  it.each(daemonSettings)('%s from %s', (key, variable, raw, value) => {
    const loaded = load({[variable]: raw})
    expect(get(loaded.config, key)).toEqual(value)
    expect(loaded.sources[key]).toBe(`env:${variable}`)
    // Nothing set: the default.
    expect(load({}).sources[key]).toBe('default')
  })

  it('takes a log level in any case', () => {
    expect(load({ATTUNE_LOG_LEVEL: 'WARN'}).config.daemon.log_level).toBe('warn')
  })

  it('every setting has a row in the names table, and every variable there is read', () => {
    expect(Object.keys(SETTING_NAMES).sort()).toEqual(settingKeys().sort())
    for (const [key, variable] of daemonSettings) expect(SETTING_NAMES[key].env).toContain(variable)
  })

  it.each([
    ['ATTUNE_HEALTH_PORT', '70000', 'ATTUNE_HEALTH_PORT must be a port number from 0 to 65535, got "70000"'],
    ['ATTUNE_LEASE_SECONDS', '1', 'ATTUNE_LEASE_SECONDS must be a number from 2 to 3600, got "1"'],
    ['ATTUNE_SHUTDOWN_TIMEOUT', 'soon', 'ATTUNE_SHUTDOWN_TIMEOUT must be a positive number, got "soon"'],
    ['ATTUNE_LOG_LEVEL', 'verbose', 'ATTUNE_LOG_LEVEL must be one of debug, info, warn, error, got "verbose"'],
    ['ATTUNE_UI', 'maybe', 'ATTUNE_UI must be true or false (or 1/0, yes/no, on/off), got "maybe"'],
    ['ATTUNE_API_ENABLED', 'nope', 'ATTUNE_API_ENABLED must be true or false (or 1/0, yes/no, on/off), got "nope"'],
    ['ATTUNE_SENSOR_MAX_CONCURRENT_SENSORS', '2.5', 'ATTUNE_SENSOR_MAX_CONCURRENT_SENSORS must be a whole number of at least 1, got "2.5"'],
    ['ATTUNE_API_RATE_LIMIT', '0', 'ATTUNE_API_RATE_LIMIT must be a whole number of at least 1, got "0"'],
  ])('a bad %s is an error naming it', (variable, raw, message) => {
    const error = abortOf(() => load({[variable]: raw}))
    expect(error.message).toBe(message)
    expect(error.code).toBe('env_invalid')
  })
})

describe('precedence: flag > environment > config file > default', () => {
  const file = configFile(
    'layers.yaml',
    'daemon:\n  lease_seconds: 20\n  log_level: warn\n  packs: [mypacks/one]\nhealth:\n  host: 10.0.0.1\n  port: 9100\nsensor:\n  max_concurrent_sensors: 8\n',
  )

  it('takes each layer in turn and says which one', () => {
    const fromFile = load({}, {file})
    expect(fromFile.config.daemon.lease_seconds).toBe(20)
    expect(fromFile.sources['daemon.lease_seconds']).toBe(`file:${file}`)
    expect(fromFile.config.health).toMatchObject({host: '10.0.0.1', port: 9100})
    // Pack folders in a config file are relative to it.
    expect(fromFile.config.daemon.packs).toEqual([join(dir, 'mypacks/one')])

    const fromEnv = load({ATTUNE_LEASE_SECONDS: '30', ATTUNE_HEALTH_HOST: '0.0.0.0'}, {file})
    expect(fromEnv.config.daemon.lease_seconds).toBe(30)
    expect(fromEnv.sources['daemon.lease_seconds']).toBe('env:ATTUNE_LEASE_SECONDS')
    expect(fromEnv.config.health.host).toBe('0.0.0.0')
    // What the environment does not set still comes from the file.
    expect(fromEnv.config.daemon.log_level).toBe('warn')
    expect(fromEnv.sources['daemon.log_level']).toBe(`file:${file}`)

    const fromFlag = load({ATTUNE_LEASE_SECONDS: '30'}, {file, overrides: {daemon: {lease_seconds: 60}, health: {port: 0}}})
    expect(fromFlag.config.daemon.lease_seconds).toBe(60)
    expect(fromFlag.sources['daemon.lease_seconds']).toBe('flag:--lease-seconds')
    expect(fromFlag.config.health.port).toBe(0)
    expect(fromFlag.sources['health.port']).toBe('flag:--health-port')
    expect(fromFlag.sources['sensor.max_concurrent_sensors']).toBe(`file:${file}`)
  })

  it('reads daemon.health_port, the older name of health.port; both set differently is an error', () => {
    const older = configFile('older.yaml', 'daemon:\n  health_port: 9464\n')
    expect(load({}, {file: older}).config.health.port).toBe(9464)
    const both = configFile('both.yaml', 'daemon:\n  health_port: 9464\nhealth:\n  port: 9500\n')
    expect(abortOf(() => load({}, {file: both})).message).toContain('Both "health.port" (9500) and its older name "daemon.health_port" (9464)')
  })

  it('a bad value in the file names the key and the file', () => {
    const bad = configFile('bad.yaml', 'daemon:\n  log_level: loud\n')
    expect(abortOf(() => load({}, {file: bad})).message).toContain(`Invalid value for "daemon.log_level" in ${bad}`)
  })

  it('refuses a config file holding a metrics token that others can read', () => {
    const open = configFile('token.yaml', 'health:\n  metrics_token: abc\n')
    chmodSync(open, 0o644)
    expect(abortOf(() => load({}, {file: open})).message).toContain('holds a secret (health.metrics_token)')
  })
})

describe('describeConfig (attune config show)', () => {
  it('redacts secrets and URL passwords, and says where each came from', () => {
    const report = describeConfig(
      load({
        ATTUNE_JWT_SECRET: 'jwt-secret-0123456789-0123456789-abc',
        ATTUNE_DATABASE_URL: 'postgres://attune:db-pw@db/attune?sslpassword=ssl-pw',
        ATTUNE_METRICS_TOKEN: 'metrics-token-xyz',
      }),
    )
    const text = JSON.stringify(report)
    for (const secret of ['jwt-secret-0123456789', 'db-pw', 'ssl-pw', 'metrics-token-xyz']) expect(text).not.toContain(secret)
    const setting = (key: string) => report.settings.find((row) => row.key === key)
    expect(setting('auth.jwt_secret')).toMatchObject({value: '***', source: 'env:ATTUNE_JWT_SECRET', secret: true})
    expect(setting('health.metrics_token')).toMatchObject({value: '***', source: 'env:ATTUNE_METRICS_TOKEN'})
    expect(setting('database.url')).toMatchObject({value: 'postgres://attune:***@db/attune?sslpassword=***', source: 'env:ATTUNE_DATABASE_URL', flag: '--database-url'})
    expect(setting('amqp.url')).toMatchObject({value: null, source: 'default'})
    expect(setting('daemon.lease_seconds')).toMatchObject({value: 15, source: 'default', env: ['ATTUNE_LEASE_SECONDS'], flag: '--lease-seconds'})
    expect(report.settings.map((row) => row.key)).toEqual(settingKeys())
  })

  it('names ATTUNE_* variables that are no setting (a typo), not those attune gives sensors', () => {
    const env = {ATTUNE_HOME: home, ATTUNE_HEALTHPORT: '9464', ATTUNE_LEASE_SECONDS: '20', ATTUNE_API_TOKEN: 'x', ATTUNE_SENSOR_REF: 'a.b', ATTUNE_CONFIG_FILE: 'x.yaml'}
    expect(describeConfig(loadConfig({env, cwd: dir}), env).ignored_env).toEqual(['ATTUNE_CONFIG_FILE', 'ATTUNE_HEALTHPORT'])
  })

  it('names a secret file variable as the source', () => {
    const path = configFile('token', 'from-a-file\n')
    const report = describeConfig(load({ATTUNE_METRICS_TOKEN_FILE: path}))
    expect(report.settings.find((row) => row.key === 'health.metrics_token')).toMatchObject({value: '***', source: 'env:ATTUNE_METRICS_TOKEN_FILE'})
  })
})
