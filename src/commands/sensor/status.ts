import {Flags} from '@oclif/core'
import type {SensorStatusRow} from '../../engine/store/index.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class SensorStatus extends AttuneCommand<typeof SensorStatus> {
  static override summary = 'Show the state of every sensor as the running daemons report it.'

  static override description = `Reads what the daemons write to the database: which daemon owns each sensor, whether it is
running or failed (after sensor.max_restart_attempts consecutive failures a sensor is failed and
retried with backoff), its last poll, failures and last error. A sensor no daemon has polled yet
shows as "not polled". Long-running sensors show as running, starting or restarting, with their
restarts as failures; the builtin timer sensor counts its fires as polls and shows the next fire.`

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --failed --json']

  static override flags = {
    ...databaseFlags,
    failed: Flags.boolean({description: 'Only sensors that are failed or whose last poll failed.'}),
  }

  public async run(): Promise<{sensors: SensorStatusRow[]}> {
    const {sensorStatuses} = await import('../../engine/store/index.js')
    const rows = await this.withStore((store) => sensorStatuses(store))
    const sensors = this.flags.failed ? rows.filter((row) => row.state === 'failed' || row.consecutive_failures > 0) : rows
    if (!this.jsonEnabled()) {
      const {renderTable, shortTime} = await import('../../ui/table.js')
      const colors: Record<string, string> = {running: 'green', failed: 'red', restarting: 'yellow', starting: 'yellow', disabled: 'gray', 'not polled': 'gray', stopped: 'gray'}
      this.print(
        renderTable(
          sensors,
          [
            {header: 'SENSOR', value: (row) => row.ref},
            {header: 'STATE', value: (row) => (row.owner && !row.owner_alive && row.state !== 'disabled' && row.state !== 'stopped' ? `${row.state} (stale)` : row.state), color: (row) => colors[row.state]},
            {header: 'OWNER', value: (row) => row.owner ?? ''},
            {header: 'LAST POLL (UTC)', value: (row) => (row.last_poll ? shortTime(row.last_poll) : '')},
            {header: 'POLLS', value: (row) => String(row.polls)},
            {header: 'FAILURES', value: (row) => (row.consecutive_failures > 0 ? `${row.failures} (${row.consecutive_failures} in a row)` : String(row.failures))},
            {header: 'EVENTS', value: (row) => String(row.events)},
            {header: 'LAST ERROR', value: (row) => row.last_error ?? '', maxWidth: 70},
          ],
          this.flags.failed ? 'No failing sensors.' : 'No sensors registered. Register a pack with: attune pack register DIR',
        ),
      )
    }
    return {sensors}
  }
}
