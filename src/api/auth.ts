import type {FastifyRequest} from 'fastify'
import type {Queryable} from '../engine/store/index.js'
import {verifySensorTokenRotating, type SensorTokenClaims, type VerificationKeys} from '../engine/tokens/index.js'
import {forbidden, unauthorized} from './errors.js'

/** The caller of an authenticated route: a sensor, by its token's claims. */
export interface SensorCaller {
  claims: SensorTokenClaims
  identityId: number
  /** The raw token, for the refresh route (never logged). */
  token: string
}

/** How long an identity's existence and `frozen` flag are remembered (a freeze takes effect within it). */
const IDENTITY_CACHE_MS = 5000

/**
 * Bearer sensor tokens, verified as `attune token verify` does (HS256 only, signature with the
 * current or the previous secret, expiry, a sensor token); then the identity must exist and
 * not be frozen. Every failure is 401, a frozen identity 403 (as Attune's API). The reason goes
 * to the client; the token itself is never logged.
 */
export class Authenticator {
  private readonly identities = new Map<number, {frozen: boolean | null; at: number}>()

  constructor(
    private readonly db: Queryable,
    private readonly keys: VerificationKeys,
  ) {}

  async authenticate(request: FastifyRequest): Promise<SensorCaller> {
    const header = request.headers.authorization
    if (!header) throw unauthorized('Missing Authorization header: send "Authorization: Bearer <sensor token>"')
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (!match) throw unauthorized('Malformed Authorization header: expected "Bearer <sensor token>"')
    const token = match[1]
    const verification = await verifySensorTokenRotating(token, this.keys)
    if (!verification.valid) throw unauthorized(`Invalid token (${verification.reason}): ${verification.message}`)
    const identityId = Number(verification.claims.sub)
    if (!Number.isSafeInteger(identityId)) throw unauthorized('Invalid token: sub is not an identity id')
    const frozen = await this.frozen(identityId)
    if (frozen === null) throw unauthorized('Identity not found')
    if (frozen) throw forbidden('Identity is frozen and cannot authenticate')
    return {claims: verification.claims, identityId, token}
  }

  /** null: no such identity. */
  private async frozen(id: number): Promise<boolean | null> {
    const cached = this.identities.get(id)
    if (cached && Date.now() - cached.at < IDENTITY_CACHE_MS) return cached.frozen
    const {rows} = await this.db.query<{frozen: boolean}>('SELECT frozen FROM attune.identity WHERE id = $1', [id])
    const frozen = rows.length === 0 ? null : rows[0].frozen
    if (this.identities.size > 10_000) this.identities.clear()
    this.identities.set(id, {frozen, at: Date.now()})
    return frozen
  }
}

/** A sensor may act only on the triggers in its token. */
export function requireTrigger(caller: SensorCaller, triggerRef: string): void {
  if (!caller.claims.metadata.trigger_types.includes(triggerRef)) {
    throw forbidden(`Sensor ${caller.claims.login} may not emit events for trigger ${triggerRef} (its token allows: ${caller.claims.metadata.trigger_types.join(', ') || 'none'})`)
  }
}
