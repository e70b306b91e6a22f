import type {FastifyInstance} from 'fastify'
import {signSensorToken, MAX_TOKEN_TTL_SECONDS, MIN_TOKEN_TTL_SECONDS} from '../../engine/tokens/index.js'
import type {ApiContext} from '../context.js'

/**
 * `POST /api/v1/auth/refresh`: a sensor trades its valid token for a new one with the same
 * claims and lifetime, answered as Attune's sensor client expects: top-level `{token,
 * expires_at}`. Always signed with the current secret (after a rotation, refreshing moves a
 * sensor onto the new secret).
 */
export function authRoutes(context: ApiContext) {
  return async (app: FastifyInstance): Promise<void> => {
    app.post('/api/v1/auth/refresh', async (request) => {
      const caller = await context.auth.authenticate(request)
      const {claims} = caller
      const ttlSeconds = Math.min(MAX_TOKEN_TTL_SECONDS, Math.max(MIN_TOKEN_TTL_SECONDS, claims.exp - claims.iat))
      const {token, claims: fresh} = await signSensorToken(
        {identityId: caller.identityId, sensorRef: claims.login, triggerTypes: claims.metadata.trigger_types, ttlSeconds},
        context.keys.current,
      )
      context.logger.info('sensor token refreshed', {sensor: claims.login, expires_at: new Date(fresh.exp * 1000).toISOString()})
      return {token, expires_at: new Date(fresh.exp * 1000).toISOString()}
    })
  }
}
