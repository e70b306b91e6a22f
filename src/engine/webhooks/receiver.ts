/**
 * Receiving a webhook, as Attune's `receive_webhook` (crates/api/src/routes/webhooks.rs) does:
 * the key names the trigger; its `webhook_config` decides the checks, in Attune's order (size
 * limit, IP allow-list, rate limit, HMAC signature); the event goes through the event pipeline
 * (enforcements and outbox in the same transaction), committed before the answer; every call
 * of a known key is recorded in `attune.webhook_event_log` with the columns Attune's API fills.
 *
 * Where attune differs from Attune, on purpose:
 * - a key whose trigger has webhooks disabled answers 404 (Attune: 400);
 * - an enabled check that cannot be applied refuses (HMAC without secret or algorithm: 401;
 *   allow-list without addresses or without a sender address: 403); Attune lets such requests in;
 * - the body is parsed after the checks (a sender without a valid signature learns nothing
 *   about the body), and a body over `payload_size_limit_kb` answers 413 (Attune logs 413, answers 400);
 * - the rate limit is exact under concurrency: counting and recording a request happen under a
 *   per-trigger lock (Attune counts, then records at the end);
 * - the event's `config` does not carry the webhook key (a credential); it has Attune's other fields.
 *
 * Framework-free: the HTTP route (src/api/routes/webhooks.ts) turns the outcome into a response.
 */
import {performance} from 'node:perf_hooks'
import {AbortError, errorMessage} from '../errors.js'
import type {EventPipeline} from '../events/index.js'
import type {Queryable, Store} from '../store/types.js'
import {readWebhookConfig, type EffectiveWebhookConfig} from './config.js'
import {ipAllowed, normalizeIp, verifySignature} from './security.js'

/** What the receiver logs to (the API's logger fits). The secret, the signature and the full key are never passed to it. */
export interface WebhookLogger {
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
}

export interface WebhookRequest {
  key: string
  /** The exact bytes received (the HMAC is computed over them). */
  body: Buffer
  /** The sender's address (the socket's, or the proxy's forwarded one when the API trusts proxies). */
  sourceIp: string | null
  userAgent: string | null
  /** `X-Webhook-Signature`, else `X-Hub-Signature-256`. */
  signature: string | null
}

/** Attune's `WebhookReceiverResponse`. */
export interface WebhookReceived {
  event_id: number
  trigger_ref: string
  received_at: string
  message: string
  /** The trigger's dedup key was seen within its window: `event_id` is the first event's, nothing was stored. */
  deduplicated?: true
}

export type WebhookOutcome = {status: 200; data: WebhookReceived} | {status: number; error: string; retryAfterSeconds?: number}

interface TriggerRow {
  id: number
  ref: string
  webhook_enabled: boolean
  webhook_config: unknown
}

/** One row of `attune.webhook_event_log`, as Attune's `log_webhook_event` writes it (`headers` stays NULL, as there). */
interface LogFields {
  status: number
  error: string | null
  eventId?: number | null
  hmacVerified?: boolean | null
  rateLimited?: boolean
  ipAllowed?: boolean | null
}

const MAX_KEY_LENGTH = 64

/** `wh_1a2b…`: enough to tell keys apart in a log, not enough to use one. */
export function maskKey(key: string): string {
  return key.length <= 7 ? '…' : `${key.slice(0, 7)}…`
}

export class WebhookReceiver {
  constructor(
    private readonly store: Store,
    private readonly pipeline: EventPipeline,
    private readonly logger: WebhookLogger,
  ) {}

