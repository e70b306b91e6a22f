/**
 * Attune's rule expression language: `{"expression": "{{ event.payload.count > 2 and
 * 'prod' in event.payload.tags }}"}` as a rule condition, evaluated as Attune's executor does.
 *
 * ```ts
 * const ast = parseExpression('length(event.payload.items) > 3')   // throws ExpressionError
 * evaluateExpression(ast, {event})                                  // 4 > 3 → true
 * evaluateCriteria('{{ event.payload.x }}', event)                  // {result, value} or {result: false, error}
 * ```
 */
export {decide, evaluateCriteria, parseCriteria, rfc3339, ruleEvent, stripTemplate, truthReason, type CriteriaOutcome, type EventInfo, type RuleEvent} from './criteria.js'
export {ExpressionError, type ExpressionErrorKind} from './errors.js'
export {evaluateExpression, evaluateRaw} from './evaluate.js'
export {callFunction, FUNCTION_NAMES} from './functions.js'
export {parseExpression, type BinaryOperator, type ExpressionAst, type UnaryOperator} from './parser.js'
export {describeToken, tokenize, type Token} from './tokenizer.js'
export {formatFloat, FloatValue, isTruthy, toJsonText, toPlain, toText, typeOf, type TypeName} from './values.js'
