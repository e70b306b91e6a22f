import {Flags, type Interfaces} from '@oclif/core'
import type {DaemonStatus} from '../daemon/daemon.js'
import {LOG_LEVELS, type ConfigOverrides, type LogLevel} from '../engine/config.js'
import {AbortError} from '../engine/errors.js'
import {killAllSensorProcesses} from '../engine/sensor/process.js'
import {sensorRootWarning, sensorRunAs, type SensorIdentity} from '../engine/sensor/run-as.js'
import {withJwtSecret} from '../engine/tokens/index.js'
import {AttuneCommand, databaseFlags} from './base.js'

/**
 * The daemon's settings as flags. Each also comes from an `ATTUNE_*` variable and the config file
 * (docs/configuration.md); a flag given wins. `attune config show` takes them too.
 */
export const daemonFlags = {
  ...databaseFlags,
  'amqp-url': Flags.string({description: 'RabbitMQ URL (ATTUNE_AMQP_URL, amqp.url; unset: the in-process bus).'}),
  packs: Flags.string({description: 'Register this pack folder before starting (repeatable; ATTUNE_PACKS=a,b, daemon.packs).', multiple: true, multipleNonGreedy: true}),
  'health-port': Flags.integer({description: 'Serve /healthz, /livez, /readyz and /metrics on this port (0 = any free port; ATTUNE_HEALTH_PORT, health.port). Unset: not served.', min: 0, max: 65_535}),
  'health-host': Flags.string({description: 'Address the health endpoints listen on (default 127.0.0.1; ATTUNE_HEALTH_HOST, health.host; 0.0.0.0 for every interface: set ATTUNE_METRICS_TOKEN).'}),
  'api-port': Flags.integer({description: 'Port of the HTTP API for sensors and webhooks (default 9465; ATTUNE_API_PORT, api.port; 0 = any free port).', min: 0, max: 65_535}),
  'api-host': Flags.string({description: 'Address the API listens on (default 127.0.0.1; ATTUNE_API_HOST, api.host; 0.0.0.0 for every interface: put TLS in front).'}),
  'no-api': Flags.boolean({description: 'Do not start the HTTP API (ATTUNE_API_ENABLED=false, api.enabled: false).'}),
  'shutdown-timeout': Flags.integer({description: 'Seconds polls in flight may take to finish on shutdown (default 30; ATTUNE_SHUTDOWN_TIMEOUT, daemon.shutdown_timeout).', min: 1}),
  name: Flags.string({description: 'Worker name of this daemon (default <hostname>:<pid>; ATTUNE_DAEMON_NAME, daemon.name).'}),
  'lease-seconds': Flags.integer({description: 'Sensor lease time when several daemons share a database (default 15; ATTUNE_LEASE_SECONDS, daemon.lease_seconds).', min: 2, max: 3600}),
  'no-ui': Flags.boolean({description: 'No dashboard: write log lines, readable on a terminal, JSON otherwise (ATTUNE_UI=false, daemon.ui: false).'}),
  'no-watch': Flags.boolean({description: 'Do not restart a sensor whose file changed, nor register a pack whose YAML changed (ATTUNE_WATCH=0, daemon.watch: false).'}),
  'log-level': Flags.string({description: 'Least severe log level written (default info; ATTUNE_LOG_LEVEL, daemon.log_level; debug adds every poll, publish batch and lease tick).', options: [...LOG_LEVELS]}),
}

/** The daemon flags given, as configuration overrides (flags not given override nothing). */
export function daemonOverrides(flags: Partial<Interfaces.InferredFlags<typeof daemonFlags>>): ConfigOverrides {
  return {
    database: {url: flags['database-url']},
    amqp: {url: flags['amqp-url']},
    daemon: {
      shutdown_timeout: flags['shutdown-timeout'],
      lease_seconds: flags['lease-seconds'],
      name: flags.name,
      log_level: flags['log-level'] as LogLevel | undefined,
      ui: flags['no-ui'] ? false : undefined,
      watch: flags['no-watch'] ? false : undefined,
      packs: flags.packs?.length ? flags.packs : undefined,
    },
    health: {port: flags['health-port'], host: flags['health-host']},
    api: {port: flags['api-port'], host: flags['api-host'], enabled: flags['no-api'] ? false : undefined},
  }
}

export type DaemonResult = DaemonStatus & {clean: boolean; unpublished: number}

