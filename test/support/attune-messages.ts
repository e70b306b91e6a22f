/**
 * Would Attune's Rust consumers decode this message? `checkAttuneMessage` re-does, field by
 * field, what serde_json + serde derive + chrono + uuid do with the bytes of a message published
 * to `exchange` with `routingKey`, and returns every reason it would fail (empty = accepted).
 *
 * Rules it follows (from attune_common::mq at 9206d41, serde_json 1.0.149, chrono 0.4.44,
 * uuid 1.23.1):
 * - JSON as serde_json reads it: no trailing commas/characters, no BOM, control characters in
 *   strings rejected, nesting limit 128, numbers kept as written (integers vs floats, `-0` is a
 *   float, integers past u64 become floats, floats past f64 range are errors).
 * - The envelope: `message_id`/`correlation_id` may be missing or null (Attune invents one) but a
 *   present string must parse as a UUID; `message_type` must be a variant name; `version` may be
 *   missing but not null; `timestamp` must be a string chrono parses; `headers` may be missing
 *   but not null, its `retry_count` may be missing but must be a u32, `source_service` a string
 *   or null, `trace_id` a UUID or null; other headers are kept. `payload` is required.
 * - Payload structs: unknown fields are ignored (no `deny_unknown_fields`, no `rename_all`);
 *   `Option` fields may be missing or null; other fields must be present and not null, except
 *   `serde_json::Value` fields, which must be present but may be null.
 * - Duplicate keys fail where serde decodes a struct straight from the bytes (the envelope, its
 *   headers, and the event/enforcement payloads, which the executor decodes typed); the
 *   rule/pack payloads go through `serde_json::Value` first, where the last duplicate wins.
 *
 * Stricter than serde on purpose (never what a publisher means): a struct written as a JSON
 * array (serde would read it positionally), an enum written as `{"Variant": null}`, strings
 * with unpaired surrogates.
 */
import {
  ATTUNE_EXCHANGES,
  ATTUNE_KNOWN_MESSAGE_TYPES,
  ATTUNE_MESSAGE_TYPES,
  attuneTypeForRoute,
  isAttuneMessageType,
  type AttuneMessageType,
} from '../../src/engine/bus/attune.js'

// ---------------------------------------------------------------------------------------------
// JSON as serde_json parses it, keeping number lexemes and duplicate keys
// ---------------------------------------------------------------------------------------------

type JNode =
  | {t: 'null'}
  | {t: 'bool'; v: boolean}
  | {t: 'num'; raw: string}
  | {t: 'str'; v: string}
  | {t: 'arr'; items: JNode[]}
  | {t: 'obj'; entries: [string, JNode][]}

class JsonSyntaxError extends Error {}

/** serde_json gives up at this depth of nested arrays/objects. */
const RECURSION_LIMIT = 128

