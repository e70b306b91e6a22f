/**
 * Rendering a rule's `action_params` into an enforcement's `config`, with the results
 * Attune's executor gets.
 *
 * Syntax: `{{ path }}` anywhere in a string value (whitespace inside the braces is ignored);
 * no filters, no expressions, no escape for a literal `{{`. Keys are never rendered; objects
 * and arrays are rendered value by value; numbers, booleans and null pass through.
 *
 * - A string that is exactly one template becomes the value found, with its JSON type
 *   (number, boolean, object, array); nothing found gives `null`.
 * - Any other string is interpolated: each template is replaced by the text of its value
 *   (see `interpolationText`: `null` and "nothing found" both give the empty string).
 *   Replacement is textual, one distinct template after the other in order of appearance,
 *   each replacing every copy of its exact text in the string built so far.
 *
 * Sensitivity: a pack config key the pack's `conf_schema` marks `secret: true` is a secret
 * source. A destination that receives such a value (or an object containing it, or a string
 * it was interpolated into) is reported in `sensitivePaths` as a JSON Pointer into the result.
 */
import type {JsonObject, JsonValue} from '../../rules/types.js'
import {lookup, type TemplateContext} from './context.js'
import {compareUtf8, interpolationText} from './json-text.js'
import {defineOwn, dotPathFromPointer, escapeSegment, joinPointers, pointerFromDotPath, pointerSuffix} from './pointer.js'
import {secretParamPaths} from './schema.js'

/** Where a secret came from, in the terms of Attune's `execution_secret_value` rows. */
export interface SecretSource {
  /** `pack_config` (a rendered pack config secret) or `parameter_schema` (the action marks it secret). */
  kind: 'pack_config' | 'parameter_schema'
  /** `source_ref`: `<pack ref>:<pointer>` for pack config (just the pointer without a pack), the pointer for a schema. */
  ref: string
}

/** A destination in the rendered value and the secret that reaches it. */
export interface SecretPathSource {
  /** JSON Pointer into the rendered value. */
  path: string
  source: SecretSource
}

export interface RenderedParams {
  value: JsonValue
  /** Destinations holding (or built from) a secret, sorted, without duplicates. */
  sensitivePaths: string[]
  /** Each destination with the secret that reaches it, sorted by path. */
  secretSources: SecretPathSource[]
}

/** White_Space as Rust's regex `\s` and `str::trim` know it (not JS `\s`: no U+FEFF, plus U+0085). */
const WS = '\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000'
const TEMPLATE = new RegExp(`\\{\\{[${WS}]*([^}]+?)[${WS}]*\\}\\}`, 'gu')
const TRIM = new RegExp(`^[${WS}]+|[${WS}]+$`, 'gu')

function trimPath(text: string): string {
  return text.replace(TRIM, '')
}

/** The paths of the templates in a string, in order of appearance, as rendering reads them. */
export function templatePaths(text: string): string[] {
  return [...text.matchAll(TEMPLATE)].map((match) => trimPath(match[1]))
}

/**
 * `enforcement.config` for a rule: its `action_params` rendered against the context. Like
 * the executor, parameters that are not a non-empty object render to `{}`.
 */
export function renderActionParams(actionParams: JsonValue | undefined, context: TemplateContext): RenderedParams {
  if (actionParams === null || actionParams === undefined || typeof actionParams !== 'object' || Array.isArray(actionParams) || Object.keys(actionParams).length === 0) {
    return {value: {}, sensitivePaths: [], secretSources: []}
  }
  return renderTemplates(actionParams, context)
}

/** Renders every template in any JSON value (see the module comment). */
export function renderTemplates(value: JsonValue, context: TemplateContext): RenderedParams {
  const sources = secretSourcesOf(context)
  const found: SecretPathSource[] = []
  const rendered = renderAt(value, context, sources, '', found)
  return summarize(rendered, found)
}

interface ContextSecret {
  /** Dotted template path: `pack.config.api.token`. */
  path: string
  /** Pointer into the pack config: `/api/token`. */
  pointer: string
  source: SecretSource
}

