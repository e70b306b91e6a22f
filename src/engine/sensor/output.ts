/**
 * The output parser: turns what a sensor wrote into events, or into the reason it
 * could not. Shared by every runtime and both execution modes.
 */

export interface ParsedOutput {
  events: Array<Record<string, unknown>>
  warnings: string[]
  error?: {message: string; type: string; traceback: string | null}
}

type JsonObject = Record<string, unknown>

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function describeType(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  return typeof value
}

/** An error document `{error, error_type, traceback|stack}` as wrappers and shell sensors print it. */
export function asErrorDocument(value: unknown): ParsedOutput['error'] | undefined {
  if (!isObject(value) || value.error === undefined || value.error === null || Array.isArray(value.events)) return undefined
  const trace = value.traceback ?? value.stack
  return {
    message: typeof value.error === 'string' ? value.error : JSON.stringify(value.error),
    type: typeof value.error_type === 'string' ? value.error_type : 'SensorError',
    traceback: typeof trace === 'string' ? trace : null,
  }
}

/** Checks that every event is a JSON object; the error names the first bad index. */
export function validateEvents(events: unknown[]): ParsedOutput {
  for (const [index, event] of events.entries()) {
    if (!isObject(event)) {
      return {
        events: [],
        warnings: [],
        error: {
          message: `Event at index ${index} is not a JSON object (got ${describeType(event)}: ${preview(event)})`,
          type: 'InvalidEvent',
          traceback: null,
        },
      }
    }
  }
  return {events: events as JsonObject[], warnings: []}
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

function invalid(message: string): ParsedOutput {
  return {events: [], warnings: [], error: {message: `Failed to parse sensor output: ${message}`, type: 'InvalidOutput', traceback: null}}
}

/**
 * Parses an events document `{"events": [...], "count": N}`.
 * With `lastLineFallback` (shell and native sensors, whose stdout is the result), a stdout
 * whose final line is the document is accepted and the lines before it count as logs.
 */
export function parseEventsDocument(text: string, options: {lastLineFallback?: boolean} = {}): ParsedOutput {
  const trimmed = text.trim()
  if (trimmed === '') return invalid('the sensor printed nothing (expected {"events": [...]})')
  let document: unknown
  const warnings: string[] = []
  try {
    document = JSON.parse(trimmed)
  } catch (error) {
    const lines = trimmed.split('\n')
    const last = lines.at(-1)?.trim()
    let recovered = false
    if (options.lastLineFallback && lines.length > 1 && last?.startsWith('{')) {
      try {
        document = JSON.parse(last)
        recovered = isObject(document)
        if (recovered) warnings.push(`${lines.length - 1} line(s) printed before the result were treated as logs`)
      } catch {
        recovered = false
      }
    }
    if (!recovered) return invalid((error as Error).message)
  }
  const errorDocument = asErrorDocument(document)
  if (errorDocument) return {events: [], warnings, error: errorDocument}
  if (!isObject(document)) return invalid(`expected a JSON object with an "events" array, got ${describeType(document)}`)
  if (!Array.isArray(document.events)) {
    return invalid(document.events === undefined ? 'the "events" array is missing' : `"events" must be an array, got ${describeType(document.events)}`)
  }
  const validated = validateEvents(document.events)
  if (validated.error) return {...validated, warnings}
  if (document.count !== undefined) {
    if (typeof document.count !== 'number') warnings.push(`"count" should be a number, got ${describeType(document.count)}`)
    else if (document.count !== document.events.length) {
      warnings.push(`"count" says ${document.count} but ${document.events.length} event(s) were returned`)
    }
  }
  return {events: validated.events, warnings}
}
