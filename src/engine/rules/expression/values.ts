/**
 * The values expressions work on, and the JSON number model behind them.
 *
 * Attune evaluates expressions over `serde_json` values, whose numbers are either integers
 * (i64) or floats (f64); the difference shows in results (`10 / 4` is 2.5 but `10 / 5` is the
 * integer 2), in text (`string(2.0)` is "2.0", `string(2)` is "2") and in errors (`[1, 2][1.0]`
 * is an error: an index must be an integer). JavaScript has one number type, so:
 *
 * - a JS number that is a whole number in the i64 range is an **integer**;
 * - a JS number with a fraction (or outside the i64 range) is a **float**;
 * - a float whose value is whole (the literal `2.0`, `4.0 / 2`, `number("3")`) is kept as a
 *   `FloatValue` while the expression runs, so it still behaves as a float; results handed out
 *   (`evaluateExpression`, traces) turn it back into a plain number.
 *
 * Payload numbers come from JSON parsed by JavaScript, which cannot tell `2.0` from `2`: a
 * whole number in a payload is an integer here, where Attune (reading the stored JSON) would
 * see a float. Integers beyond ±2^53 are approximate, as they are in every JS JSON value.
 */

/** A float whose value happens to be whole: `2.0`, not the integer `2`. */
export class FloatValue {
  constructor(readonly value: number) {}
}

/** The type names of the language (what `type_of` returns). */
export type TypeName = 'null' | 'bool' | 'number' | 'string' | 'array' | 'object'

/** A number as the language sees it: an integer or a float, and its value. */
export interface Numeric {
  int: boolean
  n: number
}

const I64_LIMIT = 2 ** 63
/** The largest double below 2^63: where a float cast to an integer saturates. */
const I64_MAX_DOUBLE = 9223372036854774784

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof FloatValue)
}

/** The language's type of a value. `undefined` (a JS-only gap) counts as null. */
export function typeOf(value: unknown): TypeName {
  if (value === null || value === undefined) return 'null'
  switch (typeof value) {
    case 'boolean':
      return 'bool'
    case 'number':
    case 'bigint':
      return 'number'
    case 'string':
      return 'string'
    default:
      if (Array.isArray(value)) return 'array'
      if (value instanceof FloatValue) return 'number'
      return 'object'
  }
}

/** The number in `value`, or undefined when it is not a number. */
export function numeric(value: unknown): Numeric | undefined {
  if (typeof value === 'number') return {int: isIntegral(value), n: value}
  if (value instanceof FloatValue) return {int: false, n: value.value}
  if (typeof value === 'bigint') return {int: true, n: Number(value)}
  return undefined
}

function isIntegral(n: number): boolean {
  return Number.isInteger(n) && n >= -I64_LIMIT && n < I64_LIMIT
}

/** The value as an i64 index or count, or undefined if it is not an integer. */
export function asInteger(value: unknown): number | undefined {
  const num = numeric(value)
  return num && num.int ? num.n : undefined
}

/** An integer result (never -0). */
export function int(n: number): number {
  return n + 0
}

/**
 * A float result. Not-a-number and infinities become null, as a non-finite f64 turns into JSON
 * null in Attune.
 */
export function float(n: number): number | FloatValue | null {
  if (!Number.isFinite(n)) return null
  return Number.isInteger(n) ? new FloatValue(n) : n
}

/** A float cast to an integer as Rust's `as i64` does: truncated, saturating, NaN is 0. */
export function truncateToInt(n: number): number {
  if (Number.isNaN(n)) return 0
  if (n >= I64_MAX_DOUBLE) return I64_MAX_DOUBLE
  if (n <= -I64_LIMIT) return -I64_LIMIT
  return int(Math.trunc(n))
}

/** Truthiness: null, false, 0, "", [] and {} are false; everything else is true. */
export function isTruthy(value: unknown): boolean {
  switch (typeOf(value)) {
    case 'null':
      return false
    case 'bool':
      return value as boolean
    case 'number':
      return numeric(value)!.n !== 0
    case 'string':
      return (value as string).length > 0
    case 'array':
      return (value as unknown[]).length > 0
    default:
      return ownKeys(value as Record<string, unknown>).length > 0
  }
}

/** The keys of an object that hold a value (a JS `undefined` is no value). */
export function ownKeys(object: Record<string, unknown>): string[] {
  return Object.keys(object).filter((key) => object[key] !== undefined)
}

/** The value of an object's own key, or undefined. Never reads the prototype. */
export function ownValue(object: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined
}

/**
 * String order as Rust compares `str`: by UTF-8 bytes, which is code point order. JS compares
 * UTF-16 code units, which differs only when both strings have a character at or above U+D800.
 */
export function compareStrings(a: string, b: string): number {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) {
    let ca = a.charCodeAt(i)
    let cb = b.charCodeAt(i)
    if (ca === cb) continue
    if (ca >= 0xd800 && cb >= 0xd800) {
      // Surrogates (astral characters) sort after U+E000..U+FFFF in code point order.
      ca = ca >= 0xe000 ? ca - 0x800 : ca + 0x2000
      cb = cb >= 0xe000 ? cb - 0x800 : cb + 0x2000
    }
    return ca < cb ? -1 : 1
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1
}

