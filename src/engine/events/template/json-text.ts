/**
 * JSON as Attune's executor writes it into a string: the text `serde_json` produces for a
 * value it read back from a PostgreSQL `jsonb` column.
 *
 * Two things differ from `JSON.stringify`:
 *
 * - Numbers. serde keeps integers (`u64` / `i64`) apart from floats; a float is printed
 *   shortest-round-trip, always with a fraction or an exponent (`1.0`, `0.5`, `1e-6`,
 *   `1e+16`), in fixed notation only for decimal exponents -5..15. Which kind a number is
 *   depends on its text in `jsonb`; for a value attune wrote (`JSON.stringify` never writes
 *   `1.0`), a whole number in `[-2^63, 2^64)` is an integer and every other number a float.
 *   A `1.0` written by another tool reads back as `1` in JS, so it prints as `1` here where
 *   Attune prints `1.0`: the one difference this module cannot see.
 * - Object keys come out sorted (serde's map is ordered by key bytes), not in insertion order.
 *
 * Strings escape exactly as `JSON.stringify` escapes them (`"`, `\`, control characters,
 * `\u00XX` in lower case); neither escapes `/` or non-ASCII.
 */
import type {JsonValue} from '../../rules/types.js'

const U64_MAX = 2n ** 64n - 1n
const I64_MIN_MAGNITUDE = 2n ** 63n

/** The text of a number as Attune prints it inside a string (see the module comment). */
export function formatJsonNumber(value: number): string {
  if (!Number.isFinite(value)) return 'null'
  if (value === 0) return '0' // JSON.stringify(-0) is 0
  if (Number.isInteger(value) && Math.abs(value) < 1e21) {
    // The digits JSON.stringify stores (shortest, then zeros: 2**63 is 9223372036854776000);
    // serde reads them as an integer when they fit u64 (or, negative, i64).
    const text = String(value)
    const magnitude = BigInt(value < 0 ? text.slice(1) : text)
    if (value > 0 ? magnitude <= U64_MAX : magnitude <= I64_MIN_MAGNITUDE) return text
  }
  return formatFloat(value)
}

/**
 * A number serde holds as a float, the way `zmij` (serde_json 1.0.149's float printer) writes
 * it: `1.0`, `0.00001`, `1e-6`, `1e+16`. `formatJsonNumber` decides when a number is a float.
 */
export function formatFloat(value: number): string {
  const sign = value < 0 || Object.is(value, -0) ? '-' : ''
  // toExponential() without an argument gives the shortest digits that round-trip.
  const [mantissa, exponentText] = Math.abs(value).toExponential().split('e')
  const digits = mantissa.replace('.', '')
  const exponent = Number(exponentText)
  if (exponent >= -5 && exponent <= 15) {
    if (digits.length - 1 <= exponent) return `${sign}${digits}${'0'.repeat(exponent + 1 - digits.length)}.0`
    if (exponent >= 0) return `${sign}${digits.slice(0, exponent + 1)}.${digits.slice(exponent + 1)}`
    return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`
  }
  return `${sign}${mantissa}e${exponent < 0 ? '-' : '+'}${Math.abs(exponent)}`
}

/** Orders strings by their UTF-8 bytes (that is, by code point), as Rust orders `String`s. */
export function compareUtf8(a: string, b: string): number {
  const left = a[Symbol.iterator]()
  const right = b[Symbol.iterator]()
  for (;;) {
    const l = left.next()
    const r = right.next()
    if (l.done || r.done) return l.done && r.done ? 0 : l.done ? -1 : 1
    const difference = l.value.codePointAt(0)! - r.value.codePointAt(0)!
    if (difference !== 0) return difference < 0 ? -1 : 1
  }
}

/** Compact JSON text of a value, as `serde_json::to_string` writes it (sorted keys, serde numbers). */
export function toJsonText(value: JsonValue | undefined): string {
  if (value === null || value === undefined) return 'null'
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number') return formatJsonNumber(value)
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  if (Array.isArray(value)) return `[${value.map((item) => toJsonText(item)).join(',')}]`
  const keys = Object.keys(value)
    .filter((key) => value[key] !== undefined)
    .sort(compareUtf8)
  return `{${keys.map((key) => `${JSON.stringify(key)}:${toJsonText(value[key])}`).join(',')}}`
}

/**
 * A value as it appears inside a larger string: strings as they are, `null` as nothing,
 * numbers and booleans as their text, arrays and objects as compact JSON.
 */
export function interpolationText(value: JsonValue): string {
  if (value === null) return ''
  if (typeof value === 'string') return value
  if (typeof value === 'number') return Number.isFinite(value) ? formatJsonNumber(value) : ''
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  return toJsonText(value)
}
