// IANA time zone helpers on top of Intl (no extra dependency): validate a zone name and turn
// a wall-clock time in a zone into an instant. Cron schedules use croner's own zone handling;
// these serve the datetime timer's `fire_at` without an offset and the rrule timer's wall-clock
// occurrences.

const formatters = new Map<string, Intl.DateTimeFormat>()

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone)
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    })
    formatters.set(timeZone, format)
  }
  return format
}

/** True when `timeZone` is an IANA zone name (or `UTC`) this Node.js knows. */
export function isValidTimeZone(timeZone: string): boolean {
  if (timeZone.trim() === '') return false
  try {
    formatter(timeZone)
    return true
  } catch {
    return false
  }
}

/** The zone's offset from UTC at `instant`, in ms (positive east of Greenwich). */
export function zoneOffsetMs(timeZone: string, instant: number): number {
  const parts: Record<string, number> = {}
  for (const part of formatter(timeZone).formatToParts(new Date(instant))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value)
  }
  // Some ICU versions print midnight as 24 even with h23.
  const hour = parts.hour === 24 ? 0 : parts.hour
  const wall = Date.UTC(parts.year, parts.month - 1, parts.day, hour, parts.minute, parts.second)
  const wholeSecond = instant - (((instant % 1000) + 1000) % 1000)
  return wall - wholeSecond
}

/** Calendar fields of a wall-clock time (month 1-12). */
export interface WallTime {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
  millisecond: number
}

/**
 * The instant at which the wall clock of `timeZone` shows `wall`. A time that falls in a
 * spring-forward gap is moved forward by the gap (02:30 becomes 03:30). A time that occurs
 * twice at a fall-back is its second occurrence by default, which is what croner does for cron
 * schedules; `'earlier'` picks the first, as RFC 5545 §3.3.5 does for recurrence rules.
 * Assumes at most one offset change within a day of `wall`, true of every real zone.
 */
export function zonedTimeToInstant(wall: WallTime, timeZone: string, doubled: 'earlier' | 'later' = 'later'): number {
  const asUtc = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second, wall.millisecond)
  const before = zoneOffsetMs(timeZone, asUtc - DAY_MS)
  const after = zoneOffsetMs(timeZone, asUtc + DAY_MS)
  const late = asUtc - after
  const early = asUtc - before
  const lateReads = zoneOffsetMs(timeZone, late) === after
  const earlyReads = zoneOffsetMs(timeZone, early) === before
  if (doubled === 'earlier' && earlyReads) return early
  if (lateReads) return late
  if (earlyReads) return early
  // In a gap neither offset reads back: the offset before the change moves the time forward.
  return early
}

const DAY_MS = 86_400_000
