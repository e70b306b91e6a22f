import {Flags} from '@oclif/core'
import type {SensorStatusRow} from '../../engine/store/index.js'
import type {ListColumn} from '../../ui/list-output.js'
import {databaseFlags} from '../base.js'
import {DEFAULT_LIMIT, ListCommand, listFlags, type ListDocument} from '../list-base.js'

export default class SensorStatus extends ListCommand<typeof SensorStatus> {
  static override summary = 'Show the state of every sensor as the running daemons report it.'

  static override description = `Reads what the daemons write to the database: which daemon owns each sensor, whether it is
running or failed (after sensor.max_restart_attempts consecutive failures a sensor is failed and
retried with backoff), its last poll, failures and last error. A sensor no daemon has polled yet
shows as "not polled". Long-running sensors show as running, starting or restarting, with their
restarts as failures; the builtin timer sensor counts its fires as polls and shows the next fire.

Columns: sensor, state, owner, last_poll, polls, failures, events, last_error.`

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --failed --json', '<%= config.bin %> <%= command.id %> --columns sensor,state,last_error']

  static override flags = {
    ...databaseFlags,
    ...listFlags(DEFAULT_LIMIT.catalog),
    failed: Flags.boolean({description: 'Only sensors that are failed or whose last poll failed.'}),
  }

  public async run(): Promise<ListDocument<'sensors', SensorStatusRow>> {
    const {pageSensorStatuses} = await import('../../engine/store/index.js')
    const {shortTime} = await import('../../ui/table.js')
    const request = this.pageRequest()
    const page = await this.withStore((store) => pageSensorStatuses(store, {failed: this.flags.failed}, request))
    const colors: Record<string, string> = {running: 'green', failed: 'red', restarting: 'yellow', starting: 'yellow', disabled: 'gray', 'not polled': 'gray', stopped: 'gray'}
    const state = (row: SensorStatusRow) => (row.owner && !row.owner_alive && row.state !== 'disabled' && row.state !== 'stopped' ? `${row.state} (stale)` : row.state)
    const columns: ListColumn<SensorStatusRow>[] = [
      {header: 'SENSOR', value: (row) => row.ref},
      {header: 'STATE', value: state, color: (row) => colors[row.state]},
      {header: 'OWNER', value: (row) => row.owner ?? '', data: (row) => row.owner},
      {header: 'LAST POLL (UTC)', value: (row) => (row.last_poll ? shortTime(row.last_poll) : ''), data: (row) => (row.last_poll ? new Date(row.last_poll).toISOString() : null)},
      {header: 'POLLS', value: (row) => String(row.polls), data: (row) => row.polls},
      {header: 'FAILURES', value: (row) => (row.consecutive_failures > 0 ? `${row.failures} (${row.consecutive_failures} in a row)` : String(row.failures)), data: (row) => row.failures},
      {header: 'EVENTS', value: (row) => String(row.events), data: (row) => row.events},
      {header: 'LAST ERROR', value: (row) => row.last_error ?? '', data: (row) => row.last_error, maxWidth: 70},
    ]
    return this.showList({kind: 'sensors', page, columns, empty: this.flags.failed ? 'No failing sensors.' : 'No sensors registered. Register a pack with: attune pack register DIR'})
  }
}
