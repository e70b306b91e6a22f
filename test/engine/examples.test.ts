import {mkdirSync, symlinkSync, utimesSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {executeSensor} from '../../src/engine/sensor/execute.js'
import {findExecutable} from '../../src/engine/sensor/interpreters.js'
import {ROOT} from '../support/cli.js'
import {sensorDir} from '../support/sensors.js'

const files = sensorDir()
afterAll(() => files.cleanup())
const example = (name: string) => join(ROOT, 'packs', 'examples', 'sensors', name)
const trigger = {ref: 'examples.trigger'}

describe('file_watcher.py', () => {
  const sensor = {ref: 'examples.file_watcher', entrypoint: example('file_watcher.py')}

  it('reports files changed since the last poll, and only those', async () => {
    const watched = join(files.dir, 'watched')
    mkdirSync(watched)
    const config = {path: watched, state_file: join(files.dir, 'watcher.state')}
    writeFileSync(join(watched, 'old.txt'), 'old')
    utimesSync(join(watched, 'old.txt'), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000))
    const first = await executeSensor(sensor, trigger, config)
    expect(first.error).toBeNull()
    expect(first.events.map((event) => event.path)).toEqual([join(watched, 'old.txt')])
    const quiet = await executeSensor(sensor, trigger, config)
    expect(quiet.events).toEqual([])
    writeFileSync(join(watched, 'new.txt'), 'new!')
    const second = await executeSensor(sensor, trigger, config)
    expect(second.events).toHaveLength(1)
    expect(second.events[0]).toMatchObject({path: join(watched, 'new.txt'), size: 4, event_type: 'file_created'})
    expect(second.events[0].modified).toMatch(/^\d{4}-\d\d-\d\dT/)
  })

  it('fails with a clear error for a missing directory', async () => {
    const result = await executeSensor(sensor, trigger, {path: join(files.dir, 'nope')})
    expect(result.error_type).toBe('FileNotFoundError')
    expect(result.error).toContain('watched directory does not exist')
  })
})

describe('http_monitor.js', () => {
  const sensor = {ref: 'examples.http_monitor', entrypoint: example('http_monitor.js')}
  let server: Server
  let base: string
  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url === '/ok') response.end('fine')
      else if (request.url === '/down') {
        response.statusCode = 503
        response.end('down')
      } else if (request.url === '/slow') setTimeout(() => response.end('late'), 300)
      // '/hang' never answers
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => {
    server.closeAllConnections()
    server.close()
  })

  it('emits nothing for a healthy endpoint', async () => {
    const result = await executeSensor(sensor, trigger, {url: `${base}/ok`})
    expect(result.error).toBeNull()
    expect(result.events).toEqual([])
  })

  it('reports a down endpoint with its status', async () => {
    const result = await executeSensor(sensor, trigger, {url: `${base}/down`})
    expect(result.events).toEqual([expect.objectContaining({event_type: 'endpoint_down', status_code: 503})])
  })

  it('reports a slow endpoint', async () => {
    const result = await executeSensor(sensor, trigger, {url: `${base}/slow`, slow_ms: 100})
    expect(result.events).toEqual([expect.objectContaining({event_type: 'endpoint_slow', status_code: 200})])
  })

  it('gives up on a hanging endpoint at its own timeout (the seed hung until killed)', async () => {
    const result = await executeSensor(sensor, trigger, {url: `${base}/hang`, timeout: 300}, {timeoutMs: 10_000})
    expect(result.error).toBeNull()
    expect(result.events).toEqual([expect.objectContaining({event_type: 'endpoint_error', error: 'no response within 300 ms'})])
  })
})

describe('disk_usage.sh', () => {
  const sensor = {ref: 'examples.disk_usage', entrypoint: example('disk_usage.sh')}

  it('emits disk_full above the threshold and nothing below it', async () => {
    const full = await executeSensor(sensor, trigger, {path: '/', threshold: 0})
    expect(full.error).toBeNull()
    expect(full.events).toEqual([expect.objectContaining({event_type: 'disk_full', path: '/', threshold: 0})])
    const fine = await executeSensor(sensor, trigger, {path: '/', threshold: 100})
    expect(fine.events).toEqual([])
  })

  it('reads its config without jq too', async () => {
    // A PATH with the tools the script needs but no jq: the sed fallback must parse the config.
    const bin = join(files.dir, 'bin-without-jq')
    mkdirSync(bin)
    for (const tool of ['bash', 'env', 'sed', 'df', 'awk']) {
      const path = await findExecutable(tool)
      if (path) symlinkSync(path, join(bin, tool))
    }
    const result = await executeSensor(sensor, trigger, {path: '/', threshold: 0}, {parentEnv: {PATH: bin}})
    expect(result.error, result.stderr).toBeNull()
    expect(result.events).toEqual([expect.objectContaining({event_type: 'disk_full', threshold: 0})])
  })

  it('rejects a threshold that is not a number with an error document', async () => {
    const result = await executeSensor(sensor, trigger, {threshold: 'lots'})
    expect(result.exit_code).toBe(1)
    expect(result.error_type).toBe('ConfigError')
    expect(result.error).toContain('threshold must be a whole number')
  })

  it('reports a path that does not exist', async () => {
    const result = await executeSensor(sensor, trigger, {path: '/no/such/mount'})
    expect(result.error_type).toBe('DiskUsageError')
  })
})
