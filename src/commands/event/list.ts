import {Flags} from '@oclif/core'
import type {EventRow} from '../../engine/store/index.js'
import {parseSince} from '../../engine/time.js'
import type {ListColumn} from '../../ui/list-output.js'
import {databaseFlags} from '../base.js'
import {DEFAULT_LIMIT, ListCommand, followFlag, listFlags, type ListDocument} from '../list-base.js'

export default class EventList extends ListCommand<typeof EventList> {
  static override summary = 'List stored events, newest first.'
  static override description = `Shows the newest ${DEFAULT_LIMIT.log} events by default. A table that was cut ends with how many more there are and the cursor of the next page (--after); --json has "total" and "next" (null on the last page). --follow keeps printing events as they are stored (on the embedded database: those a running daemon stores).

Columns: id, created, trigger, source, payload.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --trigger core.intervaltimer --since 15m',
    '<%= config.bin %> <%= command.id %> --since 2026-11-24T08:00:00Z --limit 500 --json',
    '<%= config.bin %> <%= command.id %> --limit 20 --page 2',
    '<%= config.bin %> <%= command.id %> --output csv --columns id,created,trigger',
    '<%= config.bin %> <%= command.id %> --follow',
  ]

  static override defaultLimit = DEFAULT_LIMIT.log

  static override flags = {
    ...databaseFlags,
    ...listFlags(DEFAULT_LIMIT.log, {follow: true}),
    follow: followFlag,
    trigger: Flags.string({description: 'Only events of this trigger ref.'}),
    since: Flags.string({description: 'Only events newer than this: a duration back from now (15m, 2h, 7d) or an ISO timestamp.'}),
  }

  public async run(): Promise<ListDocument<'events', EventRow>> {
    const since = this.flags.since === undefined ? undefined : parseSince(this.flags.since)
    const filter = {trigger: this.flags.trigger, since}
    const {EVENT_LIST, eventFilters, pageEvents} = await import('../../engine/store/index.js')
    const {shortTime, compactJson, isoTime: iso} = await import('../../ui/table.js')
    const columns: ListColumn<EventRow>[] = [
      {header: 'ID', value: (event) => String(event.id), data: (event) => event.id, width: 6},
      {header: 'CREATED (UTC)', value: (event) => shortTime(event.created), data: (event) => iso(event.created), width: 19},
      {header: 'TRIGGER', value: (event) => event.trigger_ref, width: 22},
      {header: 'SOURCE', value: (event) => event.source_ref ?? '', data: (event) => event.source_ref, width: 22},
      {header: 'PAYLOAD', value: (event) => compactJson(event.payload), data: (event) => event.payload, maxWidth: 80},
    ]
    if (this.flags.follow) return this.followRows(EVENT_LIST, eventFilters(filter), columns)
    const request = this.pageRequest()
    const page = await this.withStore((store) => pageEvents(store, filter, request))
    return this.showList({kind: 'events', page, columns, empty: 'No events match.'})
  }
}
