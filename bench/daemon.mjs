// Daemon schedule lag (issue 6): 1,000 shell sensors on a 5 s interval for 60 s, through the
// real Daemon (embedded database, pipeline, relay). Reports p50/p99 of actual poll start minus
// scheduled start (target p99 <= 100 ms), polls completed / polls scheduled (target >= 0.99),
// and the daemon's RSS with 1,000 sensors (its own process plus the child serving the
// embedded database). ATTUNE_BENCH_QUICK=1: 200 sensors for 20 s.
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {Daemon} from '../dist/daemon/daemon.js'
import {ringLogger} from '../dist/daemon/logger.js'
import {loadConfig} from '../dist/engine/config.js'
import {formatRatio, percentile} from './lib.mjs'

export async function run() {
  const quick = process.env.ATTUNE_BENCH_QUICK === '1'
  const sensors = quick ? 200 : 1000
  const seconds = quick ? 20 : 60
  const intervalSeconds = 5
  const home = mkdtempSync(join(tmpdir(), 'attune-bench-daemon-'))
  try {
    const pack = join(home, 'pack')
    mkdirSync(join(pack, 'sensors'), {recursive: true})
    mkdirSync(join(pack, 'triggers'), {recursive: true})
    writeFileSync(join(pack, 'pack.yaml'), 'ref: bench\n')
    writeFileSync(join(pack, 'triggers', 't.yaml'), 'ref: bench.t\n')
    writeFileSync(join(pack, 'sensors', 'noop.sh'), '#!/bin/sh\necho \'{"events": []}\'\n', {mode: 0o755})
    const docs = []
    for (let i = 0; i < sensors; i++) {
      docs.push(`ref: bench.s${i}\nrunner_type: shell\nentry_point: noop.sh\ntrigger_types: [bench.t]\npoll_interval: ${intervalSeconds}\n`)
    }
    writeFileSync(join(pack, 'sensors', 'all.yaml'), docs.join('---\n'))

    const {config} = loadConfig({env: {ATTUNE_HOME: home}, overrides: {sensor: {max_concurrent_sensors: 32}}})
    const lags = []
    let due = 0
    let started = 0
    let completed = 0
    let measuring = false
    // Polls started in the window; each counts as completed when it finishes, even after it.
    const inWindow = new Map()
    const daemon = new Daemon({
      config,
      logger: ringLogger(50, 'error'),
      packs: [pack],
      observe: {
        onDue: () => measuring && due++,
        onStart: (ref, lagMs) => {
          if (!measuring) return
          started++
          lags.push(lagMs)
          inWindow.set(ref, (inWindow.get(ref) ?? 0) + 1)
        },
        onFinish: (ref) => {
          const pending = inWindow.get(ref) ?? 0
          if (pending === 0) return
          completed++
          if (pending === 1) inWindow.delete(ref)
          else inWindow.set(ref, pending - 1)
        },
      },
    })
    await daemon.start()
    // The first interval is the jittered start: measure the steady state after it.
    await new Promise((resolve) => setTimeout(resolve, intervalSeconds * 1000))
    measuring = true
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
    measuring = false
    const rss = process.memoryUsage().rss
    const databaseRss = rssOf(daemon.embeddedDatabasePid)
    for (let waited = 0; inWindow.size > 0 && waited < 10_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100))
    await daemon.stop(10_000)
    const p50 = percentile(lags, 50)
    const p99 = percentile(lags, 99)
    return {
      name: `daemon schedule (${sensors} shell sensors, ${intervalSeconds} s interval, ${seconds} s)`,
      figures: [
        formatRatio('schedule lag p99 / 100 ms', p99 / 100, 1),
        formatRatio('polls completed / polls scheduled', completed / Math.max(1, due), 0.99, '>='),
      ],
      details: {
        sensors,
        polls_scheduled: due,
        polls_started: started,
        polls_completed: completed,
        lag_p50_ms: Number(p50.toFixed(1)),
        lag_p99_ms: Number(p99.toFixed(1)),
        rss_mb: {daemon: Math.round(rss / 1048576), embedded_database: Math.round(databaseRss / 1048576), total: Math.round((rss + databaseRss) / 1048576)},
      },
    }
  } finally {
    rmSync(home, {recursive: true, force: true})
  }
}

/** Resident memory of a process in bytes (Linux /proc), 0 when unknown. */
function rssOf(pid) {
  if (!pid) return 0
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) * 1024 : 0
  } catch {
    return 0
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(JSON.stringify(await run(), null, 2))
