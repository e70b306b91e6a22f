import {describe, expect, it} from 'vitest'
import {AbortError} from '../../src/engine/errors.js'
import {evaluateRules, ruleDefinitionFromRow, type StoredRuleRow} from '../../src/engine/rules/eval.js'
import {
  evaluateCriteria,
  evaluateExpression,
  ExpressionError,
  isTruthy,
  parseExpression,
  rfc3339,
  ruleEvent,
  stripTemplate,
  toText,
  tokenize,
  evaluateRaw,
  type RuleEvent,
} from '../../src/engine/rules/expression/index.js'
import {compileConditions, compileRule, evaluate, explain, parseRules, type ConditionGroup, type ExpressionTrace} from '../../src/engine/rules/index.js'
import {renderRuleEvalResult} from '../../src/ui/rule-trace.js'

/** Evaluate `text` over `vars` (plain JSON out). */
const run = (text: string, vars: Record<string, unknown> = {}) => evaluateExpression(parseExpression(text), vars)
/** What `string(...)` of the result gives: shows integers and floats apart. */
const text = (expression: string, vars: Record<string, unknown> = {}) => toText(evaluateRaw(parseExpression(expression), vars))

function errorOf(fn: () => unknown): ExpressionError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(ExpressionError)
    return error as ExpressionError
  }
  throw new Error('expected an ExpressionError')
}

const event = (payload: unknown, extra: Partial<RuleEvent> = {}): RuleEvent => ({
  id: 7,
  trigger: 'shop.order',
  trigger_ref: 'shop.order',
  payload,
  created: '2024-05-01T12:00:00+00:00',
  ...extra,
})

describe('tokenizer', () => {
  const kinds = (input: string) => tokenize(input).map((t) => ('value' in t ? `${t.kind}:${t.value}` : 'name' in t ? `ident:${t.name}` : t.kind))

  it('splits operators, numbers, names and keywords', () => {
    expect(kinds('x >= 10')).toEqual(['ident:x', '>=', 'int:10', 'eof'])
    expect(kinds('true and not false or null in x')).toEqual(['true', 'and', 'not', 'false', 'or', 'null', 'in', 'ident:x', 'eof'])
    expect(kinds('a<=b!=c==d<e>f')).toEqual(['ident:a', '<=', 'ident:b', '!=', 'ident:c', '==', 'ident:d', '<', 'ident:e', '>', 'ident:f', 'eof'])
  })

  it('reads floats only with digits after the dot', () => {
    expect(kinds('3.15')).toEqual(['float:3.15', 'eof'])
    expect(kinds('42.field')).toEqual(['int:42', '.', 'ident:field', 'eof'])
  })

  it('reads both quote styles and the escapes', () => {
    expect(kinds(`"hello" + 'world'`)).toEqual(['string:hello', '+', 'string:world', 'eof'])
    expect(kinds(String.raw`"a\nb\t\\\"" 'it\'s' "\d"`)).toEqual(['string:a\nb\t\\"', "string:it's", 'string:\\d', 'eof'])
  })

  it('counts positions in characters', () => {
    expect(tokenize('"é🙂" + x').map((t) => t.start)).toEqual([0, 5, 7, 8])
  })

  it.each([
    ['a = b', "Unexpected character '=' at position 2", 2],
    ['!a', "Unexpected character '!' at position 0", 0],
    ['a # b', "Unexpected character '#' at position 2", 2],
    ['x + "abc', 'Unterminated string literal starting at position 4', 4],
    ['9223372036854775808', 'Invalid number literal at position 0: 9223372036854775808', 0],
  ])('rejects %j', (input, detail, position) => {
    const error = errorOf(() => tokenize(input))
    expect(error.kind).toBe('syntax')
    expect(error.detail).toBe(detail)
    expect(error.position).toBe(position)
    expect(error.message).toBe(`Parse error: ${detail}`)
  })
})

