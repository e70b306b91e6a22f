/**
 * The one error type of the expression language. `message` reads as Attune's executor logs it
 * (`Parse error: ...`, `Variable not found: x`, `Type error: ...`); `detail` is the part after
 * the category, and `position` the 0-based character offset of a syntax error.
 */

export type ExpressionErrorKind =
  | 'syntax'
  | 'variable_not_found'
  | 'type_error'
  | 'division_by_zero'
  | 'index_out_of_bounds'
  | 'unknown_function'
  | 'wrong_arg_count'
  | 'regex_error'

const PREFIX: Record<ExpressionErrorKind, string> = {
  syntax: 'Parse error: ',
  variable_not_found: 'Variable not found: ',
  type_error: 'Type error: ',
  division_by_zero: 'Division by zero',
  index_out_of_bounds: 'Index out of bounds: ',
  unknown_function: 'Unknown function: ',
  wrong_arg_count: 'Wrong number of arguments for ',
  regex_error: 'Regex error: ',
}

export class ExpressionError extends Error {
  override readonly name = 'ExpressionError'

  constructor(
    readonly kind: ExpressionErrorKind,
    /** The message without its category, e.g. `Expected ), found EOF at position 7`. */
    readonly detail: string,
    /** Where a syntax error is, in characters (code points) from the start of the expression. */
    readonly position?: number,
  ) {
    super(`${PREFIX[kind]}${detail}`)
  }
}

export function syntaxError(detail: string, position: number): ExpressionError {
  return new ExpressionError('syntax', detail, position)
}

export function typeError(detail: string): ExpressionError {
  return new ExpressionError('type_error', detail)
}
