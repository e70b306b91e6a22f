/**
 * The two backends every store test runs against: embedded PGlite (a temp ATTUNE_HOME)
 * and a private PostgreSQL 15 (test/support/postgres.ts).
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, beforeEach} from 'vitest'
import {migrate, openStore} from '../../src/engine/store/index.js'
import type {Store} from '../../src/engine/store/index.js'
import {postgresSkipReason, startPostgres, type PostgresServer} from '../support/postgres.js'

export interface Backend {
  name: 'pglite' | 'postgres'
  /** Set when this backend cannot run here (never under CI=true: that throws instead). */
  skip?: string
  /** Opens a store on a fresh, empty database (not migrated). */
  open(): Promise<Store>
  /** Closes what open() created and removes its data. */
  cleanup(): Promise<void>
}

function pgliteBackend(): Backend {
  const homes: string[] = []
  return {
    name: 'pglite',
    async open() {
      const home = mkdtempSync(join(tmpdir(), 'attune-home-'))
      homes.push(home)
      return openStore({home, migrate: false})
    },
    async cleanup() {
      for (const home of homes.splice(0)) rmSync(home, {recursive: true, force: true})
    },
  }
}

function postgresBackend(): Backend {
  const skip = postgresSkipReason()
  let server: PostgresServer | undefined
  let count = 0
  return {
    name: 'postgres',
    skip,
    async open() {
      server ??= await startPostgres()
      const url = await server.createDatabase(`attune_test_${++count}`)
      return openStore({databaseUrl: url, migrate: false})
    },
    async cleanup() {
      await server?.stop()
      server = undefined
    },
  }
}

export function backends(): Backend[] {
  return [pgliteBackend(), postgresBackend()]
}

/** Empties every table (keeps the schema): each test starts from the same state. */
export async function resetData(store: Store): Promise<void> {
  await store.exec(
    'TRUNCATE attune_sensor.outbox, attune_sensor.idempotency, attune.enforcement, attune.event, attune.rule, attune.action, attune.sensor, attune.trigger, ' +
      'attune.runtime, attune.pack, attune.worker, attune.identity, attune.sensor_process RESTART IDENTITY CASCADE',
  )
}

export interface MigratedStoreOptions {
  /** Empty every table before each test. */
  resetEach?: boolean
  /** Runs once after the store is open and migrated (e.g. register a pack). */
  setup?: (store: Store) => Promise<void>
}

/**
 * Opens a migrated store on `backend` for the enclosing `describe` (closed and removed after
 * it) and returns a stand-in that forwards to it, usable inside the tests and hooks that run
 * after this one. Nothing is opened when the backend is skipped here.
 */
export function useMigratedStore(backend: Backend, options: MigratedStoreOptions = {}): Store {
  let current: Store | undefined
  beforeAll(async () => {
    if (backend.skip) return
    current = await backend.open()
    await migrate(current)
    await options.setup?.(current)
  })
  afterAll(async () => {
    await current?.close()
    current = undefined
    await backend.cleanup()
  })
  if (options.resetEach) {
    beforeEach(async () => {
      if (current) await resetData(current)
    })
  }
  return new Proxy({} as Store, {
    get(_, key) {
      if (!current) throw new Error(`the ${backend.name} store is open only inside its describe block`)
      const value: unknown = Reflect.get(current, key)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(current) : value
    },
  })
}
