import {Flags} from '@oclif/core'
import type {WorkerListRow} from '../../engine/store/index.js'
import type {ListColumn} from '../../ui/list-output.js'
import {databaseFlags} from '../base.js'
import {DEFAULT_LIMIT, ListCommand, listFlags, type ListDocument} from '../list-base.js'

/** An active row without a recent heartbeat is a daemon that died without saying so. */
const shownStatus = (row: WorkerListRow) => (row.status === 'active' && !row.alive ? 'stale' : row.status)

export default class WorkerList extends ListCommand<typeof WorkerList> {
  static override summary = 'List workers: running daemons and hosts registered with `attune runtime detect --register`.'

  static override description = `STATUS is active for a worker with a recent heartbeat, stale for one that stopped sending
heartbeats without stopping cleanly (a killed daemon: its sensors move to the others once their
leases expire), inactive for one that stopped cleanly. SENSORS is how many sensors a daemon owns.

Columns: name, role, status, sensors, runtimes, last_heartbeat, age.`

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --role sensor --json', '<%= config.bin %> <%= command.id %> --columns name,status,age']

  static override flags = {
    ...databaseFlags,
    ...listFlags(DEFAULT_LIMIT.catalog),
    role: Flags.string({description: 'Only workers of this role, e.g. sensor.'}),
  }

  public async run(): Promise<ListDocument<'workers', WorkerListRow>> {
    const {pageWorkers} = await import('../../engine/store/index.js')
    const {shortTime} = await import('../../ui/table.js')
    const request = this.pageRequest()
    const page = await this.withStore((store) => pageWorkers(store, {role: this.flags.role}, request))
    const columns: ListColumn<WorkerListRow>[] = [
      {header: 'NAME', value: (row) => row.name},
      {header: 'ROLE', value: (row) => row.worker_role},
      {header: 'STATUS', value: (row) => shownStatus(row), color: (row) => ({active: 'green', stale: 'yellow'})[shownStatus(row)] ?? 'gray'},
      {header: 'SENSORS', value: (row) => (typeof row.capabilities.sensors === 'number' ? String(row.capabilities.sensors) : ''), data: (row) => row.capabilities.sensors ?? null},
      {header: 'RUNTIMES', value: (row) => (row.capabilities.runtimes ?? []).join(', '), data: (row) => row.capabilities.runtimes ?? []},
      {header: 'LAST HEARTBEAT (UTC)', value: (row) => (row.last_heartbeat ? shortTime(row.last_heartbeat) : ''), data: (row) => row.last_heartbeat},
      {header: 'AGE', value: (row) => (row.heartbeat_age_seconds === null ? '' : `${row.heartbeat_age_seconds}s`), data: (row) => row.heartbeat_age_seconds},
    ]
    return this.showList({kind: 'workers', page, columns, empty: 'No workers registered. Register this host with: attune runtime detect --register'})
  }
}