function secretSourcesOf(context: TemplateContext): ContextSecret[] {
  const packRef = context.pack.ref ?? null
  return secretParamPaths(context.pack.conf_schema).map((pointer) => {
    const dotted = dotPathFromPointer(pointer)
    return {
      path: dotted === '' ? 'pack.config' : `pack.config.${dotted}`,
      pointer,
      source: {kind: 'pack_config', ref: packRef === null ? pointer : `${packRef}:${pointer}`},
    }
  })
}

function renderAt(value: JsonValue, context: TemplateContext, secrets: ContextSecret[], pointer: string, found: SecretPathSource[]): JsonValue {
  if (typeof value === 'string') return renderString(value, context, secrets, pointer, found)
  if (Array.isArray(value)) return value.map((item, index) => renderAt(item, context, secrets, `${pointer}/${index}`, found))
  if (value !== null && typeof value === 'object') {
    const out: JsonObject = {}
    for (const [key, child] of Object.entries(value)) defineOwn(out, key, renderAt(child, context, secrets, `${pointer}/${escapeSegment(key)}`, found))
    return out
  }
  return value
}

function renderString(text: string, context: TemplateContext, secrets: ContextSecret[], pointer: string, found: SecretPathSource[]): JsonValue {
  const matches = [...text.matchAll(TEMPLATE)]
  if (matches.length === 0) return text
  const first = matches[0]
  if (first.index === 0 && first[0].length === text.length) {
    const path = trimPath(first[1])
    found.push(...secretsForExpression(secrets, path, pointer, true))
    const hit = lookup(context, path)
    return hit === undefined ? null : structuredClone(hit)
  }
  let result = text
  for (const match of matches) {
    const path = trimPath(match[1])
    const hit = lookup(context, path)
    result = result.split(match[0]).join(hit === undefined ? '' : interpolationText(hit))
    found.push(...secretsForExpression(secrets, path, pointer, false))
  }
  return result
}

/** Bracket spellings (`config["a"]`, `config['a']`) count as dots when tracing secrets. */
function normalizeExpression(expression: string): string {
  return trimPath(expression).replaceAll('result()', 'result').replaceAll('["', '.').replaceAll("']", '').replaceAll("['", '.').replaceAll('"]', '')
}

/** The pointer of a template path inside its namespace (`pack.config.api` → `/api`). */
function sourcePointer(expression: string): string {
  for (const root of ['pack.config', 'event', 'system']) {
    if (expression === root) return ''
    if (expression.startsWith(`${root}.`)) return pointerFromDotPath(expression.slice(root.length + 1))
  }
  return pointerFromDotPath(expression)
}

function secretsForExpression(secrets: ContextSecret[], rawExpression: string, destination: string, whole: boolean): SecretPathSource[] {
  const expression = normalizeExpression(rawExpression)
  const out: SecretPathSource[] = []
  for (const secret of secrets) {
    // The template reads the secret itself or something inside it: the destination is secret.
    if (secret.path === expression || expression.startsWith(`${secret.path}.`)) {
      out.push({path: destination, source: secret.source})
    } else if (secret.path.startsWith(`${expression}.`)) {
      // The template reads an object that contains the secret.
      if (whole) {
        const suffix = pointerSuffix(secret.pointer, sourcePointer(expression))
        if (suffix !== undefined) out.push({path: joinPointers(destination, suffix), source: secret.source})
      } else {
        out.push({path: destination, source: secret.source})
      }
    }
  }
  return out
}

function summarize(value: JsonValue, found: SecretPathSource[]): RenderedParams {
  const unique = new Map<string, SecretPathSource>()
  for (const entry of found) {
    const key = JSON.stringify([entry.path, entry.source.kind, entry.source.ref])
    if (!unique.has(key)) unique.set(key, entry)
  }
  const secretSources = [...unique.values()].sort(
    (a, b) => compareUtf8(a.path, b.path) || compareUtf8(a.source.kind, b.source.kind) || compareUtf8(a.source.ref, b.source.ref),
  )
  const sensitivePaths = [...new Set(secretSources.map((entry) => entry.path))]
  return {value, sensitivePaths, secretSources}
}