/** Whether ink takes this environment for CI (where it renders only the last frame). */
function inCi(env: NodeJS.ProcessEnv): boolean {
  if (env.CI === '0' || env.CI === 'false') return false
  return 'CI' in env || 'CONTINUOUS_INTEGRATION' in env || Object.keys(env).some((key) => key.startsWith('CI_'))
}

/** A signal this soon after the first is the same request delivered twice, not a second one. */
const REPEAT_SIGNAL_MS = 300

export default class DaemonCommand extends AttuneCommand<typeof DaemonCommand> {
  static override summary = 'Run the sensor daemon: poll sensors, store events, match rules, publish enforcements.'

  static override description = `Polls every enabled sensor on its interval, stores each poll's events, enforcements and
outbox messages in one transaction, and publishes them on RabbitMQ (--amqp-url, ATTUNE_AMQP_URL)
or the in-process bus. Sensor and rule changes in the database are picked up without a restart,
and so are saved sensor files and pack YAML (a file that does not load keeps the old process;
--no-watch turns this off).

With no database configured it uses the embedded database in $ATTUNE_HOME and serves it on a
socket there, so other attune commands (attune event list, attune sensor status) work meanwhile.

On a terminal it shows a live dashboard (keys: q stop, arrows and PgUp/PgDn scroll, / filter,
f failed only); otherwise (or with --no-ui) it writes log lines: JSON
lines (pid, hostname, service, version on each), readable ones when they go to a terminal.
--log-level (or ATTUNE_LOG_LEVEL) debug adds every poll, publish batch and lease tick.
Every flag below is also an ATTUNE_* variable and a config file key (attune config show lists
them with their sources; docs/configuration.md).
SIGTERM, Ctrl-C or q stops it gracefully (polls in flight finish, the outbox is flushed, exit 0);
a second signal stops it at once.`

  static override examples = [
    {description: 'Run the core and example packs on the embedded database', command: '<%= config.bin %> <%= command.id %> --packs packs/core --packs packs/examples'},
    {description: 'Run the example packs without applying saved changes to sensor files and pack YAML', command: '<%= config.bin %> <%= command.id %> --packs packs/core --packs packs/examples --no-watch'},
    {description: 'Production: PostgreSQL, RabbitMQ, health endpoints', command: 'ATTUNE_DATABASE_URL=postgres://attune@db/attune ATTUNE_AMQP_URL=amqp://rabbit <%= config.bin %> <%= command.id %> --health-port 9464 --no-ui'},
    {
      description: 'Health endpoints for a Prometheus on another host, /metrics behind a bearer token',
      command: 'ATTUNE_METRICS_TOKEN_FILE=/etc/attune/metrics-token <%= config.bin %> <%= command.id %> --health-host 0.0.0.0 --health-port 9464 --no-ui',
    },
  ]

  static override flags = daemonFlags

  /** The daemon handles signals itself: the first one stops gracefully, a second at once. */
  protected override installSignalHandlers(): void {}

  public async run(): Promise<DaemonResult> {
    const {flags} = this
    const loaded = this.loadConfig(daemonOverrides(flags))
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
    const [{Daemon}, {createLogger, ringLogger}] = await Promise.all([import('../daemon/daemon.js'), import('../daemon/logger.js')])
    const level = loaded.daemon.log_level
    // In CI (as ink sees it: CI, CONTINUOUS_INTEGRATION or CI_* set) ink draws nothing until the
    // end, so a CI job on a terminal gets log lines instead of a blank dashboard.
    const useDashboard = Boolean(process.stdout.isTTY) && loaded.daemon.ui && !this.jsonEnabled() && !inCi(process.env)
    const ring = ringLogger(300, level)
    // --json keeps stdout for the one result document: the log goes to stderr then. JSON
    // lines unless they go to a terminal (--no-ui there: readable lines).
    const stream = this.jsonEnabled() ? process.stderr : process.stdout
    const logger = useDashboard ? ring : createLogger({stream, level, pretty: Boolean((stream as NodeJS.WriteStream).isTTY)})
    // The embedded default needs no setup: a secret for this home is generated once (said once).
    const config = withJwtSecret(loaded, {generate: true, notice: (message) => logger.info(message)})
    const rootWarning = sensorRootWarning(runAs)
    if (rootWarning) logger.warn(rootWarning)
    const daemon = new Daemon({config, logger, packs: config.daemon.packs, healthPort: config.health.port, name: config.daemon.name, runAs, logLevel: level})

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
