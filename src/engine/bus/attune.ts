/**
 * Attune's own message format (the Rust services' `attune_common::mq`): the messages the sensor
 * side publishes, with the exchange and routing key Attune gives each type, the envelope every
 * Attune consumer decodes, and one payload shape per type. Pure data and builders: no I/O.
 *
 * Differences from the format in `envelope.ts` that Attune's consumers care about:
 * - `message_type` is the Rust enum variant name (`"EventCreated"`), not the routing key.
 * - `headers.trace_id` is a UUID or absent; `headers.source_service` is optional.
 * - Attune has no `RuleDeleted` message: a deleted rule has no Attune message type.
 */
import {randomUUID} from 'node:crypto'
import {SOURCE_SERVICE} from './envelope.js'

/** Every `MessageType` variant Attune's enum knows (serde accepts exactly these spellings). */
export const ATTUNE_KNOWN_MESSAGE_TYPES = [
  'EventCreated',
  'EnforcementCreated',
  'ExecutionRequested',
  'ExecutionStatusChanged',
  'ExecutionCompleted',
  'InquiryCreated',
  'InquiryResponded',
  'NotificationCreated',
  'RuleCreated',
  'RuleEnabled',
  'RuleDisabled',
  'PackRegistered',
  'PackDeleted',
  'ExecutionCancelRequested',
] as const
export type AttuneKnownMessageType = (typeof ATTUNE_KNOWN_MESSAGE_TYPES)[number]

export type AttuneExchangeName = 'attune.events' | 'attune.executions' | 'attune.notifications' | 'attune.dlx'
export type AttuneExchangeKind = 'topic' | 'fanout' | 'direct'

export interface AttuneExchange {
  name: AttuneExchangeName
  kind: AttuneExchangeKind
  durable: boolean
  autoDelete: boolean
}

/**
 * The exchanges Attune declares on startup (`setup_common_infrastructure`), with its default
 * configuration. `attune.dlx` is the dead-letter exchange of every queue Attune declares with a
 * DLX; its queue is `attune.dlx.queue`, bound with key `#`.
 */
export const ATTUNE_EXCHANGES: Readonly<Record<AttuneExchangeName, AttuneExchange>> = {
  'attune.events': {name: 'attune.events', kind: 'topic', durable: true, autoDelete: false},
  'attune.executions': {name: 'attune.executions', kind: 'topic', durable: true, autoDelete: false},
  'attune.notifications': {name: 'attune.notifications', kind: 'fanout', durable: true, autoDelete: false},
  'attune.dlx': {name: 'attune.dlx', kind: 'direct', durable: true, autoDelete: false},
}
export const ATTUNE_DEAD_LETTER_EXCHANGE: AttuneExchangeName = 'attune.dlx'
export const ATTUNE_DEAD_LETTER_QUEUE = 'attune.dlx.queue'

/** The message types the sensor side publishes. */
export type AttuneMessageType = 'EventCreated' | 'EnforcementCreated' | 'RuleCreated' | 'RuleEnabled' | 'RuleDisabled' | 'PackRegistered'

export interface AttuneRoute {
  exchange: AttuneExchangeName
  routingKey: string
}

/** Where Attune publishes each type (`MessageType::exchange` / `MessageType::routing_key`). */
export const ATTUNE_MESSAGE_TYPES: Readonly<Record<AttuneMessageType, AttuneRoute>> = {
  EventCreated: {exchange: 'attune.events', routingKey: 'event.created'},
  EnforcementCreated: {exchange: 'attune.executions', routingKey: 'enforcement.created'},
  RuleCreated: {exchange: 'attune.events', routingKey: 'rule.created'},
  RuleEnabled: {exchange: 'attune.events', routingKey: 'rule.enabled'},
  RuleDisabled: {exchange: 'attune.events', routingKey: 'rule.disabled'},
  PackRegistered: {exchange: 'attune.events', routingKey: 'pack.registered'},
}

export function isAttuneMessageType(value: unknown): value is AttuneMessageType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ATTUNE_MESSAGE_TYPES, value)
}

/** The message type Attune publishes with this exchange and routing key, if any. */
export function attuneTypeForRoute(exchange: string, routingKey: string): AttuneMessageType | undefined {
  for (const [type, route] of Object.entries(ATTUNE_MESSAGE_TYPES) as [AttuneMessageType, AttuneRoute][]) {
    if (route.exchange === exchange && route.routingKey === routingKey) return type
  }
  return undefined
}

/** Attune's `version` default; the only version there is. */
export const ATTUNE_ENVELOPE_VERSION = '1.0'

/** A value of a `serde_json::Value` field. */
export type JsonValue = null | boolean | number | string | JsonValue[] | {[key: string]: JsonValue}

