/**
 * Field paths: where a condition looks inside the event payload.
 *
 * Grammar: dotted segments with numeric indexes (`payload.items.0.name`), plus StackStorm's
 * bracket form for keys that contain dots or dashes (`trigger.headers['X-Token']`, `items[0]`).
 * The first segment may name the payload: `payload.`, `trigger.` (StackStorm) and
 * `event.payload.` are stripped; any other path (a "bare" path) starts at the payload, so a
 * payload key literally named `payload` is reached as `payload.payload`.
 *
 * Resolution never throws: a missing key, an index out of range or a step into a scalar
 * yields `undefined` ("missing"). Only own properties count, so `constructor` or an array's
 * `length` are never found by accident.
 */

/** One step: a number indexes arrays (and also matches the object key of the same digits). */
export type PathSegment = string | number

export interface FieldPath {
  /** Steps below the payload root; empty means the payload itself. */
  segments: PathSegment[]
  /** The canonical spelling, always starting with `payload`. */
  canonical: string
}

/** Thrown by `parseFieldPath` with a message that says what is wrong. */
export class FieldPathError extends Error {
  override readonly name = 'FieldPathError'
}

const INDEX = /^(0|[1-9]\d*)$/
const PLAIN_KEY = /^[^.[\]'"\s]+$/

/** Parse and canonicalise a field path. */
export function parseFieldPath(text: string): FieldPath {
  if (typeof text !== 'string' || text.trim() === '') throw new FieldPathError('field path is empty')
  const raw = splitPath(text)
  let segments = raw
  if (raw[0] === 'payload' || raw[0] === 'trigger') segments = raw.slice(1)
  else if (raw[0] === 'event' && raw[1] === 'payload') segments = raw.slice(2)
  return {segments, canonical: formatPath(segments)}
}

/** The canonical spelling of segments below the payload. */
export function formatPath(segments: readonly PathSegment[]): string {
  let out = 'payload'
  for (const segment of segments) {
    if (typeof segment === 'number' || PLAIN_KEY.test(segment)) out += `.${segment}`
    else out += `[${JSON.stringify(segment)}]`
  }
  return out
}

function splitPath(text: string): PathSegment[] {
  const segments: PathSegment[] = []
  let i = 0
  const fail = (what: string): never => {
    throw new FieldPathError(`bad field path ${JSON.stringify(text)}: ${what} at character ${i + 1}`)
  }
  // A segment is expected at the start and after every dot.
  let expectSegment = true
  while (i < text.length) {
    const ch = text[i]
    if (ch === '[') {
      i++
      const quote = text[i]
      if (quote === '"' || quote === "'") {
        const start = i
        i++
        while (i < text.length && text[i] !== quote) i += text[i] === '\\' ? 2 : 1
        if (i >= text.length) fail('unterminated quote')
        const quoted = text.slice(start, i + 1)
        i++
        if (text[i] !== ']') fail('expected ]')
        i++
        // Double quotes are a JSON string (what formatPath writes); single quotes only escape.
        let key: string
        if (quote === '"') {
          try {
            key = JSON.parse(quoted) as string
          } catch {
            return fail('invalid escape in quoted key')
          }
        } else {
          key = quoted.slice(1, -1).replace(/\\(.)/gs, '$1')
        }
        segments.push(key)
      } else {
        const end = text.indexOf(']', i)
        if (end < 0) fail('unterminated [')
        const inner = text.slice(i, end).trim()
        if (!INDEX.test(inner)) fail(`index ${JSON.stringify(inner)} is not a non-negative integer`)
        segments.push(Number(inner))
        i = end + 1
      }
      expectSegment = false
      if (i < text.length && text[i] !== '.' && text[i] !== '[') fail('expected . or [')
    } else if (ch === '.') {
      if (expectSegment) fail('empty segment')
      i++
      expectSegment = true
      if (i >= text.length) fail('empty segment')
    } else {
      if (!expectSegment) fail('expected . or [')
      let end = i
      while (end < text.length && text[end] !== '.' && text[end] !== '[') end++
      const key = text.slice(i, end)
      if (key.includes(']')) fail('unexpected ]')
      segments.push(INDEX.test(key) ? Number(key) : key)
      i = end
      expectSegment = false
    }
  }
  return segments
}

/** Keys that plain indexing could find on a prototype rather than on the payload itself. */
function isUnsafeKey(segment: PathSegment): boolean {
  return typeof segment === 'string' && (segment in Object.prototype || segment in Array.prototype)
}

type Indexable = Record<string | number, unknown>

/**
 * Build a getter for the segments. Common short paths get unrolled closures; keys that could
 * hit a prototype go through the checked loop.
 */
export function makeGetter(segments: readonly PathSegment[]): (payload: unknown) => unknown {
  if (segments.some(isUnsafeKey)) return (payload) => resolveChecked(payload, segments)
  const [a, b, c] = segments
  switch (segments.length) {
    case 0:
      return (p) => p
    case 1:
      return (p) => (p !== null && typeof p === 'object' ? (p as Indexable)[a] : undefined)
    case 2:
      return (p) => {
        if (p === null || typeof p !== 'object') return undefined
        const x = (p as Indexable)[a]
        return x !== null && typeof x === 'object' ? (x as Indexable)[b] : undefined
      }
    case 3:
      return (p) => {
        if (p === null || typeof p !== 'object') return undefined
        const x = (p as Indexable)[a]
        if (x === null || typeof x !== 'object') return undefined
        const y = (x as Indexable)[b]
        return y !== null && typeof y === 'object' ? (y as Indexable)[c] : undefined
      }
    default:
      return (p) => {
        let cur = p
        for (let i = 0; i < segments.length; i++) {
          if (cur === null || typeof cur !== 'object') return undefined
          cur = (cur as Indexable)[segments[i]]
        }
        return cur
      }
  }
}

function resolveChecked(payload: unknown, segments: readonly PathSegment[]): unknown {
  let cur = payload
  for (const segment of segments) {
    if (cur === null || typeof cur !== 'object') return undefined
    if (Array.isArray(cur) ? typeof segment !== 'number' : !Object.hasOwn(cur, segment)) return undefined
    cur = (cur as Indexable)[segment]
  }
  return cur
}

/** The outcome of a resolution that says where it stopped. */
export type Resolution = {found: true; value: unknown} | {found: false; reason: string}

/** Resolve step by step and explain a miss: used by `explain()`, not by the fast path. */
export function resolveExplained(payload: unknown, segments: readonly PathSegment[]): Resolution {
  let cur = payload
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]
    const where = formatPath(segments.slice(0, i))
    if (cur === null || typeof cur !== 'object') {
      return {found: false, reason: `field missing: ${where} is ${typeName(cur)}, not an object or array`}
    }
    if (Array.isArray(cur)) {
      if (typeof segment !== 'number') {
        return {found: false, reason: `field missing: ${where} is an array, it has no key ${JSON.stringify(segment)}`}
      }
      if (segment >= cur.length || cur[segment] === undefined) {
        return {found: false, reason: `field missing: ${where} has ${cur.length} element(s), no index ${segment}`}
      }
      cur = cur[segment]
    } else {
      const key = String(segment)
      if (!Object.hasOwn(cur, key) || (cur as Indexable)[key] === undefined) {
        return {found: false, reason: `field missing: ${where} has no key ${JSON.stringify(key)}`}
      }
      cur = (cur as Indexable)[key]
    }
  }
  return {found: true, value: cur}
}

/** A short type name for messages: `null`, `array`, `object`, `string`, `number`, `boolean`. */
export function typeName(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  return typeof value
}
