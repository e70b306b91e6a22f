/**
 * Secrets in rendered action parameters: what Attune's executor does with them, and the
 * check attune makes instead.
 *
 * Attune's executor, after rendering (in this order):
 * 1. refuses the enforcement when a pack config secret lands on a parameter path the
 *    action's `param_schema` does not mark `secret: true` (nor lies below one);
 * 2. moves every secret value out of the config: first each destination a pack secret
 *    reached, then each schema secret path the rendered config has (even with a `null`
 *    value). The config keeps `{"$attune_secret": true, "redacted": true}` there and the value
 *    goes, encrypted, into an `execution_secret_value` row. A path below one already
 *    redacted is not found any more and skipped.
 *
 * attune writes enforcements itself and does not encrypt, so it must not create an
 * enforcement whose config would hold such a value: `plainSecretParams` names them.
 */
import type {JsonObject, JsonValue} from '../../rules/types.js'
import type {TemplateContext} from './context.js'
import {compareUtf8} from './json-text.js'
import {dotPathFromPointer, setAtPointer, valueAtPointer} from './pointer.js'
import {renderTemplates, type RenderedParams, type SecretPathSource} from './render.js'
import {isUnderSecretPath, secretParamPaths} from './schema.js'

/** The marker Attune leaves in a config where a secret was taken out. */
export function redactionMarker(): JsonObject {
  return {$attune_secret: true, redacted: true}
}

/** One would-be `execution_secret_value` row (before encryption). */
export interface SecretValue {
  json_path: string
  value: JsonValue
  source_kind: 'pack_config' | 'parameter_schema'
  source_ref: string
}

export interface SecretRedaction {
  /**
   * Pack secret destinations the action's schema does not mark secret. Not empty: Attune's
   * executor refuses the enforcement ("Secret value cannot be assigned to non-secret
   * parameter path(s): …") and stores nothing.
   */
  rejected: string[]
  /** The config with redaction markers, as Attune stores it in `enforcement.config`. */
  config: JsonValue
  /** The values taken out, in the order Attune takes them. */
  secrets: SecretValue[]
}

/** What Attune's executor would store for rendered parameters and an action's `param_schema`. */
export function redactSecrets(rendered: RenderedParams, paramSchema: unknown): SecretRedaction {
  const schemaPaths = secretParamPaths(paramSchema)
  const rejected = rendered.sensitivePaths.filter((path) => !isUnderSecretPath(path, schemaPaths))
  const reached = new Set(rendered.secretSources.map((entry) => entry.path))
  const order: SecretPathSource[] = [
    ...rendered.secretSources,
    ...schemaPaths.filter((path) => !reached.has(path)).map((path) => ({path, source: {kind: 'parameter_schema' as const, ref: path}})),
  ]
  let config = structuredClone(rendered.value)
  const secrets: SecretValue[] = []
  const seen = new Set<string>()
  for (const {path, source} of order) {
    if (seen.has(path)) continue
    seen.add(path)
    const value = valueAtPointer(config, path)
    if (value === undefined) continue
    secrets.push({json_path: path, value, source_kind: source.kind, source_ref: source.ref})
    config = setAtPointer(config, path, redactionMarker())
  }
  return {rejected, config, secrets}
}

/** A parameter that would carry a secret into a plain `enforcement.config`. */
export interface PlainSecretParam {
  /** JSON Pointer into the config: `/password`, `/db/password`. */
  path: string
  /** The same as a dotted name, for messages: `password`, `db.password`. */
  parameter: string
  /**
   * `secret_parameter`: the action's schema marks it secret (Attune would encrypt it);
   * `not_secret_parameter`: a pack config secret lands on a parameter the schema does not mark
   * secret (Attune refuses the enforcement).
   */
  reason: 'secret_parameter' | 'not_secret_parameter'
  /** Where the value comes from: `parameter_schema` or `pack_config` (`source_ref` `<pack>:<pointer>`). */
  source_kind: 'pack_config' | 'parameter_schema'
  source_ref: string
}

