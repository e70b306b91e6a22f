/**
 * Event deduplication per trigger: a trigger file's `dedup: {key, window}`.
 *
 * The **key** says which events are the same:
 * - a field path into the payload, as rule conditions write them (`id`, `payload.id`,
 *   `delivery.id`, `items[0].id`, `headers['X-Request-Id']`; `payload.` is optional, see
 *   `rules/path.ts`), or
 * - a template over the event, with Attune's `{{ ... }}` syntax (`events/template`), for keys
 *   made of several fields: `"{{ event.payload.repo }}#{{ event.payload.delivery }}"`. A
 *   template may read `event.payload...` and `event.trigger`, and must read the payload.
 *
 * The key's value is text: a string as it is; a number, boolean, object or array as a template
 * interpolates it (`42`, `true`, compact JSON with sorted keys). So `{"id": 42}` and
 * `{"id": "42"}` have the same key. An event whose key field is missing, `null` or the empty
 * string (for a template: any field it reads) has **no key and is never deduplicated**.
 *
 * The **window** (`10m`, `30s`, `1h`, `1d`; `time.ts`) runs from the first event stored with a
 * key: an event with the same key within it is a duplicate of that first event.
 *
 * The pipeline claims `dedup:<trigger ref>:<key value>` in the keyed-write table
 * (`store/idempotency.ts`) inside its transaction; see `pipeline.ts`.
 */
import {createHash} from 'node:crypto'
import {FieldPathError, makeGetter, parseFieldPath} from '../rules/path.js'
import type {JsonValue} from '../rules/types.js'
import {errorMessage} from '../errors.js'
import type {Queryable} from '../store/types.js'
import {interpolationText, lookup, renderTemplates, templatePaths, type TemplateContext} from './template/index.js'

/** A trigger's dedup setting as written (the key) and its window in milliseconds. */
export interface DedupSetting {
  key: string
  window_ms: number
}

/** A key that cannot be used, with what is wrong with it. */
export class DedupKeyError extends Error {
  override readonly name = 'DedupKeyError'
}

/** The key's value for a payload; undefined when the event has no key. */
export type DedupKeyFunction = (payload: unknown, triggerRef: string) => string | undefined

/** The shortest and the longest window: a second, and a (leap) year. */
export const DEDUP_WINDOW_MIN_MS = 1000
export const DEDUP_WINDOW_MAX_MS = 366 * 86_400_000

/** What a template key may read: the payload (and below it) and the trigger's ref. */
function readsPayload(path: string): boolean {
  return path === 'event.payload' || path.startsWith('event.payload.')
}

/**
 * Compiles a key as written in a trigger file (see the module comment). Throws a
 * `DedupKeyError` saying what is wrong.
 */
export function compileDedupKey(key: string): DedupKeyFunction {
  if (typeof key !== 'string' || key.trim() === '') throw new DedupKeyError('is empty: name a payload field (payload.id) or write a template')
  if (key.includes('{{')) return compileTemplateKey(key)
  let segments
  try {
    segments = parseFieldPath(key).segments
  } catch (error) {
    if (error instanceof FieldPathError) throw new DedupKeyError(`${error.message} (a dedup key is a payload field such as payload.id, or a template such as "{{ event.payload.id }}")`)
    throw error
  }
  const get = makeGetter(segments)
  return (payload) => keyText(get(payload))
}

function compileTemplateKey(key: string): DedupKeyFunction {
  const paths = templatePaths(key)
  if (paths.length === 0) throw new DedupKeyError(`${JSON.stringify(key)} has no complete {{ ... }} template`)
  for (const path of paths) {
    if (!readsPayload(path) && path !== 'event.trigger') {
      throw new DedupKeyError(`template {{ ${path} }} cannot be used: a dedup key reads event.payload.<field> (and event.trigger) only`)
    }
  }
  if (!paths.some(readsPayload)) throw new DedupKeyError('reads no payload field: every event would have the same key (use {{ event.payload.<field> }})')
  return (payload, triggerRef) => {
    const context: TemplateContext = {
      event: {payload: payload as JsonValue, trigger: triggerRef},
      pack: {config: {}},
      system: {timestamp: '', rule: {id: 0, ref: ''}},
    }
    for (const path of paths) if (keyText(lookup(context, path)) === undefined) return undefined
    const rendered = renderTemplates(key, context).value
    return typeof rendered === 'string' ? rendered : keyText(rendered)
  }
}