function parseJson(text: string): JNode {
  let i = 0
  const fail = (message: string): never => {
    throw new JsonSyntaxError(`${message} at offset ${i}`)
  }
  const skipWs = () => {
    while (i < text.length) {
      const c = text.charCodeAt(i)
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++
      else break
    }
  }
  const hex4 = (): number => {
    const h = text.slice(i, i + 4)
    if (!/^[0-9a-fA-F]{4}$/.test(h)) fail('invalid \\u escape')
    i += 4
    return parseInt(h, 16)
  }
  const string = (): string => {
    i++ // opening quote
    let out = ''
    for (;;) {
      if (i >= text.length) fail('EOF while parsing a string')
      const c = text.charCodeAt(i)
      if (c === 0x22) {
        i++
        return out
      }
      if (c < 0x20) fail('control character in string')
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = text.charCodeAt(i + 1)
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          out += text.slice(i, i + 2)
          i += 2
          continue
        }
        fail('unpaired surrogate (not encodable as UTF-8)')
      }
      if (c !== 0x5c) {
        out += text[i]
        i++
        continue
      }
      const e = text[i + 1]
      i += 2
      const simple: Record<string, string> = {'"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t'}
      if (e !== undefined && e in simple) {
        out += simple[e]
        continue
      }
      if (e !== 'u') fail('invalid escape')
      const unit = hex4()
      if (unit >= 0xdc00 && unit <= 0xdfff) fail('lone trailing surrogate in hex escape')
      if (unit >= 0xd800 && unit <= 0xdbff) {
        if (text.slice(i, i + 2) !== '\\u') fail('lone leading surrogate in hex escape')
        i += 2
        const low = hex4()
        if (low < 0xdc00 || low > 0xdfff) fail('lone leading surrogate in hex escape')
        out += String.fromCharCode(unit, low)
        continue
      }
      out += String.fromCharCode(unit)
    }
  }
  const number = (): JNode => {
    const m = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(text.slice(i))
    if (m === null || m[0] === '-' || m[0] === '') fail('invalid number')
    const raw = (m as RegExpExecArray)[0]
    // A leading zero followed by more digits is not a number in JSON.
    if (/^-?0[0-9]/.test(text.slice(i))) fail('invalid number')
    if (!Number.isFinite(Number(raw))) fail('number out of range')
    i += raw.length
    return {t: 'num', raw}
  }
  const value = (depth: number): JNode => {
    skipWs()
    if (i >= text.length) fail('EOF while parsing a value')
    const c = text[i]
    if (c === '{' || c === '[') {
      if (depth + 1 >= RECURSION_LIMIT) fail('recursion limit exceeded')
      i++
      skipWs()
      if (c === '[') {
        const items: JNode[] = []
        if (text[i] === ']') {
          i++
          return {t: 'arr', items}
        }
        for (;;) {
          items.push(value(depth + 1))
          skipWs()
          if (text[i] === ',') {
            i++
            continue
          }
          if (text[i] === ']') {
            i++
            return {t: 'arr', items}
          }
          fail("expected ',' or ']'")
        }
      }
      const entries: [string, JNode][] = []
      if (text[i] === '}') {
        i++
        return {t: 'obj', entries}
      }
      for (;;) {
        skipWs()
        if (text[i] !== '"') fail('key must be a string')
        const key = string()
        skipWs()
        if (text[i] !== ':') fail("expected ':'")
        i++
        entries.push([key, value(depth + 1)])
        skipWs()
        if (text[i] === ',') {
          i++
          continue
        }
        if (text[i] === '}') {
          i++
          return {t: 'obj', entries}
        }
        fail("expected ',' or '}'")
      }
    }
    if (c === '"') return {t: 'str', v: string()}
    for (const [word, node] of [
      ['null', {t: 'null'}],
      ['true', {t: 'bool', v: true}],
      ['false', {t: 'bool', v: false}],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length
        return node
      }
    }
    if (c === '-' || (c >= '0' && c <= '9')) return number()
    return fail('expected value')
  }
  const root = value(0)
  skipWs()
  if (i < text.length) fail('trailing characters')
  return root
}

// ---------------------------------------------------------------------------------------------
// Scalars as serde, uuid and chrono read them
// ---------------------------------------------------------------------------------------------

const I64_MIN = -(2n ** 63n)
const I64_MAX = 2n ** 63n - 1n
const U64_MAX = 2n ** 64n - 1n
const U32_MAX = 2n ** 32n - 1n

/** How serde_json classifies a number: u64, i64 (negative) or f64. */
function numberClass(raw: string): {kind: 'u64' | 'i64' | 'f64'; int?: bigint} {
  if (/[.eE]/.test(raw) || raw === '-0') return {kind: 'f64'}
  const int = BigInt(raw)
  if (int >= 0n) return int <= U64_MAX ? {kind: 'u64', int} : {kind: 'f64'}
  return int >= I64_MIN ? {kind: 'i64', int} : {kind: 'f64'}
}

function describe(node: JNode): string {
  switch (node.t) {
    case 'null':
      return 'null'
    case 'bool':
      return `boolean \`${node.v}\``
    case 'num':
      return numberClass(node.raw).kind === 'f64' ? `floating point \`${node.raw}\`` : `integer \`${node.raw}\``
    case 'str':
      return `string ${JSON.stringify(node.v.length > 40 ? node.v.slice(0, 40) + '…' : node.v)}`
    case 'arr':
      return 'sequence'
    case 'obj':
      return 'map'
  }
}

