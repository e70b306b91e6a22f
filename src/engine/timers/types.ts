// Types of the builtin timer sensor (core.intervaltimer, core.crontimer, core.datetimetimer,
// core.rruletimer).
// Wire shapes (payloads, state) are snake_case like every other stored or published format.

/** The trigger refs the timer sensor serves, and the kind of timer each one is. */
export const TIMER_TRIGGERS = {
  'core.intervaltimer': 'interval',
  'core.crontimer': 'cron',
  'core.datetimetimer': 'datetime',
  'core.rruletimer': 'rrule',
} as const

/** A trigger ref the timer sensor serves. */
export type TimerTriggerRef = keyof typeof TIMER_TRIGGERS

/** `interval`, `cron`, `datetime` or `rrule`. */
export type TimerKind = (typeof TIMER_TRIGGERS)[TimerTriggerRef]

/**
 * What the timer sensor needs of a rule: its ref (the timer's identity), its trigger and the
 * trigger parameters. The store's `RuleRow` and the rules module's `RuleDefinition` both fit;
 * the sensor hands the same object back in its callbacks.
 */
export interface TimerRule {
  ref: string
  trigger_ref: string
  trigger_params?: Record<string, unknown> | null
  /** A rule with `enabled: false` has no timer (the same as leaving it out). */
  enabled?: boolean
}

/**
 * The per-rule state that must survive a restart or a move to another daemon: the last
 * scheduled time that fired (ISO 8601 UTC, null before the first fire) and how many times
 * the timer fired. The daemon stores it and hands it back when the rule's timer starts again.
 */
export interface TimerState {
  last_scheduled_at: string | null
  execution_count: number
}

/** A stored state as read back from a database: `pg` returns `timestamptz` as a Date. */
export interface TimerStateInput {
  last_scheduled_at: string | Date | number | null
  execution_count: number
}

/** Payload of a `core.intervaltimer` fire (packs/core/triggers/intervaltimer.yaml). */
export interface IntervalTimerPayload {
  type: 'interval'
  interval_seconds: number
  fired_at: string
  scheduled_at: string
  execution_count: number
  sensor_ref: string
}

/** Payload of a `core.crontimer` fire; `next_fire_at` is absent when the schedule ends. */
export interface CronTimerPayload {
  type: 'cron'
  fired_at: string
  scheduled_at: string
  expression: string
  timezone: string
  next_fire_at?: string
  execution_count: number
  sensor_ref: string
}

/** Payload of a `core.datetimetimer` fire; `delay_ms` is `fired_at - fire_at`. */
export interface DatetimeTimerPayload {
  type: 'one_shot'
  fire_at: string
  fired_at: string
  timezone: string
  delay_ms: number
  sensor_ref: string
}

/**
 * Payload of a `core.rruletimer` fire (the trigger's output in Attune's core pack);
 * `delay_ms` is `fired_at - scheduled_at`.
 */
export interface RruleTimerPayload {
  type: 'rrule'
  fired_at: string
  scheduled_at: string
  delay_ms: number
  execution_count: number
  sensor_ref: string
}

/** Any timer payload; `type` tells them apart. */
export type TimerPayload = IntervalTimerPayload | CronTimerPayload | DatetimeTimerPayload | RruleTimerPayload

/**
 * Time as the timer sensor sees it. The default is the system clock (`Date.now()` and the
 * global timers); tests inject a manual clock to run schedules deterministically.
 */
export interface TimerClock {
  /** Wall-clock time in ms since the epoch. */
  now(): number
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** Why a state was reported: the timer started without a stored state, or it fired. */
export type TimerStateReason = 'armed' | 'fired'

/** Options of a `TimerSensor`; `R` is the daemon's rule type, handed back unchanged. */
export interface TimerSensorOptions<R extends TimerRule = TimerRule> {
  /**
   * Called once per fire, never twice for one scheduled time. `state` is the state after this
   * fire, so the daemon can store it in the same transaction as the event. A thrown error or
   * a rejected promise goes to `onError`; the timer keeps its schedule either way (the sensor
   * does not wait for the promise).
   */
  onFire: (rule: R, payload: TimerPayload, state: TimerState) => void | Promise<void>
  /**
   * Called when a rule's state changes: on every fire (just before `onFire`, with the same
   * state) and when a timer is armed without a stored state (`armed`, with a null
   * `last_scheduled_at`). Storing the `armed` state is what lets a datetime timer whose time
   * passes while no daemon runs it fire once on the next start (see docs/timers.md).
   */
  onState?: (rule: R, state: TimerState, reason: TimerStateReason) => void
  /**
   * Bad trigger parameters (a `TimerConfigError` naming the rule and the field), and errors
   * thrown by `onFire`/`onState`. Defaults to `process.emitWarning`.
   */
  onError?: (rule: R, error: Error) => void
  /** `sensor_ref` of the payloads; `core.timer_sensor` by default. */
  sensorRef?: string
  /** The clock; the system clock by default. */
  clock?: TimerClock
}

/** One timer as `TimerSensor.status()` reports it (for status commands and dashboards). */
export interface TimerStatus {
  rule_ref: string
  trigger_ref: string
  kind: TimerKind | null
  /** When the timer fires next; null when it will not fire again (or has an error). */
  next_fire_at: string | null
  last_scheduled_at: string | null
  execution_count: number
  /** The parameter error that keeps this rule from having a timer. */
  error: string | null
}
