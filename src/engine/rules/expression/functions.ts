/**
 * The built-in functions, with the argument types and results Attune gives them. Strings are
 * measured as Attune measures them: `length` and `index_of` count UTF-8 bytes, indexing,
 * `slice` and `reversed` count characters (code points).
 */
import {compilePattern, PatternError, type PatternTest} from '../regex.js'
import {ExpressionError, typeError} from './errors.js'
import {
  asInteger,
  chars,
  compareNumbers,
  compareStrings,
  float,
  int,
  isObject,
  isTruthy,
  numeric,
  ownKeys,
  ownValue,
  sortedKeys,
  toText,
  trimWhitespace,
  truncateToInt,
  typeOf,
  utf8Length,
  valuesEqual,
} from './values.js'

/** `range()` refuses to build more elements than this (a guard Attune does not have). */
export const MAX_RANGE = 1_000_000

interface Builtin {
  /** Accepted argument counts, and how a wrong count is described (`1 or 2`). */
  arity: readonly number[]
  run: (args: unknown[]) => unknown
}

const one = (run: (a: unknown) => unknown): Builtin => ({arity: [1], run: (args) => run(args[0])})
const two = (run: (a: unknown, b: unknown) => unknown): Builtin => ({arity: [2], run: (args) => run(args[0], args[1])})

const FUNCTIONS = new Map<string, Builtin>([
  // Conversion
  ['string', one(toText)],
  ['number', one(toNumber)],
  ['int', one(toInt)],
  ['bool', one(isTruthy)],
  // Introspection
  ['type_of', one(typeOf)],
  ['length', one(length)],
  ['keys', one((v) => sortedKeys(requireObject('keys', v)))],
  ['values', one((v) => {
    const object = requireObject('values', v)
    return sortedKeys(object).map((key) => object[key])
  })],
  // Math
  ['abs', one((v) => roundWith('abs', v, Math.abs, false))],
  ['floor', one((v) => roundWith('floor', v, Math.floor, true))],
  ['ceil', one((v) => roundWith('ceil', v, Math.ceil, true))],
  // Rust rounds half away from zero; Math.round rounds half up.
  ['round', one((v) => roundWith('round', v, (n) => Math.sign(n) * Math.round(Math.abs(n)), true))],
  ['min', two((a, b) => pick('min', a, b, (order) => order <= 0))],
  ['max', two((a, b) => pick('max', a, b, (order) => order >= 0))],
  ['sum', one(sum)],
  // Strings
  ['lower', one((v) => requireString('lower', v).toLowerCase())],
  ['upper', one((v) => requireString('upper', v).toUpperCase())],
  ['trim', one((v) => trimWhitespace(requireString('trim', v)))],
  ['split', two((s, sep) => split(requireString('split', s), requireString('split', sep)))],
  ['join', two(join)],
  [
    'replace',
    {
      arity: [3],
      run: ([s, from, to]) => {
        const text = requireString('replace', s)
        return split(text, requireString('replace', from)).join(requireString('replace', to))
      },
    },
  ],
  ['starts_with', two((s, prefix) => requireString('starts_with', s).startsWith(requireString('starts_with', prefix)))],
  ['ends_with', two((s, suffix) => requireString('ends_with', s).endsWith(requireString('ends_with', suffix)))],
  ['match', two((pattern, s) => {
    const test = regex(requireString('match', pattern))
    return test(requireString('match', s))
  })],
  // Collections
  ['contains', two((haystack, needle) => inOperator(needle, haystack))],
  ['reversed', one(reversed)],
  ['sort', one(sort)],
  ['unique', one(unique)],
  ['flat', one((v) => requireArray('flat', v).flatMap((item) => (Array.isArray(item) ? item : [item])))],
  ['zip', two(zip)],
  ['range', {arity: [1, 2], run: (args) => range(args)}],
  ['slice', {arity: [2, 3], run: ([v, start, end]) => slice(v, start, end ?? null)}],
  ['index_of', two(indexOf)],
  ['count', two(count)],
  ['merge', two(merge)],
  ['chunks', two(chunks)],
])

/** The names of every built-in function. */
export const FUNCTION_NAMES: readonly string[] = [...FUNCTIONS.keys()]

/** Call a built-in with evaluated arguments. */
export function callFunction(name: string, args: unknown[]): unknown {
  const builtin = FUNCTIONS.get(name)
  if (!builtin) throw new ExpressionError('unknown_function', name)
  if (!builtin.arity.includes(args.length)) {
    throw new ExpressionError('wrong_arg_count', `${name}: expected ${builtin.arity.join(' or ')}, got ${args.length}`)
  }
  return builtin.run(args)
}