describe('parser', () => {
  it('builds the tree with the documented precedence', () => {
    expect(parseExpression('2 + 3 * 4')).toEqual({
      type: 'binary',
      operator: '+',
      left: {type: 'literal', value: 2},
      right: {type: 'binary', operator: '*', left: {type: 'literal', value: 3}, right: {type: 'literal', value: 4}},
    })
    // `not` is looser than comparison: not (a == b)
    expect(parseExpression('not a == b')).toMatchObject({type: 'unary', operator: 'not', operand: {type: 'binary', operator: '=='}})
    // `and` binds tighter than `or`
    expect(parseExpression('a or b and c')).toMatchObject({type: 'binary', operator: 'or', right: {operator: 'and'}})
    // unary minus is tighter than `*` and looser than member access
    expect(parseExpression('-a.b * 2')).toMatchObject({left: {type: 'unary', operator: '-', operand: {type: 'member', field: 'b'}}})
  })

  it('parses member, index and call chains', () => {
    expect(parseExpression('obj.field.sub')).toEqual({
      type: 'member',
      object: {type: 'member', object: {type: 'variable', name: 'obj'}, field: 'field'},
      field: 'sub',
    })
    expect(parseExpression('length(arr)')).toEqual({type: 'call', name: 'length', args: [{type: 'variable', name: 'arr'}]})
    expect(parseExpression('arr[0]')).toEqual({type: 'index', object: {type: 'variable', name: 'arr'}, index: {type: 'literal', value: 0}})
    expect(parseExpression('x.in.not')).toMatchObject({type: 'member', field: 'not', object: {type: 'member', field: 'in'}})
    expect(() => parseExpression('data.users[1].name')).not.toThrow()
  })

  it('allows a trailing comma in array literals, not in arguments', () => {
    expect(parseExpression('[1, 2, 3,]')).toEqual({type: 'array', elements: [1, 2, 3].map((value) => ({type: 'literal', value}))})
    expect(errorOf(() => parseExpression('f(1,)')).detail).toBe('Unexpected token ) at position 4')
  })

  it.each([
    ['', 'Unexpected token EOF at position 0', 0],
    ['1 +', 'Unexpected token EOF at position 3', 3],
    ['(1 + 2', 'Expected ), found EOF at position 6', 6],
    ['a[1', 'Expected ], found EOF at position 3', 3],
    ['x.(', 'Expected identifier, found ( at position 2', 2],
    ['x.1', 'Expected identifier, found 1 at position 2', 2],
    ['1 2', 'Unexpected token 2 at position 2', 2],
    ['a.b(1)', 'Unexpected token ( at position 3', 3],
    ['f(x)(y)', 'Unexpected token ( at position 4', 4],
    ['1 + not x', 'Unexpected token not at position 4', 4],
    ['"a" 2.50', 'Unexpected token 2.5 at position 4', 4],
  ])('reports %j with its position', (input, detail, position) => {
    const error = errorOf(() => parseExpression(input))
    expect(error).toMatchObject({kind: 'syntax', detail, position})
  })

  it('refuses absurd nesting instead of overflowing the stack', () => {
    expect(errorOf(() => parseExpression(`${'('.repeat(5000)}1${')'.repeat(5000)}`)).detail).toMatch(/nested too deeply/)
    expect(run(`${'('.repeat(100)}1${')'.repeat(100)}`)).toBe(1)
  })
})

