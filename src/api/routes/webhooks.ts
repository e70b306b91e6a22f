import type {FastifyInstance} from 'fastify'
import {WebhookReceiver} from '../../engine/webhooks/index.js'
import type {ApiContext} from '../context.js'
import {ApiError} from '../errors.js'

const KEY_PARAMS = {type: 'object', required: ['webhook_key'], properties: {webhook_key: {type: 'string', minLength: 1}}} as const

/** One header's value (a repeated header is refused by the signature check, as it should be). */
function header(value: string | string[] | undefined): string | null {
  if (value === undefined) return null
  return Array.isArray(value) ? value.join(', ') : value
}

/**
 * `POST /api/v1/webhooks/{webhook_key}` (Attune's receiver; docs/api.md#webhooks): no bearer
 * token, the key is the credential. The body is kept as the exact bytes received (any content
 * type, parsed as JSON by the receiver after the HMAC check), so the signature is verified over
 * what the sender signed. Answers 200 `{data: {event_id, trigger_ref, received_at, message}}`
 * once the event is committed; refusals are `{error, code}` as every API error.
 */
export function webhookRoutes(context: ApiContext) {
  const receiver = new WebhookReceiver(context.store, context.pipeline, context.logger)
  return async (app: FastifyInstance): Promise<void> => {
    // Only in this plugin's scope: the rest of the API keeps its JSON-only parsing.
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('*', {parseAs: 'buffer'}, (_request, body, done) => done(null, body))

    app.post<{Params: {webhook_key: string}; Body: Buffer | undefined}>('/api/v1/webhooks/:webhook_key', {schema: {params: KEY_PARAMS}}, async (request, reply) => {
      const outcome = await receiver.receive({
        key: request.params.webhook_key,
        body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
        sourceIp: request.ip ?? null,
        userAgent: header(request.headers['user-agent']),
        signature: header(request.headers['x-webhook-signature']) ?? header(request.headers['x-hub-signature-256']),
      })
      if ('error' in outcome) {
        if (outcome.retryAfterSeconds) void reply.header('retry-after', String(outcome.retryAfterSeconds))
        throw new ApiError(outcome.status, outcome.error)
      }
      return {data: outcome.data}
    })
  }
}
