// The core timer sensor, builtin: one timer per enabled rule on core.intervaltimer,
// core.crontimer, core.datetimetimer or core.rruletimer. Each timer holds exactly one setTimeout, armed for its
// next scheduled time; the time after that is computed from the scheduled time, never from
// the moment the callback ran, so the schedule does not drift.
import {errorMessage} from '../errors.js'
import {parseTimerRule, timerKind, TimerConfigError, type TimerSpec} from './params.js'
import {dueSlot, firstFire, followingSlot, type ScheduleState} from './schedule.js'
import type {
  TimerClock,
  TimerKind,
  TimerPayload,
  TimerRule,
  TimerSensorOptions,
  TimerState,
  TimerStateInput,
  TimerStateReason,
  TimerStatus,
} from './types.js'

/**
 * The longest single setTimeout. Node caps delays at 2^31-1 ms (longer ones fire at once);
 * waking every minute also notices a wall-clock step (NTP, suspend) within a minute.
 */
export const MAX_TIMEOUT_CHUNK_MS = 60_000

/** `Date.now()` and the global timers. */
export const systemClock: TimerClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
}

/** Stored states by rule ref, as `setRules` accepts them. */
export type TimerStates =
  | ReadonlyMap<string, TimerStateInput | null | undefined>
  | Readonly<Record<string, TimerStateInput | null | undefined>>

interface Entry<R> {
  rule: R
  /** Trigger ref and parameters, canonical JSON: a change restarts the timer. */
  key: string
  kind: TimerKind
  spec: TimerSpec | null
  error: TimerConfigError | null
  state: ScheduleState
  /** The next scheduled time (ms), null when the timer will not fire again. */
  next: number | null
  handle: unknown
  armed: boolean
}

/**
 * Runs the timers of a set of rules and calls `onFire(rule, payload, state)` for every fire.
 * Feed it rules with `setRules` (the whole set, diffed against the running timers) or
 * `upsertRule`/`removeRule`; `stop()` clears every timer. Bad parameters never throw out of
 * these methods: the rule gets no timer, `onError` hears about it and `status()` shows it.
 */
export class TimerSensor<R extends TimerRule = TimerRule> {
  private readonly entries = new Map<string, Entry<R>>()
  private readonly clock: TimerClock
  private readonly sensorRef: string
  private stopped = false

  constructor(private readonly options: TimerSensorOptions<R>) {
    this.clock = options.clock ?? systemClock
    this.sensorRef = options.sensorRef ?? 'core.timer_sensor'
  }

  /**
   * Makes the running timers those of `rules`: new rules start, rules left out (or disabled)
   * stop, rules whose trigger or `trigger_params` changed restart, other changes only swap
   * the rule object handed to the callbacks. Rules of other triggers are ignored. `states`
   * holds stored states by rule ref; it is read only for rules that have no timer yet.
   */
  setRules(rules: Iterable<R>, states?: TimerStates): void {
    if (this.stopped) return
    const wanted = new Map<string, R>()
    for (const rule of rules) {
      if (rule.enabled !== false && timerKind(rule.trigger_ref)) wanted.set(rule.ref, rule)
    }
    for (const ref of [...this.entries.keys()]) {
      if (!wanted.has(ref)) this.removeRule(ref)
    }
    for (const [ref, rule] of wanted) this.upsertRule(rule, lookup(states, ref))
  }

