/**
 * Parsing tokens into a syntax tree, by recursive descent. From loosest to tightest:
 *
 * | level | operators | associativity |
 * |---|---|---|
 * | 1 | `or` | left |
 * | 2 | `and` | left |
 * | 3 | `not` (prefix) | right |
 * | 4 | `== != < > <= >= in` | left (`a < b < c` compares a boolean with c) |
 * | 5 | `+ -` | left |
 * | 6 | `* / %` | left |
 * | 7 | `-` (prefix) | right |
 * | 8 | `.name`, `[index]`, `name(args)` | postfix |
 *
 * Operands are literals (integers, floats, strings, `true`, `false`, `null`), names, `( ... )`
 * and array literals `[a, b, c]` (a trailing comma is allowed there, not in call arguments).
 * Only a bare name can be called; after a dot any keyword is a field name too (`x.in`).
 */
import {syntaxError} from './errors.js'
import {describeToken, tokenize, type Punctuation, type Token} from './tokenizer.js'
import {float, int, type FloatValue} from './values.js'

export type BinaryOperator = '+' | '-' | '*' | '/' | '%' | '==' | '!=' | '<' | '>' | '<=' | '>=' | 'and' | 'or' | 'in'
export type UnaryOperator = '-' | 'not'

/** A node of the syntax tree. `literal` values are JSON, with whole floats as `FloatValue`. */
export type ExpressionAst =
  | {type: 'literal'; value: string | number | boolean | FloatValue | null}
  | {type: 'array'; elements: ExpressionAst[]}
  | {type: 'variable'; name: string}
  | {type: 'binary'; operator: BinaryOperator; left: ExpressionAst; right: ExpressionAst}
  | {type: 'unary'; operator: UnaryOperator; operand: ExpressionAst}
  | {type: 'member'; object: ExpressionAst; field: string}
  | {type: 'index'; object: ExpressionAst; index: ExpressionAst}
  | {type: 'call'; name: string; args: ExpressionAst[]}

/** Deeper nesting is refused rather than risk JavaScript's stack (Attune has no such limit). */
const MAX_DEPTH = 256

const COMPARISON = new Set<string>(['==', '!=', '<', '>', '<=', '>=', 'in'])
const FIELD_KEYWORDS = new Set<string>(['true', 'false', 'null', 'and', 'or', 'not', 'in'])

/** Parse an expression; throws a syntax `ExpressionError` with the position of the problem. */
export function parseExpression(text: string): ExpressionAst {
  return new Parser(tokenize(text)).parse()
}

class Parser {
  private pos = 0
  private depth = 0

  constructor(private readonly tokens: Token[]) {}

  parse(): ExpressionAst {
    const ast = this.or()
    const token = this.peek()
    if (token.kind !== 'eof') throw this.unexpected(token)
    return ast
  }

  private peek(): Token {
    return this.tokens[Math.min(this.pos, this.tokens.length - 1)]
  }

  private next(): Token {
    const token = this.peek()
    if (this.pos < this.tokens.length) this.pos++
    return token
  }

  private expect(kind: Punctuation): void {
    const token = this.peek()
    if (token.kind !== kind) throw syntaxError(`Expected ${kind}, found ${describeToken(token)} at position ${token.start}`, token.start)
    this.pos++
  }

  private unexpected(token: Token) {
    return syntaxError(`Unexpected token ${describeToken(token)} at position ${token.start}`, token.start)
  }

  private or(): ExpressionAst {
    if (++this.depth > MAX_DEPTH) {
      const at = this.peek().start
      throw syntaxError(`Expression nested too deeply at position ${at} (at most ${MAX_DEPTH} levels)`, at)
    }
    let left = this.and()
    while (this.peek().kind === 'or') {
      this.pos++
      left = {type: 'binary', operator: 'or', left, right: this.and()}
    }
    this.depth--
    return left
  }

  private and(): ExpressionAst {
    let left = this.not()
    while (this.peek().kind === 'and') {
      this.pos++
      left = {type: 'binary', operator: 'and', left, right: this.not()}
    }
    return left
  }

