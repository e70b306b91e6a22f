import {Flags, type Command} from '@oclif/core'
import {AbortError} from '../engine/errors.js'
import type {ListFilters, ListSource, Page, PageRequest} from '../engine/store/list.js'
import type {ListColumn, OutputFormat} from '../ui/list-output.js'
import {AttuneCommand} from './base.js'

/** Rows a list shows when --limit is not given: events and enforcements pile up, catalogs do not. */
export const DEFAULT_LIMIT = {log: 50, catalog: 500} as const

/** The paging and output flags of every `list` command. */
export function listFlags(defaultLimit: number, options: {follow?: boolean} = {}) {
  const followNote = options.follow ? '; with --follow, how many of the newest rows come first, default 10' : ''
  return {
    limit: Flags.integer({description: `At most this many rows (default ${defaultLimit}${followNote}).`, min: 1, max: 100_000, helpGroup: 'LIST'}),
    after: Flags.string({description: 'The rows after this cursor: the "next" of a previous page (--json), or the value the notice under a table names.', exclusive: ['page'], helpGroup: 'LIST'}),
    page: Flags.integer({description: 'Page number, --limit rows a page (1 is the first).', min: 1, exclusive: ['after'], helpGroup: 'LIST'}),
    output: Flags.option({options: ['table', 'json', 'yaml', 'csv'] as const, char: 'o', description: 'Output format (json: the same as --json).', helpGroup: 'LIST'})(),
    columns: Flags.string({description: 'The columns to show, in this order, comma-separated (e.g. id,trigger). Applies to the table, CSV, and JSON/YAML rows.', helpGroup: 'LIST'}),
  }
}

/** `--follow`, for the lists of stored rows (events, enforcements). */
export const followFlag = Flags.boolean({description: 'Keep printing new rows as they are stored, until Ctrl-C (JSON lines with --json).', exclusive: ['after', 'page'], helpGroup: 'LIST'})

interface ListFlagValues {
  limit?: number
  after?: string
  page?: number
  output?: OutputFormat
  columns?: string
  json?: boolean
  'database-url'?: string
}

/** The list document (--json): `{<kind>: rows, total, next}`. */
export type ListDocument<K extends string, T> = {[key in K]: T[]} & {total: number; next: string | null}

export interface ShowListOptions<T, K extends string> {
  /** The document's key: `events`. */
  kind: K
  page: Page<T>
  columns: ListColumn<T>[]
  /** The table's text when nothing matches. */
  empty: string
}

/**
 * A `list` command: paging (--limit, --after, --page), the output formats (--output, --json),
 * --columns, and --follow for lists that have it. The rows come from the engine (store/list.ts).
 */
export abstract class ListCommand<T extends typeof Command> extends AttuneCommand<T> {
  /** Rows without --limit. */
  static defaultLimit: number = DEFAULT_LIMIT.catalog

  private get listFlags(): ListFlagValues {
    return (this.flags ?? {}) as ListFlagValues
  }

  /** --output json is --json. */
  public override jsonEnabled(): boolean {
    return super.jsonEnabled() || this.outputFormat() === 'json'
  }

  /** The output format, also before the flags are parsed (an error while parsing them). */
  protected outputFormat(): OutputFormat {
    if (this.listFlags.output) return this.listFlags.output
    const argv = this.argv ?? []
    for (let index = 0; index < argv.length && argv[index] !== '--'; index++) {
      const arg = argv[index]
      if (arg === '--output' || arg === '-o') return (argv[index + 1] as OutputFormat) ?? 'table'
      if (arg.startsWith('--output=')) return arg.slice('--output='.length) as OutputFormat
      if (arg.startsWith('-o') && arg.length > 2) return arg.slice(2).replace(/^=/, '') as OutputFormat
    }
    return 'table'
  }

