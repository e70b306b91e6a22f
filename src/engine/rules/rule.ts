/**
 * Normalising one rule document (Attune or StackStorm form, see SPEC §5) into the stored form
 * `{ref, pack_ref, label, description, trigger_ref, trigger_params, conditions, action_ref,
 * action_params, enabled}`.
 *
 * - `ref` is taken as written, or built from StackStorm's `pack` + `name`; `pack_ref` is its
 *   first segment (a `pack` that disagrees with `ref` is an error).
 * - `label` is `label`, else `name`, else the part of `ref` after the pack.
 * - `trigger: {type, parameters}` and `action: {ref, parameters}`, or the flat form of Attune's
 *   pack loader (`trigger_ref`, `trigger_params`, `action_ref`, `action_params`); parameters
 *   default to `{}`. A bare trigger or action name belongs to the rule's pack, as Attune's
 *   loader qualifies it.
 * - `enabled` defaults to true.
 * - `conditions` (Attune) or `criteria` (StackStorm), not both; neither means "always".
 * - Unknown top-level keys are reported as warnings (a typo such as `condition:` would
 *   otherwise silently make the rule match everything). StackStorm's bookkeeping keys
 *   (`tags`, `uid`, `id`, `type`, `context`, `metadata_file`) are ignored quietly.
 */
import {didYouMean} from '../suggest.js'
import {normaliseConditions, normaliseCriteria} from './conditions.js'
import {type DocPath, type Locate, plainLocator, ruleError} from './location.js'
import type {ConditionGroup, JsonObject, RuleDefinition} from './types.js'

export interface NormaliseOptions {
  /** How to name a place in the document; defaults to the bare field path. */
  locate?: Locate
  /** Filled with the document path of every condition leaf (for compile-time messages). */
  sources?: WeakMap<object, DocPath>
}

export interface NormalisedRule {
  rule: RuleDefinition
  warnings: string[]
}

/** The top-level keys a rule document may have (Attune's loader form, attune's nested form, StackStorm's). */
export const RULE_KEYS: readonly string[] = ['ref', 'name', 'pack', 'pack_ref', 'label', 'description', 'enabled', 'trigger', 'conditions', 'criteria', 'action', 'trigger_ref', 'trigger_params', 'action_ref', 'action_params']
/** Accepted and ignored: StackStorm's bookkeeping keys and Attune's permission set refs. */
export const RULE_QUIET_KEYS: readonly string[] = ['tags', 'uid', 'id', 'type', 'context', 'metadata_file', 'permission_set_refs', 'permission_set_ref']
/** The keys of a rule's nested `trigger: {type, parameters}` and `action: {ref, parameters}`. */
export const RULE_TRIGGER_KEYS: readonly string[] = ['type', 'parameters']
export const RULE_ACTION_KEYS: readonly string[] = ['ref', 'parameters']
const KNOWN_KEYS = new Set(RULE_KEYS)
const QUIET_KEYS = new Set(RULE_QUIET_KEYS)
/** `pack.name`, where the name may itself contain dots (`core.sensor.python`). */
const REF = /^[\w-]+(\.[\w-]+)+$/
const PACK = /^[\w-]+$/

