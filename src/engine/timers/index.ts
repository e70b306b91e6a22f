// The builtin timer sensor of the core pack (SPEC §4): interval, cron, datetime and rrule timers.
export {MAX_TIMEOUT_CHUNK_MS, systemClock, TimerSensor, type TimerStates} from './sensor.js'
export {INTERVAL_UNITS, parseFireAt, parseTimerRule, timerKind, TimerConfigError, type CronSpec, type DatetimeSpec, type IntervalSpec, type RruleSpec, type TimerSpec} from './params.js'
export {occurrenceAfter, ruleString, RRULE_FREQS, RRULE_MAX_COUNT, RRULE_WEEKDAYS, type Recurrence, type RruleParts} from './rrule.js'
export {dueSlot, firstFire, followingSlot, type ScheduleState} from './schedule.js'
export {isValidTimeZone, zonedTimeToInstant, type WallTime} from './zone.js'
export * from './types.js'
