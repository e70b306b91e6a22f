import type {FastifyInstance} from 'fastify'
import {requireTrigger} from '../auth.js'
import type {ApiContext} from '../context.js'
import {notFound} from '../errors.js'

const REF_PARAMS = {type: 'object', required: ['ref'], properties: {ref: {type: 'string', minLength: 1, maxLength: 255}}} as const

/**
 * `GET /api/v1/triggers/{ref}` and `GET /api/v1/triggers/{ref}/rules` (the enabled rules of
 * the trigger, for a sensor to read their `trigger_params`). The rules route is limited to the
 * triggers in the caller's token, like posting events.
 */
export function triggerRoutes(context: ApiContext) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get<{Params: {ref: string}}>('/api/v1/triggers/:ref', {schema: {params: REF_PARAMS}}, async (request) => {
      await context.auth.authenticate(request)
      const {rows} = await context.store.query(
        `SELECT id, ref, pack, pack_ref, label, description, enabled, param_schema, out_schema, is_adhoc, webhook_enabled, created, updated
           FROM attune.trigger WHERE ref = $1`,
        [request.params.ref],
      )
      if (rows.length === 0) throw notFound(`Trigger '${request.params.ref}' not found`)
      return {data: rows[0]}
    })

    app.get<{Params: {ref: string}}>('/api/v1/triggers/:ref/rules', {schema: {params: REF_PARAMS}}, async (request) => {
      const caller = await context.auth.authenticate(request)
      const {ref} = request.params
      requireTrigger(caller, ref)
      const {rows: triggers} = await context.store.query('SELECT 1 FROM attune.trigger WHERE ref = $1', [ref])
      if (triggers.length === 0) throw notFound(`Trigger '${ref}' not found`)
      const {rows} = await context.store.query(
        `SELECT id, ref, pack, pack_ref, label, description, action, action_ref, trigger, trigger_ref, trigger_params, action_params, conditions, enabled, created, updated
           FROM attune.rule WHERE trigger_ref = $1 AND enabled ORDER BY id`,
        [ref],
      )
      return {data: rows}
    })
  }
}
