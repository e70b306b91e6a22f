import {Flags} from '@oclif/core'
import type {DaemonStatus} from '../daemon/daemon.js'
import {AbortError} from '../engine/errors.js'
import {killAllSensorProcesses} from '../engine/sensor/process.js'
import {sensorRootWarning, sensorRunAs, type SensorIdentity} from '../engine/sensor/run-as.js'
import {withJwtSecret} from '../engine/tokens/index.js'
import {AttuneCommand, databaseFlags} from './base.js'

export type DaemonResult = DaemonStatus & {clean: boolean; unpublished: number}

/** A signal this soon after the first is the same request delivered twice, not a second one. */
const REPEAT_SIGNAL_MS = 300

export default class DaemonCommand extends AttuneCommand<typeof DaemonCommand> {
  static override summary = 'Run the sensor daemon: poll sensors, store events, match rules, publish enforcements.'

  static override description = `Polls every enabled sensor on its interval, stores each poll's events, enforcements and
outbox messages in one transaction, and publishes them on RabbitMQ (--amqp-url, ATTUNE_AMQP_URL)
or the in-process bus. Sensor and rule changes in the database are picked up without a restart.

With no database configured it uses the embedded database in $ATTUNE_HOME and serves it on a
socket there, so other attune commands (attune event list, attune sensor status) work meanwhile.

On a terminal it shows a live dashboard (keys: q stop, arrows and PgUp/PgDn scroll, / filter,
f failed only); otherwise (or with --no-ui) it writes JSON log lines.
SIGTERM, Ctrl-C or q stops it gracefully (polls in flight finish, the outbox is flushed, exit 0);
a second signal stops it at once.`

  static override examples = [
    {description: 'Run the core and example packs on the embedded database', command: '<%= config.bin %> <%= command.id %> --packs packs/core --packs packs/examples'},
    {description: 'Production: PostgreSQL, RabbitMQ, health endpoints', command: 'ATTUNE_DATABASE_URL=postgres://attune@db/attune ATTUNE_AMQP_URL=amqp://rabbit <%= config.bin %> <%= command.id %> --health-port 9464 --no-ui'},
  ]

  static override flags = {
    ...databaseFlags,
    'amqp-url': Flags.string({description: 'RabbitMQ URL (default: ATTUNE_AMQP_URL, amqp.url; unset: the in-process bus).'}),
    packs: Flags.string({description: 'Register this pack folder before starting (repeatable).', multiple: true, multipleNonGreedy: true}),
    'health-port': Flags.integer({description: 'Serve /healthz, /livez, /readyz and /metrics on 127.0.0.1:PORT (0 = any free port).', min: 0, max: 65_535}),
    'api-port': Flags.integer({description: 'Port of the HTTP API for sensors and webhooks (default 9465, ATTUNE_API_PORT; 0 = any free port).', min: 0, max: 65_535}),
    'api-host': Flags.string({description: 'Address the API listens on (default 127.0.0.1, ATTUNE_API_HOST; 0.0.0.0 for every interface: put TLS in front).'}),
    'no-api': Flags.boolean({description: 'Do not start the HTTP API.'}),
    'shutdown-timeout': Flags.integer({description: 'Seconds polls in flight may take to finish on shutdown (default 30).', min: 1}),
    name: Flags.string({description: 'Worker name of this daemon (default: <hostname>:<pid>).'}),
    'lease-seconds': Flags.integer({description: 'Sensor lease time when several daemons share a database (default 15).', min: 2, max: 3600}),
    'no-ui': Flags.boolean({description: 'Write JSON log lines even on a terminal.'}),
    'log-level': Flags.string({description: 'Least severe log level written.', options: ['debug', 'info', 'warn', 'error'], default: 'info'}),
  }

  /** The daemon handles signals itself: the first one stops gracefully, a second at once. */
  protected override installSignalHandlers(): void {}