  /**
   * Adds or updates one rule (see `setRules`). `state` is the stored state of a rule that has
   * no timer yet: with it the timer resumes from `last_scheduled_at` (catching up once on a
   * missed fire); without it the timer starts fresh and reports an `armed` state.
   */
  upsertRule(rule: R, state?: TimerStateInput | null): void {
    if (this.stopped) return
    const kind = timerKind(rule.trigger_ref)
    if (rule.enabled === false || !kind) {
      this.removeRule(rule.ref)
      return
    }
    const key = canonicalJson([rule.trigger_ref, rule.trigger_params ?? {}])
    const existing = this.entries.get(rule.ref)
    if (existing && existing.key === key) {
      existing.rule = rule
      return
    }
    if (existing) this.disarm(existing)
    // A changed rule is a new timer: its old state belongs to the old parameters.
    const stored = existing ? null : this.readState(rule, state)
    const entry: Entry<R> = {
      rule,
      key,
      kind,
      spec: null,
      error: null,
      state: stored ?? {last: null, count: 0},
      next: null,
      handle: undefined,
      armed: false,
    }
    this.entries.set(rule.ref, entry)
    try {
      entry.spec = parseTimerRule(rule)
    } catch (error) {
      entry.error = error instanceof TimerConfigError ? error : new TimerConfigError(rule.ref, 'trigger_params', errorMessage(error))
      this.report(rule, entry.error)
      return
    }
    entry.next = firstFire(entry.spec, stored, this.clock.now())
    if (!stored) this.emitState(entry, 'armed')
    this.arm(entry)
  }

  /** Stops and forgets one rule's timer; false when it had none. */
  removeRule(ref: string): boolean {
    const entry = this.entries.get(ref)
    if (!entry) return false
    this.disarm(entry)
    this.entries.delete(ref)
    return true
  }

  /**
   * Clears every timer: no callback runs afterwards and no handle keeps the process alive.
   * Final: later `setRules`/`upsertRule` calls are ignored (a late rule change arriving
   * during shutdown must not start timers again); make a new sensor to start over.
   */
  stop(): void {
    this.stopped = true
    for (const entry of this.entries.values()) this.disarm(entry)
    this.entries.clear()
  }

  /** The state of one rule's timer, as the daemon would store it. */
  state(ref: string): TimerState | undefined {
    const entry = this.entries.get(ref)
    return entry ? toWire(entry.state) : undefined
  }

  /** Every timer with its next fire, state and parameter error, ordered by rule ref. */
  status(): TimerStatus[] {
    return [...this.entries.values()]
      .sort((a, b) => (a.rule.ref < b.rule.ref ? -1 : a.rule.ref > b.rule.ref ? 1 : 0))
      .map((entry) => ({
        rule_ref: entry.rule.ref,
        trigger_ref: entry.rule.trigger_ref,
        kind: entry.kind,
        next_fire_at: entry.next === null || entry.error ? null : iso(entry.next),
        ...toWire(entry.state),
        error: entry.error?.message ?? null,
      }))
  }

  /** How many rules the sensor holds (with or without a working timer). */
  get size(): number {
    return this.entries.size
  }

  private arm(entry: Entry<R>): void {
    if (entry.next === null) return
    const delay = Math.min(Math.max(entry.next - this.clock.now(), 0), MAX_TIMEOUT_CHUNK_MS)
    entry.armed = true
    entry.handle = this.clock.setTimeout(() => this.wake(entry), delay)
  }

  private disarm(entry: Entry<R>): void {
    if (entry.armed) this.clock.clearTimeout(entry.handle)
    entry.armed = false
    entry.handle = undefined
  }

  private wake(entry: Entry<R>): void {
    entry.armed = false
    entry.handle = undefined
    if (this.stopped || this.entries.get(entry.rule.ref) !== entry || entry.next === null || !entry.spec) return
    const now = this.clock.now()
    // Early (timer rounding, a stale loop time) or an intermediate chunk: wait again.
    if (now < entry.next) {
      this.arm(entry)
      return
    }
    const spec = entry.spec
    const slot = dueSlot(spec, entry.next, now)
    entry.state = {last: slot, count: entry.state.count + 1}
    entry.next = followingSlot(spec, slot)
    // Re-arm before the callbacks: they cannot delay the next fire, and may remove the rule.
    this.arm(entry)
    const payload = this.payload(spec, entry, slot, now)
    const rule = entry.rule
    this.emitState(entry, 'fired')
    const state = toWire(entry.state)
    this.guard(rule, () => this.options.onFire(rule, payload, state))
  }

