/**
 * The wire format of every message attune publishes (SPEC §7): exchanges, routing keys, the
 * envelope and the payloads. The event pipeline builds the same envelope in SQL (see
 * `events/pipeline.ts`); this module is the reference both follow.
 */
import {randomUUID} from 'node:crypto'

import {ATTUNE_MESSAGE_TYPES, type AttuneMessageType} from './attune.js'

/** Topic exchanges, both durable (Attune's). */
export const EVENTS_EXCHANGE = 'attune.events'
export const EXECUTIONS_EXCHANGE = 'attune.executions'
export const EXCHANGES = [EVENTS_EXCHANGE, EXECUTIONS_EXCHANGE] as const
export type ExchangeName = (typeof EXCHANGES)[number]

/** What a rule change is announced as (Attune has no rule deletion message: a removed rule is disabled). */
export const RULE_LIFECYCLE_KINDS = ['created', 'enabled', 'disabled'] as const
export type RuleLifecycleKind = (typeof RULE_LIFECYCLE_KINDS)[number]

/** The message types attune publishes: Attune's serde names (`crates/common/src/mq/messages.rs`). */
export type MessageType = AttuneMessageType

/** Which exchange carries a message type (Attune's routing). */
export function exchangeFor(type: MessageType): ExchangeName {
  return ATTUNE_MESSAGE_TYPES[type].exchange as ExchangeName
}

/** The routing key of a message type (`EventCreated` → `event.created`). */
export function routingKeyFor(type: MessageType): string {
  return ATTUNE_MESSAGE_TYPES[type].routingKey
}

export const ENVELOPE_VERSION = '1.0'
/** `headers.source_service` of everything the sensor side of attune publishes. */
export const SOURCE_SERVICE = 'attune-sensor'

export interface EnvelopeHeaders {
  /** How many times this message was published before (0 on the first attempt). */
  retry_count: number
  source_service: string
  /** One UUID per poll (or per operation): every message it caused carries it. Omitted when none. */
  trace_id?: string
}

export interface Envelope<P = unknown> {
  /** Stable across retries: consumers deduplicate on it (delivery is at-least-once). */
  message_id: string
  /** The message that started the chain: an event's own id; an enforcement's event message. */
  correlation_id: string
  message_type: MessageType
  version: typeof ENVELOPE_VERSION
  /** RFC 3339, UTC. */
  timestamp: string
  headers: EnvelopeHeaders
  payload: P
}

export interface EventCreatedPayload {
  event_id: number
  trigger_id: number | null
  trigger_ref: string
  sensor_id: number | null
  sensor_ref: string | null
  payload: unknown
  /** The sensor config the poll ran with (secret parameters masked). */
  config: unknown
}

export interface EnforcementCreatedPayload {
  enforcement_id: number
  rule_id: number
  rule_ref: string
  event_id: number
  trigger_ref: string
  payload: unknown
}

/** `RuleCreated` (Attune's fields). */
export interface RuleCreatedPayload {
  rule_id: number
  rule_ref: string
  trigger_id: number | null
  trigger_ref: string
  action_id: number | null
  action_ref: string
  trigger_params: unknown
  enabled: boolean
}

/** `RuleEnabled`: what a sensor needs to (re)start the rule's trigger instance. */
export interface RuleEnabledPayload {
  rule_id: number
  rule_ref: string
  trigger_ref: string
  trigger_params: unknown
}

/** `RuleDisabled`. */
export interface RuleDisabledPayload {
  rule_id: number
  rule_ref: string
  trigger_ref: string
}

/** `PackRegistered`: workers set up the runtimes' environments. */
export interface PackRegisteredPayload {
  pack_id: number
  pack_ref: string
  version: string
  /** Lowercased names of the pack's runtimes. */
  runtime_names: string[]
}

/** A message on its way out: where it goes and the envelope as it will be published. */
export interface OutboundMessage {
  exchange: string
  routing_key: string
  message_id: string
  envelope: Envelope
}

export interface EnvelopeOptions {
  correlationId?: string
  traceId?: string | null
  timestamp?: Date
  sourceService?: string
}

/** Builds an envelope with a fresh message id (the correlation id defaults to it). */
export function makeEnvelope<P>(type: MessageType, payload: P, options: EnvelopeOptions = {}): Envelope<P> {
  const messageId = randomUUID()
  const headers: EnvelopeHeaders = {retry_count: 0, source_service: options.sourceService ?? SOURCE_SERVICE}
  if (options.traceId) headers.trace_id = options.traceId
  return {
    message_id: messageId,
    correlation_id: options.correlationId ?? messageId,
    message_type: type,
    version: ENVELOPE_VERSION,
    timestamp: (options.timestamp ?? new Date()).toISOString(),
    headers,
    payload,
  }
}

/** An envelope addressed by its type: Attune's exchange and routing key for it. */
export function outbound(envelope: Envelope): OutboundMessage {
  return {exchange: exchangeFor(envelope.message_type), routing_key: routingKeyFor(envelope.message_type), message_id: envelope.message_id, envelope}
}

export interface RuleForMessage {
  id: number
  ref: string
  trigger_id?: number | null
  trigger_ref: string
  action_id?: number | null
  action_ref: string
  trigger_params?: unknown
  enabled: boolean
}

/** A rule lifecycle message for a rule row (or what is left of it after a delete). */
export function ruleLifecycleMessage(kind: RuleLifecycleKind, rule: RuleForMessage, options: EnvelopeOptions = {}): OutboundMessage {
  if (kind === 'created') {
    const payload: RuleCreatedPayload = {
      rule_id: rule.id,
      rule_ref: rule.ref,
      trigger_id: rule.trigger_id ?? null,
      trigger_ref: rule.trigger_ref,
      action_id: rule.action_id ?? null,
      action_ref: rule.action_ref,
      trigger_params: rule.trigger_params ?? {},
      enabled: rule.enabled,
    }
    return outbound(makeEnvelope('RuleCreated', payload, options))
  }
  if (kind === 'enabled') {
    const payload: RuleEnabledPayload = {rule_id: rule.id, rule_ref: rule.ref, trigger_ref: rule.trigger_ref, trigger_params: rule.trigger_params ?? {}}
    return outbound(makeEnvelope('RuleEnabled', payload, options))
  }
  const payload: RuleDisabledPayload = {rule_id: rule.id, rule_ref: rule.ref, trigger_ref: rule.trigger_ref}
  return outbound(makeEnvelope('RuleDisabled', payload, options))
}

/** `PackRegistered` for a pack row and the names of its runtimes. */
export function packRegisteredMessage(pack: {id: number; ref: string; version: string; runtime_names: readonly string[]}, options: EnvelopeOptions = {}): OutboundMessage {
  const payload: PackRegisteredPayload = {pack_id: pack.id, pack_ref: pack.ref, version: pack.version, runtime_names: pack.runtime_names.map((name) => name.toLowerCase())}
  return outbound(makeEnvelope('PackRegistered', payload, options))
}

/** AMQP topic matching: `*` is exactly one word, `#` zero or more. */
export function topicMatches(pattern: string, key: string): boolean {
  const p = pattern.split('.')
  const k = key.split('.')
  const match = (i: number, j: number): boolean => {
    if (i === p.length) return j === k.length
    if (p[i] === '#') {
      for (let skip = j; skip <= k.length; skip++) if (match(i + 1, skip)) return true
      return false
    }
    if (j === k.length) return false
    return (p[i] === '*' || p[i] === k[j]) && match(i + 1, j + 1)
  }
  return match(0, 0)
}
