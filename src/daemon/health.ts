import {createHash, timingSafeEqual} from 'node:crypto'
import {createServer, type IncomingMessage, type Server} from 'node:http'
import {isIP, type AddressInfo} from 'node:net'

/**
 * The daemon's HTTP endpoints for its supervisor, on 127.0.0.1 unless `health.host` says
 * otherwise (Prometheus on another host, Kubernetes probes): docs/daemon.md.
 *
 * - `/healthz`: everything is fine. 503 when the database or the broker is down
 *   (`unavailable`), when a sensor has not completed a poll within 3× its interval
 *   (`degraded`, with the refs), or while stopping. For monitoring and alerts.
 * - `/livez`: the process and its scheduler tick. 503 only when a restart would help.
 * - `/readyz`: this daemon can do its job: the database answers and the endpoints are up.
 *   A stuck sensor or a broker outage (the outbox keeps everything) does not take it out.
 * - `/metrics`: Prometheus text; with a metrics token, only for `Authorization: Bearer TOKEN`
 *   (401 otherwise). The probes stay open: they say nothing a scraper could not see anyway.
 */
export interface Probe {
  ok: boolean
  body: unknown
}

export interface HealthSources {
  healthz: () => Probe
  livez: () => Probe
  readyz: () => Probe
  metrics: () => Promise<string>
}

export interface HealthServer {
  port: number
  host: string
  /** `http://HOST:PORT` (an IPv6 address in brackets). */
  url: string
  close(): Promise<void>
}

export interface HealthServerOptions {
  port: number
  /** Default 127.0.0.1. */
  host?: string
  /** A bearer token /metrics requires. */
  metricsToken?: string
}

/** Whether an address (or `localhost`) reaches only this machine. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (bare === 'localhost' || bare === '::1') return true
  return isIP(bare) === 4 && bare.startsWith('127.')
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest()
}

/** The request carries `Authorization: Bearer <token>` (compared in constant time). */
function hasToken(request: IncomingMessage, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')
  return match !== null && timingSafeEqual(digest(match[1]), digest(token))
}

const PATHS = ['/healthz', '/livez', '/readyz', '/metrics']

export async function startHealthServer(options: HealthServerOptions, sources: HealthSources): Promise<HealthServer> {
  const host = options.host ?? '127.0.0.1'
  const token = options.metricsToken
  const probes: Record<string, () => Probe> = {'/healthz': sources.healthz, '/livez': sources.livez, '/readyz': sources.readyz}
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0]
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, {allow: 'GET, HEAD', 'content-type': 'application/json'}).end('{"error": "only GET and HEAD"}\n')
      return
    }
    const probe = probes[path]
    if (probe) {
      let result: Probe
      try {
        result = probe()
      } catch (error) {
        result = {ok: false, body: {status: 'error', error: error instanceof Error ? error.message : String(error)}}
      }
      response.writeHead(result.ok ? 200 : 503, {'content-type': 'application/json', 'cache-control': 'no-store'}).end(`${JSON.stringify(result.body)}\n`)
    } else if (path === '/metrics') {
      if (token !== undefined && !hasToken(request, token)) {
        response
          .writeHead(401, {'content-type': 'application/json', 'www-authenticate': 'Bearer realm="attune metrics"'})
          .end(`${JSON.stringify({error: 'a bearer token is required for /metrics (Authorization: Bearer TOKEN)'})}\n`)
        return
      }
      sources
        .metrics()
        .then((text) => response.writeHead(200, {'content-type': 'text/plain; version=0.0.4; charset=utf-8'}).end(text))
        .catch((error) => response.writeHead(500, {'content-type': 'text/plain'}).end(String(error)))
    } else {
      response.writeHead(404, {'content-type': 'application/json'}).end(`${JSON.stringify({error: `not found: try ${PATHS.join(', ')}`})}\n`)
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, host, () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  return {
    port,
    host,
    url: `http://${isIP(host) === 6 ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