describe('evaluation', () => {
  it('does integer and float arithmetic', () => {
    expect(['2 + 3', '10 - 4', '3 * 7', '15 / 5', '17 % 5', '-17 % 5'].map((e) => run(e))).toEqual([5, 6, 21, 3, 2, -2])
    expect(run('2.5 + 1.5')).toBe(4)
    expect(run('10.0 / 3.0')).toBe(10 / 3)
    expect(run('2 + 1.5')).toBe(3.5)
    expect(run('7.5 % 2')).toBe(1.5)
  })

  it('applies precedence and unary minus', () => {
    expect(run('2 + 3 * 4')).toBe(14)
    expect(run('(2 + 3) * 4')).toBe(20)
    expect(run('10 - 2 * 3 + 1')).toBe(5)
    expect(run('-5')).toBe(-5)
    expect(run('-2 + 3')).toBe(1)
    expect(run('-(2 + 3)')).toBe(-5)
    expect(run('- -2')).toBe(2)
  })

  it('concatenates strings and arrays, and coerces nothing', () => {
    expect(run('"hello" + " " + "world"')).toBe('hello world')
    expect(run('[1] + [2, 3]')).toEqual([1, 2, 3])
    expect(errorOf(() => run('"hello" + 5')).message).toBe("Type error: Cannot apply '+' to string and number")
    expect(errorOf(() => run('true * 2')).message).toBe("Type error: Cannot apply '*' to bool and number")
    expect(run('"3" == 3')).toBe(false)
  })

  it('compares numbers, strings and arrays', () => {
    expect(['3 == 3', '3 != 4', '3 > 2', '3 < 2', '3 >= 3', '3 <= 4'].map((e) => run(e))).toEqual([true, true, true, false, true, true])
    expect(['3 == 3.0', '3.0 == 3', '3 != 3.1'].map((e) => run(e))).toEqual([true, true, true])
    expect(['"abc" == "abc"', '"abc" < "abd"', '"abc" > "abb"', '"Z" < "a"'].map((e) => run(e))).toEqual([true, true, true, true])
    expect(['[1, 2] < [1, 3]', '[1, 2] < [1, 2, 0]', '["b"] > ["a", "z"]'].map((e) => run(e))).toEqual([true, true, true])
    expect(errorOf(() => run('[1] < ["a"]')).message).toBe('Type error: Cannot compare heterogeneous array elements for ordering')
    expect(errorOf(() => run('1 < "2"')).message).toBe('Type error: Cannot compare number and string with ordering operators')
    expect(errorOf(() => run('null < 1')).kind).toBe('type_error')
    // Chained comparisons compare a boolean with a number.
    expect(errorOf(() => run('1 < 2 < 3')).kind).toBe('type_error')
  })

  it('orders strings by code point, as Rust does, not by UTF-16 unit', () => {
    expect(run('"\u{1F600}" > "\uFF61"')).toBe(true)
    expect(run('sort(["\u{1F600}", "\uFF61", "a"])')).toEqual(['a', '\uFF61', '\u{1F600}'])
  })

  it('compares null, arrays and objects deeply', () => {
    expect(['null == null', 'null != null', 'null == 0', 'null == false', 'false == 0'].map((e) => run(e))).toEqual([true, false, false, false, false])
    const vars = {a: [1, 2, 3], b: [1, 2, 3], c: [1, 2, 4], o: {x: 1, y: 2}, p: {y: 2, x: 1}, q: {x: 1, y: 3}, r: {x: 1.0, y: [2]}}
    expect(['a == b', 'a != c', 'o == p', 'o != q', 'o == r'].map((e) => run(e, vars))).toEqual([true, true, true, true, false])
    expect(run('[1, [2, x]] == [1.0, [2, y]]', {x: {k: 3}, y: {k: 3.5 - 0.5}})).toBe(true)
  })

  it('short-circuits and/or and gives booleans', () => {
    expect(['true and true', 'true and false', 'false or true', 'false or false', 'not true', 'not false'].map((e) => run(e))).toEqual([true, false, true, false, false, true])
    expect(run('true or false and false')).toBe(true)
    expect(run('(true or false) and false')).toBe(false)
    expect(run('1 and "x"')).toBe(true)
    expect(run('0 or ""')).toBe(false)
    // The right side is not evaluated once the answer is known.
    expect(run('false and nope')).toBe(false)
    expect(run('true or nope')).toBe(true)
    expect(errorOf(() => run('true and nope')).message).toBe('Variable not found: nope')
  })

  it('reads members and indexes', () => {
    const vars = {obj: {a: {b: 42}, key: 'value', n: null}, arr: [10, 20, 30], data: {users: [{name: 'Alice'}, {name: 'Bob'}]}}
    expect(run('obj.a.b', vars)).toBe(42)
    expect(run('arr[1]', vars)).toBe(20)
    expect(run('obj["key"]', vars)).toBe('value')
    expect(run('obj.n', vars)).toBe(null)
    expect(run('data.users[1].name', vars)).toBe('Bob')
    expect(run('arr[-1]', vars)).toBe(30)
    expect(run('arr[-3]', vars)).toBe(10)
    expect(run('"héllo"[1]')).toBe('é')
    expect(run('"abc"[-1]')).toBe('c')
  })

  it('makes a missing field or key an error, not null', () => {
    const vars = {obj: {a: 1}, arr: [1, 2]}
    expect(errorOf(() => run('obj.b', vars)).message).toBe("Variable not found: field 'b'")
    expect(errorOf(() => run('obj["b"]', vars)).message).toBe("Variable not found: key 'b'")
    expect(errorOf(() => run('obj.toString', vars)).message).toBe("Variable not found: field 'toString'")
    expect(errorOf(() => run('arr[2]', vars)).message).toBe('Index out of bounds: 2')
    expect(errorOf(() => run('arr[-3]', vars)).kind).toBe('index_out_of_bounds')
    expect(errorOf(() => run('arr.length', vars)).message).toBe("Type error: Cannot access property 'length' on array")
    expect(errorOf(() => run('arr["0"]', vars)).message).toBe('Type error: Array index must be an integer')
    expect(errorOf(() => run('obj[0]', vars)).message).toBe('Type error: Object key must be a string')
    expect(errorOf(() => run('(1)[0]')).message).toBe('Type error: Cannot index into number')
  })

  it('tests membership with in', () => {
    const vars = {arr: [1, 2, 3], obj: {key: 'val'}}
    expect(['2 in arr', '5 in arr', '2.0 in arr', '"key" in obj', '"nope" in obj', '"ell" in "hello"', '"" in "x"'].map((e) => run(e, vars))).toEqual([
      true,
      false,
      true,
      true,
      false,
      true,
      true,
    ])
    expect(errorOf(() => run('1 in obj', vars)).message).toBe('Type error: Only string keys can be tested for membership in objects')
    expect(errorOf(() => run('1 in "1"')).message).toBe('Type error: Only strings can be tested for substring membership')
    expect(errorOf(() => run('1 in 1')).message).toBe("Type error: 'in' requires array, object, or string on right side, got number")
  })

  it('errors on an unknown variable, an unknown function, a wrong argument count, division by zero', () => {
    expect(errorOf(() => run('x')).message).toBe('Variable not found: x')
    expect(errorOf(() => run('nope(1)')).message).toBe('Unknown function: nope')
    expect(errorOf(() => run('constructor(1)')).kind).toBe('unknown_function')
    // Arguments are evaluated before the function is looked up.
    expect(errorOf(() => run('nope(x)')).message).toBe('Variable not found: x')
    expect(errorOf(() => run('length(1, 2)')).message).toBe('Wrong number of arguments for length: expected 1, got 2')
    expect(errorOf(() => run('range()')).message).toBe('Wrong number of arguments for range: expected 1 or 2, got 0')
    expect(errorOf(() => run('5 / 0')).message).toBe('Division by zero')
    expect(errorOf(() => run('5 % 0')).message).toBe('Division by zero')
    expect(errorOf(() => run('5 / 0.0')).kind).toBe('division_by_zero')
    expect(errorOf(() => run('-"a"')).message).toBe('Type error: Cannot negate string')
  })
})