  async receive(request: WebhookRequest): Promise<WebhookOutcome> {
    const started = performance.now()
    const sourceIp = request.sourceIp === null ? null : normalizeIp(request.sourceIp)
    const trigger = request.key.length <= MAX_KEY_LENGTH ? await this.findTrigger(request.key) : undefined
    if (!trigger) {
      // Attune cannot record a call of an unknown key (the log row needs a trigger): it only logs it.
      this.logger.warn('webhook refused: unknown key', {key: maskKey(request.key), source_ip: sourceIp, status: 404})
      return {status: 404, error: 'Invalid webhook key'}
    }

    const log = new CallLog(this.store, trigger, request, sourceIp, started)
    const refuse = async (fields: LogFields & {answer?: string; retryAfterSeconds?: number}): Promise<WebhookOutcome> => {
      await this.record(log, fields)
      this.logger.info('webhook refused', {trigger: trigger.ref, status: fields.status, reason: fields.error, source_ip: sourceIp})
      return {status: fields.status, error: fields.answer ?? fields.error ?? 'Refused', ...(fields.retryAfterSeconds ? {retryAfterSeconds: fields.retryAfterSeconds} : {})}
    }

    if (!trigger.webhook_enabled) return refuse({status: 404, error: 'Webhooks are not enabled for this trigger'})
    const config = readWebhookConfig(trigger.webhook_config)
    if (config.ignored.length > 0) this.logger.warn('webhook config: ignoring invalid settings', {trigger: trigger.ref, ignored: config.ignored})

    const size = request.body.length
    if (config.payloadSizeLimitBytes !== null && size > config.payloadSizeLimitBytes) {
      return refuse({status: 413, error: `Payload too large: ${size} bytes (limit: ${config.payloadSizeLimitBytes} bytes)`})
    }

    let allowed: boolean | null = null
    if (config.ipWhitelist !== null) {
      allowed = sourceIp !== null && ipAllowed(sourceIp, config.ipWhitelist)
      if (!allowed) return refuse({status: 403, error: 'IP address not in whitelist', answer: 'IP address not allowed', ipAllowed: false})
    }

    if (config.rateLimit !== null) {
      const admitted = await log.admit(config.rateLimit, allowed)
      if (!admitted) {
        this.logger.info('webhook refused', {trigger: trigger.ref, status: 429, reason: 'Rate limit exceeded', source_ip: sourceIp})
        const {requests, windowSeconds} = config.rateLimit
        return {status: 429, error: `Rate limit exceeded. Maximum ${requests} requests per ${windowSeconds} seconds`, retryAfterSeconds: windowSeconds}
      }
    }

    let hmacVerified: boolean | null = null
    if (config.hmac !== null) {
      const {secret, algorithm} = config.hmac
      if (secret === undefined || algorithm === undefined) {
        return refuse({status: 401, error: 'HMAC is enabled but its secret or algorithm is not configured', answer: 'Signature verification is misconfigured for this webhook', hmacVerified: false, ipAllowed: allowed})
      }
      if (request.signature === null) {
        return refuse({status: 401, error: 'HMAC signature required but not provided', answer: 'Signature required: send X-Webhook-Signature or X-Hub-Signature-256', hmacVerified: false, ipAllowed: allowed})
      }
      const check = verifySignature(request.body, request.signature, secret, algorithm)
      if (!check.valid) {
        return check.error
          ? refuse({status: 401, error: `HMAC verification error: ${check.error}`, answer: `Signature verification failed: ${check.error}`, hmacVerified: false, ipAllowed: allowed})
          : refuse({status: 401, error: 'Invalid HMAC signature', answer: 'Invalid webhook signature', hmacVerified: false, ipAllowed: allowed})
      }
      hmacVerified = true
    }

    const parsed = parseBody(request.body, config)
    if ('error' in parsed) return refuse({status: parsed.status, error: parsed.error, hmacVerified, ipAllowed: allowed})

    const eventConfig: Record<string, unknown> = {source: 'webhook', received_at: new Date().toISOString()}
    if (parsed.headers !== undefined) eventConfig.headers = parsed.headers
    if (sourceIp !== null) eventConfig.source_ip = sourceIp
    if (request.userAgent !== null) eventConfig.user_agent = request.userAgent
    if (config.hmac !== null) eventConfig.hmac_verified = hmacVerified === true

    let eventId: number
    let duplicate = false
    try {
      const stored = await this.pipeline.persist({trigger: {id: trigger.id, ref: trigger.ref}, sensor: null, config: eventConfig, events: [parsed.payload]})
      eventId = stored.events[0].id
      // The trigger's dedup key was seen within its window: nothing stored, the first event's id.
      duplicate = stored.events[0].duplicate === true
    } catch (error) {
      if (error instanceof AbortError && error.code === 'event_invalid') return refuse({status: 422, error: error.message, hmacVerified, ipAllowed: allowed})
      this.logger.error('webhook event could not be stored', {trigger: trigger.ref, err: error})
      await this.record(log, {status: 500, error: `Failed to create event: ${errorMessage(error)}`, hmacVerified, ipAllowed: allowed})
      throw error
    }

    await this.record(log, {status: 200, error: null, eventId, hmacVerified, ipAllowed: allowed})
    const {rows} = await this.store.query<{created: Date | string}>('SELECT created FROM attune.event WHERE id = $1', [eventId])
    const created = rows[0]?.created
    this.logger.info('webhook event stored', {trigger: trigger.ref, event_id: eventId, source_ip: sourceIp})
    return {
      status: 200,
      data: {
        event_id: eventId,
        trigger_ref: trigger.ref,
        received_at: created === undefined ? String(eventConfig.received_at) : new Date(created).toISOString(),
        message: duplicate ? 'Duplicate within the trigger\'s dedup window: not stored again' : 'Webhook received successfully',
        ...(duplicate ? {deduplicated: true} : {}),
      },
    }
  }

  private async findTrigger(key: string): Promise<TriggerRow | undefined> {
    const {rows} = await this.store.query<TriggerRow>('SELECT id, ref, webhook_enabled, webhook_config FROM attune.trigger WHERE webhook_key = $1', [key])
    return rows[0]
  }