function integerError(node: JNode, type: 'i64' | 'u32'): string | null {
  if (node.t !== 'num') return `invalid type: ${describe(node)}, expected ${type}`
  const {kind, int} = numberClass(node.raw)
  if (kind === 'f64' || int === undefined) return `invalid type: ${describe(node)}, expected ${type}`
  const ok = type === 'i64' ? int >= I64_MIN && int <= I64_MAX : int >= 0n && int <= U32_MAX
  return ok ? null : `invalid value: integer \`${node.raw}\`, expected ${type}`
}

/** The shapes `Uuid::parse_str` takes: simple, hyphenated, `{hyphenated}`, `urn:uuid:hyphenated`. */
export function isAttuneUuid(s: string): boolean {
  const hyphenated = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/
  if (/^[0-9a-fA-F]{32}$/.test(s)) return true
  if (hyphenated.test(s)) return true
  if (s.length === 38 && s.startsWith('{') && s.endsWith('}')) return hyphenated.test(s.slice(1, -1))
  if (s.length === 45 && s.startsWith('urn:uuid:')) return hyphenated.test(s.slice(9))
  return false
}

/** `char::is_whitespace`: what Rust's `trim_start` removes. */
function isRustWhitespace(c: string | undefined): boolean {
  if (c === undefined) return false
  const u = c.charCodeAt(0)
  return (
    (u >= 0x09 && u <= 0x0d) ||
    u === 0x20 ||
    u === 0x85 ||
    u === 0xa0 ||
    u === 0x1680 ||
    (u >= 0x2000 && u <= 0x200a) ||
    u === 0x2028 ||
    u === 0x2029 ||
    u === 0x202f ||
    u === 0x205f ||
    u === 0x3000
  )
}

const NAIVE_MIN_YEAR = -262144
const NAIVE_MAX_YEAR = 262143

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0
}

/** Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y
  const era = Math.floor(yy / 400)
  const yoe = yy - era * 400
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

/**
 * Why `DateTime<Utc>`'s deserializer (chrono's relaxed RFC 3339 `FromStr`) rejects `s`, or null
 * when it parses. Accepted, beyond strict RFC 3339: `t` or a space as the date/time separator,
 * whitespace around the numbers, `UTC` or `z` for `Z`, offsets without a colon, one-digit
 * fields, more than 9 fractional digits (truncated), leap second 60, signed years.
 */