describe('integers and floats', () => {
  it('divides integers to an integer only when exact', () => {
    expect(text('10 / 5')).toBe('2')
    expect(text('10 / 4')).toBe('2.5')
    expect(text('10 / 4.0')).toBe('2.5')
    expect(text('4.0 / 2')).toBe('2.0')
    expect(text('6 * 1.0')).toBe('6.0')
    expect(text('7 % 2.0')).toBe('1.0')
  })

  it('writes numbers as Attune does', () => {
    expect(text('2.0')).toBe('2.0')
    expect(text('2')).toBe('2')
    expect(text('-0.0')).toBe('-0.0')
    expect(text('0.1 + 0.2')).toBe('0.30000000000000004')
    expect(text('1.0 * 10000000000000000')).toBe('1e16')
    expect(text('1.0 * 1000000000000000')).toBe('1000000000000000.0')
    expect(text('1.0 / 100000')).toBe('0.00001')
    expect(text('1.0 / 1000000')).toBe('1e-6')
    expect(text('1.5 / 10000000')).toBe('1.5e-7')
    expect(text('[1, 2.0, "x", [true, null]]')).toBe('[1,2.0,"x",[true,null]]')
    expect(text('o', {o: {b: 2.5, a: 'é"'}})).toBe('{"a":"é\\"","b":2.5}')
    expect(run('"n=" + string(3.0)')).toBe('n=3.0')
    expect(run('join([1, 1.5, 2.0, "a"], "|")')).toBe('1|1.5|2.0|a')
  })

  it('keeps the kind through functions', () => {
    expect(text('min(3, 7.5)')).toBe('3.0')
    expect(text('min(3, 7)')).toBe('3')
    expect(text('abs(-2.0)')).toBe('2.0')
    expect(text('floor(3.7)')).toBe('3')
    expect(text('sum([1, 2])')).toBe('3')
    expect(text('sum([1, 2.0])')).toBe('3.0')
    expect(text('number("3")')).toBe('3.0')
    expect(text('number(3)')).toBe('3')
    expect(text('number(true)')).toBe('1.0')
    expect(text('int(3.9)')).toBe('3')
  })

  it('wants integers for indexes and ranges', () => {
    expect(errorOf(() => run('[1, 2][1.0]')).message).toBe('Type error: Array index must be an integer')
    expect(errorOf(() => run('range(2.0)')).message).toBe('Type error: range() requires integer argument')
    expect(errorOf(() => run('"ab"[0.0]')).message).toBe('Type error: String index must be an integer')
  })

  it('treats whole payload numbers as integers and fractional ones as floats', () => {
    expect(toText(evaluateRaw(parseExpression('x / 2'), {x: 4}))).toBe('2')
    expect(toText(evaluateRaw(parseExpression('string(x)'), {x: 2.5}))).toBe('2.5')
    expect(toText(evaluateRaw(parseExpression('[x[0] / 2]'), {x: [2.0]}))).toBe('[1]')
  })

  it('hands out plain numbers', () => {
    expect(run('2.0')).toBe(2)
    expect(run('[2.0, o, [3.0]]', {o: {a: 1}})).toEqual([2, {a: 1}, [3]])
    expect(evaluateExpression(parseExpression('[2.0]'), {})).toEqual([2])
    expect(run('min(1, 2.0)')).toBe(1)
  })

  it('turns a float that is not finite into null', () => {
    expect(run('number("1e400")')).toBe(null)
    expect(run('number("nan")')).toBe(null)
    expect(run('number("-inf") == null')).toBe(true)
  })
})

