import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

/**
 * The daemon's HTTP endpoints for its supervisor, on 127.0.0.1 only: health is for the local
 * supervisor (systemd, Kubernetes probes through the pod, Prometheus on the host).
 *
 * - `/healthz`: everything is fine. 503 when the database or the broker is down
 *   (`unavailable`), when a sensor has not completed a poll within 3× its interval
 *   (`degraded`, with the refs), or while stopping. For monitoring and alerts.
 * - `/livez`: the process and its scheduler tick. 503 only when a restart would help.
 * - `/readyz`: this daemon can do its job: the database answers and the endpoints are up.
 *   A stuck sensor or a broker outage (the outbox keeps everything) does not take it out.
 * - `/metrics`: Prometheus text.
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
  close(): Promise<void>
}

const PATHS = ['/healthz', '/livez', '/readyz', '/metrics']

export async function startHealthServer(port: number, sources: HealthSources): Promise<HealthServer> {
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
    server.listen(port, '127.0.0.1', () => resolve())
  })
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
