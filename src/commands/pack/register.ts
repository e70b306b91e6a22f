import {Args, Flags} from '@oclif/core'
import type {RegisterReport} from '../../engine/packs/index.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class PackRegister extends AttuneCommand<typeof PackRegister> {
  static override summary = 'Register packs (runtimes, triggers, sensors, rules) in the database.'

  static override description = `Reads each pack folder (pack.yaml, runtimes/, triggers/, sensors/, rules/) and upserts
everything in one transaction: a bad file registers nothing. Running it again changes nothing and
reports every item as unchanged. Actions, workflows and permission sets are skipped with a note.
Schemas may be JSON Schema or StackStorm's flat form; rules may use the Attune or StackStorm form.

A sensor, rule, trigger or runtime that was registered from a pack but is no longer in its folder
is listed as stale and kept; --prune deletes it (a trigger or runtime another pack still uses is
kept). Rule changes are announced as rule.created / rule.enabled / rule.disabled / rule.deleted
messages through the outbox, in the same transaction; a running daemon publishes them.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> packs/core packs/examples',
    {description: 'See what would change without writing', command: '<%= config.bin %> <%= command.id %> ./my-pack --dry-run'},
    {description: 'Also delete what was removed from the folder', command: '<%= config.bin %> <%= command.id %> ./my-pack --prune'},
  ]

  static override strict = false

  static override args = {
    dirs: Args.string({description: 'Pack folders to register.', required: true}),
  }

  static override flags = {
    ...databaseFlags,
    'dry-run': Flags.boolean({description: 'Validate and report, then roll back: nothing is written.'}),
    prune: Flags.boolean({description: "Delete this pack's sensors, rules, triggers and runtimes that are no longer in its folder."}),
  }

  public async run(): Promise<RegisterReport> {
    const {argv} = await this.parse(PackRegister)
    const dirs = argv as string[]
    const {registerPacks} = await import('../../engine/packs/index.js')
    const report = await this.withStore((store) => registerPacks(store, dirs, {dryRun: this.flags['dry-run'], prune: this.flags.prune, enforcements: this.loadConfig().config.pipeline.enforcements}))
    if (!this.jsonEnabled()) {
      if (report.registered_core_pack) this.print('The database had no runtimes: the bundled core pack was registered first (the runtimes sensors name).')
      const {renderTable} = await import('../../ui/table.js')
      const statusColor: Record<string, string> = {created: 'green', updated: 'yellow', unchanged: 'gray', skipped: 'gray', deleted: 'red'}
      this.print(
        renderTable(
          report.items,
          [
            {header: 'KIND', value: (item) => item.kind},
            {header: 'REF', value: (item) => item.ref ?? item.file},
            {header: 'STATUS', value: (item) => item.status, color: (item) => statusColor[item.status]},
            {
              header: 'DETAIL',
              value: (item) => [item.reason, ...(item.warnings ?? [])].filter(Boolean).join('; '),
              maxWidth: 80,
            },
          ],
          'Nothing to register.',
        ),
      )
      const {created, updated, unchanged, skipped, deleted} = report.summary
      this.print(
        `${report.dry_run ? 'Dry run (nothing written): ' : ''}${created} created, ${updated} updated, ${unchanged} unchanged, ${skipped} skipped` +
          (deleted > 0 ? `, ${deleted} deleted` : ''),
      )
      if (report.stale.length > 0) {
        const lines = report.stale.map((item) => `  ${item.kind} ${item.ref}${item.kept_because ? ` (${item.kept_because})` : ''}`)
        const advice = report.stale.some((item) => !item.kept_because) ? '\nRun again with --prune to delete them.' : ''
        process.stderr.write(`Warning: no longer in the pack folder, kept:\n${lines.join('\n')}${advice}\n`)
      }
    }
    return report
  }
}