/** `needle in haystack` (and `contains(haystack, needle)`). */
export function inOperator(needle: unknown, haystack: unknown): boolean {
  if (Array.isArray(haystack)) return haystack.some((item) => valuesEqual(needle, item))
  if (isObject(haystack)) {
    if (typeof needle !== 'string') throw typeError('Only string keys can be tested for membership in objects')
    return ownValue(haystack, needle) !== undefined
  }
  if (typeof haystack === 'string') {
    if (typeof needle !== 'string') throw typeError('Only strings can be tested for substring membership')
    return haystack.includes(needle)
  }
  throw typeError(`'in' requires array, object, or string on right side, got ${typeOf(haystack)}`)
}

// ---------------------------------------------------------------------------------------------

function requireString(name: string, value: unknown): string {
  if (typeof value !== 'string') throw typeError(`${name}() requires string argument, got ${typeOf(value)}`)
  return value
}

function requireArray(name: string, value: unknown): unknown[] {
  if (!Array.isArray(value)) throw typeError(`${name}() requires array, got ${typeOf(value)}`)
  return value
}

function requireObject(name: string, value: unknown): Record<string, unknown> {
  if (!isObject(value)) throw typeError(`${name}() requires object, got ${typeOf(value)}`)
  return value
}

/** Rust's `f64` syntax: a sign, then digits with an optional fraction and exponent, or inf/nan. */
const FLOAT_TEXT = /^[+-]?(?:inf|infinity|nan|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)$/i
const INT_TEXT = /^[+-]?\d+$/

function parseFloatText(text: string): number | undefined {
  if (!FLOAT_TEXT.test(text)) return undefined
  const bare = text.replace(/^[+-]/, '').toLowerCase()
  if (bare === 'nan') return NaN
  if (bare === 'inf' || bare === 'infinity') return text.startsWith('-') ? -Infinity : Infinity
  return Number(text)
}

function toNumber(value: unknown): unknown {
  switch (typeOf(value)) {
    case 'number':
      return value
    case 'string': {
      const n = parseFloatText(value as string)
      if (n === undefined) throw typeError(`Cannot convert string '${value as string}' to number`)
      return float(n)
    }
    case 'bool':
      return float(value ? 1 : 0)
    default:
      throw typeError(`Cannot convert ${typeOf(value)} to number`)
  }
}

const I64_MIN = -(2n ** 63n)
const I64_MAX = 2n ** 63n - 1n

function toInt(value: unknown): unknown {
  switch (typeOf(value)) {
    case 'number': {
      const num = numeric(value)!
      return num.int ? num.n : truncateToInt(num.n)
    }
    case 'string': {
      const text = value as string
      if (INT_TEXT.test(text)) {
        const big = BigInt(text)
        if (big >= I64_MIN && big <= I64_MAX) return int(Number(big))
      }
      const n = parseFloatText(text)
      if (n === undefined) throw typeError(`Cannot convert string '${text}' to int`)
      return truncateToInt(n)
    }
    case 'bool':
      return value ? 1 : 0
    default:
      throw typeError(`Cannot convert ${typeOf(value)} to int`)
  }
}

function length(value: unknown): number {
  if (typeof value === 'string') return utf8Length(value)
  if (Array.isArray(value)) return value.length
  if (isObject(value)) return ownKeys(value).length
  throw typeError(`length() requires string, array, or object, got ${typeOf(value)}`)
}

/** `abs` keeps the number's kind; `floor`, `ceil` and `round` make a float an integer. */
function roundWith(name: string, value: unknown, op: (n: number) => number, toInteger: boolean): unknown {
  const num = numeric(value)
  if (!num) throw typeError(`${name}() requires number, got ${typeOf(value)}`)
  if (num.int) return int(op(num.n))
  return toInteger ? truncateToInt(op(num.n)) : float(op(num.n))
}

/** `min` / `max` of two numbers (an integer if both are) or two strings. */
function pick(name: string, a: unknown, b: unknown, takeFirst: (order: number) => boolean): unknown {
  const x = numeric(a)
  const y = numeric(b)
  if (x && y) {
    const n = takeFirst(compareNumbers(x.n, y.n)) ? x.n : y.n
    return x.int && y.int ? n : float(n)
  }
  if (typeof a === 'string' && typeof b === 'string') return takeFirst(compareStrings(a, b)) ? a : b
  throw typeError(`${name}() requires two numbers or two strings`)
}

function sum(value: unknown): unknown {
  const items = requireArray('sum', value)
  let total = 0
  let anyFloat = false
  for (const item of items) {
    const num = numeric(item)
    if (!num) throw typeError(`sum() requires array of numbers, found ${typeOf(item)}`)
    anyFloat ||= !num.int
    total += num.n
  }
  return anyFloat ? float(total) : int(total)
}

/** Splitting on "" cuts between every character and at both ends, as Rust does. */
function split(text: string, separator: string): string[] {
  return separator === '' ? ['', ...chars(text), ''] : text.split(separator)
}

function join(value: unknown, separator: unknown): string {
  if (!Array.isArray(value)) throw typeError(`join() first argument must be array, got ${typeOf(value)}`)
  const sep = requireString('join', separator)
  return value.map(toText).join(sep)
}

