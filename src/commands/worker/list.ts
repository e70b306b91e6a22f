import {Flags} from '@oclif/core'
import type {WorkerListRow} from '../../engine/store/index.js'
import {AttuneCommand, databaseFlags} from '../base.js'

/** An active row without a recent heartbeat is a daemon that died without saying so. */
const shownStatus = (row: WorkerListRow) => (row.status === 'active' && !row.alive ? 'stale' : row.status)

export default class WorkerList extends AttuneCommand<typeof WorkerList> {
  static override summary = 'List workers: running daemons and hosts registered with `attune runtime detect --register`.'

  static override description = `STATUS is active for a worker with a recent heartbeat, stale for one that stopped sending
heartbeats without stopping cleanly (a killed daemon: its sensors move to the others once their
leases expire), inactive for one that stopped cleanly. SENSORS is how many sensors a daemon owns.`

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --role sensor --json']

  static override flags = {
    ...databaseFlags,
    role: Flags.string({description: 'Only workers of this role, e.g. sensor.'}),
  }

  public async run(): Promise<{workers: WorkerListRow[]}> {
    const {listWorkers} = await import('../../engine/store/index.js')
    const workers = await this.withStore((store) => listWorkers(store, {role: this.flags.role}))
    if (!this.jsonEnabled()) {
      const {renderTable, shortTime} = await import('../../ui/table.js')
      this.print(
        renderTable(
          workers,
          [
            {header: 'NAME', value: (row) => row.name},
            {header: 'ROLE', value: (row) => row.worker_role},
            {header: 'STATUS', value: (row) => shownStatus(row), color: (row) => ({active: 'green', stale: 'yellow'})[shownStatus(row)] ?? 'gray'},
            {header: 'SENSORS', value: (row) => (typeof row.capabilities.sensors === 'number' ? String(row.capabilities.sensors) : '')},
            {header: 'RUNTIMES', value: (row) => (row.capabilities.runtimes ?? []).join(', ')},
            {header: 'LAST HEARTBEAT (UTC)', value: (row) => (row.last_heartbeat ? shortTime(row.last_heartbeat) : '')},
            {header: 'AGE', value: (row) => (row.heartbeat_age_seconds === null ? '' : `${row.heartbeat_age_seconds}s`)},
          ],
          'No workers registered. Register this host with: attune runtime detect --register',
        ),
      )
    }
    return {workers}
  }
}
