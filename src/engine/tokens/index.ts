import {errors as joseErrors, jwtVerify, SignJWT, decodeProtectedHeader, type JWTPayload} from 'jose'
import {AbortError} from '../errors.js'
import type {Queryable} from '../store/types.js'

/**
 * Sensor tokens (SPEC §8): HS256 JWTs that let a long-running sensor call back into attune.
 * One function issues them for `attune token issue` and for the daemon alike.
 */

export const DEFAULT_TOKEN_TTL_SECONDS = 86_400
export const MIN_TOKEN_TTL_SECONDS = 3_600
export const MAX_TOKEN_TTL_SECONDS = 259_200
export const MIN_SECRET_BYTES = 32
/** Clock skew accepted between the issuer and the verifier. */
const CLOCK_TOLERANCE_SECONDS = 30

export interface SensorTokenClaims {
  /** The id of the `identity` row `sensor:<ref>`, as a string (JWT `sub` is a string). */
  sub: string
  /** The bare sensor ref, as Attune's API issues it (its events get `source_ref` from it). */
  login: string
  iat: number
  exp: number
  token_type: 'sensor'
  scope: 'sensor'
  metadata: {trigger_types: string[]}
}

/** The `--json` shape of `token issue` (the response of seed 003). */
export interface IssuedSensorToken {
  identity_id: number
  sensor_ref: string
  token: string
  expires_at: string
  trigger_types: string[]
}

export type TokenInvalidReason = 'malformed' | 'bad_signature' | 'algorithm' | 'expired' | 'not_yet_valid' | 'wrong_type'

export type TokenVerification =
  | {valid: true; claims: SensorTokenClaims; expires_at: string}
  | {valid: false; reason: TokenInvalidReason; message: string}

const REF = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/

/** The signing key from config (`auth.jwt_secret` / `ATTUNE_JWT_SECRET`); never a default. */
export function jwtSecretKey(secret: string | undefined): Uint8Array {
  const how = 'Set ATTUNE_JWT_SECRET (or auth.jwt_secret in a config file only you can read: chmod 600) to a random value of 32 bytes or more, e.g. `export ATTUNE_JWT_SECRET=$(openssl rand -base64 48)`.'
  if (!secret) throw new AbortError('No JWT secret is configured.', {code: 'jwt_secret_missing', hint: how})
  const key = new TextEncoder().encode(secret)
  // Whitespace does not count: 40 spaces (or a padded short value) are no secret.
  const meaningful = new TextEncoder().encode(secret.replace(/\s+/g, '')).length
  if (meaningful < MIN_SECRET_BYTES) {
    const what = meaningful === key.length ? `${key.length} bytes long` : `${meaningful} bytes long without its whitespace`
    throw new AbortError(`The JWT secret is ${what}; at least ${MIN_SECRET_BYTES} bytes other than whitespace are required.`, {code: 'jwt_secret_short', hint: how})
  }
  return key
}

export interface SensorTokenRequest {
  sensorRef: string
  triggerTypes: string[]
  ttlSeconds?: number
}

/** Checks a token request up front; every problem is an AbortError naming the input. */
export function validateTokenRequest(request: SensorTokenRequest): Required<SensorTokenRequest> {
  if (!REF.test(request.sensorRef)) {
    throw new AbortError(`--sensor-ref must be a sensor ref like pack.name, got "${request.sensorRef}"`, {code: 'sensor_ref_invalid'})
  }
  const triggerTypes = [...new Set(request.triggerTypes.map((type) => type.trim()).filter(Boolean))]
  if (triggerTypes.length === 0) throw new AbortError('--trigger-types needs at least one trigger ref, e.g. core.intervaltimer', {code: 'trigger_types_missing'})
  const bad = triggerTypes.find((type) => !REF.test(type))
  if (bad) throw new AbortError(`--trigger-types: "${bad}" is not a trigger ref like pack.name`, {code: 'trigger_types_invalid'})
  const ttlSeconds = request.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < MIN_TOKEN_TTL_SECONDS || ttlSeconds > MAX_TOKEN_TTL_SECONDS) {
    throw new AbortError(`--ttl must be a whole number of seconds from ${MIN_TOKEN_TTL_SECONDS} to ${MAX_TOKEN_TTL_SECONDS}, got ${ttlSeconds}`, {
      code: 'ttl_out_of_range',
    })
  }
  return {sensorRef: request.sensorRef, triggerTypes, ttlSeconds}
}

/**
 * The identity `sensor:<ref>` as Attune's API creates it (attributes `{type: "sensor",
 * sensor_ref, trigger_types}`): created on first use, reused (attributes refreshed) after.
 */
export async function ensureSensorIdentity(db: Queryable, sensorRef: string, triggerTypes: string[]): Promise<number> {
  const attributes = JSON.stringify({type: 'sensor', sensor_ref: sensorRef, trigger_types: triggerTypes})
  const {rows} = await db.query<{id: number | string}>(
    `INSERT INTO attune.identity (login, display_name, attributes)
     VALUES ($1, $2, $3::jsonb)
     ON CONFLICT (login) DO UPDATE SET attributes = EXCLUDED.attributes
     RETURNING id`,
    [`sensor:${sensorRef}`, `Sensor: ${sensorRef}`, attributes],
  )
  return Number(rows[0].id)
}

