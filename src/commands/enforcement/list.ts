import {Flags} from '@oclif/core'
import type {EnforcementRow} from '../../engine/store/index.js'
import {parseSince} from '../../engine/time.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class EnforcementList extends AttuneCommand<typeof EnforcementList> {
  static override summary = 'List enforcements (events a rule matched), newest first.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --rule examples.alert_on_full_root --since 1d --json']
  static override flags = {
    ...databaseFlags,
    rule: Flags.string({description: 'Only enforcements of this rule ref.'}),
    since: Flags.string({description: 'Only enforcements newer than this: a duration (15m, 2h, 7d) or an ISO timestamp.'}),
    limit: Flags.integer({description: 'At most this many.', default: 50, min: 1, max: 100_000}),
  }

  public async run(): Promise<{enforcements: EnforcementRow[]}> {
    const since = this.flags.since === undefined ? undefined : parseSince(this.flags.since)
    const {listEnforcements} = await import('../../engine/store/index.js')
    const enforcements = await this.withStore((store) => listEnforcements(store, {rule: this.flags.rule, since, limit: this.flags.limit}))
    if (!this.jsonEnabled()) {
      const {renderTable, shortTime} = await import('../../ui/table.js')
      this.print(
        renderTable(
          enforcements,
          [
            {header: 'ID', value: (row) => String(row.id)},
            {header: 'CREATED (UTC)', value: (row) => shortTime(row.created)},
            {header: 'RULE', value: (row) => row.rule_ref},
            {header: 'TRIGGER', value: (row) => row.trigger_ref},
            {header: 'EVENT', value: (row) => (row.event === null ? '' : String(row.event))},
            {header: 'STATUS', value: (row) => row.status},
          ],
          'No enforcements match.',
        ),
      )
    }
    return {enforcements}
  }
}
