import {Args, Flags} from '@oclif/core'
import {AbortError} from '../../engine/errors.js'
import {readObjectArgument} from '../../engine/input.js'
import type {RunOnceResult} from '../../engine/events/run-once.js'
import {sensorRootWarning, sensorRunAs} from '../../engine/sensor/run-as.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class SensorRunOnce extends AttuneCommand<typeof SensorRunOnce> {
  static override summary = 'Poll a sensor once and show its events and the rules they match; --persist stores and publishes them as the daemon does.'

  static override description = `SENSOR is a registered sensor ref (its stored config, runtime and trigger are used), a
sensor definition in a pack folder (<pack>/sensors/<name>.yaml: the pack is checked as
\`pack register\` would, and the sensor runs as the file defines it, so an edit can be tried
before registering it again), or the path of a sensor code file (as in \`attune sensor test\`;
its trigger is --trigger-ref).

By default this is a dry run: the sensor runs, every event is checked against the trigger's
output schema and matched against the enabled rules of its trigger in the database, and
nothing is written. --explain adds each rule's condition-by-condition trace.

--persist does what the daemon does after a poll: in one transaction it stores the events
(with the config snapshot, secrets masked), an enforcement per matching rule and the outbox
messages (event.created, enforcement.created), then publishes the outbox on RabbitMQ when an
AMQP URL is set (--amqp-url, ATTUNE_AMQP_URL), else on the in-process bus.

Exit codes: 0 the poll ran (and with --persist, its messages were published), 1 the sensor
failed or publishing failed (the messages stay in the outbox for the daemon), 2 bad input
(unknown sensor, missing file, bad --config, invalid AMQP URL).`

  static override examples = [
    {description: 'Dry run of a registered sensor', command: '<%= config.bin %> <%= command.id %> examples.disk_usage'},
    {description: 'With the traces of every rule', command: `<%= config.bin %> <%= command.id %> examples.disk_usage --config '{"threshold": 1}' --explain`},
    {description: 'Store and publish, as the daemon would', command: 'ATTUNE_AMQP_URL=amqp://localhost <%= config.bin %> <%= command.id %> examples.disk_usage --persist'},
    {description: 'A sensor definition as edited, before registering it again', command: '<%= config.bin %> <%= command.id %> packs/examples/sensors/disk_usage.yaml'},
    {description: 'A sensor file against the rules of a registered trigger', command: '<%= config.bin %> <%= command.id %> ./disk.sh --trigger-ref examples.disk_full --json'},
  ]

  static override args = {
    sensor: Args.string({description: 'A registered sensor ref, a sensor definition (.yaml) in a pack, or a sensor file.', required: true}),
  }

  static override flags = {
    ...databaseFlags,
    'amqp-url': Flags.string({description: 'RabbitMQ URL for --persist (default: ATTUNE_AMQP_URL, amqp.url; unset: the in-process bus).'}),
    config: Flags.string({char: 'c', description: 'Sensor config: inline JSON, @file.json or @file.yaml (merged over a registered sensor\'s stored config).'}),
    explain: Flags.boolean({char: 'x', description: 'Show the condition-by-condition trace of every rule.'}),
    persist: Flags.boolean({description: 'Store events, enforcements and outbox messages, and publish them.'}),
    'publish-timeout': Flags.string({description: 'With --persist: seconds to keep retrying an unreachable broker before leaving the messages to the daemon (default 10).'}),
    timeout: Flags.string({char: 't', description: 'Seconds before the sensor and its children are killed (default 30, or sensor.timeout).'}),
    runtime: Flags.string({char: 'r', description: 'Sensor file only: python, node, shell or native.'}),
    'sensor-ref': Flags.string({description: 'Sensor file only: the sensor ref (default: local.<file name>).'}),
    'trigger-ref': Flags.string({description: 'Sensor file only: the trigger its events are of (default: <sensor ref>_event).'}),
  }

  public async run(): Promise<RunOnceResult> {
    const {flags, args} = this
    const timeout = flags.timeout === undefined ? undefined : Number(flags.timeout)
    if (timeout !== undefined && !(Number.isFinite(timeout) && timeout > 0)) {
      throw new AbortError(`--timeout must be a positive number of seconds, got "${flags.timeout}"`, {code: 'flag_invalid'})
    }
    const publishTimeout = flags['publish-timeout'] === undefined ? 10 : Number(flags['publish-timeout'])
    if (!(Number.isFinite(publishTimeout) && publishTimeout >= 0)) {
      throw new AbortError(`--publish-timeout must be a number of seconds, got "${flags['publish-timeout']}"`, {code: 'flag_invalid'})
    }
    const loaded = this.loadConfig({database: {url: flags['database-url']}, amqp: {url: flags['amqp-url']}, sensor: {timeout}})
    const {config} = loaded
    const runAs = sensorRunAs(loaded)
    const rootWarning = sensorRootWarning(runAs)
    if (rootWarning) process.stderr.write(`Warning: ${rootWarning}\n`)
    const sensorConfig = flags.config === undefined ? undefined : readObjectArgument(flags.config, '--config')
    const {createBus} = await import('../../engine/bus/index.js')
    // Built first: an invalid AMQP URL is bad input before anything runs.
    const bus = flags.persist ? createBus({amqpUrl: config.amqp.url}) : undefined
    const {runSensorOnce} = await import('../../engine/events/run-once.js')
    const store = await this.openStore(config)
    let result: RunOnceResult
    try {
      result = await runSensorOnce(store, {
        sensor: args.sensor,
        config: sensorConfig,
        file: {runtime: flags.runtime, sensorRef: flags['sensor-ref'], triggerRef: flags['trigger-ref']},
        explain: flags.explain,
        persist: flags.persist,
        bus,
        publishTimeoutMs: publishTimeout * 1000,
        enforcements: config.pipeline.enforcements,
        execute: {timeoutMs: config.sensor.timeout * 1000, maxOutputBytes: config.sensor.max_output_bytes, interpreters: config.sensor.interpreters, runAs},
      })
    } finally {
      await bus?.close()
      await store.close()
    }
    if (!this.jsonEnabled()) {
      for (const warning of result.warnings) process.stderr.write(`Warning: ${warning}\n`)
      const [{renderSensorReport}, {renderRunOnce}] = await Promise.all([import('../../ui/sensor-report.js'), import('../../ui/run-once.js')])
      process.stdout.write(`${renderSensorReport(result.poll)}\n`)
      const rules = renderRunOnce(result)
      if (rules) process.stdout.write(`\n${rules}\n`)
    }
    this.setFailed(result.poll.error !== null || Boolean(result.published?.error))
    return result
  }
}
