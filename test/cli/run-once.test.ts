import {connect} from 'amqplib'
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import type {Store} from '../../src/engine/store/index.js'
import {DEMO_FILES, demoHome} from '../events/demo-pack.js'
import {makePack} from '../store/pack-files.js'
import {attune} from '../support/cli.js'
import {rabbitmqSkipReason, startRabbitMQ, type RabbitServer} from '../support/rabbitmq.js'
import {sensorDir} from '../support/sensors.js'

let world: Awaited<ReturnType<typeof demoHome>>
const files = sensorDir()
beforeAll(async () => {
  world = await demoHome()
})
afterAll(() => {
  world?.cleanup()
  files.cleanup()
})

const run = (args: string[], env: Record<string, string> = {}) => attune(['sensor', 'run-once', ...args], {env: {ATTUNE_HOME: world.home, ...env}})

async function withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await world.open()
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}

async function counts() {
  return withStore(async (store) => {
    const {rows} = await store.query<{event: number; enforcement: number; outbox: number; unsent: number}>(`SELECT
      (SELECT count(*)::int FROM attune.event) AS event,
      (SELECT count(*)::int FROM attune.enforcement) AS enforcement,
      (SELECT count(*)::int FROM attune_sensor.outbox) AS outbox,
      (SELECT count(*)::int FROM attune_sensor.outbox WHERE sent_at IS NULL) AS unsent`)
    return rows[0]
  })
}

async function clearEvents() {
  await withStore((store) => store.exec('TRUNCATE attune_sensor.outbox, attune.enforcement, attune.event RESTART IDENTITY'))
}

