import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

/**
 * /healthz and /metrics on 127.0.0.1 only: health is for the local supervisor (systemd,
 * a load balancer's agent, Prometheus on the host), not for the network.
 */
export interface HealthSources {
  health: () => {healthy: boolean; body: unknown}
  metrics: () => Promise<string>
}

export interface HealthServer {
  port: number
  close(): Promise<void>
}

export async function startHealthServer(port: number, sources: HealthSources): Promise<HealthServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0]
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, {allow: 'GET, HEAD'}).end()
      return
    }
    if (path === '/healthz') {
      const {healthy, body} = sources.health()
      response.writeHead(healthy ? 200 : 503, {'content-type': 'application/json'}).end(`${JSON.stringify(body)}\n`)
    } else if (path === '/metrics') {
      sources
        .metrics()
        .then((text) => response.writeHead(200, {'content-type': 'text/plain; version=0.0.4; charset=utf-8'}).end(text))
        .catch((error) => response.writeHead(500, {'content-type': 'text/plain'}).end(String(error)))
    } else {
      response.writeHead(404, {'content-type': 'application/json'}).end('{"error": "not found: try /healthz or /metrics"}\n')
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
