import {mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {attune, ROOT} from '../support/cli.js'
import {attuneJson, startDaemon, writePack, type DaemonProcess} from '../support/daemon.js'
import {eventually} from '../support/sensors.js'

/**
 * The sensor API issue's test, with real processes on the embedded default and no secret
 * configured: the standalone Python sensor of docs/sensors.md (taken from the page, written only
 * against Attune's sensor environment) runs under the daemon, reads its rules' trigger_params
 * from the API, posts events that become rows and enforcements, refreshes its token and keeps
 * posting; `attune token issue` on the same home mints tokens the daemon's API accepts; SIGTERM
 * with requests in flight leaves no partial rows.
 */
const home = mkdtempSync(join(tmpdir(), 'attune-standalone-'))
const docs = readFileSync(join(ROOT, 'docs', 'sensors.md'), 'utf8')
const section = docs.slice(docs.indexOf('## Standalone sensors'))
const code = /```python\n([\s\S]*?)```/.exec(section)![1]
const pack = writePack(join(home, 'pack'), {
  'pack.yaml': 'ref: demo\n',
  'triggers/tick.yaml': 'ref: demo.tick\nparameters:\n  every: {type: number, default: 5}\n',
  'sensors/ticker.py': code,
  // REFRESH_AFTER: the page's sensor refreshes its token after 4 s instead of 80 % of a day.
  'sensors/ticker.yaml': 'ref: demo.ticker\nrunner_type: python\nentry_point: ticker.py\nexecution: long_running\ntrigger_types: [demo.tick]\nenv:\n  REFRESH_AFTER: "4"\n',
  'rules/tick.yaml': 'ref: demo.tick_every_2s\ntrigger_ref: demo.tick\ntrigger_params: {every: 2}\naction_ref: core.echo\naction_params: {message: "tick from {{ event.payload.rule }}"}\n',
})
const env = {ATTUNE_HOME: join(home, 'home')}
let daemon: DaemonProcess

beforeAll(async () => {
  daemon = await startDaemon(['--packs', pack], env)
}, 120_000)

afterAll(async () => {
  if (daemon && daemon.process.exitCode === null) await daemon.stop('SIGKILL')
  rmSync(home, {recursive: true, force: true})
})

type Event = {id: number; source_ref: string | null; rule_ref: string | null; payload: {rule: string; at: number}}
const events = async () => (await attuneJson<{events: Event[]}>(['event', 'list', '--trigger', 'demo.tick', '--limit', '500'], env)).events

describe('a standalone sensor written to Attune\'s sensor interface, under the daemon', () => {
  it('generated the home\'s secret (0600) and started the API without any setup', () => {
    expect(daemon.logs.some((log) => String(log.msg).startsWith('Generated a JWT secret for this home'))).toBe(true)
    expect(statSync(join(env.ATTUNE_HOME, 'jwt-secret')).mode & 0o777).toBe(0o600)
    expect(daemon.apiUrl()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
  })

  it('posts events through the API with its rule\'s trigger_params, refreshes its token and keeps posting', async () => {
    expect(await eventually(() => daemon.logs.some((log) => log.msg === 'sensor log' && log.line === 'token refreshed'), 40_000)).toBe(true)
    const refreshedAt = Date.now() / 1000
    let after: Event[] = []
    for (let i = 0; i < 40 && after.length < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500))
      after = (await events()).filter((event) => event.payload.at > refreshedAt)
    }
    expect(after.length).toBeGreaterThanOrEqual(2) // still posting with the refreshed token
    const all = await events()
    expect(all.every((event) => event.source_ref === 'demo.ticker' && event.rule_ref === 'demo.tick_every_2s')).toBe(true)
    // every: 2 from the rule's trigger_params, not the trigger's default 5
    const times = all.map((event) => event.payload.at).sort()
    const gaps = times.slice(1).map((time, i) => time - times[i])
    expect(Math.min(...gaps)).toBeGreaterThan(1.5)
    expect(gaps.filter((gap) => gap < 4.5).length).toBeGreaterThan(gaps.length / 2)
    const {enforcements} = await attuneJson<{enforcements: Array<{event: number; rule_ref: string}>}>(['enforcement', 'list', '--limit', '500'], env)
    const enforced = new Set(enforcements.filter((enforcement) => enforcement.rule_ref === 'demo.tick_every_2s').map((enforcement) => enforcement.event))
    expect(all.every((event) => enforced.has(event.id))).toBe(true)
    expect(daemon.logs.some((log) => log.msg === 'API request failed')).toBe(false)
    // `sensor status` counts what it emitted through the API.
    let shown = 0
    for (let i = 0; i < 20 && shown === 0; i++) {
      const {sensors} = await attuneJson<{sensors: Array<{ref: string; events: number; state: string}>}>(['sensor', 'status'], env)
      shown = sensors.find((sensor) => sensor.ref === 'demo.ticker')?.events ?? 0
      if (shown === 0) await new Promise((resolve) => setTimeout(resolve, 500))
    }
    expect(shown).toBeGreaterThan(0)
  })

  it('accepts tokens that `attune token issue` mints on the same home', async () => {
    const issued = await attune(['token', 'issue', '--sensor-ref', 'demo.outside', '--trigger-types', 'demo.tick'], {env: {NO_COLOR: '1', NODE_ENV: 'production', ...env}})
    expect(issued.exitCode, issued.stderr as string).toBe(0)
    expect(issued.stderr).not.toContain('Generated a JWT secret') // said once, by the daemon
    const response = await fetch(`${daemon.apiUrl()}/api/v1/events`, {
      method: 'POST',
      headers: {'content-type': 'application/json', authorization: `Bearer ${String(issued.stdout).trim()}`},
      body: JSON.stringify({trigger_ref: 'demo.tick', payload: {rule: 'manual', at: 0}}),
    })
    expect(response.status).toBe(201)
  })

  it('stops cleanly on SIGTERM with requests in flight: every answered event is stored whole', async () => {
    const issued = await attuneJson<{token: string}>(['token', 'issue', '--sensor-ref', 'demo.burst', '--trigger-types', 'demo.tick'], env)
    const url = daemon.apiUrl()
    const sends = Array.from({length: 40}, (_, i) =>
      fetch(`${url}/api/v1/events`, {
        method: 'POST',
        headers: {'content-type': 'application/json', authorization: `Bearer ${issued.token}`},
        body: JSON.stringify({trigger_ref: 'demo.tick', payload: {rule: 'burst', at: i}}),
      })
        .then(async (response) => ({status: response.status, id: response.status === 201 ? ((await response.json()) as {data: {id: number}}).data.id : null}))
        .catch(() => ({status: 0, id: null})),
    )
    await new Promise((resolve) => setTimeout(resolve, 30))
    const stopped = daemon.stop('SIGTERM')
    const answers = await Promise.all(sends)
    const exit = await stopped
    expect(exit.exitCode, `${daemon.stderr()}\n${JSON.stringify(daemon.logs.slice(-15))}`).toBe(0)
    const created = answers.filter((answer) => answer.status === 201).map((answer) => answer.id)
    expect(answers.every((answer) => [201, 503, 0].includes(answer.status))).toBe(true)
    const stored = (await events()).filter((event) => event.payload.rule === 'burst')
    const ids = new Set(stored.map((event) => event.id))
    expect(created.every((id) => ids.has(id!))).toBe(true) // an answered event was committed
    const {enforcements} = await attuneJson<{enforcements: Array<{event: number}>}>(['enforcement', 'list', '--limit', '1000'], env)
    const enforced = new Set(enforcements.map((enforcement) => enforcement.event))
    expect(stored.every((event) => enforced.has(event.id))).toBe(true) // stored whole: the rule matches every event
    expect(stored.length).toBeGreaterThanOrEqual(created.length)
  })
})
