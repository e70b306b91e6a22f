/**
 * Secrets from files (the Docker / Kubernetes `*_FILE` convention): every variable that carries
 * a secret or a URL with a password can name a file instead.
 */
import {chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {configFromEnv, loadConfig, SECRET_VARIABLES} from '../../src/engine/config.js'
import {AbortError} from '../../src/engine/errors.js'
import {databaseUrlFromEnv} from '../../src/engine/store/index.js'

const dir = mkdtempSync(join(tmpdir(), 'attune-secret-files-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))
let counter = 0

function secretFile(content: string, mode = 0o600): string {
  const path = join(dir, `secret_${++counter}`)
  writeFileSync(path, content)
  chmodSync(path, mode)
  return path
}

function abortOf(fn: () => unknown): AbortError {
  try {
    fn()
  } catch (error) {
    if (error instanceof AbortError) return error
    throw error
  }
  throw new Error('expected an AbortError')
}

const values: Record<(typeof SECRET_VARIABLES)[number], {value: string; read: (config: ReturnType<typeof configFromEnv>) => unknown}> = {
  ATTUNE_DATABASE_URL: {value: 'postgres://attune:db-pw@db:5432/attune', read: (config) => config.database?.url},
  DATABASE_URL: {value: 'postgres://app:other-pw@db/app', read: (config) => config.database?.url},
  ATTUNE_AMQP_URL: {value: 'amqp://attune:mq-pw@rabbit:5672', read: (config) => config.amqp?.url},
  ATTUNE_JWT_SECRET: {value: 'jwt-secret-0123456789-0123456789-abc', read: (config) => config.auth?.jwt_secret},
  ATTUNE_JWT_SECRET_PREVIOUS: {value: 'old-secret-0123456789-0123456789-abc', read: (config) => config.auth?.jwt_secret_previous},
  ATTUNE__SECURITY__JWT_SECRET: {value: 'security-secret-0123456789-0123456789', read: (config) => config.security?.jwt_secret},
  ATTUNE_METRICS_TOKEN: {value: 'metrics-token-0123456789', read: (config) => config.health?.metrics_token},
}

describe('secrets from *_FILE', () => {
  it('covers every variable that carries a secret', () => {
    expect([...SECRET_VARIABLES].sort()).toEqual(Object.keys(values).sort())
  })

  it.each(Object.entries(values))('reads %s_FILE, trailing newline trimmed', (name, {value, read}) => {
    expect(read(configFromEnv({[`${name}_FILE`]: secretFile(`${value}\n`)}))).toBe(value)
    expect(read(configFromEnv({[`${name}_FILE`]: secretFile(`${value}\r\n\n`)}))).toBe(value)
    expect(read(configFromEnv({[name]: value}))).toBe(value)
  })

  it.each(SECRET_VARIABLES)('refuses %s and its _FILE both set, naming both', (name) => {
    const error = abortOf(() => configFromEnv({[name]: 'direct-value-xyz', [`${name}_FILE`]: secretFile('file-value-xyz\n')}))
    expect(error.message).toBe(`Both ${name} and ${name}_FILE are set: use one of them.`)
    expect(error.code).toBe('env_conflict')
    expect(`${error.message} ${error.hint}`).not.toContain('value-xyz')
  })

  it('names a missing file and the variable', () => {
    const error = abortOf(() => configFromEnv({ATTUNE_AMQP_URL_FILE: join(dir, 'no-such-file')}))
    expect(error.message).toBe(`ATTUNE_AMQP_URL_FILE names ${join(dir, 'no-such-file')}, which cannot be read: ENOENT`)
    expect(error.code).toBe('secret_file_unreadable')
  })

  it('names a file that cannot be read (a directory)', () => {
    const directory = join(dir, 'a-directory')
    mkdirSync(directory, {mode: 0o700})
    const error = abortOf(() => configFromEnv({ATTUNE_JWT_SECRET_FILE: directory}))
    expect(error.message).toBe(`ATTUNE_JWT_SECRET_FILE names ${directory}, which cannot be read: EISDIR`)
  })

  it.runIf(process.platform !== 'win32').each([0o640, 0o604, 0o644])('refuses a file group or other can read (mode %o), as a config file with a secret is', (mode) => {
    const path = secretFile('readable-secret-xyz\n', mode)
    const error = abortOf(() => configFromEnv({ATTUNE_JWT_SECRET_FILE: path}))
    expect(error.message).toBe(`ATTUNE_JWT_SECRET_FILE names ${path}, whose mode is 0${mode.toString(8)}: group or other can read the secret in it.`)
    expect(error.code).toBe('secret_file_insecure')
    expect(error.hint).toContain(`chmod 600 ${path}`)
    expect(`${error.message} ${error.hint}`).not.toContain('readable-secret-xyz')
  })

  it('accepts 0400, and refuses an empty file', () => {
    expect(configFromEnv({ATTUNE_JWT_SECRET_FILE: secretFile('read-only-secret-0123456789-0123456789', 0o400)}).auth?.jwt_secret).toBe('read-only-secret-0123456789-0123456789')
    const empty = secretFile('\n')
    expect(abortOf(() => configFromEnv({ATTUNE_JWT_SECRET_FILE: empty})).message).toBe(`ATTUNE_JWT_SECRET_FILE names ${empty}, which is empty.`)
  })

  it('keeps the precedence: ATTUNE_DATABASE_URL(_FILE) over DATABASE_URL(_FILE), also for databaseUrlFromEnv', () => {
    const attune = secretFile('postgres://attune:a@db/attune\n')
    const other = secretFile('postgres://app:b@db/app\n')
    expect(configFromEnv({ATTUNE_DATABASE_URL_FILE: attune, DATABASE_URL: 'postgres://x@y/z'}).database?.url).toBe('postgres://attune:a@db/attune')
    expect(configFromEnv({DATABASE_URL_FILE: other}).database?.url).toBe('postgres://app:b@db/app')
    expect(databaseUrlFromEnv({ATTUNE_DATABASE_URL_FILE: attune})).toBe('postgres://attune:a@db/attune')
  })

  it('feeds the loaded config like the variable itself (Attune\'s setting as the JWT fallback)', () => {
    const path = secretFile('fallback-secret-0123456789-0123456789\n')
    const {config} = loadConfig({env: {ATTUNE__SECURITY__JWT_SECRET_FILE: path}, cwd: dir, overrides: {home: dir}})
    expect(config.auth.jwt_secret).toBe('fallback-secret-0123456789-0123456789')
  })
})