describe('built-in functions', () => {
  it('converts types', () => {
    expect(run('string(42)')).toBe('42')
    expect(run('string(null)')).toBe('null')
    expect(run('string(true)')).toBe('true')
    expect(run('number("3.15")')).toBe(3.15)
    expect(run('number("5.")')).toBe(5)
    expect(run('number(".5")')).toBe(0.5)
    expect(run('number("1e3")')).toBe(1000)
    expect(errorOf(() => run('number(" 1")')).message).toBe("Type error: Cannot convert string ' 1' to number")
    expect(errorOf(() => run('number("0x10")')).kind).toBe('type_error')
    expect(errorOf(() => run('number(null)')).message).toBe('Type error: Cannot convert null to number')
    expect(run('int(3.9)')).toBe(3)
    expect(run('int(-3.9)')).toBe(-3)
    expect(run('int("42")')).toBe(42)
    expect(run('int("+42")')).toBe(42)
    expect(run('int("4.7")')).toBe(4)
    expect(run('int(true)')).toBe(1)
    expect(errorOf(() => run('int("x")')).message).toBe("Type error: Cannot convert string 'x' to int")
    expect(['bool(1)', 'bool(0)', 'bool("")', 'bool("x")', 'bool([])'].map((e) => run(e))).toEqual([true, false, false, true, false])
  })

  it('names types and measures', () => {
    const vars = {arr: [1], obj: {}}
    expect(['type_of(42)', 'type_of(4.2)', 'type_of("hi")', 'type_of(true)', 'type_of(null)', 'type_of(arr)', 'type_of(obj)'].map((e) => run(e, vars))).toEqual([
      'number',
      'number',
      'string',
      'bool',
      'null',
      'array',
      'object',
    ])
    expect(run('length(arr)', {arr: [1, 2, 3]})).toBe(3)
    expect(run('length("hello")')).toBe(5)
    // UTF-8 bytes, as Rust's str::len
    expect(run('length("héllo")')).toBe(6)
    expect(run('length(o)', {o: {a: 1, b: 2}})).toBe(2)
    expect(errorOf(() => run('length(1)')).message).toBe('Type error: length() requires string, array, or object, got number')
  })

  it('lists keys and values in key order', () => {
    const vars = {obj: {b: 2, a: 1, c: 3}}
    expect(run('keys(obj)', vars)).toEqual(['a', 'b', 'c'])
    expect(run('values(obj)', vars)).toEqual([1, 2, 3])
    expect(run('sort(keys(obj))', vars)).toEqual(['a', 'b', 'c'])
    expect(errorOf(() => run('keys([])')).message).toBe('Type error: keys() requires object, got array')
  })

  it('does math', () => {
    expect(['abs(-5)', 'floor(3.7)', 'ceil(3.2)', 'round(3.5)', 'round(-2.5)', 'round(2.4)', 'min(3, 7)', 'max(3, 7)', 'sum([1, 2, 3, 4])', 'sum([])'].map((e) => run(e))).toEqual([
      5, 3, 4, 4, -3, 2, 3, 7, 10, 0,
    ])
    expect(run('min("b", "a")')).toBe('a')
    expect(run('max("b", "a")')).toBe('b')
    expect(errorOf(() => run('min(1, "a")')).message).toBe('Type error: min() requires two numbers or two strings')
    expect(errorOf(() => run('sum([1, "a"])')).message).toBe('Type error: sum() requires array of numbers, found string')
    expect(errorOf(() => run('abs("1")')).message).toBe('Type error: abs() requires number, got string')
  })

  it('handles strings', () => {
    expect(run('lower("HELLO")')).toBe('hello')
    expect(run('upper("hello")')).toBe('HELLO')
    expect(run('trim("  hi \\n")')).toBe('hi')
    expect(run('trim(x)', {x: '\uFEFFhi'})).toBe('\uFEFFhi')
    expect(run('replace("hello world", "world", "rust")')).toBe('hello rust')
    expect(run('replace("a.b.c", ".", "$&")')).toBe('a$&b$&c')
    expect(run('replace("abc", "", "-")')).toBe('-a-b-c-')
    expect(run('starts_with("hello", "hel")')).toBe(true)
    expect(run('ends_with("hello", "llo")')).toBe(true)
    expect(run('split("a,b,c", ",")')).toEqual(['a', 'b', 'c'])
    expect(run('split("abc", "")')).toEqual(['', 'a', 'b', 'c', ''])
    expect(run('join(["a", "b", "c"], ",")')).toBe('a,b,c')
    expect(run('join([1, null, [2]], "-")')).toBe('1-null-[2]')
    expect(errorOf(() => run('upper(1)')).message).toBe('Type error: upper() requires string argument, got number')
  })

  it('matches regular expressions anywhere in the string', () => {
    expect(run('match("^hello", "hello world")')).toBe(true)
    expect(run('match("^world", "hello world")')).toBe(false)
    expect(run('match("o w", "hello world")')).toBe(true)
    expect(errorOf(() => run('match("(", "x")')).kind).toBe('regex_error')
  })

  it('handles collections', () => {
    const vars = {arr: [3, 1, 2]}
    expect(run('sort(arr)', vars)).toEqual([1, 2, 3])
    expect(run('reversed(arr)', vars)).toEqual([2, 1, 3])
    expect(vars.arr).toEqual([3, 1, 2])
    expect(run('reversed("abc")')).toBe('cba')
    expect(run('unique([1, 2, 2, 3, 1, 1.0])')).toEqual([1, 2, 3])
    expect(run('flat([[1, 2], [3, 4], 5])')).toEqual([1, 2, 3, 4, 5])
    expect(run('zip([1, 2, 3], ["a", "b"])')).toEqual([
      [1, 'a'],
      [2, 'b'],
    ])
    expect(run('range(5)')).toEqual([0, 1, 2, 3, 4])
    expect(run('range(2, 5)')).toEqual([2, 3, 4])
    expect(run('range(-1)')).toEqual([])
    expect(errorOf(() => run('range(10000000)')).kind).toBe('type_error')
    expect(run('contains([1, 2, 3], 2)')).toBe(true)
    expect(run('contains("hello", "ell")')).toBe(true)
    expect(errorOf(() => run('sort([1, "a"])')).message).toBe('Type error: sort() requires array of numbers or strings')
    expect(run('sort([true])')).toEqual([true])
  })

  it('slices, finds, counts, merges and chunks', () => {
    expect(run('slice([1, 2, 3, 4], 1, 3)')).toEqual([2, 3])
    expect(run('slice([1, 2, 3], 1)')).toEqual([2, 3])
    expect(run('slice("héllo", 1, 3)')).toBe('él')
    // A negative bound is past the end, as a Rust usize cast makes it.
    expect(run('slice([1, 2, 3], 0, -1)')).toEqual([1, 2, 3])
    expect(run('slice([1, 2, 3], -1)')).toEqual([])
    expect(run('index_of([1, 2, 3], 2)')).toBe(1)
    expect(run('index_of([1, 2, 3], 9)')).toBe(-1)
    expect(run('index_of("héllo", "l")')).toBe(3)
    expect(run('count("banana", "an")')).toBe(2)
    expect(run('count("aaa", "aa")')).toBe(1)
    expect(run('count([1, 2, 1], 1)')).toBe(2)
    expect(run('merge(a, b)', {a: {x: 1, y: 1}, b: {y: 2}})).toEqual({x: 1, y: 2})
    expect(run('chunks([1, 2, 3, 4, 5], 2)')).toEqual([[1, 2], [3, 4], [5]])
    expect(errorOf(() => run('chunks([1], 0)')).message).toBe('Type error: chunks() size must be a positive integer')
  })

  it('nests calls and combines operators', () => {
    expect(run('length(split("a,b,c", ","))')).toBe(3)
    expect(run('join(sort(["c", "a", "b"]), "-")')).toBe('a-b-c')
    expect(run('length(items) > 3 and 5 in items', {items: [1, 2, 3, 4, 5]})).toBe(true)
    expect(run('x > 5 and x < 20', {x: 10})).toBe(true)
    expect(run('[1, 2, 3]')).toEqual([1, 2, 3])
    expect([run('true'), run('false'), run('null')]).toEqual([true, false, null])
  })
})

