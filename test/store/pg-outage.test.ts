/**
 * A real PostgreSQL that shuts down under an open transaction. The server sends its
 * connections a FATAL "terminating connection" while a client is checked out of the pool
 * between two statements: that must fail the transaction, never crash the process.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {openStore, type Store} from '../../src/engine/store/index.js'
import {postgresSkipReason, startPostgres, type PostgresServer} from '../support/postgres.js'

const skip = postgresSkipReason()
let server: PostgresServer
let store: Store

beforeAll(async () => {
  if (skip) return
  server = await startPostgres()
  store = await openStore({databaseUrl: await server.createDatabase('attune_outage'), migrate: false})
}, 120_000)

afterAll(async () => {
  await store?.close().catch(() => {})
  await server?.stop()
})

describe.skipIf(skip)('a PostgreSQL outage in the middle of a transaction', () => {
  it('fails the transaction, keeps the process alive, and works again once the server is back', async () => {
    const uncaught: unknown[] = []
    const record = (error: unknown) => uncaught.push(error)
    process.on('uncaughtException', record)
    try {
      const outcome = store
        .transaction(async (tx) => {
          await tx.query('SELECT 1')
          await server.pause() // the server goes away while this client is checked out and idle
          await tx.query('SELECT 2')
        })
        .then(
          () => 'committed',
          (error: unknown) => (error instanceof Error ? error.message : String(error)),
        )
      expect(await outcome).not.toBe('committed')
      expect(uncaught).toEqual([])
    } finally {
      process.off('uncaughtException', record)
      await server.resume()
    }
    // The broken client was discarded: the pool opens a fresh connection.
    const {rows} = await store.query<{answer: number}>('SELECT 42 AS answer')
    expect(rows[0].answer).toBe(42)
    expect(await store.transaction(async (tx) => (await tx.query<{n: number}>('SELECT 7 AS n')).rows[0].n)).toBe(7)
  }, 120_000)
})
