import type {DaemonStatus, StopProgress} from '../../src/daemon/daemon.js'
import type {SensorStatus} from '../../src/daemon/scheduler.js'

/** A polled sensor's status as the scheduler reports it. */
export function polled(ref: string, overrides: Partial<SensorStatus> = {}): SensorStatus {
  return {
    ref,
    state: 'running',
    interval_ms: 30_000,
    consecutive_failures: 0,
    polls: 3,
    failures: 0,
    overruns: 0,
    events: 0,
    enforcements: 0,
    last_poll: null,
    last_duration_ms: 12,
    last_error: null,
    next_poll: null,
    running: false,
    last_completed: null,
    stuck: false,
    ...overrides,
  }
}

/** A 60-character ref whose beginning (`pack07.`) tells it apart from the others. */
export function longRef(index: number): string {
  return `pack${String(index).padStart(2, '0')}.a_sensor_with_a_rather_long_descriptive_name_that_goes_on`.padEnd(60, '_').slice(0, 60)
}

export function daemonStatus(sensors: SensorStatus[], overrides: Partial<DaemonStatus> = {}): DaemonStatus {
  return {
    name: 'host.example:4242',
    started_at: new Date(0).toISOString(),
    api: 'http://127.0.0.1:9465',
    database: {ok: true, location: 'embedded /home/operator/.local/share/attune/pgdata', error: null, pending_writes: 0},
    broker: {kind: 'amqp', location: 'amqp://rabbit.internal:5672/attune', ok: true, error: null, pending: 0, sent: 0},
    sensors,
    long_running: [],
    timers: [],
    timer_sensor: null,
    tables: {'attune.event': 12_345, 'attune.enforcement': 980, 'attune_sensor.outbox': 3, 'attune_sensor.idempotency': 40},
    ...overrides,
  }
}

/** A daemon whose status a test changes at will. */
export class FakeDaemon {
  stopping: StopProgress | null = null
  constructor(public current: DaemonStatus) {}
  status(): DaemonStatus {
    return this.current
  }
  stopProgress(): StopProgress | null {
    return this.stopping
  }
}
