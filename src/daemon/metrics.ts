import {collectDefaultMetrics, Counter, Gauge, Histogram, Registry} from 'prom-client'
import {attuneVersion} from '../engine/version.js'

/**
 * The daemon's Prometheus metrics (served as text on /metrics), with prom-client's process and
 * Node.js runtime metrics (`process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`, ...).
 *
 * Per-sensor series exist from the moment a sensor runs here (at 0), so a rate or an alert on
 * failures works before the first failure, and go when it stops running here: the label set is
 * bounded by the sensors this daemon runs (`addSensor`, `removeSensor`).
 */
export class DaemonMetrics {
  readonly registry = new Registry()
  readonly polls = new Counter({name: 'attune_sensor_polls_total', help: 'Polls completed, by sensor and outcome.', labelNames: ['sensor', 'outcome'], registers: [this.registry]})
  readonly pollFailures = new Counter({name: 'attune_sensor_poll_failures_total', help: 'Polls that failed (error, timeout, bad output).', labelNames: ['sensor'], registers: [this.registry]})
  readonly pollDeadlines = new Counter({
    name: 'attune_sensor_poll_deadlines_total',
    help: 'Polls abandoned at their deadline (the sensor was rescheduled).',
    labelNames: ['sensor'],
    registers: [this.registry],
  })
  readonly sensorsStuck = new Gauge({name: 'attune_sensors_stuck', help: 'Sensors that have not completed a poll within 3x their interval.', registers: [this.registry]})
  readonly overruns = new Counter({name: 'attune_sensor_poll_overruns_total', help: 'Polls skipped because the previous poll of the sensor was still running.', labelNames: ['sensor'], registers: [this.registry]})
  readonly events = new Counter({name: 'attune_events_total', help: 'Events stored.', labelNames: ['trigger'], registers: [this.registry]})
  readonly deduplicated = new Counter({
    name: 'attune_events_deduplicated_total',
    help: 'Events dropped because their trigger saw their dedup key within its window.',
    labelNames: ['trigger'],
    registers: [this.registry],
  })
  readonly enforcements = new Counter({name: 'attune_enforcements_total', help: 'Enforcements created (rule matches).', labelNames: ['rule'], registers: [this.registry]})
  readonly pollDuration = new Histogram({
    name: 'attune_sensor_poll_duration_seconds',
    help: 'Wall time of one poll, from process start to result.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  })
  readonly scheduleLag = new Histogram({
    name: 'attune_sensor_schedule_lag_seconds',
    help: 'Actual poll start minus its scheduled start.',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [this.registry],
  })
  readonly sensorsActive = new Gauge({name: 'attune_sensors_active', help: 'Sensors this daemon runs that are healthy.', registers: [this.registry]})
  readonly sensorsFailed = new Gauge({name: 'attune_sensors_failed', help: 'Sensors marked failed (retried with backoff).', registers: [this.registry]})
  readonly sensorsOwned = new Gauge({name: 'attune_sensors_owned', help: 'Sensors this daemon owns.', registers: [this.registry]})
  readonly outboxPending = new Gauge({name: 'attune_outbox_pending', help: 'Messages stored but not yet confirmed by the broker.', registers: [this.registry]})
  readonly publishFailures = new Counter({name: 'attune_publish_failures_total', help: 'Failed attempts to publish outbox messages.', registers: [this.registry]})
  readonly databaseUp = new Gauge({name: 'attune_database_up', help: '1 when the database answers, else 0.', registers: [this.registry]})
  readonly brokerUp = new Gauge({name: 'attune_broker_up', help: '1 when the broker (RabbitMQ, or the in-process bus) accepts messages, else 0.', registers: [this.registry]})
  readonly buildInfo = new Gauge({name: 'attune_build_info', help: 'Always 1; the labels say which attune and Node.js run.', labelNames: ['version', 'node'], registers: [this.registry]})
  readonly lastSuccess = new Gauge({
    name: 'attune_sensor_last_success_timestamp_seconds',
    help: 'When a poll of the sensor last succeeded (Unix time); 0 before the first.',
    labelNames: ['sensor'],
    registers: [this.registry],
  })
  /** The sensors with series here, and their triggers. */
  private readonly sensorTriggers = new Map<string, string | undefined>()

  constructor() {
    collectDefaultMetrics({register: this.registry})
    this.buildInfo.set({version: attuneVersion(), node: process.version}, 1)
  }

  /** A polled sensor now runs here: its series start at 0 (and its trigger's). */
  addSensor(sensor: string, trigger?: string): void {
    if (this.sensorTriggers.has(sensor)) return
    this.sensorTriggers.set(sensor, trigger)
    for (const outcome of ['ok', 'failed']) this.polls.inc({sensor, outcome}, 0)
    for (const counter of [this.pollFailures, this.pollDeadlines, this.overruns]) counter.inc({sensor}, 0)
    this.lastSuccess.set({sensor}, 0)
    if (trigger) {
      this.events.inc({trigger}, 0)
      this.deduplicated.inc({trigger}, 0)
    }
  }

  /** The sensor no longer runs here (removed, disabled, moved to another daemon): its series go. */
  removeSensor(sensor: string): void {
    if (!this.sensorTriggers.has(sensor)) return
    this.sensorTriggers.delete(sensor)
    for (const outcome of ['ok', 'failed']) this.polls.remove({sensor, outcome})
    for (const metric of [this.pollFailures, this.pollDeadlines, this.overruns, this.lastSuccess]) metric.remove({sensor})
    // A trigger's series stay: other sensors, timers and webhooks count into them too.
  }

  /** A poll of the sensor succeeded now (only while it runs here). */
  sensorSucceeded(sensor: string, at = Date.now()): void {
    if (this.sensorTriggers.has(sensor)) this.lastSuccess.set({sensor}, at / 1000)
  }

  text(): Promise<string> {
    return this.registry.metrics()
  }
}

/**
 * `attune_table_rows{table}`: rows in the tables retention keeps in bounds, read from the
 * database when scraped (`read`, cached for `maxAgeMs`). A read that fails or takes longer
 * than `timeoutMs` leaves the last values: a scrape never waits on a database that is down.
 */
export function tableRowsGauge(registry: Registry, read: () => Promise<Record<string, number>>, options: {maxAgeMs?: number; timeoutMs?: number} = {}): Gauge<'table'> {
  let readAt = 0
  return new Gauge({
    name: 'attune_table_rows',
    help: 'Rows in the tables retention prunes (estimated on PostgreSQL for large tables).',
    labelNames: ['table'],
    registers: [registry],
    async collect() {
      if (Date.now() - readAt < (options.maxAgeMs ?? 5000)) return
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), options.timeoutMs ?? 2000)))
      const counts = await Promise.race([read().catch(() => undefined), timeout]).finally(() => clearTimeout(timer))
      if (!counts) return
      readAt = Date.now()
      for (const [table, rows] of Object.entries(counts)) this.set({table}, rows)
    },
  })
}
