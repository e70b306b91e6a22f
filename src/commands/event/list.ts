import {Flags} from '@oclif/core'
import type {EventRow} from '../../engine/store/index.js'
import {parseSince} from '../../engine/time.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class EventList extends AttuneCommand<typeof EventList> {
  static override summary = 'List stored events, newest first.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --trigger core.intervaltimer --since 15m',
    '<%= config.bin %> <%= command.id %> --since 2026-11-24T08:00:00Z --limit 500 --json',
  ]
  static override flags = {
    ...databaseFlags,
    trigger: Flags.string({description: 'Only events of this trigger ref.'}),
    since: Flags.string({description: 'Only events newer than this: a duration back from now (15m, 2h, 7d) or an ISO timestamp.'}),
    limit: Flags.integer({description: 'At most this many events.', default: 50, min: 1, max: 100_000}),
  }

  public async run(): Promise<{events: EventRow[]}> {
    const since = this.flags.since === undefined ? undefined : parseSince(this.flags.since)
    const {listEvents} = await import('../../engine/store/index.js')
    const events = await this.withStore((store) => listEvents(store, {trigger: this.flags.trigger, since, limit: this.flags.limit}))
    if (!this.jsonEnabled()) {
      const {renderTable, shortTime, compactJson} = await import('../../ui/table.js')
      this.print(
        renderTable(
          events,
          [
            {header: 'ID', value: (event) => String(event.id)},
            {header: 'CREATED (UTC)', value: (event) => shortTime(event.created)},
            {header: 'TRIGGER', value: (event) => event.trigger_ref},
            {header: 'SOURCE', value: (event) => event.source_ref ?? ''},
            {header: 'PAYLOAD', value: (event) => compactJson(event.payload), maxWidth: 80},
          ],
          'No events match.',
        ),
      )
    }
    return {events}
  }
}
