import amqp from 'amqplib'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import pg from 'pg'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {attune} from '../support/cli.js'
import {startDaemon, writePack, type DaemonProcess} from '../support/daemon.js'
import {postgresSkipReason, startPostgres, type PostgresServer} from '../support/postgres.js'
import {rabbitmqSkipReason, startRabbitMQ, type RabbitServer} from '../support/rabbitmq.js'
import {eventually} from '../support/sensors.js'

const skip = postgresSkipReason() ?? rabbitmqSkipReason()
const home = mkdtempSync(join(tmpdir(), 'attune-faults-'))
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const LEASE_SECONDS = 6

let postgres: PostgresServer
let rabbit: RabbitServer
let env: Record<string, string>
let db: pg.Pool

/** Every message id that reached a durable queue bound to both exchanges. */
const received = new Set<string>()
let consumer: {close(): Promise<void>} | undefined
async function consume(): Promise<void> {
  const connection = await amqp.connect(rabbit.url)
  connection.on('error', () => {})
  const channel = await connection.createChannel()
  channel.on('error', () => {})
  await channel.assertExchange('attune.events', 'topic', {durable: true})
  await channel.assertExchange('attune.executions', 'topic', {durable: true})
  const queue = await channel.assertQueue('faults-test', {durable: true})
  await channel.bindQueue(queue.queue, 'attune.events', 'event.created')
  await channel.bindQueue(queue.queue, 'attune.executions', 'enforcement.created')
  await channel.consume(queue.queue, (message) => {
    if (!message) return
    received.add(String(message.properties.messageId))
    channel.ack(message)
  })
  consumer = {close: () => connection.close().catch(() => {})}
}

const pack = writePack(join(home, 'pack'), {
  'pack.yaml': 'ref: ff\n',
  'triggers/t.yaml': 'ref: ff.tick\n',
  'sensors/emit.sh': '#!/bin/sh\necho "{\\"events\\": [{\\"at\\": \\"$(date +%s%N)\\"}, {\\"at\\": \\"$$\\"}]}"\n',
  'sensors/emit.yaml': 'ref: ff.emit\nrunner_type: shell\nentry_point: emit.sh\ntrigger_types: [ff.tick]\npoll_interval: 1\n',
  'sensors/slow.sh': '#!/bin/sh\nsleep 1.5\necho \'{"events": [{"slow": 1}, {"slow": 2}, {"slow": 3}]}\'\n',
  'sensors/slow.yaml': 'ref: ff.slow\nrunner_type: shell\nentry_point: slow.sh\ntrigger_types: [ff.tick]\npoll_interval: 2\n',
  'rules/r.yaml': 'ref: ff.all\ntrigger: {type: ff.tick}\naction: {ref: core.echo}\n',
})

async function eventMessageIds(): Promise<string[]> {
  return (await db.query<{message_id: string}>("SELECT message_id FROM attune_sensor.outbox WHERE routing_key = 'event.created'")).rows.map((row) => row.message_id)
}
async function unsent(): Promise<number> {
  return Number((await db.query<{count: string}>('SELECT count(*) FROM attune_sensor.outbox WHERE sent_at IS NULL')).rows[0].count)
}
async function eventCount(): Promise<number> {
  return Number((await db.query<{count: string}>('SELECT count(*) FROM attune.event')).rows[0].count)
}

beforeAll(async () => {
  if (skip) return
  ;[postgres, rabbit] = await Promise.all([startPostgres(), startRabbitMQ()])
  const url = await postgres.createDatabase('attune_faults')
  env = {ATTUNE_HOME: home, ATTUNE_DATABASE_URL: url, ATTUNE_AMQP_URL: rabbit.url}
  db = new pg.Pool({connectionString: url, max: 2})
  db.on('error', () => {})
  for (const args of [['db', 'migrate'], ['pack', 'register', pack]]) {
    const run = await attune(args, {env: {NO_COLOR: '1', NODE_ENV: 'production', ...env}})
    if (run.exitCode !== 0) throw new Error(`${args.join(' ')}: ${run.stderr}`)
  }
  await consume()
}, 180_000)