/** Number order; incomparable values (NaN) count as equal, as in Attune. */
export function compareNumbers(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Sorted keys: Attune's JSON objects are ordered maps, so `keys()` and `string()` sort. */
export function sortedKeys(object: Record<string, unknown>): string[] {
  return ownKeys(object).sort(compareStrings)
}

/** Deep equality; an integer equals a float of the same value. Different types are unequal. */
export function valuesEqual(a: unknown, b: unknown): boolean {
  const ta = typeOf(a)
  if (ta !== typeOf(b)) return false
  switch (ta) {
    case 'null':
      return true
    case 'number':
      return numeric(a)!.n === numeric(b)!.n
    case 'array': {
      const x = a as unknown[]
      const y = b as unknown[]
      return x.length === y.length && x.every((item, i) => valuesEqual(item, y[i]))
    }
    case 'object': {
      const x = a as Record<string, unknown>
      const y = b as Record<string, unknown>
      const keys = ownKeys(x)
      if (keys.length !== ownKeys(y).length) return false
      return keys.every((key) => ownValue(y, key) !== undefined && valuesEqual(x[key], y[key]))
    }
    default:
      return a === b
  }
}

/** The UTF-8 length of a string (what Attune's `length("...")` counts). */
export function utf8Length(text: string): number {
  let bytes = 0
  for (const char of text) {
    const code = char.codePointAt(0)!
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4
  }
  return bytes
}

/** The characters (code points) of a string. */
export function chars(text: string): string[] {
  return Array.from(text)
}

/** Whitespace as Rust's `char::is_whitespace` (Unicode White_Space; no U+FEFF, unlike JS). */
export const WHITESPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000'
const TRIM = new RegExp(`^[${WHITESPACE}]+|[${WHITESPACE}]+$`, 'g')
const SPACE = new RegExp(`^[${WHITESPACE}]$`)

/** `str::trim`: strips Unicode White_Space at both ends. */
export function trimWhitespace(text: string): string {
  return text.replace(TRIM, '')
}

export function isWhitespace(char: string): boolean {
  return SPACE.test(char)
}

// ---------------------------------------------------------------------------------------------
// Text

/** The shortest digits of a positive finite number and the power of ten of the first one. */
function decompose(n: number): {digits: string; exponent: number} {
  const [mantissa, exponent] = n.toExponential().split('e')
  return {digits: mantissa.replace('.', ''), exponent: Number(exponent)}
}

/**
 * A float as `serde_json` writes it: shortest digits, always a fraction or an exponent
 * (`2.0`, `0.5`, `1e16`, `1.5e-7`), switching to exponents outside 1e-5 .. 1e16.
 */
export function formatFloat(n: number): string {
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0'
  const sign = n < 0 ? '-' : ''
  const {digits, exponent} = decompose(Math.abs(n))
  const length = digits.length
  const point = exponent + 1 // digits before the decimal point
  if (point >= length && point <= 16) return `${sign}${digits}${'0'.repeat(point - length)}.0`
  if (point > 0 && point <= 16) return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`
  if (point > -5 && point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`
  const mantissa = length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`
  return `${sign}${mantissa}e${point - 1}`
}

/** A float as Rust's `Display` writes it (in syntax error messages): no exponent, `2` for 2.0. */
export function formatPlainFloat(n: number): string {
  if (n === 0) return Object.is(n, -0) ? '-0' : '0'
  const sign = n < 0 ? '-' : ''
  const {digits, exponent} = decompose(Math.abs(n))
  const point = exponent + 1
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`
}

/** An integer in decimal, without JS's exponent notation for large ones. */
export function formatInt(n: number): string {
  return Number.isSafeInteger(n) ? String(n + 0) : BigInt(n).toString()
}

export function formatNumber(value: unknown): string {
  const num = numeric(value)!
  return num.int ? formatInt(num.n) : formatFloat(num.n)
}

/** Compact JSON with sorted keys and Attune's number text (what `string([1, 2.0])` gives). */
export function toJsonText(value: unknown): string {
  switch (typeOf(value)) {
    case 'null':
      return 'null'
    case 'bool':
      return String(value)
    case 'number':
      return formatNumber(value)
    case 'string':
      return JSON.stringify(value)
    case 'array':
      return `[${(value as unknown[]).map(toJsonText).join(',')}]`
    default: {
      const object = value as Record<string, unknown>
      return `{${sortedKeys(object)
        .map((key) => `${JSON.stringify(key)}:${toJsonText(object[key])}`)
        .join(',')}}`
    }
  }
}

/** `string(v)`: strings as they are, scalars as text, arrays and objects as JSON. */
export function toText(value: unknown): string {
  return typeof value === 'string' ? value : toJsonText(value)
}

/** A value as plain JSON for callers: whole floats become plain numbers. */
export function toPlain(value: unknown): unknown {
  if (value instanceof FloatValue) return value.value
  if (Array.isArray(value)) return value.some(needsPlain) ? value.map(toPlain) : value
  if (isObject(value) && needsPlain(value)) {
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(value)) out[key] = toPlain(value[key])
    return out
  }
  return value
}

function needsPlain(value: unknown): boolean {
  if (value instanceof FloatValue) return true
  if (Array.isArray(value)) return value.some(needsPlain)
  if (isObject(value)) return Object.values(value).some(needsPlain)
  return false
}