/** Signs a sensor token for an identity; `now` (seconds) is for tests. */
export async function signSensorToken(
  input: {identityId: number; sensorRef: string; triggerTypes: string[]; ttlSeconds: number; now?: number},
  key: Uint8Array,
): Promise<{token: string; claims: SensorTokenClaims}> {
  const iat = input.now ?? Math.floor(Date.now() / 1000)
  const claims: SensorTokenClaims = {
    sub: String(input.identityId),
    login: input.sensorRef,
    iat,
    exp: iat + input.ttlSeconds,
    token_type: 'sensor',
    scope: 'sensor',
    metadata: {trigger_types: input.triggerTypes},
  }
  const token = await new SignJWT({...claims}).setProtectedHeader({alg: 'HS256', typ: 'JWT'}).sign(key)
  return {token, claims}
}

/** Issues a token for a sensor: validates, ensures its identity, signs. */
export async function issueSensorToken(db: Queryable, request: SensorTokenRequest, secret: string | undefined): Promise<IssuedSensorToken> {
  const key = jwtSecretKey(secret)
  const valid = validateTokenRequest(request)
  const identityId = await ensureSensorIdentity(db, valid.sensorRef, valid.triggerTypes)
  const {token, claims} = await signSensorToken({identityId, ...valid}, key)
  return {
    identity_id: identityId,
    sensor_ref: valid.sensorRef,
    token,
    expires_at: new Date(claims.exp * 1000).toISOString(),
    trigger_types: valid.triggerTypes,
  }
}

function invalid(reason: TokenInvalidReason, message: string): TokenVerification {
  return {valid: false, reason, message}
}

/**
 * Verifies a sensor token: HS256 only (`alg: none` and every other algorithm refused),
 * signature, expiry, not-before, and that it is a sensor token with the claims attune issues.
 */
export async function verifySensorToken(token: string, key: Uint8Array, options: {now?: number} = {}): Promise<TokenVerification> {
  const trimmed = token.trim()
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(trimmed)) {
    return invalid('malformed', 'not a JWT (expected three base64url parts separated by dots)')
  }
  let alg: unknown
  try {
    alg = decodeProtectedHeader(trimmed).alg
  } catch {
    return invalid('malformed', 'the token header is not valid base64url JSON')
  }
  if (alg !== 'HS256') return invalid('algorithm', `algorithm ${JSON.stringify(alg)} is not accepted (HS256 only)`)
  const now = options.now ?? Math.floor(Date.now() / 1000)
  let payload: JWTPayload
  try {
    ;({payload} = await jwtVerify(trimmed, key, {algorithms: ['HS256'], currentDate: new Date(now * 1000), clockTolerance: CLOCK_TOLERANCE_SECONDS}))
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) return invalid('expired', `the token expired at ${new Date(Number(error.payload.exp) * 1000).toISOString()}`)
    if (error instanceof joseErrors.JWSSignatureVerificationFailed) return invalid('bad_signature', 'the signature does not match (tampered, or signed with another secret)')
    if (error instanceof joseErrors.JOSEAlgNotAllowed) return invalid('algorithm', 'the algorithm is not accepted (HS256 only)')
    if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'nbf') return invalid('not_yet_valid', 'the token is not valid yet (nbf is in the future)')
    if (error instanceof joseErrors.JWTClaimValidationFailed) return invalid('malformed', `claim ${error.claim}: ${error.reason}`)
    return invalid('malformed', error instanceof Error ? error.message : String(error))
  }
  if (typeof payload.iat === 'number' && payload.iat > now + CLOCK_TOLERANCE_SECONDS) {
    return invalid('not_yet_valid', `the token was issued in the future (iat ${new Date(payload.iat * 1000).toISOString()})`)
  }
  if (typeof payload.exp !== 'number') return invalid('malformed', 'the token has no exp claim')
  if (payload.token_type !== 'sensor' || payload.scope !== 'sensor') {
    return invalid('wrong_type', `token_type is ${JSON.stringify(payload.token_type)}, scope ${JSON.stringify(payload.scope)}; a sensor token is required`)
  }
  const triggerTypes = (payload.metadata as {trigger_types?: unknown} | undefined)?.trigger_types
  if (typeof payload.sub !== 'string' || typeof payload.login !== 'string' || !REF.test(payload.login) || !Array.isArray(triggerTypes)) {
    return invalid('malformed', 'the token lacks the sensor claims (sub, login = the sensor ref, metadata.trigger_types)')
  }
  return {valid: true, claims: payload as unknown as SensorTokenClaims, expires_at: new Date(payload.exp * 1000).toISOString()}
}
export {generatedSecretPath, GENERATED_SECRET_FILE, resolveJwtSecret, withJwtSecret} from './secret.js'
export type {SecretResolution} from './secret.js'

/** The keys tokens are verified with: the current secret, then the previous one (rotation). */
export interface VerificationKeys {
  current: Uint8Array
  previous?: Uint8Array
}

export function verificationKeys(secret: string | undefined, previous?: string): VerificationKeys {
  return {current: jwtSecretKey(secret), previous: previous ? jwtSecretKey(previous) : undefined}
}

/**
 * Verifies with the current secret; a token whose signature does not match it is tried with
 * the previous secret, so tokens issued before a rotation work until they expire.
 */
export async function verifySensorTokenRotating(token: string, keys: VerificationKeys, options: {now?: number} = {}): Promise<TokenVerification> {
  const result = await verifySensorToken(token, keys.current, options)
  if (result.valid || result.reason !== 'bad_signature' || !keys.previous) return result
  const old = await verifySensorToken(token, keys.previous, options)
  return old.valid ? old : result
}
