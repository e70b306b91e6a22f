/**
 * attune inside an Attune deployment: a PostgreSQL database built by Attune's own migrations
 * (../shared/attune, recorded in _sqlx_migrations as sqlx records them) and a real RabbitMQ.
 * What an operator does: `db migrate`, `pack register` (Attune's core pack and an Attune-format
 * pack), `sensor run-once --persist`, `daemon`, `token issue`; what Attune's services then see:
 * rows valid under Attune's constraints, `enforcement.config` rendered, messages that
 * deserialize as Attune's structs, a worker row and tokens as Attune's own.
 */
import {connect, type Channel, type ChannelModel, type ConsumeMessage} from 'amqplib'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import pg from 'pg'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {checkAttuneMessage} from '../support/attune-messages.js'
import {ATTUNE_SENSOR_TABLES, buildAttuneDatabase, describeTable, schemaDump, type TableInfo} from '../support/attune-db.js'
import {attune, ROOT} from '../support/cli.js'
import {attuneJson, startDaemon} from '../support/daemon.js'
import {postgresSkipReason, startPostgres, type PostgresServer} from '../support/postgres.js'
import {rabbitmqSkipReason, startRabbitMQ, type RabbitServer} from '../support/rabbitmq.js'
import {eventually} from '../support/sensors.js'
import {sharedPath} from '../support/shared.js'

const MIGRATIONS = sharedPath('attune/migrations-without-timescaledb')
const CORE = sharedPath('fixtures/attune-core-pack')
const DEMO = join(ROOT, 'test', 'fixtures', 'attune-demo-pack')
const skip = MIGRATIONS.skip ?? CORE.skip ?? postgresSkipReason() ?? rabbitmqSkipReason()
const SECRET = 'deployment-test-secret-of-forty-bytes-xx'

interface Received {
  exchange: string
  routingKey: string
  body: string
}