describe('truthiness', () => {
  it.each([
    [null, false],
    [false, false],
    [0, false],
    [-0, false],
    [0.0, false],
    ['', false],
    [[], false],
    [{}, false],
    [true, true],
    [1, true],
    [-1, true],
    [0.5, true],
    ['a', true],
    ['0', true],
    ['false', true],
    [[0], true],
    [{a: null}, true],
  ])('%j is %s', (value, expected) => {
    expect(isTruthy(value)).toBe(expected)
    expect(run('bool(v)', {v: value})).toBe(expected)
  })

  it('treats a whole float as a number', () => {
    expect(run('bool(0.0)')).toBe(false)
    expect(run('bool(2.0)')).toBe(true)
    expect(run('not 0.0')).toBe(true)
  })
})

describe('the executor semantics', () => {
  it('strips {{ }} after trimming, and takes the trimmed text otherwise', () => {
    expect(stripTemplate('{{ event.payload.x }}')).toBe('event.payload.x')
    expect(stripTemplate('  {{event.payload.x}}\n')).toBe('event.payload.x')
    expect(stripTemplate(' event.payload.x ')).toBe('event.payload.x')
    expect(stripTemplate('{{ a }} and {{ b }}')).toBe('a }} and {{ b')
    expect(stripTemplate('{{ a')).toBe('{{ a')
    expect(stripTemplate('{{}')).toBe('{{}')
    expect(stripTemplate('{{}}')).toBe('')
    expect(stripTemplate('\u00a0{{ x }}\u3000')).toBe('x')
  })

  it('is true when the value is truthy', () => {
    const e = event({count: 3, tags: ['vip'], name: ''})
    expect(evaluateCriteria('{{ event.payload.count > 2 }}', e)).toEqual({result: true, value: true})
    expect(evaluateCriteria('{{ event.payload.count }}', e)).toEqual({result: true, value: 3})
    expect(evaluateCriteria('{{ event.payload.name }}', e)).toEqual({result: false, value: ''})
    expect(evaluateCriteria("'vip' in event.payload.tags", e)).toEqual({result: true, value: true})
  })

  it('sees the whole event', () => {
    const e = event({a: 1})
    expect(evaluateCriteria('{{ event.id == 7 and event.trigger == "shop.order" and event.trigger_ref == event.trigger }}', e).result).toBe(true)
    expect(evaluateCriteria('{{ starts_with(event.created, "2024-05-01T") }}', e).result).toBe(true)
    expect(evaluateCriteria('{{ keys(event) }}', e).value).toEqual(['created', 'id', 'payload', 'trigger', 'trigger_ref'])
  })

  it('is false, with the error, when evaluation fails', () => {
    const e = event({count: 3})
    expect(evaluateCriteria('{{ payload.count > 2 }}', e)).toEqual({result: false, error: 'Variable not found: payload'})
    expect(evaluateCriteria('{{ event.payload.missing == null }}', e)).toEqual({result: false, error: "Variable not found: field 'missing'"})
    expect(evaluateCriteria('{{ event.payload.count > "2" }}', e)).toEqual({result: false, error: 'Type error: Cannot compare number and string with ordering operators'})
    expect(evaluateCriteria('{{ event.payload.count > }}', e)).toEqual({result: false, error: 'Parse error: Unexpected token EOF at position 21'})
    expect(evaluateCriteria('{{}}', e)).toEqual({result: false, error: 'Parse error: Unexpected token EOF at position 0'})
    expect(evaluateCriteria('{{ a }} and {{ b }}', e).result).toBe(false)
  })

  it('fills in the event a caller does not know', () => {
    const before = Date.now()
    const made = ruleEvent({x: 1}, undefined, 'shop.order')
    expect(made).toMatchObject({id: null, trigger: 'shop.order', trigger_ref: 'shop.order', payload: {x: 1}})
    expect(made.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?\+00:00$/)
    expect(Date.parse(made.created)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000)
    expect(ruleEvent({}, {id: 9, trigger_ref: 'other.t', created: 'then'}, 'shop.order')).toMatchObject({id: 9, trigger: 'other.t', trigger_ref: 'other.t', created: 'then'})
    expect(rfc3339(new Date('2024-05-01T12:00:00.000Z'))).toBe('2024-05-01T12:00:00+00:00')
    expect(rfc3339(new Date('2024-05-01T12:00:00.250Z'))).toBe('2024-05-01T12:00:00.250+00:00')
  })
})

