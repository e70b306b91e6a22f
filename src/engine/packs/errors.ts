import {AbortError} from '../errors.js'

/** A path into a YAML document: `['parameters', 'unit', 'type']`. */
export type FieldPath = Array<string | number>

/** One thing wrong with a pack: where (file, line when known, field) and what. */
export interface PackProblem {
  file: string
  line?: number
  field?: string
  message: string
}

/** `file:line: field: message`, the way compilers print it. */
export function formatProblem(problem: PackProblem): string {
  const where = problem.line ? `${problem.file}:${problem.line}` : problem.file
  return problem.field ? `${where}: ${problem.field}: ${problem.message}` : `${where}: ${problem.message}`
}

export function formatField(path: FieldPath): string {
  let out = ''
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${part}` : part
  return out
}

/**
 * A pack (or a register run) that cannot be registered. Every problem found is listed,
 * not only the first; nothing was written to the database.
 */
export class PackError extends AbortError {
  readonly problems: PackProblem[]

  constructor(problems: PackProblem[], options: {hint?: string} = {}) {
    const head = problems.length === 1 ? 'Pack is invalid' : `Pack is invalid (${problems.length} problems)`
    super(`${head}:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`, {
      code: 'pack_invalid',
      hint: options.hint ?? 'Nothing was registered: fix the pack and run the command again.',
    })
    this.problems = problems
  }
}

/** Thrown by field-level helpers (schema conversion, rule normalisation) and placed by the loader. */
export class FieldError extends Error {
  constructor(
    readonly field: FieldPath,
    message: string,
  ) {
    super(message)
  }
}
