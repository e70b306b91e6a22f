import {FieldError, type FieldPath} from './errors.js'

/** A rule as the `rule` table stores it (SPEC §5/§7). */
export interface NormalizedRule {
  ref: string
  pack_ref: string
  label: string
  description: string | null
  trigger_ref: string
  trigger_params: Record<string, unknown>
  /** Attune form as written (a list means all); StackStorm criteria become a list of leaves. */
  conditions: unknown
  action_ref: string
  action_params: Record<string, unknown>
  enabled: boolean
}

export interface RuleContext {
  /** The pack the rule belongs to, when it is loaded from a pack. */
  pack_ref?: string
}

// The operator names of SPEC §6 and the StackStorm names that map onto them. Checked here
// so a pack with a typo fails at registration; the rules module compiles the conditions.
const OPERATORS = new Set([
  'equals', 'not_equals', 'contains', 'starts_with', 'ends_with', 'greater_than', 'less_than', 'in', 'not_in',
  'matches', 'greater_or_equal', 'less_or_equal', 'exists', 'not_exists', 'iequals', 'icontains',
  'eq', 'neq', 'nequals', 'ieq', 'ncontains', 'startswith', 'endswith', 'lt', 'gt', 'inside', 'ninside', 'regex',
  'iregex', 'nexists', 'matchwildcard',
])

const REF = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/
const NAME = /^[A-Za-z0-9_-]+$/

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function optionalString(doc: Record<string, unknown>, key: string): string | undefined {
  const value = doc[key]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw new FieldError([key], 'must be a string')
  return value
}

function mapping(value: unknown, path: FieldPath): Record<string, unknown> {
  if (value === undefined || value === null) return {}
  if (!isPlainObject(value)) throw new FieldError(path, 'must be a mapping')
  return value
}

/** `trigger: {type, parameters}` or `trigger: REF`, or the column form `trigger_ref` + `trigger_params`. */
function readRef(doc: Record<string, unknown>, key: 'trigger' | 'action'): {ref: string; params: Record<string, unknown>} {
  const value = doc[key]
  const columnRef = doc[`${key}_ref`]
  const columnParams = doc[`${key}_params`]
  const refKeys = key === 'trigger' ? ['type', 'ref'] : ['ref']
  if (isPlainObject(value)) {
    const refKey = refKeys.find((k) => value[k] !== undefined)
    const ref = refKey ? value[refKey] : undefined
    if (typeof ref !== 'string' || !ref) throw new FieldError([key, refKeys[0]], 'is required (a reference such as pack.name)')
    if (!REF.test(ref)) throw new FieldError([key, refKey!], `'${ref}' is not a reference of the form pack.name`)
    return {ref, params: mapping(value.parameters, [key, 'parameters'])}
  }
  const ref = typeof value === 'string' ? value : columnRef
  const field = typeof value === 'string' ? key : `${key}_ref`
  if (typeof ref !== 'string' || !ref) throw new FieldError([key], `is required (${key}: {${refKeys[0]}: pack.name, parameters: {...}})`)
  if (!REF.test(ref)) throw new FieldError([field], `'${ref}' is not a reference of the form pack.name`)
  return {ref, params: mapping(columnParams, [`${key}_params`])}
}

function checkConditions(value: unknown, path: FieldPath): void {
  if (Array.isArray(value)) {
    value.forEach((item, index) => checkConditions(item, [...path, index]))
    return
  }
  if (!isPlainObject(value)) throw new FieldError(path, 'must be a condition ({field, operator, value}) or {all|any: [...]}')
  for (const group of ['all', 'any'] as const) {
    if (group in value) {
      if (!Array.isArray(value[group])) throw new FieldError([...path, group], 'must be a list of conditions')
      checkConditions(value[group], [...path, group])
      return
    }
  }
  if (typeof value.field !== 'string' || !value.field) throw new FieldError([...path, 'field'], 'is required')
  if (typeof value.operator !== 'string') throw new FieldError([...path, 'operator'], 'is required')
  if (!OPERATORS.has(value.operator)) {
    throw new FieldError([...path, 'operator'], `unknown operator '${value.operator}'`)
  }
}

