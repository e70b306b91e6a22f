// Scale-out (issue 7): polls per second completed with 1, 2 and 3 daemons on one PostgreSQL
// (150 shell sensors at 1 s, a CPU-light workload, all on this machine), and the failover time
// after a SIGKILL (target: <= lease + 2 s). ATTUNE_BENCH_QUICK=1 shortens the windows.
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import pg from 'pg'
import {tsImport} from 'tsx/esm/api'
import {formatRatio} from './lib.mjs'

const SENSORS = 150
const LEASE_SECONDS = 5
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

export async function run() {
  const quick = process.env.ATTUNE_BENCH_QUICK === '1'
  const windowMs = quick ? 5000 : 15_000
  const {startPostgres} = await tsImport('../test/support/postgres.ts', import.meta.url)
  const {attune} = await tsImport('../test/support/cli.ts', import.meta.url)
  const {startDaemon, writePack} = await tsImport('../test/support/daemon.ts', import.meta.url)
  const home = mkdtempSync(join(tmpdir(), 'attune-bench-scale-'))
  const postgres = await startPostgres()
  const daemons = []
  try {
    const url = await postgres.createDatabase('attune_bench_scale')
    const env = {ATTUNE_HOME: home, ATTUNE_DATABASE_URL: url}
    const docs = []
    for (let i = 0; i < SENSORS; i++) docs.push(`ref: bs.s${i}\nrunner_type: shell\nentry_point: tick.sh\ntrigger_types: [bs.t]\npoll_interval: 1\n`)
    const pack = writePack(join(home, 'pack'), {
      'pack.yaml': 'ref: bs\n',
      'triggers/t.yaml': 'ref: bs.t\n',
      'sensors/tick.sh': '#!/bin/sh\necho \'{"events": [{"ok": true}]}\'\n',
      'sensors/all.yaml': docs.join('---\n'),
    })
    for (const args of [['db', 'migrate'], ['pack', 'register', 'packs/core', pack]]) {
      const result = await attune(args, {env: {NO_COLOR: '1', NODE_ENV: 'production', ...env}})
      if (result.exitCode !== 0) throw new Error(`${args.join(' ')}: ${result.stderr}`)
    }
    const db = new pg.Pool({connectionString: url, max: 2})
    db.on('error', () => {})
    const count = async () => Number((await db.query("SELECT count(*) FROM attune.event WHERE source_ref LIKE 'bs.%'")).rows[0].count)
    const pollsPerSecond = {}
    for (let k = 1; k <= 3; k++) {
      while (daemons.length < k) daemons.push(await startDaemon(['--name', `bench${daemons.length}`, '--lease-seconds', String(LEASE_SECONDS)], env))
      await sleep(LEASE_SECONDS * 1000) // let the leases settle after a daemon joined
      const before = await count()
      await sleep(windowMs)
      pollsPerSecond[k] = Math.round(((await count()) - before) / (windowMs / 1000))
    }
    // Failover: kill one daemon, time until every sensor it held has produced an event again.
    const victim = daemons.shift()
    const {rows} = await db.query("SELECT s.ref FROM attune_sensor.sensor_lease l JOIN attune.sensor s ON s.id = l.sensor WHERE l.owner = 'bench0' AND s.ref LIKE 'bs.%'")
    const orphaned = rows.map((row) => row.ref)
    const killedAt = new Date()
    await victim.stop('SIGKILL')
    let failoverMs = Infinity
    for (let i = 0; i < 120; i++) {
      await sleep(250)
      const moved = await db.query('SELECT count(DISTINCT source_ref) AS n, max(first) AS last FROM (SELECT source_ref, min(created) AS first FROM attune.event WHERE created > $1 AND source_ref = ANY($2::text[]) GROUP BY source_ref) x', [killedAt, orphaned])
      if (Number(moved.rows[0].n) === orphaned.length) {
        failoverMs = new Date(moved.rows[0].last).getTime() - killedAt.getTime()
        break
      }
    }
    await db.end()
    return {
      name: `scale-out (${SENSORS} shell sensors at 1 s, lease ${LEASE_SECONDS} s, one machine)`,
      figures: [
        formatRatio('polls/s with 2 daemons / with 1', pollsPerSecond[2] / pollsPerSecond[1], 0.9, '>='),
        formatRatio('polls/s with 3 daemons / with 1', pollsPerSecond[3] / pollsPerSecond[1], 0.9, '>='),
        formatRatio('failover / (lease + 2 s)', failoverMs / ((LEASE_SECONDS + 2) * 1000), 1),
      ],
      details: {polls_per_second: pollsPerSecond, demand_per_second: SENSORS, orphaned_sensors: orphaned.length, failover_ms: failoverMs},
    }
  } finally {
    for (const daemon of daemons) await daemon.stop('SIGTERM').catch(() => {})
    await postgres.stop()
    rmSync(home, {recursive: true, force: true})
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(JSON.stringify(await run(), null, 2))
