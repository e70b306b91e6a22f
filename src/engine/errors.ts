/**
 * Errors the engine raises, split by who can fix them (after Shopify's cli-kit):
 * - `AbortError`: bad input or usage the user can correct. Commands print the message
 *   (and the hint) without a stack trace and exit with code 2.
 * - `BugError`: something that should not happen. Printed with its stack; exit 1.
 * Sensor failures are not errors at all: `executeSensor()` returns them as results.
 */
export class AbortError extends Error {
  override readonly name = 'AbortError'
  /** What the user can do next, shown under the message. */
  readonly hint?: string
  /** A short machine-readable code for `--json` output, e.g. `config_invalid`. */
  readonly code: string

  constructor(message: string, options: {hint?: string; code?: string; cause?: unknown} = {}) {
    super(message, {cause: options.cause})
    this.hint = options.hint
    this.code = options.code ?? 'bad_input'
  }
}

export class BugError extends Error {
  override readonly name = 'BugError'
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
