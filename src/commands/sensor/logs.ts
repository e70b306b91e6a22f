import {Args, Flags} from '@oclif/core'
import type {SensorLogRecord} from '../../engine/store/index.js'
import {parseSince} from '../../engine/time.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export interface SensorLogsResult {
  sensor: string
  lines: SensorLogRecord[]
}

export default class SensorLogs extends AttuneCommand<typeof SensorLogs> {
  static override summary = "Show what a sensor wrote as its log: stderr, tracebacks and errors, as the daemons stored them."

  static override description = `The daemon stores each poll's stderr (and stdout for Python and Node sensors, where stdout is
a log), the traceback or error of a failed poll, and every stderr line of a long-running
sensor, in the database: this works from any machine against PostgreSQL, and on the embedded
database while the daemon runs. Each poll keeps its last 200 lines (64 KiB); each sensor its
newest 1000 lines. Lines reach the database about a second after the sensor wrote them.

Each line shows its time (UTC), its stream (stdout, stderr, traceback, error) and the poll
(poll sensors) or process id (long-running sensors) it came from.

--follow prints new lines as they arrive until Ctrl-C (on the embedded database, while a
daemon runs on it). --json prints a JSON array of line
records ({id, sensor, ts, stream, line, poll, pid, worker}); with --follow, one record per line
(JSON lines) instead. An unknown sensor exits with code 2.`

  static override examples = [
    {description: 'The last 100 lines of a sensor', command: '<%= config.bin %> <%= command.id %> examples.disk_usage'},
    {description: 'The last 20 lines, then new ones as they come', command: '<%= config.bin %> <%= command.id %> examples.disk_usage --lines 20 --follow'},
    {description: 'What it wrote in the last hour, as JSON', command: '<%= config.bin %> <%= command.id %> examples.disk_usage --since 1h --json'},
  ]

  static override args = {
    sensor: Args.string({description: 'A registered sensor ref.', required: true}),
  }

  static override flags = {
    ...databaseFlags,
    lines: Flags.integer({char: 'n', description: 'How many of the newest lines to show first.', min: 1, default: 100}),
    since: Flags.string({description: 'Only lines newer than this: a duration back from now (15m, 2h, 7d) or an ISO timestamp.'}),
    follow: Flags.boolean({char: 'f', description: 'Keep printing new lines until Ctrl-C.'}),
  }

  private stopFollowing?: () => void

  /** Ctrl-C while following ends it cleanly: the database is closed, exit code 0. */
  protected override installSignalHandlers(): void {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        if (this.stopFollowing) this.stopFollowing()
        else process.exit(signal === 'SIGINT' ? 130 : 143)
      })
    }
  }

  public async run(): Promise<SensorLogsResult> {
    const {flags, args} = this
    const since = flags.since === undefined ? undefined : parseSince(flags.since)
    const {readSensorLogs, requireSensorId} = await import('../../engine/store/index.js')
    return this.withStore(async (store) => {
      const id = await requireSensorId(store, args.sensor)
      const lines = await readSensorLogs(store, id, {since, lines: flags.lines})
      if (!flags.follow) {
        this.printLines(lines)
        if (lines.length === 0) this.print(`No log lines stored for ${args.sensor}${since ? ' in that time' : ''}. The daemon stores what the sensor writes on stderr.`)
        return {sensor: args.sensor, lines}
      }
      // Following: every line as it comes (JSON lines under --json), until a signal.
      this.printLines(lines, true)
      if (store.kind === 'pglite') {
        // Opened directly: no daemon runs on this embedded database (none could write a line
        // meanwhile, and holding it would keep one from starting).
        process.stderr.write('No daemon is running on this embedded database: no new lines can come. Start `attune daemon` and follow again.\n')
        return {sensor: args.sensor, lines: []}
      }
      let last = lines.at(-1)?.id ?? 0
      let stopped = false
      let wake: () => void = () => {}
      this.stopFollowing = () => {
        stopped = true
        wake()
      }
      while (!stopped) {
        await new Promise<void>((resolve) => {
          wake = resolve
          setTimeout(resolve, 1000)
        })
        if (stopped) break
        const fresh = await readSensorLogs(store, id, {afterId: last, since})
        this.printLines(fresh, true)
        last = fresh.at(-1)?.id ?? last
      }
      return {sensor: args.sensor, lines: []}
    }).then((result) => {
      // The lines were printed as they came: no closing document.
      if (flags.follow) this.exit(0)
      return result
    })
  }

  private printLines(lines: SensorLogRecord[], streaming = false): void {
    if (this.jsonEnabled()) {
      if (streaming) for (const line of lines) process.stdout.write(`${JSON.stringify(line)}\n`)
      return
    }
    for (const record of lines) {
      const from = record.poll ? `poll ${record.poll}` : record.pid ? `pid ${record.pid}` : ''
      process.stdout.write(`${record.ts.replace('T', ' ').slice(0, 23)} ${record.stream.padEnd(9)} ${from ? `${from.padEnd(13)} ` : ''}${record.line}\n`)
    }
  }
}
