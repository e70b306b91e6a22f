/**
 * A rule condition written as an expression, `{"expression": "{{ event.payload.count > 2 }}"}`,
 * decided as Attune's executor decides it:
 *
 * 1. the text is trimmed; if it then starts with `{{` and ends with `}}`, what is between
 *    (trimmed again) is the expression, otherwise the trimmed text is;
 * 2. it is evaluated with one variable, `event`: `{id, trigger, trigger_ref, payload, created}`
 *    (`trigger` is the trigger's ref, like `trigger_ref`; `created` is RFC 3339 text);
 * 3. the rule matches when the value is truthy. Any error (syntax, an unknown variable or
 *    field, a type error) makes it not match.
 */
import type {EventInfo} from '../types.js'
import {ExpressionError} from './errors.js'
import {evaluateRaw} from './evaluate.js'
import {parseExpression, type ExpressionAst} from './parser.js'
import {formatNumber, isTruthy, ownKeys, toPlain, trimWhitespace, typeOf} from './values.js'

export type {EventInfo}

/** The `event` variable of a rule expression. */
export interface RuleEvent {
  id: number | string | null
  trigger: string | null
  trigger_ref: string | null
  payload: unknown
  created: string
}

/** The decision on one expression: `value` when it evaluated, `error` when it did not. */
export interface CriteriaOutcome {
  result: boolean
  value?: unknown
  error?: string
}

/** The expression inside `{{ ... }}`, exactly as the executor takes it out. */
export function stripTemplate(text: string): string {
  const trimmed = trimWhitespace(text)
  const rest = trimmed.slice(2)
  if (trimmed.startsWith('{{') && rest.endsWith('}}')) return trimWhitespace(rest.slice(0, -2))
  return trimmed
}

/** Parse a condition's text (with or without `{{ }}`); throws a syntax `ExpressionError`. */
export function parseCriteria(text: string): ExpressionAst {
  return parseExpression(stripTemplate(text))
}

/**
 * The `event` of an expression for `payload`. Without `info`, the id is null, the trigger is
 * `triggerRef` (the rule's own) and `created` is now.
 */
export function ruleEvent(payload: unknown, info: EventInfo | undefined, triggerRef: string | null): RuleEvent {
  const trigger = info?.trigger_ref ?? triggerRef
  const created = info?.created
  return {
    id: info?.id ?? null,
    trigger,
    trigger_ref: trigger,
    payload,
    created: typeof created === 'string' ? created : rfc3339(created ?? new Date()),
  }
}

/**
 * A time as Attune's timestamps print (chrono's `to_rfc3339` in UTC): `+00:00`, and a
 * fraction only when there is one.
 */
export function rfc3339(date: Date): string {
  const iso = date.toISOString() // 2024-05-01T12:00:00.000Z
  const fraction = iso.slice(19, 23) === '.000' ? '' : iso.slice(19, 23)
  return `${iso.slice(0, 19)}${fraction}+00:00`
}

/** Evaluate a parsed expression against an event; never throws. */
export function decide(ast: ExpressionAst, event: RuleEvent): {result: boolean; raw?: unknown; error?: string} {
  try {
    const raw = evaluateRaw(ast, {event})
    return {result: isTruthy(raw), raw}
  } catch (error) {
    // A JS error (a payload nested beyond the stack) counts as an error too: the rule is false.
    return {result: false, error: error instanceof ExpressionError ? error.message : `Evaluation failed: ${(error as Error).message}`}
  }
}

/** The whole rule-condition behaviour on one condition text. Never throws. */
export function evaluateCriteria(text: string, event: RuleEvent): CriteriaOutcome {
  let ast: ExpressionAst
  try {
    ast = parseCriteria(text)
  } catch (error) {
    if (error instanceof ExpressionError) return {result: false, error: error.message}
    throw error
  }
  const {result, raw, error} = decide(ast, event)
  return error === undefined ? {result, value: toPlain(raw)} : {result, error}
}

/** Why a value decides as it does: `value 3 is truthy`, `an empty array is falsy`. */
export function truthReason(value: unknown): string {
  const verdict = isTruthy(value) ? 'truthy' : 'falsy'
  switch (typeOf(value)) {
    case 'array': {
      const n = (value as unknown[]).length
      return `${n === 0 ? 'an empty array' : `an array of ${n} element${n === 1 ? '' : 's'}`} is ${verdict}`
    }
    case 'object': {
      const n = ownKeys(value as Record<string, unknown>).length
      return `${n === 0 ? 'an empty object' : `an object of ${n} key${n === 1 ? '' : 's'}`} is ${verdict}`
    }
    case 'number':
      return `value ${formatNumber(value)} is ${verdict}`
    case 'string': {
      const text = value as string
      return `value ${JSON.stringify(text.length > 40 ? `${text.slice(0, 39)}…` : text)} is ${verdict}`
    }
    default:
      return `value ${String(value ?? null)} is ${verdict}`
  }
}
