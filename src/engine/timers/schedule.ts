// The schedule logic of the timers as pure functions of (spec, state, now): no timers, no
// clock. The sensor arms one setTimeout for whatever these return.
import type {Cron} from 'croner'
import type {TimerSpec} from './params.js'
import {occurrenceAfter} from './rrule.js'

/** The part of a timer's state the schedule depends on (ms since the epoch). */
export interface ScheduleState {
  /** The last scheduled time that fired; null before the first fire. */
  last: number | null
  count: number
}

/** The first cron run strictly after `after`, or null when the schedule has ended. */
export function cronAfter(cron: Cron, after: number): number | null {
  return cron.nextRun(new Date(after))?.getTime() ?? null
}

/**
 * The first scheduled time of a timer that starts at `now`. `stored` is the state handed in by
 * the daemon (null when there is none: a rule never seen before).
 * - interval: `last + period` with a state (it may be past: the wake catches up), else
 *   `now + period` (a new timer's first fire is one period after it starts);
 * - cron: the first run after `last` with a state, else the first run after `now`;
 * - datetime: `fire_at` unless the state says it fired; a past `fire_at` only with a stored
 *   state (the timer was armed, so the fire was missed), never for a rule seen for the first
 *   time after its time passed.
 * - rrule: like cron, with the occurrences of the recurrence rule (the first one strictly
 *   after `now` for a new timer, as Attune does).
 * Null: the timer will not fire (for rrule: the recurrence is exhausted by COUNT or UNTIL).
 */
export function firstFire(spec: TimerSpec, stored: ScheduleState | null, now: number): number | null {
  const last = stored?.last ?? null
  switch (spec.kind) {
    case 'interval':
      return last !== null ? last + spec.periodMs : now + spec.periodMs
    case 'cron':
      return cronAfter(spec.cron, last ?? now)
    case 'rrule':
      return occurrenceAfter(spec.recurrence, last ?? now)
    case 'datetime':
      if (last !== null && last >= spec.fireAt) return null
      if (spec.fireAt > now || stored) return spec.fireAt
      return null
  }
}

/**
 * The slot to fire when a timer due at `next` wakes at `now` (`now >= next`): the latest
 * scheduled time that is not after `now`. Normally that is `next` itself; when the wake is
 * more than a period late (a blocked event loop, or a timer resumed after no daemon ran it)
 * the slots in between are skipped, so a late timer fires once, never in a burst.
 */
export function dueSlot(spec: TimerSpec, next: number, now: number): number {
  switch (spec.kind) {
    case 'interval':
      return next + Math.floor((now - next) / spec.periodMs) * spec.periodMs
    case 'cron':
      return latestRun((after) => cronAfter(spec.cron, after), next, now)
    case 'rrule':
      return latestRun((after) => occurrenceAfter(spec.recurrence, after), next, now)
    case 'datetime':
      return next
  }
}

/** The scheduled time after `slot`: `slot + period` (never "now + period"), or null. */
export function followingSlot(spec: TimerSpec, slot: number): number | null {
  switch (spec.kind) {
    case 'interval':
      return slot + spec.periodMs
    case 'cron':
      return cronAfter(spec.cron, slot)
    case 'rrule':
      return occurrenceAfter(spec.recurrence, slot)
    case 'datetime':
      return null
  }
}

/**
 * The latest run in [first, now], where `first` is a run and `after(t)` is the first run
 * strictly after `t` (cron or rrule). Looks back from `now` in doubling steps before walking
 * forward, so a timer resumed after a long gap with an every-second schedule costs a few dozen
 * calls, not one per missed second.
 */
function latestRun(after: (t: number) => number | null, first: number, now: number): number {
  let from = first
  for (let span = 1000; now - span > first; span *= 2) {
    const run = after(now - span)
    if (run !== null && run <= now) {
      from = run
      break
    }
  }
  let latest = from
  for (;;) {
    const run = after(latest)
    if (run === null || run > now) return latest
    latest = run
  }
}

