/**
 * The health server on the address it is given, and the metrics token on /metrics; the
 * daemon's metrics registry: process metrics, build info, per-sensor series from 0 and gone
 * with the sensor.
 */
import {networkInterfaces} from 'node:os'
import {afterEach, describe, expect, it} from 'vitest'
import {isLoopbackHost, startHealthServer, type HealthServer} from '../../src/daemon/health.js'
import {DaemonMetrics} from '../../src/daemon/metrics.js'

/** An IPv4 address of this machine other than loopback, if it has one. */
function outsideAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address
  }
  return undefined
}

const sources = {
  healthz: () => ({ok: true, body: {status: 'ok'}}),
  livez: () => ({ok: true, body: {status: 'ok'}}),
  readyz: () => ({ok: true, body: {status: 'ready'}}),
  metrics: async () => 'attune_test_metric 1\n',
}

const servers: HealthServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

async function start(options: Parameters<typeof startHealthServer>[0]): Promise<HealthServer> {
  const server = await startHealthServer(options, sources)
  servers.push(server)
  return server
}

describe('health server address', () => {
  const outside = outsideAddress()

  it('binds the host it is given: 0.0.0.0 answers on every address of the machine', async () => {
    const server = await start({port: 0, host: '0.0.0.0'})
    expect(server.url).toBe(`http://0.0.0.0:${server.port}`)
    for (const address of ['127.0.0.1', ...(outside ? [outside] : [])]) {
      const response = await fetch(`http://${address}:${server.port}/healthz`)
      expect(response.status, address).toBe(200)
    }
  })

  it('binds 127.0.0.1 by default: not reachable on another address of the machine', async () => {
    const server = await start({port: 0})
    expect(server.host).toBe('127.0.0.1')
    expect((await fetch(`http://127.0.0.1:${server.port}/livez`)).status).toBe(200)
    if (outside) await expect(fetch(`http://${outside}:${server.port}/livez`)).rejects.toThrow()
  })

  it('an IPv6 host is written in brackets in its URL', async () => {
    const server = await start({port: 0, host: '::1'}).catch(() => undefined)
    // A machine without IPv6 on loopback cannot bind ::1: nothing to check there.
    if (server) expect(server.url).toBe(`http://[::1]:${server.port}`)
  })

  it('knows which hosts are loopback', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) expect(isLoopbackHost(host), host).toBe(true)
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'example.com', '192.168.1.1']) expect(isLoopbackHost(host), host).toBe(false)
  })
})

describe('metrics token', () => {
  it('/metrics needs the bearer token; the probes stay open', async () => {
    const server = await start({port: 0, host: '0.0.0.0', metricsToken: 'scrape-token-123'})
    const base = `http://127.0.0.1:${server.port}`
    const missing = await fetch(`${base}/metrics`)
    expect(missing.status).toBe(401)
    expect(missing.headers.get('www-authenticate')).toContain('Bearer')
    expect(await missing.text()).not.toContain('attune_test_metric')
    expect((await fetch(`${base}/metrics`, {headers: {authorization: 'Bearer wrong-token'}})).status).toBe(401)
    expect((await fetch(`${base}/metrics`, {headers: {authorization: 'Basic scrape-token-123'}})).status).toBe(401)
    const ok = await fetch(`${base}/metrics`, {headers: {authorization: 'Bearer scrape-token-123'}})
    expect(ok.status).toBe(200)
    expect(await ok.text()).toContain('attune_test_metric 1')
    for (const path of ['/healthz', '/livez', '/readyz']) expect((await fetch(`${base}${path}`)).status, path).toBe(200)
  })

  it('without a token /metrics is open', async () => {
    const server = await start({port: 0})
    expect((await fetch(`http://127.0.0.1:${server.port}/metrics`)).status).toBe(200)
  })
})

describe('DaemonMetrics', () => {
  it('has process metrics and build info', async () => {
    const text = await new DaemonMetrics().text()
    expect(text).toMatch(/^process_cpu_seconds_total \d/m)
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m)
    expect(text).toMatch(new RegExp(`^attune_build_info\\{version="\\d+\\.\\d+\\.\\d+[^"]*",node="${process.version.replaceAll('.', '\\.')}"\\} 1$`, 'm'))
  })

  it('a sensor has its series at 0 from the start, a last success once polled, none once gone', async () => {
    const metrics = new DaemonMetrics()
    metrics.addSensor('p.one', 'p.tick')
    metrics.addSensor('p.two', 'p.tick')
    let text = await metrics.text()
    expect(text).toContain('attune_sensor_poll_failures_total{sensor="p.one"} 0')
    expect(text).toContain('attune_sensor_polls_total{sensor="p.one",outcome="failed"} 0')
    expect(text).toContain('attune_sensor_poll_deadlines_total{sensor="p.two"} 0')
    expect(text).toContain('attune_events_total{trigger="p.tick"} 0')
    expect(text).toContain('attune_sensor_last_success_timestamp_seconds{sensor="p.one"} 0')
    metrics.sensorSucceeded('p.one', 1_700_000_000_000)
    metrics.pollFailures.inc({sensor: 'p.two'})
    // Adding a sensor again (a reload) keeps its values.
    metrics.addSensor('p.one', 'p.tick')
    text = await metrics.text()
    expect(text).toContain('attune_sensor_last_success_timestamp_seconds{sensor="p.one"} 1700000000')
    expect(text).toContain('attune_sensor_poll_failures_total{sensor="p.two"} 1')
    metrics.removeSensor('p.one')
    // A success reported after the sensor went does not bring its series back.
    metrics.sensorSucceeded('p.one')
    text = await metrics.text()
    expect(text).not.toContain('sensor="p.one"')
    expect(text).toContain('attune_sensor_last_success_timestamp_seconds{sensor="p.two"} 0')
  })
})
