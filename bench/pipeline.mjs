// Event pipeline throughput (issue 8): durable events per second through events + enforcements
// (10 rules on the trigger, 1 matching each event) + outbox + confirmed publish to RabbitMQ,
// against a real PostgreSQL. Measured in the same run:
// - the PostgreSQL ceiling: the same rows inserted in unnest batches, nothing else;
// - the RabbitMQ ceiling: the same messages published with amqplib on a confirm channel;
// - the seed baseline: per event, insert, publish, read the event back, look up and match the
//   rules, insert the enforcement, publish, each its own round trip (what the seeds describe).
// Targets: ours >= 0.5 x the slower ceiling; ours >= 10 x the seed baseline.
// "Durable" means it: the private PostgreSQL runs with fsync, synchronous_commit and
// full_page_writes on (the test harness turns them off for speed, so it is not used here), and
// RabbitMQ confirms persistent messages routed to a durable queue once they are on disk (the
// test harness's node). ATTUNE_BENCH_DATABASE_URL / ATTUNE_BENCH_AMQP_URL name existing servers
// instead (a database that may be wiped, a broker where the attune exchanges may be used).
// ATTUNE_BENCH_QUICK=1: fewer events.
import {execFileSync, spawn} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {connect} from 'amqplib'
import pg from 'pg'
import {tsImport} from 'tsx/esm/api'
import {AmqpBus, OutboxRelay, pendingOutboxCount} from '../dist/engine/bus/index.js'
import {EventPipeline} from '../dist/engine/events/index.js'
import {compileStoredRule} from '../dist/engine/rules/eval.js'
import {migrate, openPgStore} from '../dist/engine/store/index.js'
import {formatRatio, median} from './lib.mjs'

const QUEUE = 'attune_bench_executor'
const RULES = 10
const BATCH = Number(process.env.ATTUNE_BENCH_BATCH ?? 100) // events per transaction: polls of ten events, group-committed
// Transactions in flight at once, as concurrent polls of the daemon commit; the PostgreSQL
// ceiling writes with the same concurrency.
const WRITERS = Number(process.env.ATTUNE_BENCH_WRITERS ?? 2)

/** Runs `write(offset)` for every batch offset, `WRITERS` at a time. */
async function inParallel(total, write) {
  let next = 0
  const worker = async () => {
    while (next < total) {
      const offset = next
      next += BATCH
      await write(offset)
    }
  }
  await Promise.all(Array.from({length: WRITERS}, worker))
}

export async function run() {
  const quick = process.env.ATTUNE_BENCH_QUICK === '1'
  const events = quick ? 5_000 : 20_000
  const seedEvents = quick ? 300 : 1_000
  const rounds = 3
  const cleanup = []
  try {
    const databaseUrl = process.env.ATTUNE_BENCH_DATABASE_URL ?? (await privatePostgres(cleanup))
    const amqpUrl = process.env.ATTUNE_BENCH_AMQP_URL ?? (await privateRabbit(cleanup))
    const store = await openPgStore(databaseUrl)
    cleanup.push(() => store.close())
    await migrate(store)
    const world = await setUp(store)
    const broker = await connect(amqpUrl)
    cleanup.push(() => broker.close().catch(() => {}))
    const admin = await broker.createChannel()
    for (const exchange of ['attune.events', 'attune.executions']) await admin.assertExchange(exchange, 'topic', {durable: true})
    // A durable queue, as the executor would have: persistent messages are written to disk.
    await admin.assertQueue(QUEUE, {durable: true})
    await admin.bindQueue(QUEUE, 'attune.events', 'event.created')
    await admin.bindQueue(QUEUE, 'attune.executions', 'enforcement.created')

    const reset = async () => {
      await store.exec('TRUNCATE attune_sensor.outbox, attune.enforcement, attune.event RESTART IDENTITY')
      await admin.purgeQueue(QUEUE)
      // No VACUUM ANALYZE here: statistics of empty tables make PostgreSQL plan the foreign
      // key checks as sequential scans, which then slow every phase down as the tables fill.
    }
    const payloads = Array.from({length: events}, (_, i) => ({kind: 'k3', host: `web-${i % 50}`, usage: 50 + (i % 50), seq: i}))
    const measure = {ours: [], postgres: [], rabbitmq: [], seed: []}
    const bus = new AmqpBus(amqpUrl)
    cleanup.push(() => bus.close())
    for (let round = 0; round < rounds; round++) {
      await reset()
      measure.postgres.push(events / (await postgresCeiling(store, world, payloads)))
      await reset()
      measure.rabbitmq.push(events / (await rabbitCeiling(broker, payloads)))
      await reset()
      measure.ours.push(events / (await ours(store, bus, world, payloads)))
      await reset()
      measure.seed.push(seedEvents / (await seedBaseline(databaseUrl, broker, world, payloads.slice(0, seedEvents))))
    }
    const rate = Object.fromEntries(Object.entries(measure).map(([name, values]) => [name, Math.round(median(values))]))
    const slower = Math.min(rate.postgres, rate.rabbitmq)
    return {
      name: 'Event pipeline: durable events/s (PostgreSQL + RabbitMQ, 10 rules, 1 match)',
      figures: [
        formatRatio(`ours / slower ceiling (${rate.postgres <= rate.rabbitmq ? 'PostgreSQL' : 'RabbitMQ'})`, rate.ours / slower, 0.5, '>='),
        formatRatio('ours / seed baseline (a round trip per step)', rate.ours / rate.seed, 10, '>='),
      ],
      details: {
        events_per_round: events,
        batch: BATCH,
        writers: WRITERS,
        events_per_s: rate,
        runs: Object.fromEntries(Object.entries(measure).map(([name, values]) => [name, values.map(Math.round)])),
      },
    }
  } finally {
    for (const fn of cleanup.reverse()) await fn()
  }
}

