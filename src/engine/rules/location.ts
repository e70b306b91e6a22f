/**
 * Naming places in a rule document for error messages: `rules.yaml:12: trigger.type: ...`.
 */
import {AbortError} from '../errors.js'

/** Keys and indexes from the document root to a value. */
export type DocPath = readonly (string | number)[]

/** Turns a document path into a message prefix, e.g. `rules.yaml:7: conditions.any[1]`. */
export type Locate = (path: DocPath) => string

const IDENTIFIER = /^[A-Za-z_][\w-]*$/

/** `conditions.any[1].all[0]`, `criteria["trigger.body.name"].type`. */
export function formatDocPath(path: DocPath): string {
  let out = ''
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`
    else if (IDENTIFIER.test(key)) out += out === '' ? key : `.${key}`
    else out += `[${JSON.stringify(key)}]`
  }
  return out === '' ? '(document)' : out
}

/** A locator without line numbers (rules from JSON or the database), optionally naming a file. */
export function plainLocator(file?: string): Locate {
  return (path) => (file ? `${file}: ${formatDocPath(path)}` : formatDocPath(path))
}

/** The error every invalid rule raises: bad input the author can fix (exit code 2). */
export function ruleError(where: string, message: string, cause?: unknown, hint?: string): AbortError {
  return new AbortError(`${where}: ${message}`, {code: 'rule_invalid', cause, hint})
}