  /** Writes the call's log row; a failure to write it never changes the answer (as in Attune), it is logged. */
  private async record(log: CallLog, fields: LogFields): Promise<void> {
    try {
      await log.finish(fields)
    } catch (error) {
      this.logger.warn('webhook_event_log row not written', {trigger: log.trigger.ref, status: fields.status, err: error})
    }
  }
}

type ParsedBody = {payload: unknown; headers?: unknown} | {status: number; error: string}

/** Attune's `{"payload": ..., "headers": ...}`, or with `body_as_payload` the whole body. */
function parseBody(body: Buffer, config: EffectiveWebhookConfig): ParsedBody {
  if (body.length === 0) return {status: 400, error: 'Invalid JSON payload: the body is empty'}
  let value: unknown
  try {
    value = JSON.parse(body.toString('utf8'))
  } catch (error) {
    return {status: 400, error: `Invalid JSON payload: ${errorMessage(error)}`}
  }
  let payload = value
  let headers: unknown
  if (!config.bodyAsPayload) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !('payload' in value)) {
      return {status: 400, error: 'Invalid JSON payload: missing field `payload` (send {"payload": {...}}, or set webhook_config.body_as_payload: true to take the whole body)'}
    }
    ;({payload, headers} = value as {payload: unknown; headers?: unknown})
  }
  // attune's events (and rules) are about JSON objects, as a sensor's are.
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    const type = payload === null ? 'null' : Array.isArray(payload) ? 'an array' : `a ${typeof payload}`
    return {status: 422, error: `Invalid payload: an event payload must be a JSON object, got ${type}`}
  }
  return {payload, headers: headers ?? undefined}
}

/**
 * The `webhook_event_log` row of one call. Without a rate limit it is written once, at the
 * end. With one, `admit` counts the trigger's recent calls from the same key and address
 * (rows not refused by the limit, in the window: Attune's `count_recent_webhook_requests`) and
 * writes this call's row, under a per-trigger transaction lock, so concurrent calls cannot
 * all see room for one; `finish` then fills in the outcome. A row left by a process that
 * died in between says 500 "interrupted".
 */
class CallLog {
  private rowId: number | null = null

  constructor(
    private readonly store: Store,
    readonly trigger: TriggerRow,
    private readonly request: WebhookRequest,
    private readonly sourceIp: string | null,
    private readonly started: number,
  ) {}

  /** False (and the call recorded as rate limited, 429) when the window is full. */
  async admit(limit: {requests: number; windowSeconds: number}, ipAllowedValue: boolean | null): Promise<boolean> {
    return this.store.transaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock(hashtext('attune.webhook_event_log'), $1::int)", [this.trigger.id % 2_147_483_647])
      const {rows} = await tx.query<{n: number}>(
        `SELECT count(*)::int AS n FROM attune.webhook_event_log
          WHERE trigger_id = $1 AND webhook_key = $2 AND source_ip IS NOT DISTINCT FROM $3 AND rate_limited = FALSE
            AND created >= clock_timestamp() - make_interval(secs => $4)`,
        [this.trigger.id, this.request.key, this.sourceIp, limit.windowSeconds],
      )
      if (rows[0].n >= limit.requests) {
        await this.insert(tx, {status: 429, error: 'Rate limit exceeded', rateLimited: true, ipAllowed: ipAllowedValue})
        return false
      }
      this.rowId = await this.insert(tx, {status: 500, error: 'interrupted: the request did not finish', ipAllowed: ipAllowedValue})
      return true
    })
  }

  async finish(fields: LogFields): Promise<void> {
    if (this.rowId === null) {
      await this.insert(this.store, fields)
      return
    }
    await this.store.query(
      `UPDATE attune.webhook_event_log SET status_code = $2, error_message = $3, event_id = $4, hmac_verified = $5, rate_limited = $6, ip_allowed = $7, processing_time_ms = $8
        WHERE id = $1`,
      [this.rowId, fields.status, fields.error, fields.eventId ?? null, fields.hmacVerified ?? null, fields.rateLimited ?? false, fields.ipAllowed ?? null, this.elapsed()],
    )
  }

  private elapsed(): number {
    return Math.round(performance.now() - this.started)
  }

  private async insert(q: Queryable, fields: LogFields): Promise<number> {
    const {rows} = await q.query<{id: number}>(
      `INSERT INTO attune.webhook_event_log (trigger_id, trigger_ref, webhook_key, event_id, source_ip, user_agent, payload_size_bytes, headers,
                                             status_code, error_message, processing_time_ms, hmac_verified, rate_limited, ip_allowed)
       VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $9, $10, $11, $12, $13) RETURNING id`,
      [
        this.trigger.id,
        this.trigger.ref,
        this.request.key,
        fields.eventId ?? null,
        this.sourceIp,
        this.request.userAgent,
        Math.min(this.request.body.length, 2_147_483_647),
        fields.status,
        fields.error,
        this.elapsed(),
        fields.hmacVerified ?? null,
        fields.rateLimited ?? false,
        fields.ipAllowed ?? null,
      ],
    )
    return Number(rows[0].id)
  }
}
