/**
 * Webhook keys and the management of a trigger's webhook, as Attune's SQL functions
 * `enable_trigger_webhook`, `disable_trigger_webhook` and `regenerate_trigger_webhook_key` do
 * it (migrations/...000007_supporting_systems.sql): enabling keeps an existing key, disabling
 * removes the key, regenerating needs webhooks enabled. Keys are made here, in JS, in Attune's
 * format (`generate_webhook_key()`: `wh_` and 16 random bytes in hex), so the embedded
 * database needs no pgcrypto.
 */
import {randomBytes} from 'node:crypto'
import {AbortError} from '../errors.js'
import {closestName} from '../suggest.js'
import type {Queryable} from '../store/types.js'
import type {ColumnValue} from '../store/upsert.js'
import type {TriggerWebhookSettings} from './config.js'

/** Attune's webhook key format. */
export const WEBHOOK_KEY = /^wh_[0-9a-f]{32}$/

export function generateWebhookKey(): string {
  return `wh_${randomBytes(16).toString('hex')}`
}

/** The receiver's path of a key. */
export function webhookPath(key: string): string {
  return `/api/v1/webhooks/${key}`
}

/**
 * The base URL of the daemon's API from its `api.host`/`api.port` settings; a wildcard
 * host (`0.0.0.0`, `::`) is shown as `127.0.0.1`, an IPv6 address in brackets.
 */
export function apiBaseUrl(api: {host: string; port: number}): string {
  let host = api.host
  if (host === '0.0.0.0' || host === '::' || host === '[::]' || host === '') host = '127.0.0.1'
  else if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`
  return `http://${host}:${api.port}`
}

export function webhookUrl(base: string, key: string): string {
  return `${base.replace(/\/+$/, '')}${webhookPath(key)}`
}

/** What the management functions answer (`--json` of `attune trigger webhook ...`). */
export interface WebhookState {
  trigger_ref: string
  webhook_enabled: boolean
  webhook_key: string | null
  /** Set by `regenerateWebhookKey`: whether a key was replaced (Attune's `previous_key_revoked`). */
  previous_key_revoked?: boolean
}

async function lockTrigger(q: Queryable, ref: string): Promise<{id: number; webhook_enabled: boolean; webhook_key: string | null}> {
  const {rows} = await q.query<{id: number; webhook_enabled: boolean; webhook_key: string | null}>(
    'SELECT id, webhook_enabled, webhook_key FROM attune.trigger WHERE ref = $1 FOR UPDATE',
    [ref],
  )
  if (rows[0]) return rows[0]
  const {rows: all} = await q.query<{ref: string}>('SELECT ref FROM attune.trigger ORDER BY ref')
  const close = closestName(ref, all.map((row) => row.ref))
  throw new AbortError(`Unknown trigger '${ref}'${close ? ` (did you mean '${close}'?)` : ''}`, {
    code: 'trigger_not_found',
    hint: all.length === 0 ? 'No triggers are registered: register a pack with `attune pack register DIR`.' : 'See the registered triggers with `attune trigger list`.',
  })
}

/** Enables the trigger's webhook; an existing key is kept (a new one is made only when it has none). */
export async function enableWebhook(q: Queryable, ref: string): Promise<WebhookState> {
  const trigger = await lockTrigger(q, ref)
  const key = trigger.webhook_key ?? generateWebhookKey()
  await q.query('UPDATE attune.trigger SET webhook_enabled = TRUE, webhook_key = $2 WHERE id = $1', [trigger.id, key])
  return {trigger_ref: ref, webhook_enabled: true, webhook_key: key}
}

/** Disables the trigger's webhook and removes its key, as Attune does: the old URL answers 404 from now on. */
export async function disableWebhook(q: Queryable, ref: string): Promise<WebhookState> {
  const trigger = await lockTrigger(q, ref)
  await q.query('UPDATE attune.trigger SET webhook_enabled = FALSE, webhook_key = NULL WHERE id = $1', [trigger.id])
  return {trigger_ref: ref, webhook_enabled: false, webhook_key: null}
}

/** Replaces the key of an enabled webhook (the old key answers 404 from now on). */
export async function regenerateWebhookKey(q: Queryable, ref: string): Promise<WebhookState> {
  const trigger = await lockTrigger(q, ref)
  if (!trigger.webhook_enabled) {
    throw new AbortError(`Webhooks are not enabled for trigger '${ref}'. Enable webhooks first.`, {
      code: 'webhook_not_enabled',
      hint: `Run \`attune trigger webhook enable ${ref}\`.`,
    })
  }
  const key = generateWebhookKey()
  await q.query('UPDATE attune.trigger SET webhook_key = $2 WHERE id = $1', [trigger.id, key])
  return {trigger_ref: ref, webhook_enabled: true, webhook_key: key, previous_key_revoked: trigger.webhook_key !== null}
}

/**
 * The webhook columns a trigger file sets, for the trigger's upsert (none when the file has no
 * webhook keys). A trigger the file enables keeps the key it has, or gets one (registering
 * again never rotates a key); one the file disables loses its key, as `disableWebhook`.
 */
export async function webhookColumns(q: Queryable, trigger: {ref: string} & TriggerWebhookSettings): Promise<Record<string, ColumnValue>> {
  const columns: Record<string, ColumnValue> = {}
  if (trigger.webhook_enabled !== undefined) {
    columns.webhook_enabled = {type: 'boolean', value: trigger.webhook_enabled}
    let key: string | null = null
    if (trigger.webhook_enabled) {
      const {rows} = await q.query<{webhook_key: string | null}>('SELECT webhook_key FROM attune.trigger WHERE ref = $1 FOR UPDATE', [trigger.ref])
      key = rows[0]?.webhook_key ?? generateWebhookKey()
    }
    columns.webhook_key = {type: 'text', value: key}
  }
  if (trigger.webhook_config !== undefined) columns.webhook_config = {type: 'jsonb', value: trigger.webhook_config}
  return columns
}

/** A webhook's state with its URL (the `--json` of `attune trigger webhook enable|disable|regenerate`). */
export interface WebhookReport extends WebhookState {
  webhook_url: string | null
}

export function webhookReport(state: WebhookState, base: string): WebhookReport {
  return {...state, webhook_url: state.webhook_key === null ? null : webhookUrl(base, state.webhook_key)}
}