/**
 * The parameters whose rendered values Attune would treat as secret, sorted by path; empty
 * when the config may be stored as it is.
 */
export function plainSecretParams(rendered: RenderedParams, paramSchema: unknown): PlainSecretParam[] {
  const {rejected, secrets} = redactSecrets(rendered, paramSchema)
  const found = new Map<string, PlainSecretParam>()
  for (const path of rejected) {
    const source = rendered.secretSources.find((entry) => entry.path === path)!.source
    found.set(path, {path, parameter: dotPathFromPointer(path), reason: 'not_secret_parameter', source_kind: source.kind, source_ref: source.ref})
  }
  for (const secret of secrets) {
    if (found.has(secret.json_path)) continue
    found.set(secret.json_path, {
      path: secret.json_path,
      parameter: dotPathFromPointer(secret.json_path),
      reason: 'secret_parameter',
      source_kind: secret.source_kind,
      source_ref: secret.source_ref,
    })
  }
  return [...found.values()].sort((a, b) => compareUtf8(a.path, b.path))
}

/**
 * The same check before any event exists (a rule being registered): which parameters can
 * receive a secret, from the rule's `action_params`, the action's `param_schema` and the
 * pack's `conf_schema`. Pack secrets are found exactly (they depend on the templates only).
 * A schema secret path counts when `action_params` has it, or when an object on its way is
 * a templated string (`"db": "{{ event.payload.db }}"`) that may render to an object holding it.
 */
export function possibleSecretParams(actionParams: JsonValue | undefined, paramSchema: unknown, packConfSchema?: JsonValue | null): PlainSecretParam[] {
  if (actionParams === null || actionParams === undefined || typeof actionParams !== 'object' || Array.isArray(actionParams) || Object.keys(actionParams).length === 0) return []
  const context: TemplateContext = {
    event: {payload: {}},
    pack: {ref: null, config: {}, conf_schema: packConfSchema ?? null},
    system: {timestamp: '', rule: {id: 0, ref: ''}},
  }
  const rendered = renderTemplates(actionParams, context)
  // Every templated string stands for "some value here": make the schema paths below it exist.
  let shape: JsonValue = structuredClone(actionParams)
  for (const path of secretParamPaths(paramSchema)) {
    if (valueAtPointer(shape, path) !== undefined) continue
    const segments = path.split('/').slice(1)
    for (let depth = 1; depth < segments.length; depth++) {
      const prefix = `/${segments.slice(0, depth).join('/')}`
      const value = valueAtPointer(shape, prefix)
      if (value === undefined || (typeof value !== 'object' && typeof value !== 'string')) break
      if (typeof value === 'string') {
        if (!/\{\{[^}]+\}\}/u.test(value)) break
        shape = setAtPointer(shape, prefix, {})
        shape = setAtPointer(shape, path, null)
        break
      }
    }
  }
  return plainSecretParams({...rendered, value: shape}, paramSchema)
}

/**
 * The error attune reports instead of creating such an enforcement: names the rule, the
 * action and every parameter, and says what to do.
 */
export function secretRefusalMessage(ruleRef: string, actionRef: string, params: readonly PlainSecretParam[]): string {
  const list = params
    .map((param) => (param.reason === 'secret_parameter' ? `'${param.parameter}' (secret in the action's schema)` : `'${param.parameter}' (gets pack secret ${param.source_ref})`))
    .join(', ')
  return (
    `Rule '${ruleRef}': not creating an enforcement, the config of action '${actionRef}' would hold secret parameter(s) ${list} in plain text. ` +
    `Attune's executor encrypts such values into execution_secret_value; attune does not. ` +
    `Remove them from the rule's action parameters (let the action read them from its pack config or the key store), ` +
    `or let Attune's executor create this rule's enforcements.`
  )
}