describe('attune sensor run-once', () => {
  beforeEach(clearEvents)

  it('dry run: prints the events and the rules each would match, and stores nothing', async () => {
    const result = await run(['demo.disk_sensor'])
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toContain('✓ demo.disk_sensor (python) → demo.disk  3 events')
    expect(result.stdout).toContain('stdout │ checked /')
    // Rules in registration order (the daemon's order): log_all, then page.
    expect(result.stdout).toMatch(/event 0\n {2}✓ demo\.log_all matches → core\.local\n {2}✓ demo\.page matches → core\.echo/)
    expect(result.stdout).toMatch(/event 1\n {2}✓ demo\.log_all matches → core\.local\n {2}✗ demo\.page does not match/)
    expect(result.stdout).toContain('payload usage must be integer (trigger output schema)')
    expect(result.stdout).toContain('Dry run: nothing stored. 3 event(s), 4 enforcements would be created')
    expect(result.stdout).not.toContain('demo.off')
    expect(await counts()).toEqual({event: 0, enforcement: 0, outbox: 0, unsent: 0})
  })

  it('--json: one document with the poll, every decision and its trace under --explain', async () => {
    const result = await run(['demo.disk_sensor', '--config', '{"mount": "/data"}', '--explain', '--json'])
    expect(result.exitCode).toBe(0)
    const doc = JSON.parse(result.stdout as string)
    expect(doc).toMatchObject({sensor_ref: 'demo.disk_sensor', trigger_ref: 'demo.disk', source: 'registered', dry_run: true, matches: 4, stored: null, published: null})
    expect(doc.poll).toMatchObject({error: null, count: 3, runtime: 'python', stdout: 'checked /data\n'})
    expect(doc.events.map((e: {payload: unknown}) => e.payload)).toEqual([
      {path: '/data', usage: 95},
      {path: '/tmp', usage: 10},
      {path: '/x', usage: 'n/a'},
    ])
    expect(doc.events[2].warnings).toEqual(['usage must be integer'])
    const decisions = doc.events.map((e: {rules: Array<{rule_ref: string; matched: boolean}>}) => e.rules.map((r) => `${r.rule_ref}=${r.matched}`))
    expect(decisions).toEqual([
      ['demo.log_all=true', 'demo.page=true'],
      ['demo.log_all=true', 'demo.page=false'],
      ['demo.log_all=true', 'demo.page=false'],
    ])
    expect(doc.events[2].rules[1].trace.children[0]).toMatchObject({field: 'payload.usage', operator: 'greater_than', actual: 'n/a', result: false})
  })

  it('--persist without a broker: stores rows as the daemon does (secrets masked) and relays them in-process', async () => {
    const result = await run(['demo.disk_sensor', '--persist', '--json'])
    expect(result.exitCode).toBe(0)
    const doc = JSON.parse(result.stdout as string)
    expect(doc).toMatchObject({dry_run: false, matches: 4, stored: {events: 3, enforcements: 4, messages: 7}, published: {bus: 'local', sent: 7, pending: 0, error: null}})
    expect(doc.events[0].rules.map((r: {enforcement_id?: number}) => typeof r.enforcement_id)).toEqual(['number', 'number'])
    expect(await counts()).toEqual({event: 3, enforcement: 4, outbox: 7, unsent: 0})
    const rows = await withStore(async (store) => (await store.query('SELECT config, source_ref, payload FROM attune.event ORDER BY id')).rows)
    expect(rows[0]).toEqual({config: {mount: '/', token: '********'}, source_ref: 'demo.disk_sensor', payload: {path: '/', usage: 95}})
  })

  it('--persist with an unreachable broker: exit 1, the messages wait in the outbox', async () => {
    const result = await run(['demo.disk_sensor', '--persist', '--publish-timeout', '0.5'], {ATTUNE_AMQP_URL: 'amqp://guest:guest@127.0.0.1:1/'})
    expect(result.exitCode).toBe(1)
    expect(result.stdout).toContain('Stored 3 event(s), 4 enforcement(s), 7 outbox message(s).')
    expect(result.stdout).toMatch(/✗ Not published to RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1\/: Cannot connect to RabbitMQ.*7 message\(s\) wait in the outbox/)
    expect(await counts()).toEqual({event: 3, enforcement: 4, outbox: 7, unsent: 7})
  })

  it('a sensor file: matched against the rules of its --trigger-ref', async () => {
    const file = files.write('spike.sh', '#!/bin/sh\necho \'{"events": [{"path": "/srv", "usage": 99}]}\'\n', 0o755)
    const result = await run([file, '--trigger-ref', 'demo.disk', '--json'])
    expect(result.exitCode).toBe(0)
    const doc = JSON.parse(result.stdout as string)
    expect(doc).toMatchObject({source: 'file', sensor_ref: 'local.spike', trigger_ref: 'demo.disk', matches: 2})
  })

  it('a sensor definition in a pack folder: runs as the file defines it, against the registered rules', async () => {
    // The author changed the default config in the YAML and has not registered it again.
    const edited = makePack('demo', {...DEMO_FILES, 'sensors/disk.yaml': DEMO_FILES['sensors/disk.yaml'].replace('default: /}', 'default: /edited}')})
    const result = await run([`${edited}/sensors/disk.yaml`, '--json'])
    expect(result.exitCode, result.stderr as string).toBe(0)
    const doc = JSON.parse(result.stdout as string)
    expect(doc).toMatchObject({source: 'definition', sensor_ref: 'demo.disk_sensor', trigger_ref: 'demo.disk', dry_run: true})
    expect(doc.events[0].payload).toEqual({path: '/edited', usage: 95})
    expect(doc.matches).toBe(4) // the registered rules of demo.disk, as for the registered sensor
    expect(await counts()).toEqual({event: 0, enforcement: 0, outbox: 0, unsent: 0})
  })

  it('exits 1 when the sensor fails, storing nothing even with --persist', async () => {
    const result = await run(['demo.broken_sensor', '--persist'])
    expect(result.exitCode).toBe(1)
    expect(result.stdout).toContain('disk API is down')
    expect(await counts()).toEqual({event: 0, enforcement: 0, outbox: 0, unsent: 0})
  })
})

