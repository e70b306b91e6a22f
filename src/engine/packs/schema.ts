import {Ajv, type ErrorObject, type ValidateFunction} from 'ajv'
import addFormatsModule from 'ajv-formats'
import {FieldError, type FieldPath} from './errors.js'

export type JsonSchema = Record<string, unknown>

// ajv-formats is CommonJS: under NodeNext its default import is the module object,
// whose `default` is the plugin.
const addFormats = addFormatsModule.default

/** Annotations StackStorm and Attune put in parameter definitions; not validation keywords. */
const ANNOTATIONS = ['secret', 'position', 'immutable']

/** Keywords that can only appear at the top of an object schema, never as a parameter name in practice. */
const OBJECT_SCHEMA_KEYWORDS = new Set([
  '$schema', '$id', '$ref', '$defs', 'definitions', 'type', 'title', 'description', 'properties', 'required',
  'additionalProperties', 'patternProperties', 'propertyNames', 'minProperties', 'maxProperties',
  'dependentRequired', 'dependentSchemas', 'allOf', 'anyOf', 'oneOf', 'not', 'if', 'then', 'else', 'default', 'examples',
])

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Tells the two accepted forms apart. JSON Schema: `type` is a string (or a list), or some
 * top-level value is not a mapping (`required: [a]`), or every key is a JSON Schema keyword.
 * Otherwise it is StackStorm's flat form, where every key is a parameter name.
 */
export function isFlatSchema(value: Record<string, unknown>): boolean {
  if (typeof value.type === 'string' || Array.isArray(value.type)) return false
  // A mapping under `type` can only be a parameter called "type" (trigger outputs have one).
  if (isPlainObject(value.type)) return true
  const entries = Object.entries(value)
  if (entries.some(([, v]) => !isPlainObject(v))) return false
  if (entries.length > 0 && entries.every(([k]) => OBJECT_SCHEMA_KEYWORDS.has(k))) return false
  return true
}

/**
 * Converts a parameter or output schema, in either form, to JSON Schema.
 * Flat form `{name: {type, description, default, required: true, secret: true}}` becomes
 * `{type: object, properties: {...}, required: [...]}`; an inline `required: true` inside
 * JSON Schema properties is lifted the same way. `null`/absent stays undefined.
 * Throws a `FieldError` whose path is relative to the schema's own field.
 */
export function toJsonSchema(value: unknown): JsonSchema | undefined {
  if (value === undefined || value === null) return undefined
  if (!isPlainObject(value)) throw new FieldError([], 'must be a mapping (JSON Schema or flat parameter definitions)')
  if (isFlatSchema(value)) return liftInlineRequired({type: 'object', properties: value}, [], true)
  return liftInlineRequired(value, [], false)
}

/**
 * Turns boolean `required` flags of properties into the parent's `required` list, recursively
 * (properties and items). `flat`: the top `properties` was synthesised, so error paths skip it.
 */
function liftInlineRequired(schema: Record<string, unknown>, path: FieldPath, flat: boolean): JsonSchema {
  const out: JsonSchema = {...schema}
  if (isPlainObject(schema.properties)) {
    const propertiesPath = flat ? path : [...path, 'properties']
    const properties: Record<string, unknown> = {}
    const required = Array.isArray(schema.required) ? [...(schema.required as unknown[])] : []
    for (const [name, definition] of Object.entries(schema.properties)) {
      const here = [...propertiesPath, name]
      if (!isPlainObject(definition)) {
        throw new FieldError(here, 'must be a parameter definition (a mapping with type, description, ...)')
      }
      const {required: flag, ...rest} = definition
      if (flag !== undefined && typeof flag !== 'boolean' && !Array.isArray(flag)) {
        throw new FieldError([...here, 'required'], 'must be true or false')
      }
      if (flag === true && !required.includes(name)) required.push(name)
      // An array `required` belongs to a nested object schema: keep it.
      properties[name] = liftInlineRequired(Array.isArray(flag) ? {...rest, required: flag} : rest, here, false)
    }
    out.properties = properties
    if (required.length > 0) out.required = required
  }
  if (isPlainObject(schema.items)) out.items = liftInlineRequired(schema.items, [...path, 'items'], false)
  return out
}