  public async run(): Promise<DaemonResult> {
    const {flags} = this
    const loaded = this.loadConfig({
      database: {url: flags['database-url']},
      amqp: {url: flags['amqp-url']},
      daemon: {health_port: flags['health-port'], shutdown_timeout: flags['shutdown-timeout'], lease_seconds: flags['lease-seconds']},
      api: {port: flags['api-port'], host: flags['api-host'], enabled: flags['no-api'] ? false : undefined},
    })
    // A bad sensor.run_as is bad input (exit 2) before anything starts.
    const runAs = sensorRunAs(loaded)
    // On the embedded database the daemon owns it from this moment, before its (slow) start:
    // commands run meanwhile wait for its socket instead of taking the database from it.
    const {claimEmbeddedDatabase} = await import('../engine/store/owner.js')
    const claim = loaded.config.database.url ? undefined : claimEmbeddedDatabase(loaded.config.home)
    try {
      return await this.serve(loaded.config, runAs)
    } finally {
      claim?.release()
    }
  }

  private async serve(loaded: ReturnType<DaemonCommand['loadConfig']>['config'], runAs: SensorIdentity | undefined): Promise<DaemonResult> {
    const {flags} = this
    const [{Daemon}, {jsonLogger, ringLogger}] = await Promise.all([import('../daemon/daemon.js'), import('../daemon/logger.js')])
    const level = flags['log-level'] as 'debug' | 'info' | 'warn' | 'error'
    const useDashboard = Boolean(process.stdout.isTTY) && !flags['no-ui'] && !this.jsonEnabled()
    const ring = ringLogger(300, level)
    // --json keeps stdout for the one result document: the log goes to stderr then.
    const logger = useDashboard ? ring : jsonLogger(this.jsonEnabled() ? process.stderr : process.stdout, level)
    // The embedded default needs no setup: a secret for this home is generated once (said once).
    const config = withJwtSecret(loaded, {generate: true, notice: (message) => logger.info(message)})
    const rootWarning = sensorRootWarning(runAs)
    if (rootWarning) logger.warn(rootWarning)
    const daemon = new Daemon({config, logger, packs: flags.packs, healthPort: config.daemon.health_port, name: flags.name, runAs, logLevel: level})

    // The first signal (or `q`/Ctrl-C on the dashboard, which reads keys raw) stops gracefully;
    // a later one stops at once.
    let requestStop: (signal: NodeJS.Signals) => void = () => {}
    const signalled = new Promise<NodeJS.Signals>((resolve) => {
      let first: {signal: NodeJS.Signals; at: number} | undefined
      requestStop = (signal) => {
        if (first === undefined) {
          first = {signal, at: Date.now()}
          resolve(signal)
          return
        }
        // `timeout` and `kill -TERM -<pgid>` from inside the group deliver one signal twice
        // within a millisecond: only a later one is somebody asking again.
        if (Date.now() - first.at < REPEAT_SIGNAL_MS) return
        logger.warn('second signal: stopping at once')
        killAllSensorProcesses()
        process.exit(first.signal === 'SIGINT' ? 130 : 143)
      }
      process.on('SIGINT', requestStop)
      process.on('SIGTERM', requestStop)
    })

    try {
      await daemon.start()
    } catch (error) {
      await daemon.stop(1000).catch(() => {})
      if (error instanceof AbortError) throw error
      throw new AbortError(`The daemon could not start: ${error instanceof Error ? error.message : String(error)}`, {code: 'daemon_start_failed', cause: error})
    }
    const dashboard = useDashboard ? await import('../ui/dashboard.js').then((ui) => ui.showDashboard(daemon, ring, () => requestStop('SIGINT'))) : undefined
    const signal = await signalled
    logger.info('signal received: shutting down', {signal})
    const status = daemon.status()
    const result = await daemon.stop(config.daemon.shutdown_timeout * 1000)
    dashboard?.close(result.clean ? 'daemon stopped' : `daemon stopped; not everything finished in time (${result.unpublished} outbox row(s) unpublished)`)
    // Stopped means stopped: a handle left open by mistake must not keep the process (and a
    // supervisor waiting for it) alive. The log line makes such a bug visible.
    setTimeout(() => {
      logger.error('the process was still running 5 s after the daemon stopped: exiting', {hint: 'This is a bug in attune; please report it.'})
      process.exit(process.exitCode ?? 0)
    }, 5000).unref()
    return {...status, ...result}
  }
}