/** Compiled patterns, kept per pattern text (rules reuse a handful of them). */
const PATTERNS = new Map<string, PatternTest>()
const MAX_PATTERNS = 256

function regex(pattern: string): PatternTest {
  let test = PATTERNS.get(pattern)
  if (!test) {
    try {
      test = compilePattern(pattern)
    } catch (error) {
      if (error instanceof PatternError) throw new ExpressionError('regex_error', error.message)
      throw error
    }
    if (PATTERNS.size >= MAX_PATTERNS) PATTERNS.delete(PATTERNS.keys().next().value!)
    PATTERNS.set(pattern, test)
  }
  return test
}

function reversed(value: unknown): unknown {
  if (Array.isArray(value)) return [...value].reverse()
  if (typeof value === 'string') return chars(value).reverse().join('')
  throw typeError(`reversed() requires array or string, got ${typeOf(value)}`)
}

/** A stable sort of numbers or of strings; a mix, or anything else, is an error. */
function sort(value: unknown): unknown[] {
  const items = requireArray('sort', value)
  if (items.length < 2) return [...items]
  if (items.every((item) => numeric(item) !== undefined)) return [...items].sort((a, b) => compareNumbers(numeric(a)!.n, numeric(b)!.n))
  if (items.every((item) => typeof item === 'string')) return [...(items as string[])].sort(compareStrings)
  throw typeError('sort() requires array of numbers or strings')
}

function unique(value: unknown): unknown[] {
  const out: unknown[] = []
  for (const item of requireArray('unique', value)) if (!out.some((seen) => valuesEqual(seen, item))) out.push(item)
  return out
}

function zip(a: unknown, b: unknown): unknown[] {
  if (!Array.isArray(a)) throw typeError(`zip() first argument must be array, got ${typeOf(a)}`)
  if (!Array.isArray(b)) throw typeError(`zip() second argument must be array, got ${typeOf(b)}`)
  const length = Math.min(a.length, b.length)
  return Array.from({length}, (_, i) => [a[i], b[i]])
}

function range(args: unknown[]): number[] {
  const bounds = args.map(asInteger)
  if (bounds.some((n) => n === undefined)) throw typeError(args.length === 1 ? 'range() requires integer argument' : 'range() requires integer arguments')
  const [start, end] = bounds.length === 1 ? [0, bounds[0]!] : [bounds[0]!, bounds[1]!]
  const size = Math.max(0, end - start)
  if (size > MAX_RANGE) throw typeError(`range() would make ${size} elements (at most ${MAX_RANGE})`)
  return Array.from({length: size}, (_, i) => start + i)
}

/** Rust casts a negative bound to a huge unsigned one: past the end. */
function bound(value: number): number {
  return value < 0 ? Infinity : value
}

function slice(value: unknown, start: unknown, end: unknown): unknown {
  const from = asInteger(start)
  if (from === undefined) throw typeError('slice() start must be integer')
  if (!Array.isArray(value) && typeof value !== 'string') throw typeError(`slice() requires array or string, got ${typeOf(value)}`)
  const items = Array.isArray(value) ? value : chars(value)
  let to = items.length
  if (end !== null) {
    const e = asInteger(end)
    if (e === undefined) throw typeError('slice() end must be integer')
    to = Math.min(bound(e), items.length)
  }
  const part = items.slice(Math.min(bound(from), to), to)
  return Array.isArray(value) ? part : part.join('')
}

function indexOf(haystack: unknown, needle: unknown): number {
  if (Array.isArray(haystack)) return haystack.findIndex((item) => valuesEqual(item, needle))
  if (typeof haystack === 'string') {
    if (typeof needle !== 'string') throw typeError('index_of() needle must be string for string search')
    const at = haystack.indexOf(needle)
    // Attune answers in UTF-8 bytes.
    return at < 0 ? -1 : utf8Length(haystack.slice(0, at))
  }
  throw typeError(`index_of() requires array or string, got ${typeOf(haystack)}`)
}

function count(haystack: unknown, needle: unknown): number {
  if (Array.isArray(haystack)) return haystack.filter((item) => valuesEqual(item, needle)).length
  if (typeof haystack === 'string') {
    if (typeof needle !== 'string') throw typeError('count() needle must be string for string search')
    return split(haystack, needle).length - 1
  }
  throw typeError(`count() requires array or string, got ${typeOf(haystack)}`)
}

function merge(a: unknown, b: unknown): Record<string, unknown> {
  if (!isObject(a) || !isObject(b)) throw typeError(`merge() requires two objects, got ${typeOf(a)} and ${typeOf(b)}`)
  return {...a, ...b}
}

function chunks(value: unknown, size: unknown): unknown[][] {
  const n = asInteger(size)
  if (n === undefined || n <= 0) throw typeError('chunks() size must be a positive integer')
  const items = requireArray('chunks', value)
  const out: unknown[][] = []
  for (let i = 0; i < items.length; i += n) out.push(items.slice(i, i + n))
  return out
}