  private not(): ExpressionAst {
    if (this.peek().kind !== 'not') return this.comparison()
    this.pos++
    return {type: 'unary', operator: 'not', operand: this.nested(() => this.not())}
  }

  private comparison(): ExpressionAst {
    let left = this.additive()
    while (COMPARISON.has(this.peek().kind)) {
      const operator = this.next().kind as BinaryOperator
      left = {type: 'binary', operator, left, right: this.additive()}
    }
    return left
  }

  private additive(): ExpressionAst {
    let left = this.multiplicative()
    for (let kind = this.peek().kind; kind === '+' || kind === '-'; kind = this.peek().kind) {
      this.pos++
      left = {type: 'binary', operator: kind, left, right: this.multiplicative()}
    }
    return left
  }

  private multiplicative(): ExpressionAst {
    let left = this.unary()
    for (let kind = this.peek().kind; kind === '*' || kind === '/' || kind === '%'; kind = this.peek().kind) {
      this.pos++
      left = {type: 'binary', operator: kind, left, right: this.unary()}
    }
    return left
  }

  private unary(): ExpressionAst {
    if (this.peek().kind !== '-') return this.postfix()
    this.pos++
    return {type: 'unary', operator: '-', operand: this.nested(() => this.unary())}
  }

  /** Prefix chains (`not not not x`, `- - -1`) count toward the depth limit too. */
  private nested(parse: () => ExpressionAst): ExpressionAst {
    if (++this.depth > MAX_DEPTH) {
      const at = this.peek().start
      throw syntaxError(`Expression nested too deeply at position ${at} (at most ${MAX_DEPTH} levels)`, at)
    }
    const ast = parse()
    this.depth--
    return ast
  }

  private postfix(): ExpressionAst {
    let ast = this.primary()
    for (;;) {
      const kind = this.peek().kind
      if (kind === '.') {
        this.pos++
        const token = this.next()
        let field: string
        if (token.kind === 'ident') field = token.name
        else if (FIELD_KEYWORDS.has(token.kind)) field = token.kind
        else throw syntaxError(`Expected identifier, found ${describeToken(token)} at position ${token.start}`, token.start)
        ast = {type: 'member', object: ast, field}
      } else if (kind === '[') {
        this.pos++
        const index = this.or()
        this.expect(']')
        ast = {type: 'index', object: ast, index}
      } else if (kind === '(' && ast.type === 'variable') {
        this.pos++
        const args = this.args()
        this.expect(')')
        ast = {type: 'call', name: ast.name, args}
      } else {
        return ast
      }
    }
  }

  private args(): ExpressionAst[] {
    if (this.peek().kind === ')') return []
    const args = [this.or()]
    while (this.peek().kind === ',') {
      this.pos++
      args.push(this.or())
    }
    return args
  }

  private primary(): ExpressionAst {
    const token = this.peek()
    switch (token.kind) {
      case 'int':
        this.pos++
        return {type: 'literal', value: int(token.value)}
      case 'float':
        this.pos++
        return {type: 'literal', value: float(token.value)}
      case 'string':
        this.pos++
        return {type: 'literal', value: token.value}
      case 'true':
      case 'false':
        this.pos++
        return {type: 'literal', value: token.kind === 'true'}
      case 'null':
        this.pos++
        return {type: 'literal', value: null}
      case 'ident':
        this.pos++
        return {type: 'variable', name: token.name}
      case '(': {
        this.pos++
        const ast = this.or()
        this.expect(')')
        return ast
      }
      case '[': {
        this.pos++
        const elements: ExpressionAst[] = []
        if (this.peek().kind !== ']') {
          elements.push(this.or())
          while (this.peek().kind === ',') {
            this.pos++
            if (this.peek().kind === ']') break
            elements.push(this.or())
          }
        }
        this.expect(']')
        return {type: 'array', elements}
      }
      default:
        throw this.unexpected(token)
    }
  }
}
