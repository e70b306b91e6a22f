/**
 * What a rule's `action_params` templates can read: the same three namespaces Attune's
 * executor fills for every (rule, event) match.
 *
 * | template              | value                                                         |
 * |-----------------------|---------------------------------------------------------------|
 * | `event.payload.<path>`| the event payload (no payload: `{}`)                          |
 * | `event.id`            | the event id (number)                                         |
 * | `event.trigger`       | the trigger ref of the event                                  |
 * | `event.created`       | the event's creation time, RFC 3339 (`2026-01-17T15:30:00.123456+00:00`) |
 * | `pack.config.<path>`  | the config of the rule's pack (pack not found: `{}`)          |
 * | `system.timestamp`    | when the parameters were rendered, RFC 3339                   |
 * | `system.rule.id` / `system.rule.ref` | the matching rule                              |
 *
 * A path is split on `.`; a segment of digits indexes an array (`event.payload.tags.0`).
 * Other roots, `pack.<anything but config>`, missing keys, an index out of range or a step
 * into a scalar find nothing.
 */
import type {JsonObject, JsonValue} from '../../rules/types.js'
import {defineOwn} from './pointer.js'

export interface TemplateContext {
  event: {
    /** Absent: `{{ event.id }}` finds nothing. */
    id?: number
    /** The trigger ref. */
    trigger?: string
    payload: JsonValue
    /** RFC 3339, as `rfc3339()` writes it. */
    created?: string
  }
  pack: {
    ref?: string | null
    config: JsonValue
    /** The pack's `conf_schema`: config keys it marks `secret: true` make a rendered value sensitive. */
    conf_schema?: JsonValue | null
  }
  system: {
    timestamp: string
    rule: {id: number; ref: string}
    [key: string]: JsonValue
  }
}

/** What the executor knows when it renders: the event, the rule and the rule's pack row. */
export interface TemplateSources {
  event: {id: number; trigger_ref: string; payload?: JsonValue | null; created: Date | string}
  rule: {id: number; ref: string}
  /** The rule's pack; `null` when it is gone (then `pack.config.*` finds nothing). */
  pack: {ref: string; config?: JsonValue | null; conf_schema?: JsonValue | null} | null
  /** `system.timestamp`; default: now. */
  now?: Date | string
}

/** The context Attune's executor builds for one (rule, event) match. */
export function buildTemplateContext(sources: TemplateSources): TemplateContext {
  const payload = sources.event.payload ?? {}
  return {
    event: {id: sources.event.id, trigger: sources.event.trigger_ref, payload, created: rfc3339(sources.event.created)},
    pack: sources.pack
      ? {ref: sources.pack.ref, config: sources.pack.config ?? null, conf_schema: sources.pack.conf_schema ?? null}
      : {config: {}},
    system: {timestamp: rfc3339(sources.now ?? new Date()), rule: {id: sources.rule.id, ref: sources.rule.ref}},
  }
}

/** The `event` namespace as one JSON object (only the fields the context has). */
export function eventObject(context: TemplateContext): JsonObject {
  const event: JsonObject = {}
  defineOwn(event, 'payload', context.event.payload)
  if (context.event.id !== undefined) event.id = context.event.id
  if (context.event.trigger !== undefined) event.trigger = context.event.trigger
  if (context.event.created !== undefined) event.created = context.event.created
  return event
}

const INDEX = /^\+?[0-9]+$/

/** The value a dotted template path names, or `undefined` when there is none. */
export function lookup(context: TemplateContext, path: string): JsonValue | undefined {
  const parts = path.split('.')
  switch (parts[0]) {
    case 'event':
      return descend(eventObject(context), parts.slice(1))
    case 'pack':
      return parts.length >= 2 && parts[1] === 'config' ? descend(context.pack.config, parts.slice(2)) : undefined
    case 'system':
      return descend(context.system as JsonObject, parts.slice(1))
    default:
      return undefined
  }
}

function descend(root: JsonValue, parts: readonly string[]): JsonValue | undefined {
  let current: JsonValue = root
  for (const part of parts) {
    if (Array.isArray(current)) {
      if (!INDEX.test(part)) return undefined
      const index = Number(part)
      if (index >= current.length) return undefined
      current = current[index]
    } else if (current !== null && typeof current === 'object') {
      if (!Object.hasOwn(current, part)) return undefined
      current = current[part]
    } else {
      return undefined
    }
  }
  return current
}

const TIMESTAMP =
  /^([+-]?\d{4,6})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?$/

/**
 * A point in time as Attune's executor writes it (chrono's `to_rfc3339` on a UTC time):
 * `YYYY-MM-DDTHH:MM:SS`, then `.mmm`, `.uuuuuu` or `.nnnnnnnnn` (the shortest of the three
 * that is exact; none for whole seconds), then `+00:00`. A `Date` carries milliseconds; a
 * string (ISO 8601 or PostgreSQL's `2026-01-17 15:30:00.123456+00`) keeps up to nanoseconds.
 * A string without an offset is taken as UTC.
 */
export function rfc3339(value: Date | string): string {
  let epochSeconds: number
  let nanos: number
  if (value instanceof Date) {
    const ms = value.getTime()
    if (Number.isNaN(ms)) throw new RangeError('rfc3339: invalid date')
    epochSeconds = Math.floor(ms / 1000)
    nanos = (ms - epochSeconds * 1000) * 1_000_000
  } else {
    const match = TIMESTAMP.exec(value.trim())
    if (!match) throw new RangeError(`rfc3339: not a timestamp: ${value}`)
    const [, year, month, day, hour, minute, second, fraction, zulu, offsetSign, offsetHours, offsetMinutes, offsetSeconds] = match
    const base = new Date(0)
    base.setUTCFullYear(Number(year), Number(month) - 1, Number(day))
    base.setUTCHours(Number(hour), Number(minute), Number(second), 0)
    let offset = 0
    if (!zulu && offsetSign) {
      offset = (Number(offsetHours) * 3600 + Number(offsetMinutes ?? 0) * 60 + Number(offsetSeconds ?? 0)) * (offsetSign === '-' ? -1 : 1)
    }
    epochSeconds = base.getTime() / 1000 - offset
    nanos = fraction ? Number(fraction.padEnd(9, '0')) : 0
  }
  const date = new Date(epochSeconds * 1000)
  const year = date.getUTCFullYear()
  const yearText = year >= 0 && year <= 9999 ? String(year).padStart(4, '0') : `${year < 0 ? '-' : '+'}${String(Math.abs(year)).padStart(4, '0')}`
  const two = (n: number) => String(n).padStart(2, '0')
  let fractionText = ''
  if (nanos !== 0) {
    if (nanos % 1_000_000 === 0) fractionText = `.${String(nanos / 1_000_000).padStart(3, '0')}`
    else if (nanos % 1000 === 0) fractionText = `.${String(nanos / 1000).padStart(6, '0')}`
    else fractionText = `.${String(nanos).padStart(9, '0')}`
  }
  return `${yearText}-${two(date.getUTCMonth() + 1)}-${two(date.getUTCDate())}T${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}${fractionText}+00:00`
}
