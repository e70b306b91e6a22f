/**
 * Normalising one rule document (Attune or StackStorm form, see SPEC §5) into the stored form
 * `{ref, pack_ref, label, description, trigger_ref, trigger_params, conditions, action_ref,
 * action_params, enabled}`.
 *
 * - `ref` is taken as written, or built from StackStorm's `pack` + `name`; `pack_ref` is its
 *   first segment (a `pack` that disagrees with `ref` is an error).
 * - `label` is `label`, else `name`, else the part of `ref` after the pack.
 * - `trigger: {type, parameters}` and `action: {ref, parameters}`; parameters default to `{}`.
 * - `enabled` defaults to true.
 * - `conditions` (Attune) or `criteria` (StackStorm), not both; neither means "always".
 * - Unknown top-level keys are reported as warnings (a typo such as `condition:` would
 *   otherwise silently make the rule match everything). StackStorm's bookkeeping keys
 *   (`tags`, `uid`, `id`, `type`, `context`, `metadata_file`) are ignored quietly.
 */
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

const KNOWN_KEYS = new Set(['ref', 'name', 'pack', 'label', 'description', 'enabled', 'trigger', 'conditions', 'criteria', 'action'])
const QUIET_KEYS = new Set(['tags', 'uid', 'id', 'type', 'context', 'metadata_file'])
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
    if (!KNOWN_KEYS.has(key) && !QUIET_KEYS.has(key)) warnings.push(`${locate([key])}: unknown field ignored`)
  }

  const optionalString = (key: string): string | undefined => {
    const value = raw[key]
    if (value === undefined || value === null) return undefined
    if (typeof value !== 'string' || value.trim() === '') throw fail([key], `expected a non-empty string, got ${describe(value)}`)
    return value
  }

  // ref, pack_ref, label
  const name = optionalString('name')
  const pack = optionalString('pack')
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

  // trigger and action
  const trigger = raw.trigger
  if (trigger === undefined || trigger === null) throw fail([], 'missing trigger')
  if (!isMapping(trigger)) throw fail(['trigger'], `expected a mapping {type, parameters}, got ${describe(trigger)}`)
  const triggerRef = requireRef(trigger.type, ['trigger', 'type'], fail)
  const triggerParams = params(trigger.parameters, ['trigger', 'parameters'], fail)
  for (const key of Object.keys(trigger)) {
    if (key !== 'type' && key !== 'parameters') warnings.push(`${locate(['trigger', key])}: unknown field ignored`)
  }

  const action = raw.action
  if (action === undefined || action === null) throw fail([], 'missing action')
  if (!isMapping(action)) throw fail(['action'], `expected a mapping {ref, parameters}, got ${describe(action)}`)
  const actionRef = requireRef(action.ref, ['action', 'ref'], fail)
  const actionParams = params(action.parameters, ['action', 'parameters'], fail)
  for (const key of Object.keys(action)) {
    if (key !== 'ref' && key !== 'parameters') warnings.push(`${locate(['action', key])}: unknown field ignored`)
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
