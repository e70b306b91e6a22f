/**
 * Reading rule files: YAML (or JSON), one or more documents per file, each document one rule.
 * Every rule is normalised and compiled on load, so any error (YAML syntax, a wrong field,
 * an unknown operator, a bad regex) surfaces here as an `AbortError` that names the file,
 * the line and the field. Documents holding only comments are skipped.
 */
import {readFileSync} from 'node:fs'
import {isMap, isNode, isScalar, isSeq, LineCounter, parseAllDocuments, type Document} from 'yaml'
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

/**
 * The line of the deepest node on `path` that exists (a missing field points at its parent).
 * A mapping entry is located by its key: a block value starts on the line after it.
 */
function lineAt(doc: Document, path: DocPath, lineOf: (offset: number) => number): number | undefined {
  let node: unknown = doc.contents
  let offset = isNode(node) ? node.range?.[0] : undefined
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => (isScalar(item.key) ? item.key.value === key : item.key === key))
      if (!pair) break
      if (isNode(pair.key) && pair.key.range) offset = pair.key.range[0]
      node = pair.value
    } else if (isSeq(node) && typeof key === 'number' && key < node.items.length) {
      node = node.items[key]
      if (isNode(node) && node.range) offset = node.range[0]
    } else {
      break
    }
  }
  return offset === undefined ? undefined : lineOf(offset)
}

function firstLine(message: string): string {
  return message.split('\n')[0]
}
