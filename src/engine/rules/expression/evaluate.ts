/**
 * Evaluating a syntax tree over a context of named values, with Attune's semantics:
 *
 * - `and` / `or` short-circuit and always give a boolean; `not x` is the negated truthiness.
 * - `+` adds numbers, joins two strings or two arrays; nothing is coerced (`"a" + 1` is an error).
 * - Integer `+ - * %` stay integers; with a float involved the result is a float. `/` of two
 *   integers is an integer when it divides evenly, else a float. Dividing by zero is an error.
 * - `==` / `!=` compare deeply; an integer equals a float of the same value; other types are
 *   never equal (`"3" == 3` is false, `null == 0` is false).
 * - `< > <= >=` order numbers, strings (by code point) and arrays (element by element); any
 *   other pair is an error.
 * - `x in y`: an element of an array, a key of an object, a substring of a string.
 * - `.field` and `["key"]` read an object (a missing key is an error, not null); `[i]` reads an
 *   array or a string's characters, negative indexes count from the end.
 * - A name is looked up in the context; an unknown name is an error.
 */
import {ExpressionError, typeError} from './errors.js'
import {callFunction, inOperator} from './functions.js'
import type {BinaryOperator, ExpressionAst} from './parser.js'
import {asInteger, chars, compareNumbers, compareStrings, float, int, isObject, isTruthy, numeric, ownValue, toPlain, typeOf, valuesEqual} from './values.js'

/**
 * Evaluate over `context` (its own keys are the variables). The result keeps whole floats as
 * `FloatValue` (see values.ts); `evaluateExpression` hands out plain JSON instead.
 */
export function evaluateRaw(ast: ExpressionAst, context: Record<string, unknown>): unknown {
  switch (ast.type) {
    case 'literal':
      return ast.value
    case 'array':
      return ast.elements.map((element) => evaluateRaw(element, context))
    case 'variable': {
      const value = ownValue(context, ast.name)
      if (value === undefined) throw new ExpressionError('variable_not_found', ast.name)
      return value
    }
    case 'binary': {
      if (ast.operator === 'and') return isTruthy(evaluateRaw(ast.left, context)) && isTruthy(evaluateRaw(ast.right, context))
      if (ast.operator === 'or') return isTruthy(evaluateRaw(ast.left, context)) || isTruthy(evaluateRaw(ast.right, context))
      const left = evaluateRaw(ast.left, context)
      return binary(ast.operator, left, evaluateRaw(ast.right, context))
    }
    case 'unary': {
      const value = evaluateRaw(ast.operand, context)
      if (ast.operator === 'not') return !isTruthy(value)
      const num = numeric(value)
      if (!num) throw typeError(`Cannot negate ${typeOf(value)}`)
      return num.int ? int(-num.n) : float(-num.n)
    }
    case 'member':
      return member(evaluateRaw(ast.object, context), ast.field)
    case 'index': {
      const object = evaluateRaw(ast.object, context)
      return index(object, evaluateRaw(ast.index, context))
    }
    case 'call':
      // Arguments first, in order: an error in one comes before an unknown function name.
      return callFunction(
        ast.name,
        ast.args.map((arg) => evaluateRaw(arg, context)),
      )
  }
}

/** Evaluate and return plain JSON values (whole floats as plain numbers). */
export function evaluateExpression(ast: ExpressionAst, context: Record<string, unknown>): unknown {
  return toPlain(evaluateRaw(ast, context))
}