function keyText(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined
  return typeof value === 'string' ? value : interpolationText(value as JsonValue)
}

/** Key values up to this length are kept as they are in the claim key; longer ones are hashed. */
const VERBATIM = 200
const HASHED = 'sha256:'

/**
 * The keyed-write key of an event: `dedup:<trigger ref>:<key value>`. A value longer than 200
 * characters (or one that starts with `sha256:`) is replaced by `sha256:<hex>` of it, so any
 * payload fits the table's primary key.
 */
export function dedupClaimKey(triggerRef: string, value: string): string {
  const text = value.length <= VERBATIM && !value.startsWith(HASHED) ? value : `${HASHED}${createHash('sha256').update(value).digest('hex')}`
  return `dedup:${triggerRef}:${text}`
}

/** A trigger that deduplicates, as cached by `DedupCache`. */
export interface TriggerDedup extends DedupSetting {
  trigger_ref: string
  /** `<trigger ref>:<xmin>` of its `attune_sensor.trigger_settings` row: what the pipeline checks. */
  version: string
  /** Absent when the stored key does not compile (edited by hand): then `warning` says so. */
  keyOf?: DedupKeyFunction
  warning?: string
}

/** The settings of the triggers of `$1` that deduplicate; `version` is the expression the pipeline's check compares. */
const LOAD_SQL = `SELECT t.ref AS trigger_ref, ts.dedup_key AS key, ts.dedup_window_ms::float8 AS window_ms, t.ref || ':' || ts.xmin::text AS version
  FROM attune_sensor.trigger_settings ts JOIN attune.trigger t ON t.id = ts.trigger
 WHERE t.ref = ANY($1::text[]) AND ts.dedup_key IS NOT NULL`

/**
 * The dedup settings of the triggers that have one, compiled once. Unlike the rule cache it
 * does not ask the database before every batch: the pipeline's insert statement checks, at no
 * extra round trip, that the settings of the batch's triggers are still the cached versions
 * (none for a trigger without dedup), and when they are not, stores nothing, and the pipeline
 * calls `load` and writes again. So a batch of triggers without dedup costs nothing more, and a
 * setting registered or changed by any process is applied from the next batch on.
 */
export class DedupCache {
  private readonly byRef = new Map<string, TriggerDedup>()
  /** How many times settings were fetched (tests: a warm cache fetches none). */
  loads = 0

  /** The cached settings of those of `refs` that deduplicate. */
  cached(refs: Iterable<string>): Map<string, TriggerDedup> {
    const out = new Map<string, TriggerDedup>()
    for (const ref of refs) {
      const entry = this.byRef.get(ref)
      if (entry) out.set(ref, entry)
    }
    return out
  }

  /** Fetches the settings of `refs` (one query), replacing what is cached for them. */
  async load(q: Queryable, refs: Iterable<string>): Promise<Map<string, TriggerDedup>> {
    const list = [...new Set(refs)]
    this.loads++
    const {rows} = await q.query<{trigger_ref: string; key: string; window_ms: number; version: string}>(LOAD_SQL, [list])
    const previous = new Map(list.map((ref) => [ref, this.byRef.get(ref)]))
    for (const ref of list) this.byRef.delete(ref)
    for (const row of rows) {
      const known = previous.get(row.trigger_ref)
      if (known && known.version === row.version) {
        this.byRef.set(row.trigger_ref, known)
        continue
      }
      const entry: TriggerDedup = {trigger_ref: row.trigger_ref, key: row.key, window_ms: Number(row.window_ms), version: row.version}
      try {
        entry.keyOf = compileDedupKey(row.key)
      } catch (error) {
        entry.warning = `trigger ${row.trigger_ref}: dedup key ${JSON.stringify(row.key)} ${errorMessage(error)}: its events are not deduplicated`
      }
      this.byRef.set(row.trigger_ref, entry)
    }
    return this.cached(list)
  }

  /** Forgets everything: the next batch is checked against no settings, and loads them. */
  invalidate(): void {
    this.byRef.clear()
  }
}