export function chronoTimestampError(s: string): string | null {
  let i = 0
  const trim = () => {
    while (isRustWhitespace(s[i])) i++
  }
  const digits = (min: number, max: number): number | string => {
    let j = i
    while (j < s.length && j - i < max && s[j] >= '0' && s[j] <= '9') j++
    if (j - i < min) return i >= s.length ? 'premature end of input' : 'input contains invalid characters'
    const v = Number(s.slice(i, j))
    i = j
    return v
  }
  const numeric = (width: number, signed: boolean): number | string => {
    trim()
    if (signed && (s[i] === '-' || s[i] === '+')) {
      const neg = s[i] === '-'
      i++
      const v = digits(1, Infinity)
      if (typeof v === 'string') return v
      if (!Number.isSafeInteger(v)) return 'input is out of range'
      return neg ? -v : v
    }
    return digits(1, width)
  }
  const literal = (lit: string): string | null => {
    trim()
    if (s.length - i < lit.length) return 'premature end of input'
    if (!s.startsWith(lit, i)) return 'input contains invalid characters'
    i += lit.length
    return null
  }
  const fields: number[] = []
  const steps: (() => number | string | null)[] = [
    () => numeric(4, true),
    () => literal('-'),
    () => numeric(2, false),
    () => literal('-'),
    () => numeric(2, false),
    () => {
      if (i >= s.length) return 'premature end of input'
      if (s[i] !== 'T' && s[i] !== 't' && s[i] !== ' ') return 'input contains invalid characters'
      i++
      return null
    },
    () => numeric(2, false),
    () => literal(':'),
    () => numeric(2, false),
    () => literal(':'),
    () => numeric(2, false),
  ]
  for (const step of steps) {
    const r = step()
    if (typeof r === 'string') return r
    if (typeof r === 'number') fields.push(r)
  }
  const [year, month, day, hour, minute, second] = fields
  if (s[i] === '.') {
    i++
    const frac = digits(1, 9)
    if (typeof frac === 'string') return frac
    while (s[i] >= '0' && s[i] <= '9') i++
  }
  trim()
  let offset = 0
  if (s.length - i >= 3 && s.slice(i, i + 3).toUpperCase() === 'UTC') {
    i += 3
  } else if (s[i] === 'Z' || s[i] === 'z') {
    i++
  } else {
    const sign = s[i]
    if (sign === undefined) return 'premature end of input'
    if (sign !== '+' && sign !== '-' && sign !== '\u2212') return 'input contains invalid characters'
    i++
    if (s.length - i < 2) return 'premature end of input'
    if (!/^[0-9]{2}$/.test(s.slice(i, i + 2))) return 'input contains invalid characters'
    const hours = Number(s.slice(i, i + 2))
    i += 2
    while (s[i] === ':' || isRustWhitespace(s[i])) i++
    if (s.length - i < 2) return 'premature end of input'
    const mm = s.slice(i, i + 2)
    if (/^[6-9][0-9]$/.test(mm)) return 'input is out of range'
    if (!/^[0-5][0-9]$/.test(mm)) return 'input contains invalid characters'
    i += 2
    offset = (hours * 3600 + Number(mm) * 60) * (sign === '+' ? 1 : -1)
  }
  trim()
  if (i < s.length) return 'trailing input'
  // Range checks of chrono's Parsed setters and its date/time constructors.
  if (year < -(2 ** 31) || year > 2 ** 31 - 1) return 'input is out of range'
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return 'input is out of range'
  if (year < NAIVE_MIN_YEAR || year > NAIVE_MAX_YEAR) return 'input is out of range'
  const monthDays = [31, isLeap(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
  if (day > monthDays[month - 1]) return 'input is out of range'
  if (Math.abs(offset) >= 86400) return 'input is out of range'
  const utc = daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + Math.min(second, 59) - offset
  const min = daysFromCivil(NAIVE_MIN_YEAR, 1, 1) * 86400
  const max = daysFromCivil(NAIVE_MAX_YEAR, 12, 31) * 86400 + 86399
  if (utc < min || utc > max) return 'no possible date and time matching input'
  return null
}

// ---------------------------------------------------------------------------------------------
// Structs
// ---------------------------------------------------------------------------------------------

type Kind = 'i64' | 'u32' | 'string' | 'bool' | 'json' | 'string[]' | 'uuid' | 'datetime'

/** `option`: `Option<_>` (missing or null is None). `json` without option: present, may be null. */
interface FieldSpec {
  name: string
  kind: Kind
  option?: boolean
}

const PAYLOAD_FIELDS: Record<AttuneMessageType, FieldSpec[]> = {
  EventCreated: [
    {name: 'event_id', kind: 'i64'},
    {name: 'trigger_id', kind: 'i64', option: true},
    {name: 'trigger_ref', kind: 'string'},
    {name: 'sensor_id', kind: 'i64', option: true},
    {name: 'sensor_ref', kind: 'string', option: true},
    {name: 'payload', kind: 'json'},
    {name: 'config', kind: 'json', option: true},
  ],
  EnforcementCreated: [
    {name: 'enforcement_id', kind: 'i64'},
    {name: 'rule_id', kind: 'i64', option: true},
    {name: 'rule_ref', kind: 'string'},
    {name: 'event_id', kind: 'i64', option: true},
    {name: 'trigger_ref', kind: 'string'},
    {name: 'payload', kind: 'json'},
  ],
  RuleCreated: [
    {name: 'rule_id', kind: 'i64'},
    {name: 'rule_ref', kind: 'string'},
    {name: 'trigger_id', kind: 'i64', option: true},
    {name: 'trigger_ref', kind: 'string'},
    {name: 'action_id', kind: 'i64', option: true},
    {name: 'action_ref', kind: 'string'},
    {name: 'trigger_params', kind: 'json', option: true},
    {name: 'enabled', kind: 'bool'},
  ],
  RuleEnabled: [
    {name: 'rule_id', kind: 'i64'},
    {name: 'rule_ref', kind: 'string'},
    {name: 'trigger_ref', kind: 'string'},
    {name: 'trigger_params', kind: 'json', option: true},
  ],
  RuleDisabled: [
    {name: 'rule_id', kind: 'i64'},
    {name: 'rule_ref', kind: 'string'},
    {name: 'trigger_ref', kind: 'string'},
  ],
  PackRegistered: [
    {name: 'pack_id', kind: 'i64'},
    {name: 'pack_ref', kind: 'string'},
    {name: 'version', kind: 'string'},
    {name: 'runtime_names', kind: 'string[]'},
  ],
}

/** Payloads the consumer decodes as `serde_json::Value` first (sensor rule-lifecycle and worker pack consumers). */
const PAYLOAD_VIA_VALUE: ReadonlySet<AttuneMessageType> = new Set(['RuleCreated', 'RuleEnabled', 'RuleDisabled', 'PackRegistered'])

function valueError(node: JNode, kind: Kind): string | null {
  switch (kind) {
    case 'i64':
    case 'u32':
      return integerError(node, kind)
    case 'string':
      return node.t === 'str' ? null : `invalid type: ${describe(node)}, expected a string`
    case 'bool':
      return node.t === 'bool' ? null : `invalid type: ${describe(node)}, expected a boolean`
    case 'json':
      return null
    case 'string[]':
      if (node.t !== 'arr') return `invalid type: ${describe(node)}, expected a sequence`
      for (const [n, item] of node.items.entries()) {
        if (item.t !== 'str') return `[${n}]: invalid type: ${describe(item)}, expected a string`
      }
      return null
    case 'uuid':
      if (node.t !== 'str') return `invalid type: ${describe(node)}, expected a UUID string`
      return isAttuneUuid(node.v) ? null : `not a UUID: ${describe(node)}`
    case 'datetime': {
      if (node.t !== 'str') return `invalid type: ${describe(node)}, expected an RFC 3339 formatted date and time string`
      const e = chronoTimestampError(node.v)
      return e === null ? null : `${describe(node)} is not a date chrono parses: ${e}`
    }
  }
}

/** Checks `node` as a struct with `fields`; returns its entries (first or last per key) for further checks. */
function checkStruct(
  path: string,
  node: JNode,
  what: string,
  fields: readonly (FieldSpec & {missingOk?: boolean; nullOk?: boolean})[],
  duplicates: 'error' | 'last-wins',
  reasons: string[],
): Map<string, JNode> | null {
  if (node.t === 'arr') {
    reasons.push(`${path}: a JSON array where Attune expects struct ${what} (serde would read it by position; write an object)`)
    return null
  }
  if (node.t !== 'obj') {
    reasons.push(`${path}: invalid type: ${describe(node)}, expected struct ${what}`)
    return null
  }
  const known = new Set(fields.map((f) => f.name))
  const byKey = new Map<string, JNode>()
  for (const [key, value] of node.entries) {
    if (byKey.has(key) && known.has(key) && duplicates === 'error') reasons.push(`${path}: duplicate field \`${key}\``)
    if (!byKey.has(key) || duplicates === 'last-wins') byKey.set(key, value)
  }
  for (const field of fields) {
    const where = path === '' ? field.name : `${path}.${field.name}`
    const value = byKey.get(field.name)
    if (value === undefined) {
      if (!field.option && !field.missingOk) reasons.push(`${where}: missing field \`${field.name}\``)
      continue
    }
    if (value.t === 'null' && (field.option || field.nullOk || field.kind === 'json')) continue
    const e = valueError(value, field.kind)
    if (e !== null) reasons.push(`${where}: ${e}`)
  }
  return byKey
}

// ---------------------------------------------------------------------------------------------
// The message
// ---------------------------------------------------------------------------------------------

function bodyText(body: unknown): string | {error: string} {
  if (typeof body === 'string') return body
  if (body instanceof Uint8Array) {
    try {
      return new TextDecoder('utf-8', {fatal: true, ignoreBOM: true}).decode(body)
    } catch {
      return {error: 'body is not valid UTF-8'}
    }
  }
  try {
    const text = JSON.stringify(body)
    return text === undefined ? {error: 'body does not serialize to JSON'} : text
  } catch (e) {
    return {error: `body does not serialize to JSON: ${(e as Error).message}`}
  }
}

/**
 * The reasons Attune's consumer of `exchange`/`routingKey` would fail to decode `body` (an
 * object as it will be `JSON.stringify`d, or the raw bytes/text published); empty when Attune
 * would accept it.
 */
export function checkAttuneMessage(exchange: string, routingKey: string, body: unknown): string[] {
  const reasons: string[] = []

  // Where it goes.
  const expected = attuneTypeForRoute(exchange, routingKey)
  if (!Object.prototype.hasOwnProperty.call(ATTUNE_EXCHANGES, exchange)) {
    reasons.push(`exchange ${JSON.stringify(exchange)} is not one Attune declares (${Object.keys(ATTUNE_EXCHANGES).join(', ')})`)
  } else if (expected === undefined) {
    const elsewhere = Object.entries(ATTUNE_MESSAGE_TYPES).find(([, r]) => r.routingKey === routingKey)
    reasons.push(
      elsewhere === undefined
        ? `no message type Attune's consumers expect is published to ${exchange} with routing key ${JSON.stringify(routingKey)}`
        : `routing key ${routingKey} belongs on exchange ${elsewhere[1].exchange}, not ${exchange}`,
    )
  }

  // The bytes.
  const text = bodyText(body)
  if (typeof text !== 'string') return [...reasons, text.error]
  let root: JNode
  try {
    root = parseJson(text)
  } catch (e) {
    if (e instanceof JsonSyntaxError) return [...reasons, `not JSON serde_json parses: ${e.message}`]
    throw e
  }

  // The envelope.
  const envelope = checkStruct(
    '',
    root,
    'MessageEnvelope',
    [
      {name: 'message_id', kind: 'uuid', missingOk: true, nullOk: true},
      {name: 'correlation_id', kind: 'uuid', missingOk: true, nullOk: true},
      {name: 'version', kind: 'string', missingOk: true},
      {name: 'timestamp', kind: 'datetime'},
    ],
    'error',
    reasons,
  )
  if (envelope === null) return reasons
  const duplicateOf = (key: string) => root.t === 'obj' && root.entries.filter(([k]) => k === key).length > 1
  for (const key of ['message_type', 'headers', 'payload']) if (duplicateOf(key)) reasons.push(`duplicate field \`${key}\``)

  // message_type: a unit variant, by name.
  const typeNode = envelope.get('message_type')
  let bodyType: string | undefined
  if (typeNode === undefined) reasons.push('message_type: missing field `message_type`')
  else if (typeNode.t !== 'str') reasons.push(`message_type: invalid type: ${describe(typeNode)}, expected a variant name string`)
  else if (!(ATTUNE_KNOWN_MESSAGE_TYPES as readonly string[]).includes(typeNode.v)) {
    reasons.push(`message_type: unknown variant ${JSON.stringify(typeNode.v)}, expected one of ${ATTUNE_KNOWN_MESSAGE_TYPES.join(', ')}`)
  } else {
    bodyType = typeNode.v
    if (expected !== undefined && bodyType !== expected) {
      reasons.push(`message_type ${bodyType} does not match routing key ${routingKey} (Attune sends ${expected} there)`)
    } else if (expected === undefined && isAttuneMessageType(bodyType)) {
      const route = ATTUNE_MESSAGE_TYPES[bodyType]
      reasons.push(`${bodyType} is published to ${route.exchange} with routing key ${route.routingKey}`)
    }
  }

  // headers: a flattened struct, so only a map (missing = defaults).
  const headers = envelope.get('headers')
  if (headers !== undefined) {
    if (headers.t !== 'obj') reasons.push(`headers: invalid type: ${describe(headers)}, expected struct MessageHeaders (a map)`)
    else {
      checkStruct(
        'headers',
        headers,
        'MessageHeaders',
        [
          {name: 'retry_count', kind: 'u32', missingOk: true},
          {name: 'source_service', kind: 'string', option: true},
          {name: 'trace_id', kind: 'uuid', option: true},
        ],
        'error',
        reasons,
      )
    }
  }

  // payload.
  const payload = envelope.get('payload')
  const payloadType = expected ?? (bodyType !== undefined && isAttuneMessageType(bodyType) ? bodyType : undefined)
  if (payload === undefined) reasons.push('payload: missing field `payload`')
  else if (payloadType !== undefined) {
    checkStruct(
      'payload',
      payload,
      `${payloadType}Payload`,
      PAYLOAD_FIELDS[payloadType],
      PAYLOAD_VIA_VALUE.has(payloadType) ? 'last-wins' : 'error',
      reasons,
    )
  }
  return reasons
}