  /** The page the flags ask for. */
  protected pageRequest(): PageRequest {
    const flags = this.listFlags
    if (flags.json && flags.output !== undefined && flags.output !== 'json') {
      throw new AbortError(`--json and --output ${flags.output} ask for two formats: use one.`, {code: 'bad_usage'})
    }
    return {limit: flags.limit ?? (this.ctor as unknown as typeof ListCommand).defaultLimit, after: flags.after, page: flags.page}
  }

  /**
   * Prints a page as the flags ask (table, YAML, CSV; under --json oclif prints the returned
   * document) and returns the document: `{<kind>: rows, total, next}`, the rows reduced to the
   * chosen columns with --columns.
   */
  protected async showList<R, K extends string>(options: ShowListOptions<R, K>): Promise<ListDocument<K, R>> {
    const {pickColumns, projectRows, renderList} = await import('../ui/list-output.js')
    const flags = this.listFlags
    const columns = pickColumns(options.columns, flags.columns)
    const rows = flags.columns === undefined ? options.page.rows : projectRows(options.page.rows, columns)
    const document = {[options.kind]: rows, total: options.page.total, next: options.page.next} as unknown as ListDocument<K, R>
    const format = this.outputFormat()
    if (format !== 'json' && !this.jsonEnabled()) {
      const out = renderList({format, page: options.page, document, columns, empty: options.empty, plural: options.kind, paging: {page: flags.page}})
      process.stdout.write(out.stdout.endsWith('\n') || out.stdout === '' ? out.stdout : `${out.stdout}\n`)
      if (out.stderr) process.stderr.write(`${out.stderr}\n`)
    }
    return document
  }

  /**
   * --follow: the newest rows (--limit, default 10), then each new row as it is stored, until
   * Ctrl-C. Table rows, JSON lines (--json), CSV lines or YAML documents.
   */
  protected async followRows<R>(source: ListSource<R>, filters: ListFilters, columns: ListColumn<R>[]): Promise<never> {
    const {pickColumns, projectRows, renderCsv, renderYaml} = await import('../ui/list-output.js')
    const {streamTable} = await import('../ui/table.js')
    const {followConnections, followList} = await import('../engine/store/index.js')
    const flags = this.listFlags
    if (flags.json && flags.output !== undefined && flags.output !== 'json') {
      throw new AbortError(`--json and --output ${flags.output} ask for two formats: use one.`, {code: 'bad_usage'})
    }
    const chosen = pickColumns(columns, flags.columns)
    const format = this.jsonEnabled() ? 'json' : this.outputFormat()
    const {config} = this.loadConfig({database: {url: flags['database-url']}})
    const connections = followConnections({
      databaseUrl: config.database.url,
      home: config.home,
      onWait: (message) => process.stderr.write(`${message}\n`),
    })
    let table: ReturnType<typeof streamTable<R>> | undefined
    let csvHeader = true
    const write = (text: string) => process.stdout.write(text)
    const onRows = (rows: R[]) => {
      if (format === 'json') {
        const shown = flags.columns === undefined ? rows : projectRows(rows, chosen)
        write(shown.map((row) => `${JSON.stringify(row)}\n`).join(''))
      } else if (format === 'yaml') {
        const shown = flags.columns === undefined ? rows : projectRows(rows, chosen)
        write(shown.map((row) => `---\n${renderYaml(row)}`).join(''))
      } else if (format === 'csv') {
        write(renderCsv(rows, chosen, {header: csvHeader}))
        csvHeader = false
      } else {
        if (!table) {
          table = streamTable(chosen, rows)
          write(`${table.header}\n`)
        }
        write(table.rows(rows).map((line) => `${line}\n`).join(''))
      }
    }
    const controller = new AbortController()
    await followList({
      source,
      filters,
      connections,
      backlog: flags.limit ?? 10,
      signal: controller.signal,
      onRows,
      onNotice: (message) => process.stderr.write(`${message}\n`),
    })
    // Only a signal ends it (the base command exits on SIGINT and SIGTERM).
    return new Promise<never>(() => {})
  }
}
