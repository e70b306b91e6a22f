/**
 * Compiling a normalised condition tree into closures, once per rule load. Paths are parsed,
 * operands checked, regexes and globs compiled here; evaluation then only walks closures.
 * Every problem is an `AbortError` naming the condition's position and the operator or pattern.
 */
import {generateTest, type Plan} from './codegen.js'
import {decide, ExpressionError, parseCriteria, ruleEvent, stripTemplate, toPlain, truthReason, type ExpressionAst} from './expression/index.js'
import {ruleError} from './location.js'
import {MATCH, OperandError, operatorSpec, resolveOperator, TYPE_MISMATCH, unknownOperatorMessage, OPERATORS_HINT, type Check, type OperatorSpec} from './operators.js'
import {FieldPathError, makeGetter, parseFieldPath, resolveExplained, typeName} from './path.js'
import type {
  CompiledCondition,
  CompiledGroup,
  CompiledRule,
  ConditionExpression,
  ConditionGroup,
  ConditionLeaf,
  ConditionNode,
  EventInfo,
  ExpressionTrace,
  GroupTrace,
  JsonValue,
  LeafTrace,
  RuleDefinition,
  TraceNode,
} from './types.js'

export interface CompileOptions {
  /**
   * Generate one JavaScript function per rule for the fast path (see codegen.ts). On by
   * default; off means the closure-built test, which `explain()` always uses.
   */
  codegen?: boolean
  /**
   * Names a condition in messages. `position` is its place in the normalised tree
   * (`conditions.any[1]`); a loader that knows the file maps it to `file:line: criteria...`.
   */
  locate?: (node: ConditionNode, position: string) => string
  /**
   * The trigger of the events evaluated, for expressions (`event.trigger_ref`) when the caller
   * passes no `EventInfo`. `compileRule` sets the rule's own.
   */
  triggerRef?: string
}

const defaultLocate = (_node: ConditionNode, position: string) => `condition ${position}`

/** Compile a rule's conditions; the rule itself is kept alongside for the caller. */
export function compileRule(rule: RuleDefinition, options: CompileOptions = {}): CompiledRule {
  return {rule, conditions: compileConditions(rule.conditions, {triggerRef: rule.trigger_ref, ...options})}
}

/** Compile a condition tree whose root is a group. */
export function compileConditions(root: ConditionGroup, options: CompileOptions = {}): CompiledGroup {
  const locate = options.locate ?? defaultLocate
  if (!isGroup(root)) throw ruleError(locate(root, 'conditions'), 'the root of a condition tree must be an all or any group')
  const {compiled, plan} = compileGroup(root, 'conditions', {locate, triggerRef: options.triggerRef ?? null})
  const generated = options.codegen === false ? undefined : generateTest(plan)
  return generated ? {test: generated, explain: compiled.explain} : compiled
}

/** Compile any node (a leaf or a group). */
export function compileCondition(node: ConditionNode, options: CompileOptions = {}): CompiledCondition {
  const {compiled, plan} = compileNode(node, 'conditions', {locate: options.locate ?? defaultLocate, triggerRef: options.triggerRef ?? null})
  const generated = options.codegen === false ? undefined : generateTest(plan)
  return generated ? {test: generated, explain: compiled.explain} : compiled
}

/** A compiled node and the plan the code generator works from. */
interface Built<T extends CompiledCondition = CompiledCondition> {
  compiled: T
  plan: Plan
}

function isGroup(node: unknown): node is ConditionGroup {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return false
  const keys = Object.keys(node)
  return keys.length === 1 && (keys[0] === 'all' || keys[0] === 'any')
}

type Locator = NonNullable<CompileOptions['locate']>

/** What every node's compilation needs: how to name it, and the default trigger. */
interface Scope {
  locate: Locator
  triggerRef: string | null
}

function compileNode(node: ConditionNode, position: string, scope: Scope): Built {
  if (isGroup(node)) return compileGroup(node, position, scope)
  if (node === null || typeof node !== 'object' || Array.isArray(node)) {
    throw ruleError(scope.locate(node, position), `expected a condition, got ${typeName(node)}`)
  }
  if ('expression' in node) return compileExpression(node, position, scope)
  return compileLeaf(node, position, scope.locate)
}

function compileGroup(node: ConditionGroup, position: string, scope: Scope): Built<CompiledGroup> {
  const {locate} = scope
  const kind: 'all' | 'any' = 'all' in node ? 'all' : 'any'
  const list = 'all' in node ? node.all : node.any
  if (!Array.isArray(list)) throw ruleError(locate(node, `${position}.${kind}`), `expected a list of conditions, got ${typeName(list)}`)
  const built = list.map((child, i) => compileNode(child, `${position}.${kind}[${i}]`, scope))
  const children = built.map((child) => child.compiled)
  const tests = children.map((child) => child.test)
  const test = kind === 'all' ? allOf(tests) : anyOf(tests)
  const explain = (payload: unknown, event?: EventInfo): GroupTrace => {
    // Every child is explained, even after the answer is known: the trace is for reading.
    const traces: TraceNode[] = children.map((child) => child.explain(payload, event))
    const result = kind === 'all' ? traces.every((t) => t.result) : traces.some((t) => t.result)
    return {group: kind, result, children: traces}
  }
  return {compiled: {test, explain}, plan: {kind, children: built.map((child) => child.plan)}}
}

type Test = (payload: unknown, event?: EventInfo) => boolean