  private payload(spec: TimerSpec, entry: Entry<R>, slot: number, now: number): TimerPayload {
    const firedAt = iso(now)
    switch (spec.kind) {
      case 'interval':
        return {
          type: 'interval',
          interval_seconds: spec.periodMs / 1000,
          fired_at: firedAt,
          scheduled_at: iso(slot),
          execution_count: entry.state.count,
          sensor_ref: this.sensorRef,
        }
      case 'cron':
        return {
          type: 'cron',
          fired_at: firedAt,
          scheduled_at: iso(slot),
          expression: spec.expression,
          timezone: spec.timezone,
          ...(entry.next !== null ? {next_fire_at: iso(entry.next)} : {}),
          execution_count: entry.state.count,
          sensor_ref: this.sensorRef,
        }
      case 'rrule':
        return {
          type: 'rrule',
          fired_at: firedAt,
          scheduled_at: iso(slot),
          delay_ms: now - slot,
          execution_count: entry.state.count,
          sensor_ref: this.sensorRef,
        }
      case 'datetime':
        return {
          type: 'one_shot',
          fire_at: iso(spec.fireAt),
          fired_at: firedAt,
          timezone: spec.timezone,
          delay_ms: now - spec.fireAt,
          sensor_ref: this.sensorRef,
        }
    }
  }

  private emitState(entry: Entry<R>, reason: TimerStateReason): void {
    const onState = this.options.onState
    if (!onState) return
    const rule = entry.rule
    const state = toWire(entry.state)
    this.guard(rule, () => onState(rule, state, reason))
  }

  /** Runs a callback; a throw or a rejected promise goes to `onError`, never up the stack. */
  private guard(rule: R, callback: () => unknown): void {
    try {
      const result = callback()
      if (result && typeof (result as Promise<unknown>).then === 'function') {
        ;(result as Promise<unknown>).then(undefined, (error: unknown) => this.report(rule, error))
      }
    } catch (error) {
      this.report(rule, error)
    }
  }

  private report(rule: R, error: unknown): void {
    const failure = error instanceof Error ? error : new Error(String(error))
    try {
      if (this.options.onError) {
        this.options.onError(rule, failure)
        return
      }
    } catch {
      // An onError that throws falls back to the process warning below.
    }
    process.emitWarning(`timer of rule '${rule.ref}': ${failure.message}`, {code: 'ATTUNE_TIMER'})
  }

  /** A stored state, or null when there is none; an unreadable one is reported and ignored. */
  private readState(rule: R, input: TimerStateInput | null | undefined): ScheduleState | null {
    if (!input) return null
    const raw = input.last_scheduled_at
    const last = raw === null || raw === undefined ? null : raw instanceof Date ? raw.getTime() : typeof raw === 'number' ? raw : Date.parse(raw)
    if (last !== null && !Number.isFinite(last)) {
      this.report(rule, new TimerConfigError(rule.ref, 'state.last_scheduled_at', `${JSON.stringify(raw)} is not a time; starting fresh`))
      return null
    }
    const count = Number.isInteger(input.execution_count) && input.execution_count >= 0 ? input.execution_count : 0
    return {last, count}
  }
}

function lookup(states: TimerStates | undefined, ref: string): TimerStateInput | null | undefined {
  if (!states) return undefined
  if (states instanceof Map) return states.get(ref)
  const record = states as Readonly<Record<string, TimerStateInput | null | undefined>>
  return Object.hasOwn(record, ref) ? record[ref] : undefined
}

function toWire(state: ScheduleState): TimerState {
  return {last_scheduled_at: state.last === null ? null : iso(state.last), execution_count: state.count}
}

function iso(ms: number): string {
  return new Date(ms).toISOString()
}

/** JSON with sorted object keys, so key order in YAML or JSONB does not count as a change. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner && typeof inner === 'object' && !Array.isArray(inner) && !(inner instanceof Date)
      ? Object.fromEntries(Object.entries(inner as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  )
}
