import rateLimit from '@fastify/rate-limit'
import Fastify, {type FastifyError, type FastifyInstance} from 'fastify'
import {createHash} from 'node:crypto'
import type {AddressInfo} from 'node:net'
import type {Registry} from 'prom-client'
import type {EventPipeline} from '../engine/events/index.js'
import type {Store} from '../engine/store/index.js'
import type {VerificationKeys} from '../engine/tokens/index.js'
import {Authenticator} from './auth.js'
import type {ApiContext, ApiLogger} from './context.js'
import {ApiError, errorBody} from './errors.js'
import {ApiMetrics} from './metrics.js'
import {authRoutes} from './routes/auth.js'
import {eventRoutes} from './routes/events.js'
import {healthRoutes} from './routes/health.js'
import {triggerRoutes} from './routes/triggers.js'
import {webhookRoutes} from './routes/webhooks.js'

/**
 * The daemon's HTTP API: the sensor-facing subset of Attune's API, with Attune's paths, bodies
 * and status codes (docs/api.md). fastify validates bodies against schemas, enforces the body
 * limit and keeps connections alive; @fastify/rate-limit limits requests per token.
 */
export interface ApiOptions {
  host: string
  port: number
  /** Largest accepted body in bytes (413 above). */
  bodyLimit: number
  /** Requests per second per token (per client address without one); 429 above. */
  rateLimit: number
  store: Store
  pipeline: EventPipeline
  keys: VerificationKeys
  logger: ApiLogger
  /** Where the API's metrics are registered (the daemon's /metrics registry). */
  registry?: Registry
  /** Told of every event a sensor stored through the API (for `sensor status` and the dashboard). */
  onSensorEvents?: (sensorRef: string, events: number) => void
  /**
   * Which proxies' `X-Forwarded-For` to believe for the client address (fastify's
   * `trustProxy`: true, or addresses/CIDRs of the proxies). Default false: the socket's address,
   * so a sender cannot pick its own address past a webhook's IP allow-list.
   */
  trustProxy?: boolean | string | string[]
}

export interface ApiServer {
  readonly port: number
  readonly url: string
  readonly app: FastifyInstance
  /**
   * Stops accepting; requests in flight get up to `graceMs` (default 10 s) to finish and are
   * answered with `Connection: close`; then every connection is closed.
   */
  close(graceMs?: number): Promise<void>
}

/** Builds the fastify instance (not listening): for the daemon and for tests (`inject`). */
export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const context: ApiContext = {
    store: options.store,
    pipeline: options.pipeline,
    auth: new Authenticator(options.store, options.keys),
    keys: options.keys,
    logger: options.logger,
    onSensorEvents: options.onSensorEvents,
  }
  const metrics = options.registry ? new ApiMetrics(options.registry) : undefined
  const app = Fastify({logger: false, trustProxy: options.trustProxy ?? false, bodyLimit: options.bodyLimit, return503OnClosing: true, forceCloseConnections: 'idle', ajv: {customOptions: {allowUnionTypes: true}}})

  // JSON only (as Attune's API): any other content type is 415.
  app.removeContentTypeParser('text/plain')

  await app.register(rateLimit, {
    global: true,
    max: options.rateLimit,
    timeWindow: 1000,
    // Per token: a hash of the bearer (never the token itself); per address without one.
    keyGenerator: (request) => {
      const header = request.headers.authorization
      return header ? `token:${createHash('sha256').update(header).digest('base64url').slice(0, 22)}` : `ip:${request.ip}`
    },
    allowList: (request) => request.url === '/health',
    errorResponseBuilder: (_request, context) => {
      const error = new ApiError(429, `Rate limit exceeded: at most ${context.max} requests per second; retry in ${Math.ceil(context.ttl / 1000)} s`)
      ;(error as ApiError & {statusCode: number}).statusCode = 429
      return error
    },
  })

  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    let status: number
    let message: string
    if (error instanceof ApiError) {
      status = error.statusCode
      message = error.message
    } else if (error.validation) {
      status = 422
      message = `Invalid request ${error.validationContext ?? 'body'}: ${error.message.replace(/^(body|params|querystring|headers)\/?/, '')}`
    } else if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || (error instanceof SyntaxError && error.statusCode === 400)) {
      status = 400
      message = `Malformed JSON: ${error.message}`
    } else if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      status = 413
      message = `Request body is larger than ${options.bodyLimit} bytes`
    } else if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      status = 415
      message = `Unsupported Content-Type ${JSON.stringify(request.headers['content-type'] ?? '')}: send application/json`
    } else if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      status = error.statusCode
      message = error.message
    } else {
      status = 503
      message = 'The request could not be completed (the database may be unavailable); retry later'
      options.logger.error('API request failed', {method: request.method, route: request.routeOptions.url, err: error})
    }
    void reply.code(status).send(errorBody(status, message))
  })
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(errorBody(404, `No route ${request.method} ${request.url.split('?')[0]}`))
  })

  // Requests in flight, so that a stop waits for them (their events are committed) and no longer.
  let inflight = 0
  let closing = false
  app.addHook('onRequest', (_request, _reply, done) => {
    inflight++
    done()
  })
  app.addHook('onResponse', (_request, _reply, done) => {
    inflight--
    done()
  })
  app.addHook('onRequestAbort', (_request, done) => {
    inflight--
    done()
  })
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close')
    done(null, payload)
  })
  app.decorate('attuneDrain', async (graceMs: number) => {
    closing = true
    const deadline = Date.now() + graceMs
    while (inflight > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  })

  if (metrics) {
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched'
      const status = String(reply.statusCode)
      metrics.requests.inc({route, status})
      if (reply.statusCode >= 400 && reply.statusCode < 500) metrics.refusals.inc({route, status})
      metrics.duration.observe({route}, reply.elapsedTime / 1000)
    })
  }

  await app.register(healthRoutes)
  await app.register(eventRoutes(context))
  await app.register(triggerRoutes(context))
  await app.register(authRoutes(context))
  await app.register(webhookRoutes(context))
  return app
}

export async function startApi(options: ApiOptions): Promise<ApiServer> {
  const app = await buildApi(options)
  await app.listen({host: options.host, port: options.port})
  const address = app.server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    port: address.port,
    url: `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`,
    app,
    async close(graceMs = 10_000) {
      // No new connections; keep-alive clients are told to go; in-flight requests finish.
      app.server.close()
      app.server.closeIdleConnections()
      await (app as unknown as {attuneDrain: (ms: number) => Promise<void>}).attuneDrain(graceMs)
      app.server.closeAllConnections()
      await app.close()
    },
  }
}