function newAjv(): Ajv {
  // strict: an unknown keyword or format is an error, so typos in a pack are caught at
  // registration instead of silently accepting everything. Type strictness is too noisy
  // for hand-written pack schemas.
  const ajv = new Ajv({allErrors: true, strict: true, strictTypes: false, strictTuples: false, strictRequired: false})
  addFormats(ajv)
  for (const keyword of ANNOTATIONS) ajv.addKeyword({keyword})
  return ajv
}

/** `/properties/a/type` to `['properties', 'a', 'type']`. */
function pointerToPath(pointer: string): FieldPath {
  if (!pointer) return []
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part))
}

/** Maps a path in the converted schema back to the pack's YAML (flat form has no `properties` level). */
function toSourcePath(path: FieldPath, flat: boolean): FieldPath {
  return flat && path[0] === 'properties' ? path.slice(1) : path
}

function findKey(value: unknown, key: string, path: FieldPath = []): FieldPath | undefined {
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = findKey(item, key, [...path, index])
      if (found) return found
    }
  } else if (isPlainObject(value)) {
    if (key in value) return [...path, key]
    for (const [name, child] of Object.entries(value)) {
      const found = findKey(child, key, [...path, name])
      if (found) return found
    }
  }
  return undefined
}

/**
 * Compiles a converted schema with ajv (+ formats); a schema ajv rejects is a `FieldError`
 * pointing into the original YAML. `source` is the value as written, to tell its form.
 */
export function compileSchema(schema: JsonSchema, source: unknown): ValidateFunction {
  const flat = isPlainObject(source) && isFlatSchema(source)
  const ajv = newAjv()
  if (!ajv.validateSchema(schema)) {
    const error = (ajv.errors ?? [])[0]
    const path = toSourcePath(pointerToPath(error?.instancePath ?? ''), flat)
    throw new FieldError(path, `invalid schema: ${describeSchemaError(error)}`)
  }
  try {
    return ajv.compile(schema)
  } catch (error) {
    const message = (error as Error).message
    const keyword = /unknown keyword: "([^"]+)"/.exec(message)?.[1]
    const format = /unknown format "([^"]+)" ignored in schema at path "#([^"]*)"/.exec(message)
    let path: FieldPath = []
    if (keyword) path = findKey(schema, keyword) ?? []
    else if (format) path = [...pointerToPath(format[2]), 'format']
    // At the top, an unknown keyword is most likely a parameter written without its mapping.
    const hint = keyword && path.length === 1 ? ` (a parameter must be a mapping: ${keyword}: {type: string, ...})` : ''
    throw new FieldError(toSourcePath(path, flat), `invalid schema: ${message.replace(/^strict mode: /, '')}${hint}`)
  }
}

function describeSchemaError(error: ErrorObject | undefined): string {
  if (!error) return 'rejected by ajv'
  if (error.keyword === 'enum' && Array.isArray(error.params.allowedValues)) {
    return `${error.message}: ${error.params.allowedValues.join(', ')}`
  }
  return error.message ?? 'rejected by ajv'
}

/** Validates a value against a compiled schema; returns one message per problem (empty: valid). */
export function validationProblems(validate: ValidateFunction, value: unknown): Array<{path: FieldPath; message: string}> {
  if (validate(value)) return []
  return (validate.errors ?? []).map((error) => {
    const path = pointerToPath(error.instancePath)
    const missing = error.keyword === 'required' ? String(error.params.missingProperty) : undefined
    return {path: missing ? [...path, missing] : path, message: error.message ?? 'is invalid'}
  })
}