afterAll(async () => {
  await consumer?.close()
  await db?.end()
  await Promise.all([postgres?.stop(), rabbit?.destroy()])
  rmSync(home, {recursive: true, force: true})
})

describe.skipIf(skip)('daemon faults (real PostgreSQL and RabbitMQ)', () => {
  let daemon: DaemonProcess

  /** Polling resumed: new events are stored and /healthz says 200 again (within 20 s). */
  async function resumesPolling(): Promise<boolean> {
    const before = await eventCount()
    for (let i = 0; i < 80; i++) {
      await sleep(250)
      const stored = await eventCount().catch(() => before)
      if (stored > before + 2 && (await fetch(`http://127.0.0.1:${daemon.healthPort()}/healthz`)).status === 200) return true
    }
    return false
  }

  it('refuses to start on a database with pending migrations', async () => {
    const empty = await postgres.createDatabase('attune_empty')
    const run = await attune(['daemon', '--no-ui'], {env: {NO_COLOR: '1', NODE_ENV: 'production', ATTUNE_HOME: home, ATTUNE_DATABASE_URL: empty}})
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toMatch(/pending migration\(s\)[\s\S]*attune db migrate/)
  })

  it('loses no event while RabbitMQ is down for 10 s', async () => {
    daemon = await startDaemon(['--lease-seconds', String(LEASE_SECONDS)], env)
    expect(await eventually(() => received.size > 4, 20_000)).toBe(true)
    await rabbit.stop()
    const before = await eventCount()
    await sleep(10_000)
    expect(await eventCount()).toBeGreaterThan(before + 10) // sensors kept emitting, events kept being stored
    expect(await unsent()).toBeGreaterThan(0)
    await rabbit.start()
    await consumer?.close()
    await consume()
    let pending = await unsent()
    for (let i = 0; i < 60 && pending > 0; i++) {
      await sleep(500)
      pending = await unsent()
    }
    expect(pending).toBe(0)
    const ids = await eventMessageIds()
    expect(await eventually(() => ids.every((id) => received.has(id)), 20_000)).toBe(true)
  })

  it('stays up through a 10 s PostgreSQL outage, says 503, and resumes polling', async () => {
    const health = () =>
      fetch(`http://127.0.0.1:${daemon.healthPort()}/healthz`).catch((error: unknown) => {
        throw new Error(`the daemon stopped answering (exit ${daemon.process.exitCode}): ${String(error)}\n${daemon.stderr()}\n${JSON.stringify(daemon.logs.slice(-20))}`)
      })
    expect((await health()).status).toBe(200)
    await postgres.pause()
    try {
      let down: Response | undefined
      for (let i = 0; i < 40; i++) {
        await sleep(250)
        down = await health()
        if (down.status === 503) break
      }
      expect(down!.status).toBe(503)
      expect(((await down!.json()) as {down: string[]}).down).toContain('database')
      // Not ready (it cannot do its job), but alive: a restart would not bring the database back.
      const base = `http://127.0.0.1:${daemon.healthPort()}`
      const ready = await fetch(`${base}/readyz`)
      expect(ready.status).toBe(503)
      expect(((await ready.json()) as {reasons: string[]}).reasons.join()).toMatch(/^database: /)
      expect((await fetch(`${base}/livez`)).status).toBe(200)
      await sleep(8000)
      expect(daemon.process.exitCode).toBeNull()
    } finally {
      await postgres.resume() // the tests after this one need the server, whatever happened here
    }
    expect(await resumesPolling()).toBe(true)
  })

  it('stops what it owns when the database hangs (no error, no answer) before its leases expire, then resumes', async () => {
    const health = () => fetch(`http://127.0.0.1:${daemon.healthPort()}/healthz`)
    expect((await health()).status).toBe(200)
    const logged = daemon.logs.length
    const frozenAt = Date.now()
    postgres.freeze()
    let down: Response | undefined
    let noticedAfter = Infinity
    try {
      for (let i = 0; i < 40; i++) {
        await sleep(250)
        down = await health()
        // (Sensors that stop completing polls make it 503 "degraded" first; then the database is named.)
        if (down.status === 503 && ((await down.json()) as {down: string[]}).down.includes('database')) {
          noticedAfter = Date.now() - frozenAt
          break
        }
      }
    } finally {
      postgres.thaw()
    }
    expect(down!.status).toBe(503)
    // The lease is 6 s (--lease-seconds below): another daemon could claim its sensors after that.
    expect(noticedAfter).toBeLessThan(LEASE_SECONDS * 1000)
    expect(daemon.logs.slice(logged).some((log) => log.msg === 'database unavailable: polling paused')).toBe(true)
    expect(await resumesPolling()).toBe(true)
  })

  it('publishes what was stored before a kill -9, after the restart', async () => {
    await rabbit.stop()
    let backlog: string[]
    try {
      await sleep(3000)
      expect(await unsent()).toBeGreaterThan(0)
      await daemon.stop('SIGKILL')
      backlog = await eventMessageIds()
    } finally {
      await rabbit.start()
    }
    await consumer?.close()
    await consume()
    daemon = await startDaemon(['--lease-seconds', String(LEASE_SECONDS)], env)
    expect(await eventually(() => backlog.every((id) => received.has(id)), 30_000)).toBe(true)
  })

  it('exits 0 on SIGTERM in the middle of a poll and leaves no partial rows', async () => {
    await sleep(1000) // ff.slow (1.5 s per poll) is mid-poll most of the time
    const {exitCode} = await daemon.stop('SIGTERM')
    expect(exitCode).toBe(0)
    const {rows} = await db.query<{events: string; event_messages: string; enforcements: string; enforcement_messages: string; unsent: string}>(`
      SELECT (SELECT count(*) FROM attune.event) AS events,
             (SELECT count(*) FROM attune_sensor.outbox WHERE routing_key = 'event.created') AS event_messages,
             (SELECT count(*) FROM attune.enforcement) AS enforcements,
             (SELECT count(*) FROM attune_sensor.outbox WHERE routing_key = 'enforcement.created') AS enforcement_messages,
             (SELECT count(*) FROM attune_sensor.outbox WHERE sent_at IS NULL) AS unsent`)
    expect(rows[0].events).toBe(rows[0].event_messages)
    expect(rows[0].enforcements).toBe(rows[0].enforcement_messages)
    expect(rows[0].enforcements).toBe(rows[0].events) // one rule matches every event
    expect(rows[0].unsent).toBe('0') // the outbox was flushed on the way out
    // The slow sensor's polls are stored whole: 3 events per poll, never 1 or 2.
    const slow = await db.query<{count: string}>("SELECT count(*) FROM attune.event WHERE source_ref = 'ff.slow'")
    expect(Number(slow.rows[0].count) % 3).toBe(0)
  })

  it('refuses a second live daemon of the same --name, but lets a killed one restart under its name', async () => {
    const first = await startDaemon(['--lease-seconds', String(LEASE_SECONDS), '--name', 'twin'], env)
    try {
      const second = await attune(['daemon', '--no-ui', '--health-port', '0', '--lease-seconds', String(LEASE_SECONDS), '--name', 'twin'], {
        env: {NO_COLOR: '1', NODE_ENV: 'production', ...env},
      })
      expect(second.exitCode).toBe(2)
      expect(second.stderr).toContain('Another daemon named "twin" is running against this database')
      expect(second.stderr).toContain('--name')
      expect(first.process.exitCode).toBeNull()
    } finally {
      await first.stop('SIGKILL') // its worker row still says active, with a fresh heartbeat
    }
    const restarted = await startDaemon(['--lease-seconds', String(LEASE_SECONDS), '--name', 'twin'], env)
    expect(restarted.logs.map((log) => log.msg)).toContain('a daemon of this name beat recently: checking that it is gone')
    expect((await restarted.stop('SIGTERM')).exitCode).toBe(0)
  })
})
