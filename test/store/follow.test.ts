/**
 * followList on PostgreSQL with two writers: a row whose transaction commits after a row with a
 * higher id is still followed, exactly once; filters apply; the newest rows come first.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import pg from 'pg'
import {EVENT_LIST, eventFilters, followList, migrate, openPgStore, type EventRow} from '../../src/engine/store/index.js'
import {postgresSkipReason, startPostgres, type PostgresServer} from '../support/postgres.js'
import {eventually} from '../support/sensors.js'

const skip = postgresSkipReason()

describe.skipIf(skip)('following events on PostgreSQL', () => {
  let server: PostgresServer | undefined
  let url = ''
  beforeAll(async () => {
    server = await startPostgres()
    url = await server.createDatabase('attune_follow')
    const store = await openPgStore(url)
    try {
      await migrate(store)
      await store.query(`INSERT INTO attune.event (trigger_ref, payload) SELECT 'f.t', jsonb_build_object('n', n) FROM generate_series(1, 5) AS n`)
    } finally {
      await store.close()
    }
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('prints a row that commits after a row with a higher id, once, and only rows of the filter', async () => {
    const seen: EventRow[] = []
    const controller = new AbortController()
    const following = followList({
      source: EVENT_LIST,
      filters: eventFilters({trigger: 'f.t'}),
      connections: {shared: () => openPgStore(url), once: () => openPgStore(url)},
      backlog: 2,
      intervalMs: 50,
      signal: controller.signal,
      onRows: (rows) => seen.push(...rows),
    })
    const slow = new pg.Client({connectionString: url})
    const fast = new pg.Client({connectionString: url})
    await slow.connect()
    await fast.connect()
    try {
      expect(await eventually(() => seen.length === 2, 20_000)).toBe(true)
      expect(seen.map((row) => row.id)).toEqual([4, 5])
      // The slow writer takes id 6 first, the fast one 7 and 8 (one of another trigger) and commits.
      await slow.query('BEGIN')
      await slow.query(`INSERT INTO attune.event (trigger_ref, payload) VALUES ('f.t', '{"late": true}')`)
      await fast.query(`INSERT INTO attune.event (trigger_ref, payload) VALUES ('f.t', '{"early": true}')`)
      await fast.query(`INSERT INTO attune.event (trigger_ref, payload) VALUES ('f.other', '{}')`)
      expect(await eventually(() => seen.length === 3, 20_000)).toBe(true)
      expect(seen.map((row) => row.id)).toEqual([4, 5, 7])
      await slow.query('COMMIT')
      expect(await eventually(() => seen.length === 4, 20_000)).toBe(true)
      await fast.query(`INSERT INTO attune.event (trigger_ref, payload) VALUES ('f.t', '{"after": true}')`)
      expect(await eventually(() => seen.length === 5, 20_000)).toBe(true)
      // A few more rounds: nothing is printed twice.
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(seen.map((row) => row.id)).toEqual([4, 5, 7, 6, 9])
      expect(seen.map((row) => row.payload)).toEqual([{n: 4}, {n: 5}, {early: true}, {late: true}, {after: true}])
    } finally {
      controller.abort()
      await following
      await slow.end()
      await fast.end()
    }
  })
})
