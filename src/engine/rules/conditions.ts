/**
 * Normalising conditions: both authoring forms become one tree of `{all}` / `{any}` groups
 * and `{field, operator, value}` leaves, with canonical field paths and operator names.
 *
 * Attune form: a list means all; `{all: [...]}` / `{any: [...]}` nest to any depth; a leaf is
 * `{field, operator, value}` or `{expression: "{{ ... }}"}` (Attune's expression language,
 * parsed here so a syntax error names the file and line). StackStorm form: `criteria` maps a field to `{type, pattern}`,
 * all of them ANDed.
 */
import {type DocPath, type Locate, ruleError} from './location.js'
import {OperandError, operatorSpec, OPERATORS_HINT, resolveOperator, unknownOperatorMessage} from './operators.js'
import {ExpressionError, parseCriteria, stripTemplate} from './expression/index.js'
import {FieldPathError, parseFieldPath} from './path.js'
import type {ConditionExpression, ConditionGroup, ConditionLeaf, ConditionNode, JsonValue} from './types.js'

export interface ConditionContext {
  locate: Locate
  /** Records where each leaf came from, so compile errors can point into the file. */
  sources?: WeakMap<object, DocPath>
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** Normalise an Attune `conditions` value (absent means "always"). The root is always a group. */
export function normaliseConditions(raw: unknown, path: DocPath, ctx: ConditionContext): ConditionGroup {
  if (raw === undefined || raw === null) return {all: []}
  const node = normaliseNode(raw, path, ctx)
  return 'all' in node || 'any' in node ? node : {all: [node]}
}

function normaliseNode(raw: unknown, path: DocPath, ctx: ConditionContext): ConditionNode {
  if (Array.isArray(raw)) return {all: raw.map((child, i) => normaliseNode(child, [...path, i], ctx))}
  if (!isMapping(raw)) {
    throw ruleError(ctx.locate(path), `expected a condition ({field, operator, value}, {expression}, {all: [...]}, {any: [...]} or a list), got ${describe(raw)}`)
  }
  const keys = Object.keys(raw)
  if (keys.includes('expression')) return makeExpression(raw, keys, path, ctx)
  if (keys.includes('all') || keys.includes('any')) {
    if (keys.length !== 1) {
      throw ruleError(ctx.locate(path), `a group has exactly one key, all or any; found ${keys.join(', ')}`)
    }
    const kind = keys[0] as 'all' | 'any'
    const children = raw[kind]
    if (!Array.isArray(children)) throw ruleError(ctx.locate([...path, kind]), `expected a list of conditions, got ${describe(children)}`)
    const nodes = children.map((child, i) => normaliseNode(child, [...path, kind, i], ctx))
    return kind === 'all' ? {all: nodes} : {any: nodes}
  }
  for (const key of keys) {
    if (key !== 'field' && key !== 'operator' && key !== 'value') {
      throw ruleError(ctx.locate([...path, key]), 'unknown key in a condition (expected field, operator, value, an expression, or a group all/any)')
    }
  }
  if (raw.field === undefined) throw ruleError(ctx.locate(path), 'condition has no field')
  if (raw.operator === undefined) throw ruleError(ctx.locate(path), 'condition has no operator')
  return makeLeaf(
    {field: raw.field, operator: raw.operator, value: raw.value, hasValue: 'value' in raw},
    {node: path, field: [...path, 'field'], operator: [...path, 'operator'], value: [...path, 'value']},
    ctx,
  )
}

/** Normalise StackStorm `criteria` (absent means "always"); the criteria are ANDed in order. */
export function normaliseCriteria(raw: unknown, path: DocPath, ctx: ConditionContext): ConditionGroup {
  if (raw === undefined || raw === null) return {all: []}
  if (!isMapping(raw)) throw ruleError(ctx.locate(path), `expected a mapping of field: {type, pattern}, got ${describe(raw)}`)
  const leaves: ConditionLeaf[] = []
  for (const [field, criterion] of Object.entries(raw)) {
    const at = [...path, field]
    if (!isMapping(criterion)) throw ruleError(ctx.locate(at), `expected {type, pattern}, got ${describe(criterion)}`)
    for (const key of Object.keys(criterion)) {
      if (key !== 'type' && key !== 'pattern') {
        const note = key === 'condition' ? ' (the StackStorm search operator is not supported)' : ''
        throw ruleError(ctx.locate([...at, key]), `unknown key in a criterion (expected type, pattern)${note}`)
      }
    }
    if (criterion.type === undefined) throw ruleError(ctx.locate(at), 'criterion has no type')
    leaves.push(
      makeLeaf(
        {field, operator: criterion.type, value: criterion.pattern, hasValue: 'pattern' in criterion},
        {node: at, field: at, operator: [...at, 'type'], value: [...at, 'pattern']},
        ctx,
      ),
    )
  }
  return {all: leaves}
}

/** `{expression: "..."}`: the only key, a string, and an expression that parses. */
function makeExpression(raw: Record<string, unknown>, keys: string[], path: DocPath, ctx: ConditionContext): ConditionExpression {
  if (keys.length !== 1) {
    const other = keys.find((key) => key !== 'expression')!
    throw ruleError(ctx.locate([...path, other]), `an expression condition has one key, expression; found ${keys.join(', ')}`)
  }
  const at = [...path, 'expression']
  const text = raw.expression
  if (typeof text !== 'string') throw ruleError(ctx.locate(at), `expression must be a string, got ${describe(text)}`)
  checkExpression(text, ctx.locate(at))
  const node: ConditionExpression = {expression: text}
  ctx.sources?.set(node, path)
  return node
}

/**
 * Throws the rule error for an expression that does not parse, naming where it is. The message
 * quotes the expression without its `{{ }}`: the position counts from there.
 */
export function checkExpression(text: string, where: string): void {
  try {
    parseCriteria(text)
  } catch (error) {
    if (error instanceof ExpressionError) throw ruleError(where, `invalid expression ${JSON.stringify(stripTemplate(text))}: ${error.detail}`, error)
    throw error
  }
}

interface RawLeaf {
  field: unknown
  operator: unknown
  value: unknown
  hasValue: boolean
}

interface LeafPaths {
  node: DocPath
  field: DocPath
  operator: DocPath
  value: DocPath
}

function makeLeaf(raw: RawLeaf, paths: LeafPaths, ctx: ConditionContext): ConditionLeaf {
  if (typeof raw.field !== 'string') throw ruleError(ctx.locate(paths.field), `field must be a string, got ${describe(raw.field)}`)
  let canonical: string
  try {
    canonical = parseFieldPath(raw.field).canonical
  } catch (error) {
    if (error instanceof FieldPathError) throw ruleError(ctx.locate(paths.field), error.message)
    throw error
  }
  if (typeof raw.operator !== 'string') {
    throw ruleError(ctx.locate(paths.operator), `operator must be a string, got ${describe(raw.operator)}`)
  }
  const resolved = resolveOperator(raw.operator, raw.hasValue ? (raw.value as JsonValue) : undefined)
  if (!resolved) throw ruleError(ctx.locate(paths.operator), unknownOperatorMessage(raw.operator), undefined, OPERATORS_HINT)
  const spec = operatorSpec(resolved.operator)
  // Operands are checked again at compile time; checking here too lets the message use the
  // operator name as written (`regex`, not `matches`).
  try {
    if (spec.takesValue && resolved.value !== undefined) spec.prepare(resolved.value)
  } catch (error) {
    if (!(error instanceof OperandError)) throw error
    const written = raw.operator.toLowerCase() === spec.name ? '' : ` (${raw.operator} is ${spec.name})`
    throw ruleError(ctx.locate(paths.node), `${error.message}${written}`, error)
  }
  let leaf: ConditionLeaf
  if (spec.takesValue) {
    if (!raw.hasValue || resolved.value === undefined) {
      throw ruleError(ctx.locate(paths.node), `${raw.operator} needs a value to compare with`)
    }
    leaf = {field: canonical, operator: resolved.operator, value: resolved.value}
  } else {
    // exists / not_exists ignore an operand, as StackStorm does.
    leaf = {field: canonical, operator: resolved.operator}
  }
  ctx.sources?.set(leaf, paths.node)
  return leaf
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  return `${typeof value} ${JSON.stringify(value)}`
}
