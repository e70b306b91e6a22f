/**
 * The daemon's retention service: with a short retention.check_interval_seconds it prunes by
 * the retention.* settings on its own (old events go, fresh ones and unsent outbox rows stay),
 * and /metrics shows the sizes of the retained tables (attune_table_rows).
 */
import {chmodSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, expect, it} from 'vitest'
import {openStore} from '../../src/engine/store/index.js'
import {startDaemon} from '../support/daemon.js'
import {eventually} from '../support/sensors.js'

const home = mkdtempSync(join(tmpdir(), 'attune-retention-'))
afterAll(() => rmSync(home, {recursive: true, force: true}))

function tableRows(metrics: string, table: string): number | undefined {
  const line = metrics.split('\n').find((text) => text.startsWith(`attune_table_rows{table="${table}"}`))
  return line === undefined ? undefined : Number(line.split(' ').pop())
}

it('prunes periodically by the retention settings and shows table sizes on /metrics', async () => {
  const store = await openStore({home})
  try {
    for (const age of [7200, 7200, 5]) {
      await store.query(`INSERT INTO attune.event (trigger_ref, payload, created) VALUES ('r.t', '{}'::jsonb, now() - make_interval(secs => $1))`, [age])
    }
    await store.query(
      `INSERT INTO attune_sensor.outbox (exchange, routing_key, message_id, message, sent_at, created) VALUES
         ('attune.events', 'event.created', 'old-sent', '{}'::jsonb, now() - interval '2 hours', now() - interval '2 hours'),
         ('attune.nowhere', 'x', 'old-unsent', '{}'::jsonb, NULL, now() - interval '2 hours')`,
    )
  } finally {
    await store.close()
  }
  const config = join(home, 'config.yaml')
  writeFileSync(config, 'retention:\n  check_interval_seconds: 0.5\n  events: {max_age_seconds: 3600}\n  outbox: {max_age_seconds: 3600}\n')
  chmodSync(config, 0o600)

  const daemon = await startDaemon(['--no-api'], {ATTUNE_HOME: home})
  try {
    const pruned = await eventually(() => daemon.logs.some((log) => log.msg === 'retention: pruned'), 60_000)
    expect(pruned, JSON.stringify(daemon.logs.slice(-10))).toBe(true)
    expect(daemon.logs.find((log) => log.msg === 'retention: pruned')).toMatchObject({events: 2, outbox: 1})

    // Table sizes are read when scraped (cached for 5 s): wait for a read after the prune.
    let metrics = ''
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 500))) {
      metrics = await (await fetch(`http://127.0.0.1:${daemon.healthPort()}/metrics`)).text()
      if (tableRows(metrics, 'attune.event') === 1) break
    }
    expect(tableRows(metrics, 'attune.event'), metrics).toBe(1)
    expect(metrics).toContain('# TYPE attune_table_rows gauge')
    // Only the old sent row went (the log says 1): the unsent one stays, whatever its age (on
    // the in-process bus it may be sent meanwhile, and is then a young sent row that stays too).
    expect(tableRows(metrics, 'attune_sensor.outbox')).toBeGreaterThanOrEqual(1)
    expect(tableRows(metrics, 'attune.enforcement')).toBe(0)
    expect(tableRows(metrics, 'attune_sensor.idempotency')).toBeTypeOf('number')
  } finally {
    expect((await daemon.stop()).exitCode).toBe(0)
  }
}, 180_000)
