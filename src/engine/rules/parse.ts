/**
 * Reading rule files: YAML (or JSON), one or more documents per file, each document one rule.
 * Every rule is normalised and compiled on load, so any error (YAML syntax, a wrong field,
 * an unknown operator, a bad regex) surfaces here as an `AbortError` that names the file,
 * the line and the field. Documents holding only comments are skipped.
 */
import {readFileSync} from 'node:fs'
import {isNode, LineCounter, parseAllDocuments, type Document} from 'yaml'
import {AbortError} from '../errors.js'
import {compileRule} from './compile.js'
import {type DocPath, formatDocPath, type Locate} from './location.js'
import {normaliseRule} from './rule.js'
import type {LoadedRule} from './types.js'

/** Aliases expand to copies: cap them so a small file cannot grow into a huge document. */
const MAX_ALIAS_COUNT = 100

/** Parse, normalise and compile every rule in `text`; `file` names it in messages. */
export function parseRules(text: string, file: string): LoadedRule[] {
  const lineCounter = new LineCounter()
  const lineOf = (offset: number) => lineCounter.linePos(offset).line
  const parsed = parseAllDocuments(text, {lineCounter, prettyErrors: false})
  // An empty stream (nothing but comments) is an empty array carrying stream-level errors.
  if ('empty' in parsed && parsed.errors.length > 0) {
    const error = parsed.errors[0]
    throw new AbortError(`${file}:${lineOf(error.pos[0])}: invalid YAML: ${firstLine(error.message)}`, {code: 'rule_invalid'})
  }
  const documents: Document[] = parsed

  const rules: LoadedRule[] = []
  documents.forEach((doc, index) => {
    const error = doc.errors[0]
    if (error) throw new AbortError(`${file}:${lineOf(error.pos[0])}: invalid YAML: ${firstLine(error.message)}`, {code: 'rule_invalid'})
    if (doc.contents === null) return
    const docLine = lineOf(doc.contents.range?.[0] ?? 0)

    let raw: unknown
    try {
      raw = doc.toJS({maxAliasCount: MAX_ALIAS_COUNT})
    } catch (cause) {
      throw new AbortError(`${file}:${docLine}: invalid YAML: ${cause instanceof Error ? cause.message : String(cause)}`, {code: 'rule_invalid', cause})
    }
    if (raw === null || raw === undefined) return

    const locate: Locate = (path) => `${file}:${lineAt(doc, path, lineOf) ?? docLine}: ${formatDocPath(path)}`
    const sources = new WeakMap<object, DocPath>()
    const {rule, warnings} = normaliseRule(raw, {locate, sources})
    const compiled = compileRule(rule, {
      locate: (node, position) => {
        const path = sources.get(node)
        return path ? locate(path) : `${file}:${docLine}: ${position}`
      },
    })
    rules.push({rule, compiled, source: {file, line: docLine, document: index}, warnings})
  })
  return rules
}

/** Read a rule file and parse it; an unreadable file is bad input that names the path. */
export function loadRuleFile(path: string): LoadedRule[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (cause as Error).message
    throw new AbortError(`cannot read rule file ${path}: ${why}`, {code: 'file_unreadable', cause})
  }
  return parseRules(text, path)
}

/** The line of the deepest node on `path` that exists (a missing field points at its parent). */
function lineAt(doc: Document, path: DocPath, lineOf: (offset: number) => number): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true)
    if (isNode(node) && node.range) return lineOf(node.range[0])
  }
  return undefined
}

function firstLine(message: string): string {
  return message.split('\n')[0]
}