describe.skipIf(skip)('attune in an Attune deployment (database built by Attune’s migrations)', () => {
  let postgres: PostgresServer
  let rabbit: RabbitServer
  let url: string
  let db: pg.Pool
  let env: Record<string, string>
  let home: string
  let consumer: ChannelModel
  let channel: Channel
  const received: Received[] = []

  const query = async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) => (await db.query<T>(sql, params)).rows
  const run = async (args: string[], extra: Record<string, string> = {}) => {
    const result = await attune(args, {env: {...env, ...extra}})
    return {code: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr)}
  }

  beforeAll(async () => {
    ;[postgres, rabbit] = await Promise.all([startPostgres(), startRabbitMQ()])
    url = await buildAttuneDatabase(postgres, 'attune_deployment')
    db = new pg.Pool({connectionString: url, max: 2})
    db.on('error', () => {})
    home = mkdtempSync(join(tmpdir(), 'attune-deploy-'))
    env = {ATTUNE_HOME: home, ATTUNE_DATABASE_URL: url, ATTUNE_AMQP_URL: rabbit.url, ATTUNE_JWT_SECRET: SECRET}
    // What Attune's consumers would be sent: everything on both exchanges, as published.
    consumer = await connect(rabbit.url)
    channel = await consumer.createChannel()
    for (const exchange of ['attune.events', 'attune.executions']) {
      await channel.assertExchange(exchange, 'topic', {durable: true})
      const {queue} = await channel.assertQueue('', {exclusive: true})
      await channel.bindQueue(queue, exchange, '#')
      await channel.consume(queue, (message: ConsumeMessage | null) => {
        if (message) received.push({exchange: message.fields.exchange, routingKey: message.fields.routingKey, body: message.content.toString()})
      }, {noAck: true})
    }
  }, 180_000)

  afterAll(async () => {
    await consumer?.close().catch(() => {})
    await db?.end()
    await Promise.all([postgres?.stop(), rabbit?.destroy()])
    rmSync(home, {recursive: true, force: true})
  })

  it('db migrate adds attune_sensor and changes nothing of Attune’s schema', async () => {
    const before = await schemaDump(url)
    const first = await run(['db', 'migrate'])
    expect(first.code, first.stderr).toBe(0)
    expect(first.stdout).toMatch(/001_attune_platform \(adopted/)
    expect(first.stdout).toMatch(/010_attune_sensor/)
    expect(await schemaDump(url)).toBe(before)
    const [{present}] = await query<{present: boolean}>("SELECT to_regclass('attune_sensor.outbox') IS NOT NULL AS present")
    expect(present).toBe(true)
    const again = await run(['db', 'migrate'])
    expect(again.stdout).toMatch(/up to date/)
  })

  it('db migrate on an older Attune names the missing column, exits 2 and writes nothing', async () => {
    const older = await buildAttuneDatabase(postgres, 'attune_older')
    const pool = new pg.Pool({connectionString: older, max: 1})
    try {
      await pool.query('ALTER TABLE attune.sensor_process DROP COLUMN active_rule_count')
      const result = await run(['db', 'migrate'], {ATTUNE_DATABASE_URL: older})
      expect(result.code).toBe(2)
      expect(result.stderr).toContain('attune.sensor_process.active_rule_count')
      expect(result.stderr).not.toMatch(/\n\s+at /)
      const {rows} = await pool.query("SELECT to_regnamespace('attune_sensor') IS NULL AS absent")
      expect(rows[0].absent).toBe(true)
    } finally {
      await pool.end()
    }
  })

  it('attune’s own migrations build Attune’s tables exactly (columns, types, NOT NULLs, defaults, checks, indexes)', async () => {
    const ours = await postgres.createDatabase('attune_ours')
    const result = await run(['db', 'migrate'], {ATTUNE_DATABASE_URL: ours})
    expect(result.code, result.stderr).toBe(0)
    const comparable = (info: TableInfo) => ({
      columns: info.columns,
      primaryKey: info.primaryKey,
      // action.workflow_def points at Attune's workflow tables, which attune does not create.
      constraints: info.constraints.filter((c) => !(info.name === 'action' && /workflow_def/.test(JSON.stringify(c)))),
      indexes: info.indexes,
    })
    for (const table of ATTUNE_SENSOR_TABLES) {
      expect(comparable(await describeTable(ours, table)), table).toEqual(comparable(await describeTable(url, table)))
    }
  })

  it('registers Attune’s core pack unchanged and an Attune-format pack, as Attune’s loader would store them', async () => {
    const result = await run(['pack', 'register', CORE.path, DEMO, '--json'])
    expect(result.code, result.stderr).toBe(0)
    const report = JSON.parse(result.stdout)
    expect(report.summary.skipped).toBe(0)
    const [timer] = await query<{id: number; entrypoint: string; runtime_ref: string}>("SELECT id::int, entrypoint, runtime_ref FROM attune.sensor WHERE ref = 'core.timer_sensor'")
    expect(timer).toMatchObject({entrypoint: 'attune-core-timer-sensor', runtime_ref: 'core.native'})
    const linked = await query<{ref: string; sensor: number; sensor_ref: string}>("SELECT ref, sensor::int, sensor_ref FROM attune.trigger WHERE ref LIKE 'core.%timer' ORDER BY ref")
    expect(linked.map((row) => [row.ref, row.sensor, row.sensor_ref])).toEqual(
      ['core.crontimer', 'core.datetimetimer', 'core.intervaltimer', 'core.rruletimer'].map((ref) => [ref, timer.id, 'core.timer_sensor']),
    )
    const [pack] = await query<{storage_path: string; tags: string[]; version: string}>("SELECT storage_path, tags, version FROM attune.pack WHERE ref = 'demo'")
    expect(pack).toEqual({storage_path: DEMO, tags: ['demo'], version: '1.2.0'})
    const rules = await query<{ref: string; action: number; action_ref: string; conditions: unknown; enabled: boolean}>(
      "SELECT r.ref, r.action::int, r.action_ref, r.conditions, r.enabled FROM attune.rule r WHERE pack_ref = 'demo' ORDER BY ref",
    )
    const [{id: notify}] = await query<{id: number}>("SELECT id::int FROM attune.action WHERE ref = 'demo.notify'")
    expect(rules).toEqual([
      {ref: 'demo.exact_one', action: notify, action_ref: 'demo.notify', conditions: [{field: 'value', operator: 'equals', value: 1}], enabled: true},
      {ref: 'demo.high_reading', action: notify, action_ref: 'demo.notify', conditions: {expression: "{{ event.payload.value > 40 and event.trigger == 'demo.reading' }}"}, enabled: true},
      {ref: 'demo.tick', action: notify, action_ref: 'demo.notify', conditions: [], enabled: true},
    ])
    const [reader] = await query<{entrypoint: string; runtime_ref: string}>("SELECT entrypoint, runtime_ref FROM attune.sensor WHERE ref = 'demo.reader'")
    expect(reader).toEqual({entrypoint: 'reader.py', runtime_ref: 'core.python'})
    // Announced as Attune announces them, in the register's transaction; published by the next relay.
    const messages = await query<{message: {message_type: string}}>('SELECT message FROM attune_sensor.outbox ORDER BY id')
    expect(messages.map((row) => row.message.message_type)).toEqual(['RuleCreated', 'RuleCreated', 'RuleCreated', 'PackRegistered', 'PackRegistered'])
  })

  it('a rule that would put a secret parameter into plain enforcement config is refused (exit 2), unless Attune’s executor creates enforcements', async () => {
    const {writePack} = await import('../support/daemon.js')
    const dir = writePack(join(home, 'leaky'), {
      'pack.yaml': 'ref: leaky\nversion: 1.0.0\n',
      'rules/r.yaml': 'ref: leaky.r\ntrigger_ref: demo.reading\naction_ref: demo.notify\naction_params:\n  message: hi\n  token: "{{ pack.config.api_token }}"\n',
    })
    const refused = await run(['pack', 'register', dir])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/leaky\.r/)
    expect(refused.stderr).toMatch(/token/)
    expect(await query("SELECT 1 FROM attune.pack WHERE ref = 'leaky'")).toEqual([])
    const allowed = await run(['pack', 'register', dir], {ATTUNE_ENFORCEMENTS: 'executor'})
    expect(allowed.code, allowed.stderr).toBe(0)
    await db.query("DELETE FROM attune.pack WHERE ref = 'leaky'")
  })

  it('sensor run-once --persist stores rows Attune accepts, renders enforcement.config, and publishes messages Attune deserializes', async () => {
    received.length = 0
    const result = await run(['sensor', 'run-once', 'demo.reader', '--persist', '--json'])
    expect(result.code, result.stderr).toBe(0)
    const [event] = await query<{id: number; trigger_ref: string; source_ref: string; payload: unknown; rule: number | null}>(
      "SELECT id::int, trigger_ref, source_ref, payload, rule FROM attune.event WHERE source_ref = 'demo.reader'",
    )
    expect(event).toMatchObject({trigger_ref: 'demo.reading', payload: {value: 42, host: 'db1'}, rule: null})
    const enforcements = await query<{id: number; rule_ref: string; config: unknown; status: string; condition: string; conditions: unknown; event: number}>(
      'SELECT id::int, rule_ref, config, status::text, condition::text, conditions, event::int FROM attune.enforcement WHERE event = $1',
      [event.id],
    )
    expect(enforcements).toEqual([
      {
        id: expect.any(Number),
        rule_ref: 'demo.high_reading',
        config: {message: 'value 42 on db1', value: 42, channel: '#ops', event_id: event.id},
        status: 'created',
        condition: 'all',
        conditions: {expression: "{{ event.payload.value > 40 and event.trigger == 'demo.reading' }}"},
        event: event.id,
      },
    ])
    expect(await eventually(() => received.some((m) => m.routingKey === 'enforcement.created'), 20_000)).toBe(true)
    const types = received.map((m) => JSON.parse(m.body).message_type)
    expect(types).toEqual(expect.arrayContaining(['EventCreated', 'EnforcementCreated', 'RuleCreated', 'PackRegistered']))
    for (const message of received) expect(checkAttuneMessage(message.exchange, message.routingKey, message.body), message.body).toEqual([])
    const enforcement = received.map((m) => JSON.parse(m.body)).find((m) => m.message_type === 'EnforcementCreated')
    expect(enforcement.payload).toMatchObject({enforcement_id: enforcements[0].id, rule_ref: 'demo.high_reading', event_id: event.id, trigger_ref: 'demo.reading'})
  })

  it('the daemon serves Attune’s timer sensor with the built-in timer and keeps a worker row as Attune’s sensor service does', async () => {
    received.length = 0
    const daemon = await startDaemon(['--name', 'attune-deploy'], env)
    try {
      const ticks = async () => query<{id: number; rule_ref: string; config: {message: string}}>(
        "SELECT e.id::int, e.rule_ref, n.config FROM attune.event e JOIN attune.enforcement n ON n.event = e.id WHERE e.rule_ref = 'demo.tick' ORDER BY e.id",
      )
      let fired = await ticks()
      for (let i = 0; i < 60 && fired.length < 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 500))
        fired = await ticks()
      }
      expect(fired.length, daemon.stderr()).toBeGreaterThanOrEqual(2)
      expect(fired[0].config.message).toMatch(/^tick \d+$/)
      const [worker] = await query<{worker_type: string; worker_role: string; status: string; host: string; capabilities: Record<string, unknown>}>(
        "SELECT worker_type::text, worker_role::text, status::text, host, capabilities FROM attune.worker WHERE name = 'attune-deploy'",
      )
      expect(worker).toMatchObject({worker_type: 'local', worker_role: 'sensor', status: 'active', host: expect.any(String)})
      expect(worker.capabilities).toMatchObject({runtimes: expect.arrayContaining(['python']), sensor_version: expect.any(String), max_concurrent_sensors: expect.any(Number)})
      expect(await eventually(() => received.some((m) => m.routingKey === 'enforcement.created'), 20_000)).toBe(true)
      for (const message of received) expect(checkAttuneMessage(message.exchange, message.routingKey, message.body), message.body).toEqual([])
      // What Attune's API and UI show of the sensors this daemon runs.
      const processes = async () =>
        query<{sensor_ref: string; worker_name: string; status: string; active_rule_count: number}>(
          "SELECT sensor_ref, worker_name, status::text, active_rule_count FROM attune.sensor_process WHERE sensor_ref IN ('core.timer_sensor', 'demo.reader') ORDER BY sensor_ref",
        )
      let rows = await processes()
      for (let i = 0; i < 20 && rows.length < 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 250))
        rows = await processes()
      }
      expect(rows).toEqual([
        {sensor_ref: 'core.timer_sensor', worker_name: 'attune-deploy', status: 'running', active_rule_count: 1},
        {sensor_ref: 'demo.reader', worker_name: 'attune-deploy', status: 'running', active_rule_count: 2},
      ])
    } finally {
      expect((await daemon.stop('SIGTERM')).exitCode).toBe(0)
    }
    const [worker] = await query<{status: string}>("SELECT status::text FROM attune.worker WHERE name = 'attune-deploy'")
    expect(worker.status).toBe('inactive')
    const stopped = await query<{status: string}>("SELECT DISTINCT status::text FROM attune.sensor_process WHERE worker_name = 'attune-deploy'")
    expect(stopped).toEqual([{status: 'stopped'}])
    // Attune's history trigger recorded the changes (it needs search_path attune: set by attune's pool).
    const [history] = await query<{n: number}>("SELECT count(*)::int AS n FROM attune.sensor_process_history")
    expect(history.n).toBeGreaterThan(0)
  }, 120_000)

  it('issues tokens with Attune’s claims, from Attune’s own secret setting too', async () => {
    const issued = await attuneJson<{token: string; identity_id: number}>(
      ['token', 'issue', '--sensor-ref', 'demo.reader', '--trigger-types', 'demo.reading'],
      {...env, ATTUNE_JWT_SECRET: '', ATTUNE__SECURITY__JWT_SECRET: SECRET},
    )
    const claims = JSON.parse(Buffer.from(issued.token.split('.')[1], 'base64url').toString())
    expect(claims).toMatchObject({sub: String(issued.identity_id), login: 'demo.reader', token_type: 'sensor', scope: 'sensor', metadata: {trigger_types: ['demo.reading']}})
    const [identity] = await query<{login: string; attributes: unknown}>('SELECT login, attributes FROM attune.identity WHERE id = $1', [issued.identity_id])
    expect(identity).toEqual({login: 'sensor:demo.reader', attributes: {type: 'sensor', sensor_ref: 'demo.reader', trigger_types: ['demo.reading']}})
    const verified = await run(['token', 'verify', issued.token])
    expect(verified.code, verified.stderr).toBe(0)
  })
})