/** `MessageHeaders`: unknown keys are kept by Attune (flattened into `custom`). */
export interface AttuneHeaders {
  /** u32; Attune defaults it to 0 when absent. */
  retry_count: number
  /** Omitted when unset (Attune skips `None`). */
  source_service?: string
  /** A UUID (any of the forms the `uuid` crate parses); omitted when unset. */
  trace_id?: string
  [custom: string]: JsonValue | undefined
}

/** `Id` is i64: every id is an integer in the i64 range (and, in JS, a safe integer). */
export type AttuneId = number

export interface EventCreatedPayload {
  event_id: AttuneId
  trigger_id: AttuneId | null
  trigger_ref: string
  sensor_id: AttuneId | null
  sensor_ref: string | null
  /** Required (may be JSON null); Attune's publishers send `{}` for an event without payload. */
  payload: JsonValue
  config: JsonValue | null
}

export interface EnforcementCreatedPayload {
  enforcement_id: AttuneId
  rule_id: AttuneId | null
  rule_ref: string
  event_id: AttuneId | null
  trigger_ref: string
  payload: JsonValue
}

export interface RuleCreatedPayload {
  rule_id: AttuneId
  rule_ref: string
  trigger_id: AttuneId | null
  trigger_ref: string
  action_id: AttuneId | null
  action_ref: string
  trigger_params: JsonValue | null
  enabled: boolean
}

export interface RuleEnabledPayload {
  rule_id: AttuneId
  rule_ref: string
  trigger_ref: string
  trigger_params: JsonValue | null
}

export interface RuleDisabledPayload {
  rule_id: AttuneId
  rule_ref: string
  trigger_ref: string
}

export interface PackRegisteredPayload {
  pack_id: AttuneId
  pack_ref: string
  version: string
  runtime_names: string[]
}

export interface AttunePayloads {
  EventCreated: EventCreatedPayload
  EnforcementCreated: EnforcementCreatedPayload
  RuleCreated: RuleCreatedPayload
  RuleEnabled: RuleEnabledPayload
  RuleDisabled: RuleDisabledPayload
  PackRegistered: PackRegisteredPayload
}

/** `MessageEnvelope<T>` as Attune serializes it. */
export interface AttuneEnvelope<T extends AttuneMessageType = AttuneMessageType> {
  message_id: string
  correlation_id: string
  message_type: T
  version: string
  /** RFC 3339 with an offset (`Date#toISOString()` form). */
  timestamp: string
  headers: AttuneHeaders
  payload: AttunePayloads[T]
}

export interface AttuneEnvelopeOptions {
  /** Defaults to the new message id, as Attune's `MessageEnvelope::new` does. */
  correlationId?: string
  /** Must be a UUID: Attune's header is `Option<Uuid>`. */
  traceId?: string
  /** Defaults to `attune-sensor`; `null` leaves it out (Attune's pack publisher sets none). */
  sourceService?: string | null
  /** u32, default 0. */
  retryCount?: number
  /** Default: now. */
  timestamp?: Date
  /** Extra headers (kept by Attune as custom headers). */
  customHeaders?: Record<string, JsonValue>
}

/** A message addressed as Attune would publish it. */
export interface AttuneOutbound<T extends AttuneMessageType = AttuneMessageType> {
  exchange: AttuneExchangeName
  routingKey: string
  envelope: AttuneEnvelope<T>
}

const UUID_HYPHENATED = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/
const U32_MAX = 0xffff_ffff
const RESERVED_HEADERS = new Set(['retry_count', 'source_service', 'trace_id'])

function requireUuid(what: string, value: string): string {
  if (!UUID_HYPHENATED.test(value)) throw new TypeError(`${what} must be a hyphenated UUID, got ${JSON.stringify(value)}`)
  return value.toLowerCase()
}

function requireId(what: string, value: number): number {
  if (!Number.isSafeInteger(value)) throw new TypeError(`${what} must be an integer id (i64, JS-safe), got ${String(value)}`)
  return value
}

function optionalId(what: string, value: number | null | undefined): number | null {
  return value === null || value === undefined ? null : requireId(what, value)
}

function requireString(what: string, value: string): string {
  if (typeof value !== 'string') throw new TypeError(`${what} must be a string`)
  return value
}

/** Builds the envelope Attune's consumers decode (fresh message id, version 1.0, UTC timestamp). */
export function attuneEnvelope<T extends AttuneMessageType>(
  type: T,
  payload: AttunePayloads[T],
  options: AttuneEnvelopeOptions = {},
): AttuneEnvelope<T> {
  if (!isAttuneMessageType(type)) throw new TypeError(`not a message type the sensor side publishes: ${String(type)}`)
  const messageId = randomUUID()
  const retryCount = options.retryCount ?? 0
  if (!Number.isInteger(retryCount) || retryCount < 0 || retryCount > U32_MAX) {
    throw new RangeError(`retryCount must be a u32, got ${String(retryCount)}`)
  }
  const headers: AttuneHeaders = {retry_count: retryCount}
  for (const [key, value] of Object.entries(options.customHeaders ?? {})) {
    if (RESERVED_HEADERS.has(key)) throw new TypeError(`custom header ${key} collides with a header Attune defines`)
    headers[key] = value
  }
  const source = options.sourceService === undefined ? SOURCE_SERVICE : options.sourceService
  if (source !== null) headers.source_service = requireString('sourceService', source)
  if (options.traceId !== undefined) headers.trace_id = requireUuid('traceId', options.traceId)
  return {
    message_id: messageId,
    correlation_id: options.correlationId === undefined ? messageId : requireUuid('correlationId', options.correlationId),
    message_type: type,
    version: ATTUNE_ENVELOPE_VERSION,
    timestamp: (options.timestamp ?? new Date()).toISOString(),
    headers,
    payload,
  }
}