function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** Normalise one parsed document; throws `AbortError` naming the field. */
export function normaliseRule(raw: unknown, options: NormaliseOptions = {}): NormalisedRule {
  const locate = options.locate ?? plainLocator()
  const fail = (path: DocPath, message: string) => ruleError(locate(path), message)
  if (!isMapping(raw)) throw fail([], 'a rule must be a mapping')
  const warnings: string[] = []
  for (const key of Object.keys(raw)) {
    if (!KNOWN_KEYS.has(key) && !QUIET_KEYS.has(key)) warnings.push(`${locate([key])}: unknown field ignored${didYouMean(key, KNOWN_KEYS)}`)
  }

  const optionalString = (key: string): string | undefined => {
    const value = raw[key]
    if (value === undefined || value === null) return undefined
    if (typeof value !== 'string' || value.trim() === '') throw fail([key], `expected a non-empty string, got ${describe(value)}`)
    return value
  }

  // ref, pack_ref, label
  const name = optionalString('name')
  const pack = optionalString('pack') ?? optionalString('pack_ref')
  if (pack !== undefined && !PACK.test(pack)) throw fail(['pack'], `invalid pack name ${JSON.stringify(pack)}`)
  let ref = optionalString('ref')
  if (ref === undefined) {
    if (name === undefined) throw fail([], 'missing ref (or StackStorm name and pack)')
    if (pack === undefined) throw fail([], `missing pack: a rule named ${JSON.stringify(name)} needs pack (or a full ref)`)
    ref = `${pack}.${name}`
    if (!REF.test(ref)) throw fail(['name'], `invalid rule name ${JSON.stringify(name)}`)
  } else if (!REF.test(ref)) {
    throw fail(['ref'], `invalid ref ${JSON.stringify(ref)}: expected pack.name`)
  }
  const packRef = ref.slice(0, ref.indexOf('.'))
  if (pack !== undefined && pack !== packRef) throw fail(['pack'], `pack ${JSON.stringify(pack)} does not match ref ${JSON.stringify(ref)}`)
  const label = optionalString('label') ?? name ?? ref.slice(packRef.length + 1)
  const description = optionalString('description') ?? null

  // trigger and action: nested ({trigger: {type, parameters}}) or Attune's loader form (trigger_ref, ...)
  const qualify = (value: unknown) => (typeof value === 'string' && value.trim() !== '' && !value.includes('.') ? `${packRef}.${value.trim()}` : value)
  const flat = (key: string, nested: string) => {
    if (raw[key] !== undefined && raw[nested] !== undefined) throw fail([key], `a rule has ${nested} or ${key}, not both`)
    return raw[key] !== undefined
  }
  let triggerRef: string
  let triggerParams: JsonObject
  if (flat('trigger_ref', 'trigger')) {
    triggerRef = requireRef(qualify(raw.trigger_ref), ['trigger_ref'], fail)
    triggerParams = params(raw.trigger_params, ['trigger_params'], fail)
  } else {
    const trigger = raw.trigger
    if (trigger === undefined || trigger === null) throw fail([], 'missing trigger (trigger: {type, parameters} or trigger_ref)')
    if (!isMapping(trigger)) throw fail(['trigger'], `expected a mapping {type, parameters}, got ${describe(trigger)}`)
    triggerRef = requireRef(trigger.type, ['trigger', 'type'], fail)
    triggerParams = params(trigger.parameters, ['trigger', 'parameters'], fail)
    for (const key of Object.keys(trigger)) {
      if (!RULE_TRIGGER_KEYS.includes(key)) warnings.push(`${locate(['trigger', key])}: unknown field ignored${didYouMean(key, RULE_TRIGGER_KEYS)}`)
    }
    if (raw.trigger_params !== undefined) throw fail(['trigger_params'], 'trigger_params goes with trigger_ref; with trigger: {type}, write trigger.parameters')
  }

  let actionRef: string
  let actionParams: JsonObject
  if (flat('action_ref', 'action')) {
    actionRef = requireRef(qualify(raw.action_ref), ['action_ref'], fail)
    actionParams = params(raw.action_params, ['action_params'], fail)
  } else {
    const action = raw.action
    if (action === undefined || action === null) throw fail([], 'missing action (action: {ref, parameters} or action_ref)')
    if (!isMapping(action)) throw fail(['action'], `expected a mapping {ref, parameters}, got ${describe(action)}`)
    actionRef = requireRef(action.ref, ['action', 'ref'], fail)
    actionParams = params(action.parameters, ['action', 'parameters'], fail)
    for (const key of Object.keys(action)) {
      if (!RULE_ACTION_KEYS.includes(key)) warnings.push(`${locate(['action', key])}: unknown field ignored${didYouMean(key, RULE_ACTION_KEYS)}`)
    }
    if (raw.action_params !== undefined) throw fail(['action_params'], 'action_params goes with action_ref; with action: {ref}, write action.parameters')
  }

  // enabled
  const enabled = raw.enabled ?? true
  if (typeof enabled !== 'boolean') throw fail(['enabled'], `expected true or false, got ${describe(enabled)}`)

  // conditions
  const ctx = {locate, sources: options.sources}
  let conditions: ConditionGroup
  if (raw.conditions !== undefined && raw.criteria !== undefined) {
    throw fail(['criteria'], 'a rule has conditions (Attune form) or criteria (StackStorm form), not both')
  }
  if (raw.criteria !== undefined) conditions = normaliseCriteria(raw.criteria, ['criteria'], ctx)
  else conditions = normaliseConditions(raw.conditions, ['conditions'], ctx)

  return {
    rule: {
      ref,
      pack_ref: packRef,
      label,
      description,
      trigger_ref: triggerRef,
      trigger_params: triggerParams,
      conditions,
      action_ref: actionRef,
      action_params: actionParams,
      enabled,
    },
    warnings,
  }
}

type Fail = (path: DocPath, message: string) => Error

function requireRef(value: unknown, path: DocPath, fail: Fail): string {
  if (value === undefined || value === null) throw fail(path.slice(0, -1), `missing ${path[path.length - 1]}`)
  if (typeof value !== 'string' || !REF.test(value)) throw fail(path, `expected a ref like pack.name, got ${describe(value)}`)
  return value
}

function params(value: unknown, path: DocPath, fail: Fail): JsonObject {
  if (value === undefined || value === null) return {}
  if (!isMapping(value)) throw fail(path, `expected a mapping, got ${describe(value)}`)
  return value as JsonObject
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  return `${typeof value} ${JSON.stringify(value)}`
}
