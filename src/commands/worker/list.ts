import {Flags} from '@oclif/core'
import {AttuneCommand, databaseFlags} from '../base.js'

/** A worker row: a daemon (`<host>:<pid>`) or a host registered by `attune runtime detect --register`. */
export interface WorkerListRow {
  id: number
  name: string
  worker_role: string
  status: string
  capabilities: {runtimes?: string[]; sensors?: number; [key: string]: unknown}
  last_heartbeat: string | null
  /** Seconds since the last heartbeat (null without one). */
  heartbeat_age_seconds: number | null
  created: string
}

export default class WorkerList extends AttuneCommand<typeof WorkerList> {
  static override summary = 'List workers: running daemons and hosts registered with `attune runtime detect --register`.'

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --role sensor --json']

  static override flags = {
    ...databaseFlags,
    role: Flags.string({description: 'Only workers of this role, e.g. sensor.'}),
  }

  public async run(): Promise<{workers: WorkerListRow[]}> {
    const workers = await this.withStore(async (store) =>
      (
        await store.query<WorkerListRow>(
          `SELECT id::int AS id, name, worker_role, status, capabilities, last_heartbeat,
                  round(extract(epoch FROM now() - last_heartbeat))::int AS heartbeat_age_seconds, created
             FROM attune.worker
            WHERE $1::text IS NULL OR worker_role = $1
            ORDER BY name`,
          [this.flags.role ?? null],
        )
      ).rows.map((row) => ({
        ...row,
        last_heartbeat: row.last_heartbeat === null ? null : new Date(row.last_heartbeat).toISOString(),
        created: new Date(row.created).toISOString(),
      })),
    )
    if (!this.jsonEnabled()) {
      const {renderTable, shortTime} = await import('../../ui/table.js')
      this.print(
        renderTable(
          workers,
          [
            {header: 'NAME', value: (row) => row.name},
            {header: 'ROLE', value: (row) => row.worker_role},
            {header: 'STATUS', value: (row) => row.status, color: (row) => (row.status === 'active' ? 'green' : 'gray')},
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
