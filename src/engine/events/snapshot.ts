/**
 * What a poll's events carry besides their payload: the sensor config snapshot (stored in
 * `event.config` and sent in `event.created`, so secrets are masked), and the check of
 * payloads against the trigger's output schema (a warning in the daemon, SPEC §5).
 */
import type {ValidateFunction} from 'ajv'
import {compileSchema, formatField, toJsonSchema, validationProblems} from '../packs/index.js'

export const SECRET_MASK = '********'

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * The config as it may be stored and published: every parameter the schema marks
 * `secret: true` (at any depth of `properties`) is replaced by `********`.
 */
export function configSnapshot(config: unknown, paramSchema: unknown): unknown {
  if (!isPlainObject(config) || !isPlainObject(paramSchema)) return config
  const properties = isPlainObject(paramSchema.properties) ? paramSchema.properties : paramSchema
  const out: Record<string, unknown> = {...config}
  for (const [name, definition] of Object.entries(properties)) {
    if (!isPlainObject(definition) || !(name in out)) continue
    if (definition.secret === true) out[name] = SECRET_MASK
    else if (isPlainObject(definition.properties)) out[name] = configSnapshot(out[name], definition)
  }
  return out
}

/**
 * The config a registered sensor polls with: its stored config, then `overrides` on top, with
 * the schema's top-level defaults filled in. Returns the problems the schema finds.
 */
export function sensorPollConfig(
  paramSchema: unknown,
  stored: unknown,
  overrides?: Record<string, unknown>,
): {config: Record<string, unknown>; problems: string[]} {
  const config: Record<string, unknown> = {...(isPlainObject(stored) ? stored : {}), ...(overrides ?? {})}
  const schema = isPlainObject(paramSchema) ? safeJsonSchema(paramSchema) : undefined
  if (!schema) return {config, problems: []}
  if (isPlainObject(schema.properties)) {
    for (const [name, definition] of Object.entries(schema.properties)) {
      if (config[name] === undefined && isPlainObject(definition) && definition.default !== undefined) config[name] = structuredClone(definition.default)
    }
  }
  const validate = compileOrUndefined(schema)
  const problems = validate ? validationProblems(validate, config).map((p) => `${p.path.length > 0 ? formatField(p.path) : 'config'} ${p.message}`) : []
  return {config, problems}
}

/** Checks payloads against a trigger's output schema; `undefined` when there is none. */
export function payloadChecker(outSchema: unknown): ((payload: unknown) => string[]) | undefined {
  if (!isPlainObject(outSchema)) return undefined
  const schema = safeJsonSchema(outSchema)
  const validate = schema && compileOrUndefined(schema)
  if (!validate) return undefined
  return (payload) => validationProblems(validate, payload).map((p) => `${p.path.length > 0 ? formatField(p.path) : 'payload'} ${p.message}`)
}

function safeJsonSchema(value: Record<string, unknown>): Record<string, unknown> | undefined {
  try {
    return toJsonSchema(value)
  } catch {
    return undefined
  }
}

/**
 * Compiled validators by schema text: the daemon checks a sensor's config on every poll, and
 * compiling (a new Ajv, code generation) costs far more than the check. Bounded: a schema
 * that changes often cannot grow it without limit.
 */
const compiled = new Map<string, ValidateFunction | null>()
const MAX_CACHED_SCHEMAS = 1000

function compileOrUndefined(schema: Record<string, unknown>): ValidateFunction | undefined {
  const key = JSON.stringify(schema)
  const hit = compiled.get(key)
  if (hit !== undefined) return hit ?? undefined
  let validate: ValidateFunction | null
  try {
    validate = compileSchema(schema, schema)
  } catch {
    validate = null
  }
  if (compiled.size >= MAX_CACHED_SCHEMAS) compiled.clear()
  compiled.set(key, validate)
  return validate ?? undefined
}
