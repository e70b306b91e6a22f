// API ingest (the sensor API issue): events/s posted by 8 keep-alive HTTP clients to
// POST /api/v1/events, each event stored with its enforcement (10 rules on the trigger, 1
// matching) and its outbox rows, committed before the answer; against a real PostgreSQL with
// production durability. The baseline, measured in the same run on the same rows: the daemon's
// own pipeline ceiling for one event per transaction (8 writers calling EventPipeline.persist
// directly, no HTTP). Target: API / ceiling >= 0.5. p99 latency is reported.
// The clients run in this process (their cost counts against the API; Node's fetch keeps its
// connections alive); each has its own token.
// ATTUNE_BENCH_DATABASE_URL names an existing database instead; ATTUNE_BENCH_QUICK=1: fewer events.
import {randomUUID} from 'node:crypto'
import {startApi} from '../dist/api/server.js'
import {EventPipeline} from '../dist/engine/events/index.js'
import {migrate, openPgStore} from '../dist/engine/store/index.js'
import {issueSensorToken, verificationKeys} from '../dist/engine/tokens/index.js'
import {formatRatio, median, percentile} from './lib.mjs'
import {privatePostgres, setUp} from './pipeline.mjs'

const CLIENTS = 8
const SECRET = randomUUID() + randomUUID()
const silent = {debug() {}, info() {}, warn() {}, error() {}}

export async function run() {
  const quick = process.env.ATTUNE_BENCH_QUICK === '1'
  const events = quick ? 2_000 : 6_000
  const rounds = 3
  const cleanup = []
  try {
    const databaseUrl = process.env.ATTUNE_BENCH_DATABASE_URL ?? (await privatePostgres(cleanup))
    const store = await openPgStore(databaseUrl, {max: 10})
    cleanup.push(() => store.close())
    await migrate(store)
    const world = await setUp(store)
    const pipeline = new EventPipeline(store)
    const api = await startApi({host: '127.0.0.1', port: 0, bodyLimit: 1 << 20, rateLimit: 1_000_000, store, pipeline, keys: verificationKeys(SECRET), logger: silent})
    cleanup.push(() => api.close())
    const tokens = []
    for (let c = 0; c < CLIENTS; c++) tokens.push((await issueSensorToken(store, {sensorRef: `bench.client${c}`, triggerTypes: ['bench.metric']}, SECRET)).token)
    const payload = (i) => ({kind: 'k3', host: `web-${i % 50}`, usage: 50 + (i % 50), seq: i})
    const reset = () => store.exec('TRUNCATE attune_sensor.outbox, attune_sensor.idempotency, attune.enforcement, attune.event RESTART IDENTITY')

    /** `CLIENTS` workers share `total` items; returns [seconds, per-item latencies in ms]. */
    const drive = async (total, one) => {
      let next = 0
      const latencies = []
      const started = performance.now()
      await Promise.all(
        Array.from({length: CLIENTS}, async (_, c) => {
          while (next < total) {
            const i = next++
            const t = performance.now()
            await one(i, c)
            latencies.push(performance.now() - t)
          }
        }),
      )
      return [(performance.now() - started) / 1000, latencies]
    }
    const viaApi = (i, c) =>
      fetch(`${api.url}/api/v1/events`, {
        method: 'POST',
        headers: {'content-type': 'application/json', authorization: `Bearer ${tokens[c]}`},
        body: JSON.stringify({trigger_ref: 'bench.metric', payload: payload(i)}),
      }).then(async (response) => {
        if (response.status !== 201) throw new Error(`API answered ${response.status}: ${await response.text()}`)
        await response.arrayBuffer()
      })
    const direct = (i) => pipeline.persist({trigger: {id: world.trigger, ref: 'bench.metric'}, sensor: {id: world.sensor, ref: 'bench.sensor'}, events: [payload(i)]})

    const measure = {api: [], ceiling: [], p99: [], p50: []}
    await drive(200, viaApi) // warm-up: connections, JIT, caches
    for (let round = 0; round < rounds; round++) {
      await reset()
      const [ceilingSeconds] = await drive(events, direct)
      measure.ceiling.push(events / ceilingSeconds)
      await reset()
      const [apiSeconds, latencies] = await drive(events, viaApi)
      measure.api.push(events / apiSeconds)
      measure.p99.push(percentile(latencies, 99))
      measure.p50.push(percentile(latencies, 50))
    }
    const stored = Number((await store.query("SELECT count(*)::int AS n FROM attune.enforcement WHERE rule_ref = 'bench.r3'")).rows[0].n)
    if (stored !== events) throw new Error(`expected ${events} enforcements from the last API round, found ${stored}`)
    const rate = {api: Math.round(median(measure.api)), ceiling: Math.round(median(measure.ceiling))}
    return {
      name: `API ingest: events/s from ${CLIENTS} keep-alive clients (PostgreSQL, 10 rules, 1 match, committed before the answer)`,
      figures: [formatRatio('API / pipeline ceiling (one event per transaction)', rate.api / rate.ceiling, 0.5, '>=')],
      details: {
        events_per_round: events,
        events_per_s: rate,
        latency_ms: {p50: Number(median(measure.p50).toFixed(2)), p99: Number(median(measure.p99).toFixed(2))},
        runs: {api: measure.api.map(Math.round), ceiling: measure.ceiling.map(Math.round)},
      },
    }
  } finally {
    for (const fn of cleanup.reverse()) await fn()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await run(), null, 2))
