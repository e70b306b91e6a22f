import {Flags} from '@oclif/core'
import {AttuneCommand, databaseFlags} from '../base.js'

/** One sensor as the daemons last reported it. */
export interface SensorStatusRow {
  ref: string
  enabled: boolean
  execution: string
  owner: string | null
  /** The owning daemon's last heartbeat is recent. */
  owner_alive: boolean
  state: string
  consecutive_failures: number
  polls: number
  failures: number
  events: number
  last_poll: string | null
  last_duration_ms: number | null
  last_error: string | null
  next_poll: string | null
}

/** A daemon whose heartbeat is older than this is considered gone. */
const HEARTBEAT_STALE_SECONDS = 30

export default class SensorStatus extends AttuneCommand<typeof SensorStatus> {
  static override summary = 'Show the state of every sensor as the running daemons report it.'

  static override description = `Reads what the daemons write to the database: which daemon owns each sensor, whether it is
running or failed (after sensor.max_restart_attempts consecutive failures a sensor is failed and
retried with backoff), its last poll, failures and last error. A sensor no daemon has polled yet
shows as "not polled".`

  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --failed --json']

  static override flags = {
    ...databaseFlags,
    failed: Flags.boolean({description: 'Only sensors that are failed or whose last poll failed.'}),
  }

  public async run(): Promise<{sensors: SensorStatusRow[]}> {
    const rows = await this.withStore(async (store) =>
      (
        await store.query<SensorStatusRow>(
          `SELECT s.ref, s.enabled, s.execution, st.owner,
                  COALESCE(w.status = 'active' AND w.last_heartbeat > now() - make_interval(secs => $1), false) AS owner_alive,
                  COALESCE(st.state, CASE WHEN s.enabled THEN 'not polled' ELSE 'disabled' END) AS state,
                  COALESCE(st.consecutive_failures, 0) AS consecutive_failures, COALESCE(st.polls, 0)::int AS polls,
                  COALESCE(st.failures, 0)::int AS failures, COALESCE(st.events, 0)::int AS events,
                  st.last_poll, st.last_duration_ms, st.last_error, st.next_poll
             FROM attune.sensor s
             LEFT JOIN attune.sensor_state st ON st.sensor = s.id
             LEFT JOIN attune.worker w ON w.name = st.owner
            ORDER BY s.ref`,
          [HEARTBEAT_STALE_SECONDS],
        )
      ).rows,
    )
    const sensors = this.flags.failed ? rows.filter((row) => row.state === 'failed' || row.consecutive_failures > 0) : rows
    if (!this.jsonEnabled()) {
      const {renderTable, shortTime} = await import('../../ui/table.js')
      const colors: Record<string, string> = {running: 'green', failed: 'red', paused: 'yellow', disabled: 'gray', 'not polled': 'gray'}
      this.print(
        renderTable(
          sensors,
          [
            {header: 'SENSOR', value: (row) => row.ref},
            {header: 'STATE', value: (row) => (row.owner && !row.owner_alive && row.state !== 'disabled' ? `${row.state} (stale)` : row.state), color: (row) => colors[row.state]},
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
