import {Flags} from '@oclif/core'
import {AbortError} from '../../engine/errors.js'
import type {PruneResult, RetentionLimit, RetentionLimits} from '../../engine/store/retention.js'
import {formatDuration, parseDuration} from '../../engine/time.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export type DbPruneResult = PruneResult & {database: string}

export default class DbPrune extends AttuneCommand<typeof DbPrune> {
  static override summary = 'Delete old events, enforcements, sent outbox rows and expired keys.'

  static override description = `Without flags, prunes by the retention settings (retention.* in the config file: 30 days of
events and enforcements, a day of sent outbox rows), as the daemon does every hour. --older-than and
--max-rows replace those limits for events, enforcements and sent outbox rows alike.
An enforcement is kept while its event is; an event or enforcement whose message is not yet
published is kept; unsent outbox rows are never pruned; dedup and idempotency keys go only once
they have expired. --dry-run counts what would go and changes nothing.`

  static override examples = [
    {description: 'Preview what a 30-day retention removes', command: '<%= config.bin %> <%= command.id %> --older-than 30d --dry-run'},
    {description: 'Keep a week, and at most 100000 rows of each table', command: '<%= config.bin %> <%= command.id %> --older-than 7d --max-rows 100000'},
    {description: 'Prune by the configured retention settings, as JSON', command: '<%= config.bin %> <%= command.id %> --json'},
  ]

  static override flags = {
    ...databaseFlags,
    'older-than': Flags.string({description: 'Delete rows older than this duration: 90s, 10m, 12h, 30d, 1w, 1h30m.'}),
    'max-rows': Flags.integer({description: 'Keep only the newest N events, enforcements and sent outbox rows.', min: 1}),
    'dry-run': Flags.boolean({description: 'Count what would be deleted; change nothing.'}),
  }

  public async run(): Promise<DbPruneResult> {
    const {flags} = this
    const olderThan = flags['older-than']
    let maxAgeSeconds: number | undefined
    if (olderThan !== undefined) {
      const ms = parseDuration(olderThan)
      if (ms === undefined || ms < 1000) {
        throw new AbortError(`--older-than must be a duration of at least 1s such as 90s, 10m, 12h, 30d or 1h30m; got "${olderThan}"`, {code: 'flag_invalid'})
      }
      maxAgeSeconds = ms / 1000
    }
    const {pruneStore, uniformLimits} = await import('../../engine/store/retention.js')
    const {config} = this.loadConfig({database: {url: flags['database-url']}})
    const limits: RetentionLimits =
      maxAgeSeconds !== undefined || flags['max-rows'] !== undefined
        ? uniformLimits({max_age_seconds: maxAgeSeconds ?? null, max_rows: flags['max-rows'] ?? null})
        : {events: config.retention.events, enforcements: config.retention.enforcements, outbox: config.retention.outbox}
    return this.withStore(async (store) => {
      const result = await pruneStore(store, limits, {dryRun: flags['dry-run'], batchSize: config.retention.batch_size})
      const {pruned} = result
      const rows = [
        ['events', pruned.events, describe(limits.events)],
        ['enforcements', pruned.enforcements, `${describe(limits.enforcements)}, once their event is gone`],
        ['sent outbox rows', pruned.outbox, describe(limits.outbox)],
        ['expired keys', pruned.keys, 'dedup and idempotency keys past their expiry'],
      ] as const
      const width = Math.max(...rows.map(([name]) => name.length))
      const digits = Math.max(...rows.map(([, count]) => String(count).length))
      const lines = rows.map(([name, count, why]) => `  ${name.padEnd(width)}  ${String(count).padStart(digits)}  (${why})`)
      const head = result.dry_run ? `Dry run: would delete from ${store.location} (nothing changed):` : `Deleted from ${store.location} in ${result.duration_ms} ms:`
      this.print(`${head}\n${lines.join('\n')}`)
      return {...result, database: store.location}
    })
  }
}

function describe(limit: RetentionLimit): string {
  const parts: string[] = []
  if (limit.max_age_seconds !== undefined && limit.max_age_seconds !== null) parts.push(`older than ${formatDuration(limit.max_age_seconds * 1000)}`)
  if (limit.max_rows !== undefined && limit.max_rows !== null) parts.push(`beyond the newest ${limit.max_rows}`)
  return parts.length > 0 ? parts.join(' or ') : 'no limit set'
}