describe('attune sensor run-once on bad input', () => {
  // No clearing between these: the last test checks that none of them wrote anything.
  beforeAll(clearEvents)

  it.each([
    ['an unknown sensor ref', ['demo.nope'], /no sensor "demo\.nope" is registered/],
    ['a missing sensor file', ['./absent.py'], /Sensor file not found: \.\/absent\.py/],
    ['invalid --config JSON', ['demo.disk_sensor', '--config', '{"mount": '], /--config is not valid JSON/],
    ['a config the parameters refuse', ['demo.disk_sensor', '--config', '{"mount": 5}'], /config of sensor demo\.disk_sensor does not match its parameters: mount must be string/],
    ['a long-running sensor', ['demo.forever'], /sensor demo\.forever is long-running/],
    ['a YAML file outside a pack', [files.write('loose.yaml', 'ref: x.y\n')], /loose\.yaml is not a sensor definition in a pack folder/],
    ['a sensor definition of a broken pack', [`${makePack('bad', {'sensors/s.yaml': 'ref: bad.s\nrunner_type: python\n'})}/sensors/s.yaml`], /s\.yaml:\d+: .*entry_point/],
    ['an invalid AMQP URL', ['demo.disk_sensor', '--persist', '--amqp-url', 'http://broker'], /Invalid AMQP URL http:\/\/broker\/: the scheme must be amqp/],
    ['an AMQP URL that is no URL', ['demo.disk_sensor', '--persist', '--amqp-url', 'notaurl'], /Invalid AMQP URL: "notaurl" \(expected amqp:\/\/user:password@host:5672\/vhost\)\n.*--amqp-url, ATTUNE_AMQP_URL/],
    ['a bad --timeout', ['demo.disk_sensor', '--timeout', 'soon'], /--timeout must be a positive number of seconds, got "soon"/],
  ])('exits 2 on %s, naming it, and writes nothing', async (_what, args, message) => {
    const human = await run(args)
    expect(human.exitCode).toBe(2)
    expect(human.stderr).toMatch(message)
    expect(human.stderr).not.toMatch(/\n\s+at /)
  })

  it('reports bad input as one JSON error document under --json', async () => {
    const json = await run(['demo.nope', '--json'])
    expect(json.exitCode).toBe(2)
    expect(JSON.parse(json.stdout as string).error).toMatchObject({code: 'sensor_not_found', exit_code: 2, message: expect.stringMatching(/no sensor "demo\.nope"/)})
    const config = await run(['demo.disk_sensor', '--config', '{"mount": 5}', '--json'])
    expect(config.exitCode).toBe(2)
    expect(JSON.parse(config.stdout as string).error).toMatchObject({code: 'config_invalid', exit_code: 2})
  })

  it('has written nothing for any of the runs above', async () => {
    expect(await counts()).toEqual({event: 0, enforcement: 0, outbox: 0, unsent: 0})
  })
})

const rabbitSkip = rabbitmqSkipReason()

describe.skipIf(rabbitSkip)('attune sensor run-once --persist with RabbitMQ', () => {
  let rabbit: RabbitServer
  beforeAll(async () => {
    rabbit = await startRabbitMQ()
  })
  afterAll(async () => {
    await rabbit?.destroy()
  })
  beforeEach(clearEvents)

  it('puts the rows in the database and the messages on both exchanges', async () => {
    const setup = await connect(rabbit.url)
    const channel = await setup.createChannel()
    for (const exchange of ['attune.events', 'attune.executions']) await channel.assertExchange(exchange, 'topic', {durable: true})
    const {queue} = await channel.assertQueue('', {exclusive: true})
    await channel.bindQueue(queue, 'attune.events', 'event.created')
    await channel.bindQueue(queue, 'attune.executions', 'enforcement.created')
    const received: Array<{key: string; body: {message_type: string; payload: Record<string, unknown>}}> = []
    await channel.consume(queue, (m) => m && received.push({key: m.fields.routingKey, body: JSON.parse(m.content.toString())}), {noAck: true})
    try {
      const result = await run(['demo.disk_sensor', '--persist'], {ATTUNE_AMQP_URL: rabbit.url})
      expect(result.exitCode).toBe(0)
      expect(result.stdout).toContain(`✓ Published 7 message(s) to RabbitMQ at ${rabbit.url.replace('guest:guest', 'guest:***')}`)
      const deadline = Date.now() + 5000
      while (received.length < 7 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
      expect(received.map((m) => m.key).sort()).toEqual([...Array(4).fill('enforcement.created'), ...Array(3).fill('event.created')])
      const {eventIds, enforcementIds} = await withStore(async (store) => ({
        eventIds: (await store.query<{id: number}>('SELECT id FROM attune.event ORDER BY id')).rows.map((r) => r.id),
        enforcementIds: (await store.query<{id: number}>('SELECT id FROM attune.enforcement ORDER BY id')).rows.map((r) => r.id),
      }))
      expect(received.filter((m) => m.key === 'event.created').map((m) => m.body.payload.event_id)).toEqual(eventIds)
      expect(received.filter((m) => m.key === 'enforcement.created').map((m) => m.body.payload.enforcement_id).sort()).toEqual(enforcementIds)
      expect(await counts()).toMatchObject({unsent: 0})
    } finally {
      await setup.close()
    }
  })
})