const RULES = `ref: shop.big_vip_orders
trigger: {type: shop.order}
conditions:
  any:
    - expression: "{{ event.payload.total > 100 and 'vip' in event.payload.tags }}"
    - {field: payload.total, operator: greater_than, value: 1000}
action: {ref: core.echo}
---
ref: shop.root_expression
trigger: {type: shop.order}
conditions: {expression: "event.trigger_ref == 'shop.order' and event.id == null"}
action: {ref: core.echo}
---
ref: shop.list_form
trigger: {type: shop.order}
conditions:
  - {field: payload.total, operator: exists}
  - expression: |
      {{ event.payload.nope }}
action: {ref: core.echo}
`

describe('expression conditions in rules', () => {
  const loaded = parseRules(RULES, 'rules.yaml')

  it('normalises every form to a group holding the expression as written', () => {
    expect(loaded.map((r) => r.rule.conditions)).toEqual([
      {any: [{expression: "{{ event.payload.total > 100 and 'vip' in event.payload.tags }}"}, {field: 'payload.total', operator: 'greater_than', value: 1000}]},
      {all: [{expression: "event.trigger_ref == 'shop.order' and event.id == null"}]},
      {all: [{field: 'payload.total', operator: 'exists'}, {expression: '{{ event.payload.nope }}\n'}]},
    ])
  })

  it('evaluates them against the event and explains each', () => {
    const result = evaluateRules(loaded, {total: 150, tags: ['vip']})
    expect(result.rules.map((r) => [r.ref, r.matched])).toEqual([
      ['shop.big_vip_orders', true],
      ['shop.root_expression', true],
      ['shop.list_form', false],
    ])
    expect(result.rules[0].trace.children[0]).toEqual({
      expression: "{{ event.payload.total > 100 and 'vip' in event.payload.tags }}",
      value: true,
      result: true,
      reason: 'value true is truthy',
    })
    expect(result.rules[2].trace.children[1]).toEqual({
      expression: '{{ event.payload.nope }}\n',
      result: false,
      reason: "error: Variable not found: field 'nope'",
      error: "Variable not found: field 'nope'",
    })
    expect(evaluateRules(loaded, {total: 150, tags: []}).rules[0].matched).toBe(false)
  })

  it('passes the event information a caller has', () => {
    const only = {ref: 'shop.root_expression'}
    expect(evaluateRules(loaded, {}, {...only, event: {id: 12}}).matched).toBe(false)
    expect(evaluateRules(loaded, {}, {...only, event: {trigger_ref: 'other.trigger'}}).matched).toBe(false)
    const [rule] = parseRules('ref: p.r\ntrigger: {type: t.x}\naction: {ref: a.y}\nconditions: {expression: "{{ event.id * 2 }}"}\n', 'r.yaml')
    const trace = explain(rule.compiled, {}, {id: 21}).trace.children[0] as ExpressionTrace
    expect(trace).toMatchObject({value: 42, result: true, reason: 'value 42 is truthy'})
    expect(evaluate(rule.compiled, {}, {id: 21})).toBe(true)
    expect(evaluate(compileRule(rule.rule, {codegen: false}), {}, {id: 21})).toBe(true)
    expect(evaluate(rule.compiled, {}, {id: 0})).toBe(false)
    expect(evaluate(rule.compiled, {})).toBe(false) // null * 2 is a type error
  })

  it('agrees between the generated test, the closures and the trace', () => {
    const tree: ConditionGroup = {
      any: [
        {all: [{expression: '{{ event.payload.n % 2 == 0 }}'}, {field: 'payload.n', operator: 'greater_than', value: 2}]},
        {expression: '{{ event.payload.n == 1 }}'},
      ],
    }
    const generated = compileConditions(tree)
    const closures = compileConditions(tree, {codegen: false})
    for (const n of [0, 1, 2, 3, 4, 'x']) {
      const payload = {n}
      const expected = n === 1 || n === 4
      expect([evaluate(generated, payload), evaluate(closures, payload), explain(generated, payload).matched]).toEqual([expected, expected, expected])
    }
  })

  it('passes the event through groups of every size, on both fast paths', () => {
    for (const size of [1, 2, 3, 5]) {
      const children = Array.from({length: size}, () => ({expression: '{{ event.id == 5 }}'}))
      for (const tree of [{all: children}, {any: children}] as ConditionGroup[]) {
        for (const codegen of [true, false]) {
          const compiled = compileConditions(tree, {codegen})
          expect([evaluate(compiled, {}, {id: 5}), evaluate(compiled, {}, {id: 4})], `${size} ${Object.keys(tree)[0]} codegen ${codegen}`).toEqual([true, false])
        }
      }
    }
  })

  it('reports a syntax error at load with the file, the line and the position', () => {
    const bad = 'ref: p.r\ntrigger: {type: t.x}\naction: {ref: a.y}\nconditions:\n  - {field: a, operator: exists}\n  - expression: "{{ event.payload.x > }}"\n'
    expect(() => parseRules(bad, 'bad.yaml')).toThrow(AbortError)
    expect(() => parseRules(bad, 'bad.yaml')).toThrow('bad.yaml:6: conditions[1].expression: invalid expression "event.payload.x >": Unexpected token EOF at position 17')
  })

  it.each([
    ['a non-string expression', 'conditions: {expression: 3}', /r\.yaml:4: conditions\.expression: expression must be a string, got number 3/],
    ['other keys beside it', 'conditions: {expression: "x", field: a}', /r\.yaml:4: conditions\.field: an expression condition has one key, expression; found expression, field/],
    ['an unknown character', 'conditions: [{expression: "{{ event.payload.a = 1 }}"}]', /conditions\[0\]\.expression: invalid expression "event\.payload\.a = 1": Unexpected character '=' at position 16/],
  ])('rejects %s', (_what, conditions, message) => {
    expect(() => parseRules(`ref: p.r\ntrigger: {type: t.x}\naction: {ref: a.y}\n${conditions}\n`, 'r.yaml')).toThrow(message)
  })

  it('reads stored rows in the Attune form and in the stored form', () => {
    const row = (conditions: unknown): StoredRuleRow => ({
      id: 1,
      ref: 'shop.stored',
      pack_ref: 'shop',
      label: 'stored',
      description: null,
      enabled: true,
      trigger_ref: 'shop.order',
      action_ref: 'core.echo',
      conditions,
      trigger_params: {},
      action_params: {},
    })
    const attune = ruleDefinitionFromRow(row({expression: '{{ event.payload.total >= 10 }}'}))
    expect(attune.conditions).toEqual({all: [{expression: '{{ event.payload.total >= 10 }}'}]})
    const stored = ruleDefinitionFromRow(row(attune.conditions))
    expect(stored.conditions).toEqual(attune.conditions)
    const compiled = compileRule(stored)
    expect([evaluate(compiled, {total: 10}), evaluate(compiled, {total: 9})]).toEqual([true, false])
    expect(() => ruleDefinitionFromRow(row({expression: '{{ ( }}'}))).toThrow('rule shop.stored: conditions.expression: invalid expression "(": Unexpected token EOF at position 1')
  })

  it('draws the expression in the rule eval trace', () => {
    const out = renderRuleEvalResult(evaluateRules(loaded, {total: 150, tags: ['vip']})).replace(/\u001b\[[0-9;]*m/g, '')
    expect(out).toContain("├─ ✓ expression {{ event.payload.total > 100 and 'vip' in event.payload.tags }}  · value true is truthy")
    expect(out).toContain("└─ ✗ expression {{ event.payload.nope }}  · error: Variable not found: field 'nope'")
  })
})
