/**
 * A daemon's health endpoints beyond localhost: bound on the host given, /metrics behind a
 * bearer token, process metrics, build info, broker and database gauges, per-sensor last
 * success and failure counters from 0; daemon settings from ATTUNE_* variables.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {networkInterfaces, tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {attune} from '../support/cli.js'
import {startDaemon, writePack, type DaemonProcess} from '../support/daemon.js'

const home = mkdtempSync(join(tmpdir(), 'attune-metrics-'))
const env = {ATTUNE_HOME: home, ATTUNE_SENSOR_TIMEOUT: '5', ATTUNE_JWT_SECRET: 'metrics-test-secret-0123456789-0123456789'}
const packDir = writePack(join(home, 'pack'), {
  'pack.yaml': 'ref: mt\n',
  'triggers/tick.yaml': 'ref: mt.tick\n',
  'sensors/ok.sh': '#!/bin/sh\necho \'{"events": []}\'\n',
  'sensors/ok.yaml': 'ref: mt.ok\nrunner_type: shell\nentry_point: ok.sh\ntrigger_types: [mt.tick]\npoll_interval: 1\n',
  'sensors/broken.sh': '#!/bin/sh\necho "upstream down" >&2\nexit 1\n',
  'sensors/broken.yaml': 'ref: mt.broken\nrunner_type: shell\nentry_point: broken.sh\ntrigger_types: [mt.tick]\npoll_interval: 1\n',
})
const TOKEN = 'metrics-scrape-token-0123456789'

/** An IPv4 address of this machine other than loopback, if it has one. */
function outsideAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address
  }
  return undefined
}

let daemon: DaemonProcess | undefined
// Creating the embedded database is the slow part on a loaded machine: done once, before the daemons.
beforeAll(async () => {
  const registered = await attune(['pack', 'register', packDir], {env: {NO_COLOR: '1', NODE_ENV: 'production', ...env}, timeout: 170_000})
  expect(registered.exitCode, String(registered.stderr)).toBe(0)
}, 180_000)
afterAll(async () => {
  if (daemon?.process.exitCode === null) await daemon.stop('SIGKILL')
  rmSync(home, {recursive: true, force: true})
})

const metricValue = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe('daemon metrics beyond localhost', () => {
  it(
    'binds --health-host, guards /metrics with the token and serves the new series; settings come from ATTUNE_*',
    async () => {
      daemon = await startDaemon(['--health-host', '0.0.0.0'], {
        ...env,
        ATTUNE_METRICS_TOKEN: TOKEN,
        ATTUNE_DAEMON_NAME: 'metrics-daemon',
        ATTUNE_SHUTDOWN_TIMEOUT: '7',
      })
      const listening = daemon.logs.find((log) => log.msg === 'health endpoints listening')
      expect(listening).toMatchObject({url: `http://0.0.0.0:${daemon.healthPort()}/healthz`, metrics_token: true})
      expect(daemon.logs.find((log) => log.msg === 'daemon started')).toMatchObject({worker: 'metrics-daemon'})
      // With a token, no warning about an open /metrics.
      expect(daemon.logs.some((log) => String(log.msg).includes('/metrics needs no token'))).toBe(false)

      const outside = outsideAddress()
      const base = `http://${outside ?? '127.0.0.1'}:${daemon.healthPort()}`
      expect((await fetch(`${base}/healthz`)).status).toBe(200)
      expect((await fetch(`${base}/livez`)).status).toBe(200)
      expect((await fetch(`${base}/readyz`)).status).toBe(200)
      expect((await fetch(`${base}/metrics`)).status).toBe(401)
      expect((await fetch(`${base}/metrics`, {headers: {authorization: 'Bearer not-the-token'}})).status).toBe(401)

      const scrape = async () => {
        const response = await fetch(`${base}/metrics`, {headers: {authorization: `Bearer ${TOKEN}`}})
        expect(response.status).toBe(200)
        return response.text()
      }
      let text = await scrape()
      const polled = () =>
        (metricValue(text, 'attune_sensor_last_success_timestamp_seconds{sensor="mt.ok"}') ?? 0) > 0 && (metricValue(text, 'attune_sensor_poll_failures_total{sensor="mt.broken"}') ?? 0) > 0
      for (const deadline = Date.now() + 60_000; !polled() && Date.now() < deadline; ) {
        await new Promise((resolve) => setTimeout(resolve, 250))
        text = await scrape()
      }
      expect(polled(), text).toBe(true)
      expect(text).toMatch(/^process_cpu_seconds_total \d/m)
      expect(text).toMatch(/^attune_build_info\{version="[^"]+",node="v\d+\.\d+\.\d+"\} 1$/m)
      expect(metricValue(text, 'attune_broker_up')).toBe(1)
      expect(metricValue(text, 'attune_database_up')).toBe(1)
      // The healthy sensor's failure counter exists, at 0.
      expect(metricValue(text, 'attune_sensor_poll_failures_total{sensor="mt.ok"}')).toBe(0)
      expect(metricValue(text, 'attune_sensor_last_success_timestamp_seconds{sensor="mt.broken"}')).toBe(0)
      const lastSuccess = metricValue(text, 'attune_sensor_last_success_timestamp_seconds{sensor="mt.ok"}')!
      expect(Math.abs(lastSuccess - Date.now() / 1000)).toBeLessThan(120)

      await daemon.stop()
      // ATTUNE_SHUTDOWN_TIMEOUT took effect.
      expect(daemon.logs.find((log) => log.msg === 'stopping: finishing polls in flight')).toMatchObject({timeout_ms: 7000})
    },
    180_000,
  )

  it(
    'warns when the health endpoints listen beyond localhost without a token (ATTUNE_HEALTH_HOST); /metrics is open then',
    async () => {
      daemon = await startDaemon([], {...env, ATTUNE_HEALTH_HOST: '0.0.0.0'})
      const warning = daemon.logs.find((log) => String(log.msg).includes('/metrics needs no token'))
      expect(warning).toMatchObject({level: 'warn', host: '0.0.0.0'})
      expect(String(warning?.hint)).toContain('ATTUNE_METRICS_TOKEN')
      expect((await fetch(`http://127.0.0.1:${daemon.healthPort()}/metrics`)).status).toBe(200)
      expect((await daemon.stop()).exitCode).toBe(0)
    },
    180_000,
  )
})