/** StackStorm `criteria: {trigger.x: {type: equals, pattern: v}}` to a list of leaves (ANDed). */
function criteriaToConditions(criteria: unknown): unknown[] {
  const entries = Object.entries(mapping(criteria, ['criteria']))
  return entries.map(([field, criterion]) => {
    const c = mapping(criterion, ['criteria', field])
    if (typeof c.type !== 'string') throw new FieldError(['criteria', field, 'type'], 'is required (the operator)')
    if (!OPERATORS.has(c.type)) throw new FieldError(['criteria', field, 'type'], `unknown operator '${c.type}'`)
    return c.pattern === undefined ? {field, operator: c.type} : {field, operator: c.type, value: c.pattern}
  })
}

/**
 * Reads a rule document in either form of SPEC §5 (Attune: `ref`, `trigger`, `conditions`,
 * `action`; StackStorm: `name`, `pack`, `criteria`) into the stored form. Throws a
 * `FieldError` naming the bad field. The one entry point the rules module can take over.
 */
export function normalizeRuleDocument(doc: Record<string, unknown>, context: RuleContext = {}): NormalizedRule {
  const name = optionalString(doc, 'name')
  const declaredPack = optionalString(doc, 'pack') ?? optionalString(doc, 'pack_ref')
  let ref = optionalString(doc, 'ref')
  const packRef = context.pack_ref ?? declaredPack ?? (ref?.includes('.') ? ref.slice(0, ref.indexOf('.')) : undefined)
  if (context.pack_ref && declaredPack && declaredPack !== context.pack_ref) {
    throw new FieldError([doc.pack !== undefined ? 'pack' : 'pack_ref'], `is '${declaredPack}' but the rule is in pack '${context.pack_ref}'`)
  }
  if (!ref) {
    if (!name) throw new FieldError(['ref'], 'is required (or name, with the pack)')
    if (!NAME.test(name)) throw new FieldError(['name'], `'${name}' may only contain letters, digits, _ and -`)
    if (!packRef) throw new FieldError(['pack'], `is required when the rule has only a name`)
    ref = `${packRef}.${name}`
  } else if (!ref.includes('.') && packRef) {
    ref = `${packRef}.${ref}`
  }
  if (!REF.test(ref)) throw new FieldError(['ref'], `'${ref}' is not a reference of the form pack.name`)
  if (!packRef || !ref.startsWith(`${packRef}.`)) {
    throw new FieldError(['ref'], `'${ref}' is not in pack '${packRef ?? '?'}' (it must start with '${packRef ?? 'pack'}.')`)
  }

  const trigger = readRef(doc, 'trigger')
  const action = readRef(doc, 'action')

  let conditions: unknown = []
  if (doc.conditions !== undefined && doc.conditions !== null) {
    if (doc.criteria !== undefined) throw new FieldError(['criteria'], 'use either conditions or criteria, not both')
    checkConditions(doc.conditions, ['conditions'])
    conditions = doc.conditions
  } else if (doc.criteria !== undefined && doc.criteria !== null) {
    conditions = criteriaToConditions(doc.criteria)
  }

  const enabled = doc.enabled ?? true
  if (typeof enabled !== 'boolean') throw new FieldError(['enabled'], 'must be true or false')

  return {
    ref,
    pack_ref: packRef,
    label: optionalString(doc, 'label') ?? name ?? ref.slice(packRef.length + 1),
    description: optionalString(doc, 'description') ?? null,
    trigger_ref: trigger.ref,
    trigger_params: trigger.params,
    conditions,
    action_ref: action.ref,
    action_params: action.params,
    enabled,
  }
}
