/**
 * Splitting an expression into tokens. Positions count characters (code points), as Attune's
 * messages do.
 *
 * - Numbers: digits are an integer (i64); digits `.` digits a float. A dot not followed by a
 *   digit ends the number (`42.field` is `42`, `.`, `field`); there are no exponents.
 * - Strings: `"..."` or `'...'`; `\n`, `\t`, `\r`, `\\` and an escaped quote of the same kind
 *   are escapes, any other backslash is kept as written.
 * - Names: an ASCII letter or `_`, then ASCII letters, digits and `_`. `true`, `false`, `null`,
 *   `and`, `or`, `not` and `in` are keywords.
 * - Operators: `+ - * / % == != < > <= >=` and `( ) [ ] , .`; a lone `=` or `!` is an error.
 */
import {syntaxError} from './errors.js'
import {formatInt, formatPlainFloat, isWhitespace} from './values.js'

export type Keyword = 'true' | 'false' | 'null' | 'and' | 'or' | 'not' | 'in'
export type Punctuation = '+' | '-' | '*' | '/' | '%' | '==' | '!=' | '<' | '>' | '<=' | '>=' | '(' | ')' | '[' | ']' | ',' | '.'

export type Token =
  | {kind: 'int' | 'float'; value: number; start: number}
  | {kind: 'string'; value: string; start: number}
  | {kind: 'ident'; name: string; start: number}
  | {kind: Keyword | Punctuation | 'eof'; start: number}

const KEYWORDS = new Set<string>(['true', 'false', 'null', 'and', 'or', 'not', 'in'])
const SINGLE = new Set<string>(['+', '-', '*', '/', '%', '(', ')', '[', ']', ',', '.'])
const I64_MAX = 2n ** 63n - 1n

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9'
const isNameStart = (c: string | undefined) => c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_')
const isNamePart = (c: string | undefined) => isNameStart(c) || isDigit(c)

/** Tokenize the whole input; the last token is always `eof`. Throws a syntax `ExpressionError`. */
export function tokenize(input: string): Token[] {
  const text = Array.from(input)
  const tokens: Token[] = []
  let pos = 0
  for (;;) {
    while (pos < text.length && isWhitespace(text[pos])) pos++
    const start = pos
    const c = text[pos]
    if (c === undefined) {
      tokens.push({kind: 'eof', start})
      return tokens
    }
    if (SINGLE.has(c)) {
      tokens.push({kind: c as Punctuation, start})
      pos++
    } else if (c === '=' || c === '!') {
      if (text[pos + 1] !== '=') throw syntaxError(`Unexpected character '${c}' at position ${start}`, start)
      tokens.push({kind: c === '=' ? '==' : '!=', start})
      pos += 2
    } else if (c === '<' || c === '>') {
      const withEq = text[pos + 1] === '='
      tokens.push({kind: (withEq ? `${c}=` : c) as Punctuation, start})
      pos += withEq ? 2 : 1
    } else if (c === '"' || c === "'") {
      const {value, end} = readString(text, pos, c)
      tokens.push({kind: 'string', value, start})
      pos = end
    } else if (isDigit(c)) {
      let end = pos
      while (isDigit(text[end])) end++
      let isFloat = false
      if (text[end] === '.' && isDigit(text[end + 1])) {
        isFloat = true
        end++
        while (isDigit(text[end])) end++
      }
      const literal = text.slice(pos, end).join('')
      if (isFloat) {
        tokens.push({kind: 'float', value: Number(literal), start})
      } else {
        if (BigInt(literal) > I64_MAX) throw syntaxError(`Invalid number literal at position ${start}: ${literal}`, start)
        tokens.push({kind: 'int', value: Number(literal), start})
      }
      pos = end
    } else if (isNameStart(c)) {
      let end = pos
      while (isNamePart(text[end])) end++
      const name = text.slice(pos, end).join('')
      tokens.push(KEYWORDS.has(name) ? {kind: name as Keyword, start} : {kind: 'ident', name, start})
      pos = end
    } else {
      throw syntaxError(`Unexpected character '${c}' at position ${start}`, start)
    }
  }
}

const ESCAPES: Record<string, string> = {n: '\n', t: '\t', r: '\r', '\\': '\\'}

function readString(text: string[], start: number, quote: string): {value: string; end: number} {
  let value = ''
  let pos = start + 1
  for (;;) {
    const c = text[pos++]
    if (c === undefined) throw syntaxError(`Unterminated string literal starting at position ${start}`, start)
    if (c === quote) return {value, end: pos}
    if (c !== '\\') {
      value += c
      continue
    }
    const next = text[pos++]
    if (next === undefined) throw syntaxError(`Unterminated string literal starting at position ${start}`, start)
    if (next === quote) value += next
    else value += ESCAPES[next] ?? `\\${next}`
  }
}

/** A token as messages name it: `)`, `EOF`, `"text"`, `42`. */
export function describeToken(token: Token): string {
  switch (token.kind) {
    case 'int':
      return formatInt(token.value)
    case 'float':
      return formatPlainFloat(token.value)
    case 'string':
      return `"${token.value}"`
    case 'ident':
      return token.name
    case 'eof':
      return 'EOF'
    default:
      return token.kind
  }
}
