/**
 * The wire format of every message attune publishes (SPEC §7): exchanges, routing keys, the
 * envelope and the payloads. The event pipeline builds the same envelope in SQL (see
 * `events/pipeline.ts`); this module is the reference both follow.
 */
import {randomUUID} from 'node:crypto'

/** Topic exchanges, both durable. */
export const EVENTS_EXCHANGE = 'attune.events'
export const EXECUTIONS_EXCHANGE = 'attune.executions'
export const EXCHANGES = [EVENTS_EXCHANGE, EXECUTIONS_EXCHANGE] as const
export type ExchangeName = (typeof EXCHANGES)[number]

export const RULE_LIFECYCLE_KINDS = ['created', 'enabled', 'disabled', 'deleted'] as const
export type RuleLifecycleKind = (typeof RULE_LIFECYCLE_KINDS)[number]

export type MessageType = 'event.created' | 'enforcement.created' | `rule.${RuleLifecycleKind}`

/** Which exchange carries a message type (the routing key is the message type). */
export function exchangeFor(type: MessageType): ExchangeName {
  return type === 'enforcement.created' ? EXECUTIONS_EXCHANGE : EVENTS_EXCHANGE
}

export const ENVELOPE_VERSION = '1.0'
/** `headers.source_service` of everything the sensor side of attune publishes. */
export const SOURCE_SERVICE = 'attune-sensor'

export interface EnvelopeHeaders {
  /** How many times this message was published before (0 on the first attempt). */
  retry_count: number
  source_service: string
  /** One id per poll (or per operation): every message it caused carries it. */
  trace_id: string | null
}

export interface Envelope<P = unknown> {
  /** Stable across retries: consumers deduplicate on it (delivery is at-least-once). */
  message_id: string
  /** The message that started the chain: an event's own id; an enforcement's event message. */
  correlation_id: string
  message_type: MessageType
  version: typeof ENVELOPE_VERSION
  /** ISO 8601, UTC. */
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

/**
 * `rule.created|enabled|disabled|deleted`: what a long-running sensor needs to rebuild its
 * trigger list (SPEC §4), and what invalidates cached rules elsewhere.
 */
export interface RuleLifecyclePayload {
  rule_id: number
  rule_ref: string
  trigger_ref: string
  trigger_params: unknown
  action_ref: string
  enabled: boolean
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
  return {
    message_id: messageId,
    correlation_id: options.correlationId ?? messageId,
    message_type: type,
    version: ENVELOPE_VERSION,
    timestamp: (options.timestamp ?? new Date()).toISOString(),
    headers: {retry_count: 0, source_service: options.sourceService ?? SOURCE_SERVICE, trace_id: options.traceId ?? null},
    payload,
  }
}

/** An envelope addressed by its type: exchange from the type, routing key = the type. */
export function outbound(envelope: Envelope): OutboundMessage {
  return {exchange: exchangeFor(envelope.message_type), routing_key: envelope.message_type, message_id: envelope.message_id, envelope}
}

/** A rule lifecycle message for a rule row (or what is left of it after a delete). */
export function ruleLifecycleMessage(
  kind: RuleLifecycleKind,
  rule: {id: number; ref: string; trigger_ref: string; trigger_params?: unknown; action_ref: string; enabled: boolean},
  options: EnvelopeOptions = {},
): OutboundMessage {
  const payload: RuleLifecyclePayload = {
    rule_id: rule.id,
    rule_ref: rule.ref,
    trigger_ref: rule.trigger_ref,
    trigger_params: rule.trigger_params ?? {},
    action_ref: rule.action_ref,
    enabled: rule.enabled,
  }
  return outbound(makeEnvelope(`rule.${kind}`, payload, options))
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
