import type {FastifyInstance} from 'fastify'
import {AbortError} from '../../engine/errors.js'
import {requireTrigger} from '../auth.js'
import type {ApiContext} from '../context.js'
import {ApiError, badRequest, notFound} from '../errors.js'

interface CreateEventBody {
  trigger_ref?: string
  /** Attune accepts this alias of `trigger_ref` (the sensor interface document's name). */
  trigger_type?: string
  payload?: unknown
  config?: unknown
  trigger_instance_id?: string | number | null
}

const BODY = {
  type: 'object',
  properties: {
    trigger_ref: {type: 'string', minLength: 1, maxLength: 255},
    trigger_type: {type: 'string', minLength: 1, maxLength: 255},
    payload: {type: ['object', 'null']},
    config: {},
    trigger_instance_id: {type: ['string', 'integer', 'null']},
  },
} as const

/** `rule_<id>` (what Attune's timer sends) or a bare id: the rule the event belongs to. */
export function ruleIdOf(instance: string | number | null | undefined): number | undefined {
  if (instance === null || instance === undefined) return undefined
  const text = String(instance)
  const match = /^(?:rule_)?(\d{1,15})$/.exec(text)
  return match ? Number(match[1]) : undefined
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/

/**
 * `POST /api/v1/events`: a sensor emits one event. It goes through the same pipeline and the
 * same transaction as a polled one (event, enforcements, outbox) and is committed before the
 * answer, 201 `{data: {id, ...}}`. `trigger_instance_id` ties the event to one rule, as in
 * Attune; it is never a deduplication key. An `Idempotency-Key` header makes a retry safe: the
 * same key (per sensor identity) within a day answers the first answer again, with no second event.
 */
export function eventRoutes(context: ApiContext) {
  const sensorIds = new Map<string, number | null>()
  const sensorId = async (ref: string): Promise<number | null> => {
    if (sensorIds.has(ref)) return sensorIds.get(ref)!
    const {rows} = await context.store.query<{id: number}>('SELECT id FROM attune.sensor WHERE ref = $1', [ref])
    const id = rows[0]?.id ?? null
    if (id !== null) sensorIds.set(ref, id)
    return id
  }

  // Trigger ids change only when a trigger is deleted and registered again: remembered briefly.
  const triggerIds = new Map<string, {id: number; at: number}>()
  const triggerId = async (ref: string): Promise<number | undefined> => {
    const cached = triggerIds.get(ref)
    if (cached && Date.now() - cached.at < 5000) return cached.id
    const {rows} = await context.store.query<{id: number}>('SELECT id FROM attune.trigger WHERE ref = $1', [ref])
    if (rows.length === 0) {
      triggerIds.delete(ref)
      return undefined
    }
    if (triggerIds.size > 10_000) triggerIds.clear()
    triggerIds.set(ref, {id: rows[0].id, at: Date.now()})
    return rows[0].id
  }

  return async (app: FastifyInstance): Promise<void> => {
    app.post<{Body: CreateEventBody}>('/api/v1/events', {schema: {body: BODY}}, async (request, reply) => {
      const caller = await context.auth.authenticate(request)
      const body = request.body
      const triggerRef = body.trigger_ref ?? body.trigger_type
      if (!triggerRef) throw new ApiError(422, 'Invalid request body: trigger_ref is required')
      requireTrigger(caller, triggerRef)
      const rawKey = request.headers['idempotency-key']
      if (Array.isArray(rawKey)) throw badRequest('Send one Idempotency-Key header')
      if (rawKey !== undefined && !IDEMPOTENCY_KEY.test(rawKey)) throw badRequest('Idempotency-Key must be 1 to 255 visible ASCII characters')

      const trigger = await triggerId(triggerRef)
      if (trigger === undefined) throw notFound(`Trigger '${triggerRef}' not found`)
      let rule: {id: number; ref: string} | undefined
      const ruleId = ruleIdOf(body.trigger_instance_id)
      if (ruleId !== undefined) {
        const {rows} = await context.store.query<{id: number; ref: string}>('SELECT id, ref FROM attune.rule WHERE id = $1 AND trigger_ref = $2', [ruleId, triggerRef])
        rule = rows[0]
        if (!rule) context.logger.warn('trigger_instance_id names no rule of the trigger: the event is for every rule', {sensor: caller.claims.login, trigger: triggerRef, trigger_instance_id: String(body.trigger_instance_id)})
      }
      const source = caller.claims.login
      let stored
      try {
        stored = await context.pipeline.persist(
          {
            trigger: {id: trigger, ref: triggerRef},
            sensor: {id: await sensorId(source), ref: source},
            config: body.config ?? undefined,
            events: [body.payload ?? {}],
            ...(rule ? {rule_ids: [rule.id], rule_ref: rule.ref} : {}),
          },
          rawKey === undefined ? {} : {idempotencyKey: `api:${caller.identityId}:${rawKey}`},
        )
      } catch (error) {
        if (error instanceof AbortError && error.code === 'event_invalid') throw new ApiError(422, error.message)
        throw error
      }
      const event = stored.events[0]
      if (!event.duplicate && !stored.replayed) context.onSensorEvents?.(source, 1)
      // A duplicate within the trigger's dedup window: not stored; the first event's id, 200.
      reply.code(event.duplicate ? 200 : 201)
      if (event.duplicate) reply.header('attune-deduplicated', 'true')
      if (stored.replayed) reply.header('idempotent-replayed', 'true')
      return {
        data: {
          id: event.id,
          trigger,
          trigger_ref: triggerRef,
          source_ref: source,
          rule: rule?.id ?? null,
          rule_ref: rule?.ref ?? null,
          payload: body.payload ?? {},
          enforcements: event.enforcements.map((enforcement) => ({id: enforcement.id, rule_ref: enforcement.rule_ref})),
        },
      }
    })
  }
}
