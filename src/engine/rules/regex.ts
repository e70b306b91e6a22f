/**
 * User patterns go through RE2 (`re2js`): matching is linear in the input, so a hostile
 * pattern such as `(a+)+$` cannot stall the daemon. RE2 has no backreferences or lookaround;
 * such patterns are rejected when the rule is compiled.
 */
import {RE2JS} from 're2js'

/** A compiled pattern: `true` if it matches anywhere in the input (a search, not a full match). */
export type PatternTest = (input: string) => boolean

/** Thrown with RE2's own description of what is wrong with the pattern. */
export class PatternError extends Error {
  override readonly name = 'PatternError'
}

/** Compile a regular expression with RE2 semantics; throws `PatternError` if invalid. */
export function compilePattern(pattern: string): PatternTest {
  let compiled: RE2JS
  try {
    compiled = RE2JS.compile(pattern)
  } catch (error) {
    throw new PatternError(error instanceof Error ? error.message : String(error))
  }
  return (input) => compiled.test(input)
}
