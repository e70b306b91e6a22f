import {randomBytes} from 'node:crypto'
import {closeSync, openSync, readFileSync, statSync, writeSync} from 'node:fs'
import {join} from 'node:path'
import type {AttuneConfig} from '../config.js'
import {AbortError} from '../errors.js'
import {ensurePrivateDir} from '../store/private.js'

/**
 * The JWT secret of a home. A configured secret (`auth.jwt_secret`, `ATTUNE_JWT_SECRET`,
 * Attune's `security.jwt_secret`) always wins. On the embedded default with none configured,
 * the first command that needs one generates it: 32 random bytes as base64url text in
 * `$ATTUNE_HOME/jwt-secret`, mode 0600, made once and said once. Never a built-in default:
 * every home has its own. With PostgreSQL a secret must be configured (every daemon and
 * Attune's API must share it), as before.
 */

export const GENERATED_SECRET_FILE = 'jwt-secret'

export function generatedSecretPath(home: string): string {
  return join(home, GENERATED_SECRET_FILE)
}

export interface SecretResolution {
  /** The secret to sign and verify with (undefined: none configured and none to generate). */
  secret?: string
  /** Where it came from. */
  source: 'config' | 'generated' | 'home' | 'none'
  /** A secret that still verifies (rotation), if configured. */
  previous?: string
}

/**
 * Resolves the secret for `config`. `generate`: make the home's secret when there is none
 * (commands that issue tokens, the daemon); without it, only an existing one is read (verify).
 * `notice` is told once, when a secret is generated.
 */
export function resolveJwtSecret(config: AttuneConfig, options: {generate?: boolean; notice?: (message: string) => void} = {}): SecretResolution {
  const previous = config.auth.jwt_secret_previous
  if (config.auth.jwt_secret) return {secret: config.auth.jwt_secret, source: 'config', previous}
  if (config.database.url) return {source: 'none', previous}
  const path = generatedSecretPath(config.home)
  const existing = readHomeSecret(path)
  if (existing !== undefined) return {secret: existing, source: 'home', previous}
  if (!options.generate) return {source: 'none', previous}
  ensurePrivateDir(config.home)
  const secret = randomBytes(32).toString('base64url')
  let fd: number
  try {
    fd = openSync(path, 'wx', 0o600) // exclusive: two commands starting at once make one secret
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return {secret: readHomeSecret(path), source: 'home', previous}
    throw error
  }
  try {
    writeSync(fd, `${secret}\n`)
  } finally {
    closeSync(fd)
  }
  options.notice?.(`Generated a JWT secret for this home in ${path} (mode 0600); every command on this home uses it. Set ATTUNE_JWT_SECRET to use your own.`)
  return {secret, source: 'generated', previous}
}

/** Returns `config` with `auth.jwt_secret` resolved (generated when allowed). */
export function withJwtSecret(config: AttuneConfig, options: {generate?: boolean; notice?: (message: string) => void} = {}): AttuneConfig {
  const resolved = resolveJwtSecret(config, options)
  return resolved.secret === undefined ? config : {...config, auth: {...config.auth, jwt_secret: resolved.secret}}
}

function readHomeSecret(path: string): string | undefined {
  let stat
  try {
    stat = statSync(path)
  } catch {
    return undefined
  }
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
    throw new AbortError(`The JWT secret file ${path} can be read by group or other (mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}).`, {
      code: 'secret_file_insecure',
      hint: `Make it readable by you alone: chmod 600 ${path}`,
    })
  }
  const text = readFileSync(path, 'utf8').trim()
  if (text === '') throw new AbortError(`The JWT secret file ${path} is empty.`, {code: 'secret_file_empty', hint: `Remove it and run the command again to generate a new one: rm ${path}`})
  return text
}
