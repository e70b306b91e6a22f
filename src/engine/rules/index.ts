/**
 * The rule compiler: read rules in either form, normalise them to the stored form, compile
 * their conditions once, then evaluate events fast or explain the decision.
 *
 * ```ts
 * const [loaded] = loadRuleFile('rules/deploy.yaml')
 * evaluate(loaded.compiled, payload)       // boolean
 * explain(loaded.compiled, payload)        // {matched, trace}
 * explain(loaded.compiled, payload, {id: 42, created: '2024-05-01T12:00:00+00:00'})
 * ```
 */
export {compileCondition, compileConditions, compileRule, type CompileOptions} from './compile.js'
export {normaliseConditions, normaliseCriteria, type ConditionContext} from './conditions.js'
export {evaluate, explain} from './evaluate.js'
export {
  evaluateCriteria,
  evaluateExpression,
  ExpressionError,
  isTruthy,
  parseExpression,
  stripTemplate,
  type CriteriaOutcome,
  type ExpressionAst,
  type ExpressionErrorKind,
  type RuleEvent,
} from './expression/index.js'
export {evaluateRuleFile, evaluateRules, type RuleEvalOptions, type RuleEvalResult, type RuleEvaluation} from './eval.js'
export {globToPattern} from './glob.js'
export {formatDocPath, plainLocator, type DocPath, type Locate} from './location.js'
export {ALIAS_NAMES, deepEqual, OPERATOR_NAMES, resolveOperator} from './operators.js'
export {loadRuleFile, parseRules} from './parse.js'
export {FieldPathError, formatPath, parseFieldPath, type FieldPath, type PathSegment} from './path.js'
export {compilePattern, PatternError} from './regex.js'
export {normaliseRule, type NormalisedRule, type NormaliseOptions} from './rule.js'
export type * from './types.js'