/** A throwaway PostgreSQL 15 with production durability (only the harness's binaries path is reused). */
export async function privatePostgres(cleanup) {
  const {POSTGRES_BIN} = await tsImport('../test/support/postgres.ts', import.meta.url)
  const dir = mkdtempSync(join(tmpdir(), 'attune-bench-pg-'))
  cleanup.push(() => rmSync(dir, {recursive: true, force: true}))
  const root = process.getuid?.() === 0
  // PostgreSQL refuses to run as root: run it as the postgres user then.
  const as = (file, args) => (root ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args])
  if (root) execFileSync('chown', ['postgres:postgres', dir])
  const data = join(dir, 'data')
  execFileSync(...as(join(POSTGRES_BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C']), {stdio: 'pipe'})
  const port = await freePort()
  const child = spawn(
    ...as(join(POSTGRES_BIN, 'postgres'), [
      '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
      '-c', 'shared_buffers=128MB', '-c', 'max_wal_size=2GB', '-c', 'wal_buffers=16MB',
    ]),
    {stdio: 'ignore'},
  )
  const stop = async () => {
    const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0])
    const exited = new Promise((resolve) => child.once('exit', resolve))
    process.kill(pid, 'SIGINT') // fast shutdown
    await exited
  }
  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`
  for (let tries = 0; ; tries++) {
    const client = new pg.Client({connectionString: url})
    try {
      await client.connect()
      await client.query('CREATE DATABASE attune_bench')
      await client.end()
      break
    } catch (error) {
      await client.end().catch(() => {})
      if (tries > 150 || child.exitCode !== null) throw new Error(`PostgreSQL did not start: ${error}`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
  cleanup.push(stop)
  return `postgresql://postgres@127.0.0.1:${port}/attune_bench`
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address()
      server.close(() => resolve(port))
    })
  })
}

async function privateRabbit(cleanup) {
  const {startRabbitMQ} = await tsImport('../test/support/rabbitmq.ts', import.meta.url)
  const server = await startRabbitMQ()
  cleanup.push(() => server.destroy())
  return server.url
}

/**
 * Attune's rows: a pack, a runtime, a trigger, a sensor, an action and ten rules of which exactly
 * one (bench.r3) matches the events; every rule renders a parameter from the event.
 */
export async function setUp(store) {
  const one = async (sql, params = []) => (await store.query(sql, params)).rows[0].id
  const pack = await one("INSERT INTO attune.pack (ref, label, version) VALUES ('bench', 'Bench', '1.0.0') RETURNING id")
  const runtime = await one("INSERT INTO attune.runtime (ref, pack, pack_ref, name, distributions) VALUES ('bench.shell', $1, 'bench', 'Shell', '{}') RETURNING id", [pack])
  const trigger = await one("INSERT INTO attune.trigger (ref, pack, pack_ref, label) VALUES ('bench.metric', $1, 'bench', 'Metric') RETURNING id", [pack])
  const sensor = await one(
    `INSERT INTO attune.sensor (ref, pack, pack_ref, label, entrypoint, runtime, runtime_ref, enabled)
     VALUES ('bench.sensor', $1, 'bench', 'Sensor', '/dev/null', $2, 'bench.shell', true) RETURNING id`,
    [pack, runtime],
  )
  const action = await one("INSERT INTO attune.action (ref, pack, pack_ref, label, entrypoint) VALUES ('bench.echo', $1, 'bench', 'Echo', 'echo.sh') RETURNING id", [pack])
  for (let k = 0; k < RULES; k++) {
    const conditions = {all: [{field: 'payload.kind', operator: 'equals', value: `k${k}`}, {field: 'payload.usage', operator: 'greater_or_equal', value: 0}]}
    await store.query(
      `INSERT INTO attune.rule (ref, pack, pack_ref, label, action, action_ref, trigger, trigger_ref, conditions, action_params, enabled)
       VALUES ($1, $2, 'bench', $1, $3, 'bench.echo', $4, 'bench.metric', $5::jsonb, $6::jsonb, true)`,
      [`bench.r${k}`, pack, action, trigger, JSON.stringify(conditions), JSON.stringify(ACTION_PARAMS)],
    )
  }
  const rules = (await store.query("SELECT * FROM attune.rule WHERE trigger_ref = 'bench.metric' ORDER BY id")).rows
  return {trigger, sensor, rules, config: {interval: 5}}
}

