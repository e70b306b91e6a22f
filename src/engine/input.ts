import {readFileSync} from 'node:fs'
import {extname, resolve} from 'node:path'
import {parseDocument} from 'yaml'
import {AbortError} from './errors.js'

/**
 * Reads a JSON value a user passed on the command line, in any of the forms the CLI
 * accepts: inline JSON, `@file.json`, `@file.yaml`/`@file.yml`, or `-` for stdin.
 * Errors name the flag (`what`) and the file or the parser's complaint.
 */
export function readJsonArgument(value: string, what: string, options: {cwd?: string; stdin?: () => string} = {}): unknown {
  if (value === '-') {
    if (!options.stdin) throw new AbortError(`${what} cannot be read from stdin here`)
    return parseJsonText(options.stdin(), `${what} (stdin)`)
  }
  if (value.startsWith('@')) return readJsonFile(resolve(options.cwd ?? process.cwd(), value.slice(1)), what)
  return parseJsonText(value, what)
}

/** Reads a `.json`, `.yaml` or `.yml` file into a value. */
export function readJsonFile(path: string, what: string): unknown {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new AbortError(`${what}: cannot read ${path}${code === 'ENOENT' ? ' (no such file)' : code ? ` (${code})` : ''}`, {code: 'file_unreadable'})
  }
  const extension = extname(path).toLowerCase()
  if (extension === '.yaml' || extension === '.yml') {
    const document = parseDocument(text)
    if (document.errors.length > 0) {
      const first = document.errors[0]
      const line = first.linePos?.[0].line
      throw new AbortError(`${what}: ${path}${line ? ` line ${line}` : ''} is not valid YAML: ${first.message.split('\n')[0]}`)
    }
    return document.toJS()
  }
  return parseJsonText(text, `${what} (${path})`)
}

function parseJsonText(text: string, what: string): unknown {
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new AbortError(`${what} is not valid JSON: ${(error as Error).message}`, {
      code: 'json_invalid',
      hint: 'Pass inline JSON (quote it for your shell), @file.json or @file.yaml.',
    })
  }
}

/** Like `readJsonArgument`, but the value must be a JSON object (sensor config, event payloads). */
export function readObjectArgument(value: string, what: string, options: {cwd?: string; stdin?: () => string} = {}): Record<string, unknown> {
  const parsed = readJsonArgument(value, what, options)
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new AbortError(`${what} must be a JSON object, got ${parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : typeof parsed}`)
  }
  return parsed as Record<string, unknown>
}
