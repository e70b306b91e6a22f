/**
 * Rule action parameters rendered as Attune's executor renders them into
 * `enforcement.config` (`{{ event.payload.x }}`, `{{ pack.config.x }}`, `{{ system.rule.id }}`),
 * and the secrets that rendering would expose. See `render.ts` for the syntax, `context.ts`
 * for what templates can read, `secrets.ts` for what Attune does with secret parameters.
 *
 * ```ts
 * const context = buildTemplateContext({event, rule, pack, now: new Date()})
 * const rendered = renderActionParams(rule.action_params, context)
 * const leaks = plainSecretParams(rendered, action.param_schema)
 * if (leaks.length > 0) throw new Error(secretRefusalMessage(rule.ref, action.ref, leaks))
 * ```
 */
export {buildTemplateContext, lookup, rfc3339, type TemplateContext, type TemplateSources} from './context.js'
export {formatFloat, formatJsonNumber, interpolationText, toJsonText} from './json-text.js'
export {renderActionParams, renderTemplates, templatePaths, type RenderedParams, type SecretPathSource, type SecretSource} from './render.js'
export {isUnderSecretPath, secretParamPaths} from './schema.js'
export {
  plainSecretParams,
  possibleSecretParams,
  redactionMarker,
  redactSecrets,
  secretRefusalMessage,
  type PlainSecretParam,
  type SecretRedaction,
  type SecretValue,
} from './secrets.js'