/** What every rule's enforcement config is rendered from. */
const ACTION_PARAMS = {message: 'usage {{ event.payload.usage }} on {{ event.payload.kind }}', usage: '{{ event.payload.usage }}'}

/** Envelopes as the pipeline writes them, for the ceilings (ids are the row positions). */
function envelope(type, payload, correlation) {
  const id = randomUUID()
  return {
    message_id: id,
    correlation_id: correlation ?? id,
    message_type: type,
    version: '1.0',
    timestamp: new Date().toISOString(),
    headers: {retry_count: 0, source_service: 'attune-sensor'},
    payload,
  }
}

function messagesFor(world, payload, eventId, enforcementId) {
  const matched = world.rules[3]
  const event = envelope('EventCreated', {event_id: eventId, trigger_id: world.trigger, trigger_ref: 'bench.metric', sensor_id: world.sensor, sensor_ref: 'bench.sensor', payload, config: world.config})
  const enforcement = envelope(
    'EnforcementCreated',
    {enforcement_id: enforcementId, rule_id: matched.id, rule_ref: matched.ref, event_id: eventId, trigger_ref: 'bench.metric', payload},
    event.message_id,
  )
  return [
    ['attune.events', 'event.created', event],
    ['attune.executions', 'enforcement.created', enforcement],
  ]
}

/** Ours: the pipeline in batches while the relay publishes with confirms; until all is confirmed. */
async function ours(store, bus, world, payloads) {
  const relay = new OutboxRelay(store, bus, {batchSize: 1000, idleMs: 20})
  const pipeline = new EventPipeline(store, {onCommitted: () => relay.notify()})
  const start = performance.now()
  relay.start()
  let enforcements = 0
  await inParallel(payloads.length, async (i) => {
    const polls = []
    for (let j = i; j < Math.min(i + BATCH, payloads.length); j += 10) {
      polls.push({trigger: {id: world.trigger, ref: 'bench.metric'}, sensor: {id: world.sensor, ref: 'bench.sensor'}, config: world.config, events: payloads.slice(j, Math.min(j + 10, i + BATCH))})
    }
    const stored = await pipeline.persist(polls)
    enforcements += stored.enforcements.length
  })
  const written = (performance.now() - start) / 1000
  // Wait on the relay's own count (polling the table would load the database we measure).
  const messages = payloads.length + enforcements
  while (relay.stats.sent < messages && relay.stats.failures === 0) await new Promise((resolve) => setTimeout(resolve, 2))
  const seconds = (performance.now() - start) / 1000
  if (relay.stats.failures > 0) throw new Error(`relay failed: ${relay.stats.last_error}`)
  if ((await pendingOutboxCount(store)) !== 0) throw new Error('messages left in the outbox')
  if (process.env.ATTUNE_BENCH_VERBOSE) console.error(`ours: written after ${written.toFixed(2)} s, all confirmed after ${seconds.toFixed(2)} s`)
  await relay.stop()
  if (enforcements !== payloads.length) throw new Error(`expected one enforcement per event, got ${enforcements}`)
  return seconds
}