/** The exchange and routing key Attune uses for the envelope's type. */
export function attuneOutbound<T extends AttuneMessageType>(envelope: AttuneEnvelope<T>): AttuneOutbound<T> {
  const route = ATTUNE_MESSAGE_TYPES[envelope.message_type]
  return {exchange: route.exchange, routingKey: route.routingKey, envelope}
}

export function eventCreatedPayload(input: {
  eventId: number
  triggerId?: number | null
  triggerRef: string
  sensorId?: number | null
  sensorRef?: string | null
  /** The event's payload; `{}` when the event has none (as Attune's publishers do). */
  payload?: JsonValue
  config?: JsonValue | null
}): EventCreatedPayload {
  return {
    event_id: requireId('eventId', input.eventId),
    trigger_id: optionalId('triggerId', input.triggerId),
    trigger_ref: requireString('triggerRef', input.triggerRef),
    sensor_id: optionalId('sensorId', input.sensorId),
    sensor_ref: input.sensorRef ?? null,
    payload: input.payload === undefined ? {} : input.payload,
    config: input.config ?? null,
  }
}

export function enforcementCreatedPayload(input: {
  enforcementId: number
  ruleId?: number | null
  ruleRef: string
  eventId?: number | null
  triggerRef: string
  payload?: JsonValue
}): EnforcementCreatedPayload {
  return {
    enforcement_id: requireId('enforcementId', input.enforcementId),
    rule_id: optionalId('ruleId', input.ruleId),
    rule_ref: requireString('ruleRef', input.ruleRef),
    event_id: optionalId('eventId', input.eventId),
    trigger_ref: requireString('triggerRef', input.triggerRef),
    payload: input.payload === undefined ? {} : input.payload,
  }
}

/** Attune's API fills `trigger_params` from the rule row (never null; `{}` by default). */
export function ruleCreatedPayload(input: {
  ruleId: number
  ruleRef: string
  triggerId?: number | null
  triggerRef: string
  actionId?: number | null
  actionRef: string
  triggerParams?: JsonValue
  enabled: boolean
}): RuleCreatedPayload {
  if (typeof input.enabled !== 'boolean') throw new TypeError('enabled must be a boolean')
  return {
    rule_id: requireId('ruleId', input.ruleId),
    rule_ref: requireString('ruleRef', input.ruleRef),
    trigger_id: optionalId('triggerId', input.triggerId),
    trigger_ref: requireString('triggerRef', input.triggerRef),
    action_id: optionalId('actionId', input.actionId),
    action_ref: requireString('actionRef', input.actionRef),
    trigger_params: input.triggerParams === undefined ? {} : input.triggerParams,
    enabled: input.enabled,
  }
}

export function ruleEnabledPayload(input: {ruleId: number; ruleRef: string; triggerRef: string; triggerParams?: JsonValue}): RuleEnabledPayload {
  return {
    rule_id: requireId('ruleId', input.ruleId),
    rule_ref: requireString('ruleRef', input.ruleRef),
    trigger_ref: requireString('triggerRef', input.triggerRef),
    trigger_params: input.triggerParams === undefined ? {} : input.triggerParams,
  }
}

/**
 * `triggerRef` is the trigger the rule stops listening to: when an update moved the rule to
 * another trigger, Attune's API sends the previous trigger's ref here.
 */
export function ruleDisabledPayload(input: {ruleId: number; ruleRef: string; triggerRef: string}): RuleDisabledPayload {
  return {
    rule_id: requireId('ruleId', input.ruleId),
    rule_ref: requireString('ruleRef', input.ruleRef),
    trigger_ref: requireString('triggerRef', input.triggerRef),
  }
}

/** Runtime names are lowercased, as Attune's API sends them (workers set up those runtimes). */
export function packRegisteredPayload(input: {packId: number; packRef: string; version: string; runtimeNames?: readonly string[]}): PackRegisteredPayload {
  return {
    pack_id: requireId('packId', input.packId),
    pack_ref: requireString('packRef', input.packRef),
    version: requireString('version', input.version),
    runtime_names: (input.runtimeNames ?? []).map((name) => requireString('runtime name', name).toLowerCase()),
  }
}
