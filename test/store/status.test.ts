/**
 * `attune sensor status` and `attune worker list` read what the daemons wrote: the sensor
 * state rows, the leases and the worker heartbeats. These rows are written here by hand, as
 * daemons in various conditions (alive, killed, moved) would have left them.
 */
import {afterAll, describe, expect, it} from 'vitest'
import {CORE_PACK_DIR} from '../../src/engine/detect/index.js'
import {registerPacks} from '../../src/engine/packs/index.js'
import {listWorkers, sensorStatuses, type Store} from '../../src/engine/store/index.js'
import {backends, useMigratedStore} from './backends.js'
import {makePack, removeTempDirs} from './pack-files.js'

afterAll(() => removeTempDirs())

const pack = makePack('st', {
  'triggers/t.yaml': 'ref: st.t\n',
  'sensors/a.yaml': 'ref: st.a\nrunner_type: shell\nentry_point: a.sh\ntrigger_types: [st.t]\n',
  'sensors/b.yaml': 'ref: st.b\nrunner_type: shell\nentry_point: b.sh\ntrigger_types: [st.t]\n',
  'sensors/c.yaml': 'ref: st.c\nrunner_type: shell\nentry_point: c.sh\ntrigger_types: [st.t]\n',
  'sensors/d.yaml': 'ref: st.d\nrunner_type: shell\nentry_point: d.sh\ntrigger_types: [st.t]\n',
})

async function worker(store: Store, name: string, heartbeatSecondsAgo: number, capabilities: Record<string, unknown>, status = 'active'): Promise<void> {
  await store.query(
    `INSERT INTO attune.worker (name, worker_type, worker_role, capabilities, status, last_heartbeat)
     VALUES ($1, 'local', 'sensor', $2::jsonb, $3::attune.worker_status_enum, now() - make_interval(secs => $4))`,
    [name, JSON.stringify(capabilities), status, heartbeatSecondsAgo],
  )
}

async function state(store: Store, ref: string, owner: string, polls: number): Promise<void> {
  await store.query(
    `INSERT INTO attune_sensor.sensor_state (sensor, sensor_ref, owner, state, polls, last_poll)
     SELECT id, ref, $2, 'running', $3, now() FROM attune.sensor WHERE ref = $1`,
    [ref, owner, polls],
  )
}

async function lease(store: Store, ref: string, owner: string, expiresInSeconds: number): Promise<void> {
  await store.query(
    `INSERT INTO attune_sensor.sensor_lease (sensor, owner, expires)
     SELECT id, $2, now() + make_interval(secs => $3) FROM attune.sensor WHERE ref = $1`,
    [ref, owner, expiresInSeconds],
  )
}

describe.each(backends())('daemon status as read back on $name', (backend) => {
  const store = useMigratedStore(backend, {
    setup: async (opened) => {
      await registerPacks(opened, [CORE_PACK_DIR, pack])
      // alpha: alive with a 4 s lease; bravo: killed 10 s ago (its lease time is 4 s);
      // charlie: no lease time recorded (a host registered by `runtime detect`), beat 10 s ago.
      await worker(opened, 'alpha', 1, {lease_seconds: 4, sensors: 2})
      await worker(opened, 'bravo', 10, {lease_seconds: 4, sensors: 1})
      await worker(opened, 'charlie', 10, {})
      await worker(opened, 'delta', 1, {lease_seconds: 4}, 'inactive')
      await state(opened, 'st.a', 'alpha', 5) // polled by its lease holder
      await lease(opened, 'st.a', 'alpha', 4)
      await state(opened, 'st.b', 'bravo', 7) // bravo was killed; alpha has claimed it, not polled it yet
      await lease(opened, 'st.b', 'alpha', 4)
      await state(opened, 'st.c', 'bravo', 3) // bravo was killed; nobody holds it yet
      await lease(opened, 'st.c', 'bravo', -6)
      await state(opened, 'st.d', 'alpha', 9) // then disabled in the database
      await opened.query("UPDATE attune.sensor SET enabled = false WHERE ref = 'st.d'")
    },
  })

  it.skipIf(backend.skip)('takes the owner from the live lease, and says what a new owner has not polled yet', async () => {
    const rows = (await sensorStatuses(store)).filter((row) => row.ref.startsWith('st.'))
    expect(rows.map((row) => [row.ref, row.owner, row.owner_alive, row.state, row.polls])).toEqual([
      ['st.a', 'alpha', true, 'running', 5],
      ['st.b', 'alpha', true, 'not polled', 7],
      ['st.c', 'bravo', false, 'running', 3], // shown "running (stale)" by the command
      ['st.d', 'alpha', true, 'disabled', 9],
    ])
  })

  it.skipIf(backend.skip)('judges each worker by its own lease time', async () => {
    const workers = await listWorkers(store)
    expect(workers.map((row) => [row.name, row.status, row.alive])).toEqual([
      ['alpha', 'active', true],
      ['bravo', 'active', false],
      ['charlie', 'active', true], // 10 s is within the 30 s used without a lease time
      ['delta', 'inactive', false],
    ])
    expect(workers[1].heartbeat_age_seconds).toBeGreaterThanOrEqual(10)
    expect((await listWorkers(store, {role: 'executor'})).length).toBe(0)
  })
})