function binary(operator: Exclude<BinaryOperator, 'and' | 'or'>, left: unknown, right: unknown): unknown {
  switch (operator) {
    case '+':
      if (typeof left === 'string' && typeof right === 'string') return left + right
      if (Array.isArray(left) && Array.isArray(right)) return [...left, ...right]
      return arithmetic('+', left, right, (a, b) => a + b)
    case '-':
      return arithmetic('-', left, right, (a, b) => a - b)
    case '*':
      return arithmetic('*', left, right, (a, b) => a * b)
    case '/':
      return divide(left, right)
    case '%':
      return remainder(left, right)
    case '==':
      return valuesEqual(left, right)
    case '!=':
      return !valuesEqual(left, right)
    case '<':
      return order(left, right) < 0
    case '>':
      return order(left, right) > 0
    case '<=':
      return order(left, right) <= 0
    case '>=':
      return order(left, right) >= 0
    case 'in':
      return inOperator(left, right)
  }
}

function operands(symbol: string, left: unknown, right: unknown) {
  const a = numeric(left)
  const b = numeric(right)
  if (!a || !b) throw typeError(`Cannot apply '${symbol}' to ${typeOf(left)} and ${typeOf(right)}`)
  return {a, b, ints: a.int && b.int}
}

function arithmetic(symbol: string, left: unknown, right: unknown, op: (a: number, b: number) => number): unknown {
  const {a, b, ints} = operands(symbol, left, right)
  return ints ? int(op(a.n, b.n)) : float(op(a.n, b.n))
}

function divide(left: unknown, right: unknown): unknown {
  const {a, b, ints} = operands('/', left, right)
  if (b.n === 0) throw new ExpressionError('division_by_zero', '')
  if (ints && a.n % b.n === 0) return int(a.n / b.n)
  return float(a.n / b.n)
}

function remainder(left: unknown, right: unknown): unknown {
  const {a, b, ints} = operands('%', left, right)
  if (b.n === 0) throw new ExpressionError('division_by_zero', '')
  // JS `%` truncates like Rust's, for integers and floats alike.
  return ints ? int(a.n % b.n) : float(a.n % b.n)
}

/** -1, 0 or 1 for two numbers, two strings or two arrays; anything else is a type error. */
export function order(left: unknown, right: unknown): number {
  const a = numeric(left)
  const b = numeric(right)
  if (a && b) return compareNumbers(a.n, b.n)
  if (typeof left === 'string' && typeof right === 'string') return compareStrings(left, right)
  if (Array.isArray(left) && Array.isArray(right)) {
    const length = Math.min(left.length, right.length)
    for (let i = 0; i < length; i++) {
      const x = left[i]
      const y = right[i]
      const nx = numeric(x)
      const ny = numeric(y)
      let step: number
      if (nx && ny) step = compareNumbers(nx.n, ny.n)
      else if (typeof x === 'string' && typeof y === 'string') step = compareStrings(x, y)
      else throw typeError('Cannot compare heterogeneous array elements for ordering')
      if (step !== 0) return step
    }
    return Math.sign(left.length - right.length)
  }
  throw typeError(`Cannot compare ${typeOf(left)} and ${typeOf(right)} with ordering operators`)
}

function member(object: unknown, field: string): unknown {
  if (!isObject(object)) throw typeError(`Cannot access property '${field}' on ${typeOf(object)}`)
  const value = ownValue(object, field)
  if (value === undefined) throw new ExpressionError('variable_not_found', `field '${field}'`)
  return value
}

function index(object: unknown, key: unknown): unknown {
  if (Array.isArray(object) || typeof object === 'string') {
    const i = asInteger(key)
    if (i === undefined) throw typeError(`${Array.isArray(object) ? 'Array' : 'String'} index must be an integer`)
    const items = Array.isArray(object) ? object : chars(object)
    const at = i < 0 ? items.length + i : i
    if (at < 0 || at >= items.length) throw new ExpressionError('index_out_of_bounds', String(at))
    return items[at] === undefined ? null : items[at]
  }
  if (isObject(object)) {
    if (typeof key !== 'string') throw typeError('Object key must be a string')
    const value = ownValue(object, key)
    if (value === undefined) throw new ExpressionError('variable_not_found', `key '${key}'`)
    return value
  }
  throw typeError(`Cannot index into ${typeOf(object)}`)
}
