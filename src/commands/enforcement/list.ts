import {Flags} from '@oclif/core'
import type {EnforcementRow} from '../../engine/store/index.js'
import {parseSince} from '../../engine/time.js'
import type {ListColumn} from '../../ui/list-output.js'
import {databaseFlags} from '../base.js'
import {DEFAULT_LIMIT, ListCommand, followFlag, listFlags, type ListDocument} from '../list-base.js'

export default class EnforcementList extends ListCommand<typeof EnforcementList> {
  static override summary = 'List enforcements (events a rule matched), newest first.'
  static override description = `Shows the newest ${DEFAULT_LIMIT.log} by default. A table that was cut ends with how many more there are and the cursor of the next page (--after); --json has "total" and "next" (null on the last page). --follow keeps printing enforcements as they are stored.

Columns: id, created, rule, trigger, event, status.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --rule examples.alert_on_full_root --since 1d --json',
    '<%= config.bin %> <%= command.id %> --output yaml --limit 5',
    '<%= config.bin %> <%= command.id %> --follow --json',
  ]

  static override defaultLimit = DEFAULT_LIMIT.log

  static override flags = {
    ...databaseFlags,
    ...listFlags(DEFAULT_LIMIT.log, {follow: true}),
    follow: followFlag,
    rule: Flags.string({description: 'Only enforcements of this rule ref.'}),
    since: Flags.string({description: 'Only enforcements newer than this: a duration (15m, 2h, 7d) or an ISO timestamp.'}),
  }

  public async run(): Promise<ListDocument<'enforcements', EnforcementRow>> {
    const since = this.flags.since === undefined ? undefined : parseSince(this.flags.since)
    const filter = {rule: this.flags.rule, since}
    const {ENFORCEMENT_LIST, enforcementFilters, pageEnforcements} = await import('../../engine/store/index.js')
    const {shortTime, isoTime} = await import('../../ui/table.js')
    const columns: ListColumn<EnforcementRow>[] = [
      {header: 'ID', value: (row) => String(row.id), data: (row) => row.id, width: 6},
      {header: 'CREATED (UTC)', value: (row) => shortTime(row.created), data: (row) => isoTime(row.created), width: 19},
      {header: 'RULE', value: (row) => row.rule_ref, width: 24},
      {header: 'TRIGGER', value: (row) => row.trigger_ref, width: 22},
      {header: 'EVENT', value: (row) => (row.event === null ? '' : String(row.event)), data: (row) => row.event, width: 6},
      {header: 'STATUS', value: (row) => row.status, width: 9},
    ]
    if (this.flags.follow) return this.followRows(ENFORCEMENT_LIST, enforcementFilters(filter), columns)
    const request = this.pageRequest()
    const page = await this.withStore((store) => pageEnforcements(store, filter, request))
    return this.showList({kind: 'enforcements', page, columns, empty: 'No enforcements match.'})
  }
}
