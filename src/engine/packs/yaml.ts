import {readFileSync} from 'node:fs'
import {isMap, isNode, isScalar, LineCounter, parseAllDocuments, type Document} from 'yaml'
import {formatField, type FieldPath, type PackProblem} from './errors.js'

/** One YAML document of a pack file, with the means to point at a line. */
export class YamlDoc {
  constructor(
    /** The file as it is shown in messages. */
    readonly file: string,
    /** 0-based position of the document in its file. */
    readonly index: number,
    readonly data: unknown,
    private readonly document: Document,
    private readonly lines: LineCounter,
  ) {}

  /** The 1-based line of a field, or of its nearest parent that exists. */
  line(path: FieldPath = []): number | undefined {
    for (let length = path.length; length >= 0; length--) {
      const node = length === 0 ? this.document.contents : this.document.getIn(path.slice(0, length), true)
      if (isNode(node) && node.range) return this.lines.linePos(node.range[0]).line
    }
    return undefined
  }

  /** The 1-based line of a key of a mapping (the key itself, not its value), else of the mapping. */
  keyLine(path: FieldPath, key: string): number | undefined {
    const node = path.length === 0 ? this.document.contents : this.document.getIn(path, true)
    if (isMap(node)) {
      for (const pair of node.items) {
        if (isScalar(pair.key) && String(pair.key.value) === key && pair.key.range) return this.lines.linePos(pair.key.range[0]).line
      }
    }
    return this.line([...path, key])
  }

  problem(path: FieldPath, message: string): PackProblem {
    return {file: this.file, line: this.line(path), field: path.length > 0 ? formatField(path) : undefined, message}
  }
}

/**
 * Reads every document of a YAML file (`---` separated); empty documents are dropped.
 * Syntax errors come back as problems with the parser's line, never as exceptions.
 */
export function readYamlFile(path: string, shownAs: string): {docs: YamlDoc[]; problems: PackProblem[]} {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    return {docs: [], problems: [{file: shownAs, message: `cannot read: ${(error as Error).message}`}]}
  }
  const lines = new LineCounter()
  const parsed = parseAllDocuments(text, {lineCounter: lines, prettyErrors: false})
  const documents = Array.isArray(parsed) ? parsed : []
  const problems: PackProblem[] = []
  const docs: YamlDoc[] = []
  documents.forEach((document, index) => {
    if (document.errors.length > 0) {
      for (const error of document.errors) {
        const line = error.linePos?.[0]?.line ?? lines.linePos(error.pos[0]).line
        problems.push({file: shownAs, line, message: `invalid YAML: ${firstLine(error.message)}`})
      }
      return
    }
    if (document.contents === null) return
    let data: unknown
    try {
      data = document.toJS({maxAliasCount: 100})
    } catch (error) {
      problems.push({file: shownAs, line: lines.linePos(document.range[0]).line, message: `invalid YAML: ${(error as Error).message}`})
      return
    }
    docs.push(new YamlDoc(shownAs, index, data, document, lines))
  })
  return {docs, problems}
}

function firstLine(message: string): string {
  return message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')
}
