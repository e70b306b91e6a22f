import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import pg from 'pg'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {attune} from '../support/cli.js'
import {startDaemon, writePack, type DaemonProcess} from '../support/daemon.js'
import {postgresSkipReason, startPostgres, type PostgresServer} from '../support/postgres.js'

/**
 * The hardening issue's fault: PostgreSQL frozen (SIGSTOP) for 15 s under 30 sensors polling
 * every second. Before, 14 sensors never polled again while /healthz said ok, and one poll's
 * output was stored twice. Now: every sensor polls again within 20 s of the thaw, no output is
 * stored twice, and /healthz was degraded while sensors were stuck.
 */
const skip = postgresSkipReason()
const home = mkdtempSync(join(tmpdir(), 'attune-freeze-'))
const SENSORS = 30
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const files: Record<string, string> = {
  'pack.yaml': 'ref: fz\n',
  'triggers/t.yaml': 'ref: fz.t\n',
  // Every poll's output is unique (a fresh UUID) and says when it was made (ms since the epoch).
  'sensors/tick.sh': '#!/bin/sh\necho "{\\"events\\": [{\\"token\\": \\"$(cat /proc/sys/kernel/random/uuid)\\", \\"at\\": $(date +%s%3N)}]}"\n',
  'rules/r.yaml': 'ref: fz.all\ntrigger: {type: fz.t}\naction: {ref: core.echo}\n',
}
files['sensors/all.yaml'] = Array.from({length: SENSORS}, (_, i) => `ref: fz.s${i}\nrunner_type: shell\nentry_point: tick.sh\ntrigger_types: [fz.t]\npoll_interval: 1\n`).join('---\n')
const pack = writePack(join(home, 'pack'), files)

let postgres: PostgresServer
let db: pg.Pool
let daemon: DaemonProcess | undefined

beforeAll(async () => {
  if (skip) return
  postgres = await startPostgres()
  const url = await postgres.createDatabase('attune_freeze')
  for (const args of [['db', 'migrate'], ['pack', 'register', pack]]) {
    const run = await attune(args, {env: {NO_COLOR: '1', NODE_ENV: 'production', ATTUNE_HOME: home, ATTUNE_DATABASE_URL: url}})
    if (run.exitCode !== 0) throw new Error(`${args.join(' ')}: ${run.stderr}`)
  }
  db = new pg.Pool({connectionString: url, max: 2})
  db.on('error', () => {})
  daemon = await startDaemon([], {ATTUNE_HOME: home, ATTUNE_DATABASE_URL: url})
}, 180_000)

afterAll(async () => {
  await daemon?.stop('SIGKILL')
  await db?.end()
  await postgres?.stop()
  rmSync(home, {recursive: true, force: true})
})

describe.skipIf(skip)('PostgreSQL frozen for 15 s under 30 sensors at 1 s', () => {
  it('every sensor polls again within 20 s of the thaw, nothing is stored twice, and health said degraded', async () => {
    const health = async () => {
      const response = await fetch(`http://127.0.0.1:${daemon!.healthPort()}/healthz`)
      return {code: response.status, body: (await response.json()) as {status: string; stuck: string[]; down: string[]}}
    }
    // Every sensor is polling before the freeze.
    for (let i = 0; i < 60; i++) {
      const {rows} = await db.query<{n: number}>('SELECT count(DISTINCT source_ref)::int AS n FROM attune.event')
      if (rows[0].n === SENSORS && (await health()).code === 200) break
      await sleep(500)
    }
    expect((await health()).body.status).toBe('ok')

    postgres.freeze()
    const seen: Array<{code: number; status: string; stuck: number}> = []
    try {
      const frozenUntil = Date.now() + 15_000
      while (Date.now() < frozenUntil) {
        const {code, body} = await health()
        seen.push({code, status: body.status, stuck: body.stuck.length})
        await sleep(250)
      }
    } finally {
      postgres.thaw()
    }
    const thawedAt = Date.now()
    // Sensors stopped completing polls: degraded (503, with the refs) before the database was taken for down.
    expect(seen.some((probe) => probe.code === 503 && probe.status === 'degraded' && probe.stuck > 0), JSON.stringify(seen)).toBe(true)
    expect(seen.every((probe) => probe.code === 503 || probe.status === 'ok')).toBe(true)

    // Within 20 s of the thaw, every sensor has stored an output made after the thaw.
    let polled = 0
    while (Date.now() - thawedAt < 20_000) {
      const {rows} = await db
        .query<{n: number}>("SELECT count(DISTINCT source_ref)::int AS n FROM attune.event WHERE (payload->>'at')::bigint > $1", [thawedAt])
        .catch(() => ({rows: [{n: 0}]}))
      polled = rows[0].n
      if (polled === SENSORS) break
      await sleep(500)
    }
    expect(polled, `sensors that polled after the thaw: ${polled} of ${SENSORS}\n${JSON.stringify(daemon!.logs.slice(-30))}`).toBe(SENSORS)

    // Health is honest again, and no output was stored twice (nor matched twice).
    let after = await health()
    for (let i = 0; i < 40 && after.code !== 200; i++) {
      await sleep(250)
      after = await health()
    }
    expect(after.body.status).toBe('ok')
    const {rows: doubles} = await db.query("SELECT payload->>'token' AS token, count(*) FROM attune.event GROUP BY 1 HAVING count(*) > 1")
    expect(doubles).toEqual([])
    const {rows: counts} = await db.query<{events: number; enforcements: number}>(
      'SELECT (SELECT count(*)::int FROM attune.event) AS events, (SELECT count(*)::int FROM attune.enforcement) AS enforcements',
    )
    expect(counts[0].enforcements).toBe(counts[0].events)
    expect(daemon!.process.exitCode).toBeNull()
  }, 150_000)
})
