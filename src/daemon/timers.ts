import type {EventPipeline, PersistResult} from '../engine/events/index.js'
import {idempotentTransaction, type Queryable, type RuleRow, type SensorRow} from '../engine/store/index.js'
import {TIMER_TRIGGERS, TimerSensor, type TimerPayload, type TimerState, type TimerStateInput} from '../engine/timers/index.js'
import type {DatabaseService} from './database.js'
import type {PublisherService} from './publisher.js'
import {countStored, type DaemonContext} from './service.js'
import type {StoredSensorState} from './states.js'

/**
 * The builtin timer sensor (core.timer_sensor): one timer per enabled rule on the timer
 * triggers. Each fire is an event that only its own rule can match, stored with the timer's
 * state in one transaction under a key made of the rule and the scheduled time, so a restart
 * (or a move to another daemon) resumes the schedule without losing or doubling a fire, and a
 * retried write never stores one twice.
 */
export class TimerService {
  private running?: {sensor: SensorRow; timers: TimerSensor<RuleRow>}
  private ruleSet = ''
  private stopped = false
  /** Set at the daemon's stop: `sync` starts nothing again. */
  private closed = false

  constructor(
    private readonly context: DaemonContext,
    private readonly database: DatabaseService,
    private readonly pipeline: EventPipeline,
    private readonly publisher: PublisherService,
  ) {}

  /** Runs the timers of `sensor` (the enabled builtin timer sensor, if any) for `rules`. */
  async sync(sensor: SensorRow | undefined, rules: readonly RuleRow[]): Promise<void> {
    if (!sensor || this.closed) {
      this.stop()
      return
    }
    this.stopped = false
    const timerRules = rules.filter((rule) => rule.trigger_ref in TIMER_TRIGGERS && sensor.trigger_types.includes(rule.trigger_ref))
    const fingerprint = JSON.stringify(timerRules.map((rule) => [rule.id, new Date(rule.updated).toISOString()]))
    if (this.running && this.ruleSet === fingerprint) return
    const store = this.database.store
    if (!this.running) {
      this.running = {
        sensor,
        timers: new TimerSensor<RuleRow>({
          sensorRef: sensor.ref,
          onFire: (rule, payload, state) => void this.storeFire(rule, payload, state),
          onState: (rule, state, reason) => {
            if (reason === 'armed') void storeTimerState(store, rule, state).catch((error) => this.database.markDown(error))
          },
          onError: (rule, error) => this.context.logger.error('timer rule cannot run', {rule: rule.ref, err: error}),
        }),
      }
      this.context.logger.info('timer sensor started', {sensor: sensor.ref})
    }
    this.running.sensor = sensor
    const ids = timerRules.map((rule) => rule.id)
    // A disabled or deleted rule forgets its schedule: enabling it again starts afresh, no catch-up.
    await store.query('DELETE FROM attune_sensor.timer_state WHERE NOT (rule = ANY($1::bigint[]))', [ids])
    const {rows} = await store.query<{rule_ref: string; last_scheduled_at: Date; execution_count: number | string}>(
      'SELECT rule_ref, last_scheduled_at, execution_count FROM attune_sensor.timer_state WHERE rule = ANY($1::bigint[])',
      [ids],
    )
    const states = new Map<string, TimerStateInput>(rows.map((row) => [row.rule_ref, {last_scheduled_at: row.last_scheduled_at, execution_count: Number(row.execution_count)}]))
    this.running.timers.setRules(timerRules, states)
    this.ruleSet = fingerprint
  }

  private async storeFire(rule: RuleRow, payload: TimerPayload, state: TimerState): Promise<void> {
    const sensor = this.running?.sensor
    if (!sensor || this.stopped) return
    const key = `timer:${rule.id}:${state.last_scheduled_at ?? payload.fired_at}`
    try {
      const {result: stored} = await this.database.write(`storing a fire of ${rule.ref}`, () =>
        idempotentTransaction<PersistResult>(this.database.store, key, async (tx) => {
          const result = await this.pipeline.persistIn(tx, [
            {trigger: {ref: rule.trigger_ref}, sensor: {id: sensor.id, ref: sensor.ref}, config: rule.trigger_params, events: [payload], rule_ids: [rule.id], rule_ref: rule.ref},
          ])
          await storeTimerState(tx, rule, state)
          return result
        }),
      )
      this.publisher.notify()
      countStored(this.context.metrics, rule.trigger_ref, stored)
    } catch (error) {
      this.context.logger.error('could not store a timer fire', {rule: rule.ref, err: error})
    }
  }

  /** The daemon stops: every timer stops for good. */
  close(): void {
    this.closed = true
    this.stop()
  }

  /** Stops every timer (when the database is gone); `sync` starts them again. */
  stop(): void {
    this.stopped = true
    this.running?.timers.stop()
    this.running = undefined
    this.ruleSet = ''
  }

  /** The timer sensor's ref while it runs. */
  get sensorRef(): string | undefined {
    return this.running?.sensor.ref
  }

  status(): ReturnType<TimerSensor<RuleRow>['status']> {
    return this.running?.timers.status() ?? []
  }

  /** The timer sensor's row of `attune_sensor.sensor_state`: fires count as polls. */
  state(): StoredSensorState | undefined {
    if (!this.running) return undefined
    const timers = this.running.timers.status()
    const fires = timers.reduce((sum, timer) => sum + timer.execution_count, 0)
    const broken = timers.filter((timer) => timer.error !== null)
    const latest = (values: Array<string | null>, pick: (a: string, b: string) => boolean) =>
      values.reduce<string | null>((best, value) => (value !== null && (best === null || pick(value, best)) ? value : best), null)
    return {
      id: this.running.sensor.id,
      ref: this.running.sensor.ref,
      state: timers.length > 0 && broken.length === timers.length ? 'failed' : 'running',
      consecutive_failures: 0,
      polls: fires,
      failures: broken.length,
      events: fires,
      last_poll: latest(timers.map((timer) => timer.last_scheduled_at), (a, b) => a > b),
      last_duration_ms: null,
      last_error: broken.length > 0 ? `${broken[0].rule_ref}: ${broken[0].error}` : null,
      next_poll: latest(timers.map((timer) => timer.next_fire_at), (a, b) => a < b),
    }
  }
}

async function storeTimerState(q: Queryable, rule: RuleRow, state: TimerState): Promise<void> {
  if (!state.last_scheduled_at) return
  await q.query(
    `INSERT INTO attune_sensor.timer_state (rule, rule_ref, last_scheduled_at, execution_count) VALUES ($1, $2, $3, $4)
     ON CONFLICT (rule) DO UPDATE SET last_scheduled_at = EXCLUDED.last_scheduled_at, execution_count = EXCLUDED.execution_count, updated = now()`,
    [rule.id, rule.ref, state.last_scheduled_at, state.execution_count],
  )
}