/** PostgreSQL alone: the same event, enforcement and outbox rows, unnest batches, one transaction each. */
async function postgresCeiling(store, world, payloads) {
  const matched = world.rules[3]
  const start = performance.now()
  await inParallel(payloads.length, async (i) => {
    const batch = payloads.slice(i, i + BATCH)
    await store.transaction(async (tx) => {
      const ids = (
        await tx.query(
          `INSERT INTO attune.event (trigger, trigger_ref, config, payload, source, source_ref)
           SELECT $1, 'bench.metric', $2::jsonb, p, $3, 'bench.sensor' FROM unnest($4::jsonb[]) AS p RETURNING id`,
          [world.trigger, JSON.stringify(world.config), world.sensor, batch.map((p) => JSON.stringify(p))],
        )
      ).rows.map((row) => row.id)
      const enforcementIds = (
        await tx.query(
          `INSERT INTO attune.enforcement (rule, rule_ref, trigger_ref, event, status, payload, condition, conditions, config)
           SELECT $1, $2, 'bench.metric', e, 'created', p, 'all', $3::jsonb, c FROM unnest($4::bigint[], $5::jsonb[], $6::jsonb[]) AS x(e, p, c) RETURNING id`,
          [matched.id, matched.ref, JSON.stringify(matched.conditions), ids, batch.map((p) => JSON.stringify(p)), batch.map((p) => JSON.stringify({message: `usage ${p.usage} on ${p.kind}`, usage: p.usage}))],
        )
      ).rows.map((row) => row.id)
      const rows = batch.flatMap((payload, k) => messagesFor(world, payload, ids[k], enforcementIds[k]))
      await tx.query(
        `INSERT INTO attune_sensor.outbox (exchange, routing_key, message_id, message)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[])`,
        [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2].message_id), rows.map((r) => JSON.stringify(r[2]))],
      )
    })
  })
  return (performance.now() - start) / 1000
}

/** RabbitMQ alone: the same messages, persistent, on a confirm channel, confirms awaited per window. */
async function rabbitCeiling(broker, payloads) {
  const channel = await broker.createConfirmChannel()
  const messages = payloads.flatMap((payload, k) => messagesFor({trigger: 1, sensor: 1, config: {interval: 5}, rules: Array(10).fill({id: 4, ref: 'bench.r3'})}, payload, k + 1, k + 1))
  const bodies = messages.map(([exchange, key, env]) => [exchange, key, env, Buffer.from(JSON.stringify(env))])
  const start = performance.now()
  const window = 1000
  for (let i = 0; i < bodies.length; i += window) {
    for (const [exchange, key, env, body] of bodies.slice(i, i + window)) {
      const ok = channel.publish(exchange, key, body, {persistent: true, messageId: env.message_id, correlationId: env.correlation_id, type: env.message_type, contentType: 'application/json'})
      if (!ok) await new Promise((resolve) => channel.once('drain', resolve))
    }
    await channel.waitForConfirms()
  }
  const seconds = (performance.now() - start) / 1000
  await channel.close()
  return seconds
}

/** The seed's way: every step its own round trip, a confirm awaited per message. */
async function seedBaseline(databaseUrl, broker, world, payloads) {
  const client = new pg.Client({connectionString: databaseUrl})
  await client.connect()
  const channel = await broker.createConfirmChannel()
  const publish = (exchange, key, env) =>
    new Promise((resolve, reject) =>
      channel.publish(exchange, key, Buffer.from(JSON.stringify(env)), {persistent: true, messageId: env.message_id}, (error) => (error ? reject(error) : resolve())),
    )
  // Conditions compiled once per rule: the baseline pays for round trips, not for parsing.
  const compiled = new Map()
  const test = (rule, payload) => {
    if (!compiled.has(rule.id)) compiled.set(rule.id, compileStoredRule(rule, {codegen: false}))
    return compiled.get(rule.id).conditions.test(payload)
  }
  const start = performance.now()
  for (const payload of payloads) {
    const eventId = (
      await client.query(
        `INSERT INTO attune.event (trigger, trigger_ref, config, payload, source, source_ref) VALUES ($1, 'bench.metric', $2, $3, $4, 'bench.sensor') RETURNING id`,
        [world.trigger, JSON.stringify(world.config), JSON.stringify(payload), world.sensor],
      )
    ).rows[0].id
    const [eventMessage] = messagesFor(world, payload, eventId, 0)
    await publish(...eventMessage)
    // The seed's poll loop reads the event back before matching it (seed 000: get_event).
    await client.query('SELECT * FROM attune.event WHERE id = $1', [eventId])
    // The seed looked the rules up for every event and evaluated their conditions.
    const rules = (await client.query("SELECT * FROM attune.rule WHERE trigger_ref = 'bench.metric' AND enabled ORDER BY created, id")).rows
    for (const rule of rules) {
      if (!test(rule, payload)) continue
      const enforcementId = (
        await client.query(
          `INSERT INTO attune.enforcement (rule, rule_ref, trigger_ref, event, status, payload, condition, conditions, config)
           VALUES ($1, $2, 'bench.metric', $3, 'created', $4, 'all', $5, $6) RETURNING id`,
          [rule.id, rule.ref, eventId, JSON.stringify(payload), JSON.stringify(rule.conditions), JSON.stringify({message: `usage ${payload.usage} on ${payload.kind}`, usage: payload.usage})],
        )
      ).rows[0].id
      const [, enforcementMessage] = messagesFor(world, payload, eventId, enforcementId)
      await publish(...enforcementMessage)
    }
  }
  const seconds = (performance.now() - start) / 1000
  await channel.close()
  await client.end()
  return seconds
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await run(), null, 2))
}