// Small arities unrolled: most rules have one to three conditions per group.
function allOf(tests: Test[]): Test {
  const [a, b, c] = tests
  switch (tests.length) {
    case 0:
      return () => true
    case 1:
      return a
    case 2:
      return (p, e) => a(p, e) && b(p, e)
    case 3:
      return (p, e) => a(p, e) && b(p, e) && c(p, e)
    default:
      return (p, e) => {
        for (let i = 0; i < tests.length; i++) if (!tests[i](p, e)) return false
        return true
      }
  }
}

function anyOf(tests: Test[]): Test {
  const [a, b, c] = tests
  switch (tests.length) {
    case 0:
      return () => false
    case 1:
      return a
    case 2:
      return (p, e) => a(p, e) || b(p, e)
    case 3:
      return (p, e) => a(p, e) || b(p, e) || c(p, e)
    default:
      return (p, e) => {
        for (let i = 0; i < tests.length; i++) if (tests[i](p, e)) return true
        return false
      }
  }
}

function compileLeaf(node: ConditionLeaf, position: string, locate: Locator): Built {
  const where = () => locate(node, position)
  if (typeof node.field !== 'string') throw ruleError(where(), `field must be a string, got ${typeName(node.field)}`)
  if (typeof node.operator !== 'string') throw ruleError(where(), `operator must be a string, got ${typeName(node.operator)}`)
  let path
  try {
    path = parseFieldPath(node.field)
  } catch (error) {
    if (error instanceof FieldPathError) throw ruleError(where(), error.message, error)
    throw error
  }
  // Aliases are accepted here too, so a hand-written tree need not be canonical.
  const resolved = resolveOperator(node.operator, node.value)
  if (!resolved) throw ruleError(where(), unknownOperatorMessage(node.operator), undefined, OPERATORS_HINT)
  const spec = operatorSpec(resolved.operator)
  let check: Check
  try {
    check = spec.prepare(resolved.value)
  } catch (error) {
    if (error instanceof OperandError) throw ruleError(where(), error.message, error)
    throw error
  }
  const get = makeGetter(path.segments)
  const field = path.canonical
  const operator = spec.name
  const expected = spec.takesValue ? resolved.value : undefined
  const onMissing = operator === 'not_exists'

  const test: Test = onMissing
    ? (p) => {
        const v = get(p)
        return v === undefined || check(v) === MATCH
      }
    : (p) => {
        const v = get(p)
        return v !== undefined && check(v) === MATCH
      }

  const explain = (payload: unknown): LeafTrace => {
    const found = resolveExplained(payload, path.segments)
    // Keys in reading order: field, operator, expected, actual, result, reason.
    const trace = (result: boolean, reason: string, actual?: unknown): LeafTrace => {
      const t: LeafTrace = {field, operator} as LeafTrace
      if (expected !== undefined) t.expected = expected
      if (actual !== undefined) t.actual = actual
      t.result = result
      t.reason = reason
      return t
    }
    if (!found.found) return trace(onMissing, found.reason)
    const outcome = check(found.value)
    if (outcome === TYPE_MISMATCH) return trace(false, mismatchReason(spec, found.value, expected), found.value)
    return trace(outcome === MATCH, spec.reasons[outcome === MATCH ? 0 : 1], found.value)
  }
  return {compiled: {test, explain}, plan: {kind: 'leaf', segments: path.segments, operator, expected, check}}
}

/**
 * An expression condition: parsed once here, evaluated per event over `event` (the payload and
 * what the caller knows of the event), true when the value is truthy and false on any error.
 */
function compileExpression(node: ConditionExpression, position: string, scope: Scope): Built {
  const where = () => scope.locate(node, position)
  const text = node.expression
  if (typeof text !== 'string') throw ruleError(where(), `expression must be a string, got ${typeName(text)}`)
  let ast: ExpressionAst
  try {
    ast = parseCriteria(text)
  } catch (error) {
    if (error instanceof ExpressionError) throw ruleError(where(), `invalid expression ${JSON.stringify(stripTemplate(text))}: ${error.detail}`, error)
    throw error
  }
  const {triggerRef} = scope
  const test: Test = (payload, event) => decide(ast, ruleEvent(payload, event, triggerRef)).result
  const explain = (payload: unknown, event?: EventInfo): ExpressionTrace => {
    const outcome = decide(ast, ruleEvent(payload, event, triggerRef))
    if (outcome.error !== undefined) return {expression: text, result: false, reason: `error: ${outcome.error}`, error: outcome.error}
    return {expression: text, value: toPlain(outcome.raw), result: outcome.result, reason: truthReason(outcome.raw)}
  }
  return {compiled: {test, explain}, plan: {kind: 'expression', test}}
}

function mismatchReason(spec: OperatorSpec, actual: unknown, expected: JsonValue | undefined): string {
  const type = typeName(actual)
  // The field's type is fine but not with this operand, e.g. a string containing a number.
  if (spec.accepts.includes(type)) return `type mismatch: ${spec.name} on ${withArticle(type)} field needs a string value, got ${withArticle(typeName(expected))}`
  return `type mismatch: ${spec.name} needs ${spec.accepts.map(withArticle).join(' or ')}, the field is ${withArticle(type)}`
}

function withArticle(type: string): string {
  if (type === 'null') return 'null'
  return type === 'array' || type === 'object' ? `an ${type}` : `a ${type}`
}
