import {Args, Flags} from '@oclif/core'
import {AbortError} from '../../engine/errors.js'
import {readObjectArgument} from '../../engine/input.js'
import {prepareLocalSensor, runSensorPolls, watchFile, type SensorTestRun} from '../../engine/sensor/local.js'
import {PersistentRunnerPool} from '../../engine/sensor/persistent.js'
import {sensorRootWarning, sensorRunAs} from '../../engine/sensor/run-as.js'
import type {SensorExecutionResult} from '../../engine/sensor/types.js'
import {AttuneCommand} from '../base.js'

/** `--json` output: one poll gives its result; `--repeat` gives every poll. */
export type SensorTestResult = SensorExecutionResult | (SensorTestRun & {persistent: boolean})

export default class SensorTest extends AttuneCommand<typeof SensorTest> {
  static override summary = 'Run a sensor file once and show its events, logs and errors, exactly as the daemon would see them.'

  static override description = `The runtime is taken from --runtime, else the file: .py is python, .js/.mjs/.cjs is node,
.sh/.bash is shell, a #! line names the interpreter, and any other executable runs as native.

Python and Node.js sensors define poll_sensor(config) and return (or yield) events; their
print()/console.log() output is kept as logs and never mixes with the result. Shell and native
sensors print {"events": [...], "count": N} on stdout and read their config from $SENSOR_CONFIG.

With sensor.run_as (or ATTUNE_SENSOR_RUN_AS) set, the sensor runs as that user, as the daemon
runs it (docs/security.md).

Exit codes: 0 the sensor ran cleanly (zero events is fine), 1 it failed (error, timeout,
bad output, non-zero exit), 2 bad usage (missing file, bad --config, unknown runtime).`

  static override examples = [
    {description: 'Run a Python sensor with a config', command: `<%= config.bin %> <%= command.id %> packs/examples/sensors/file_watcher.py --config '{"path": "/tmp"}'`},
    {description: 'Config from a YAML file, output as JSON', command: '<%= config.bin %> <%= command.id %> ./disk_usage.sh --config @config.yaml --json'},
    {description: 'Keep one runner warm and poll it 5 times', command: '<%= config.bin %> <%= command.id %> ./monitor.js --persistent --repeat 5'},
    {description: 'Re-run on every save (Ctrl-C to stop)', command: '<%= config.bin %> <%= command.id %> ./my_sensor.py --watch'},
  ]

  static override args = {
    file: Args.string({description: 'Path of the sensor file.', required: true}),
  }

  static override flags = {
    runtime: Flags.string({char: 'r', description: 'Runtime: python, node, shell or native (or a runtime ref such as core.python).'}),
    config: Flags.string({char: 'c', description: 'Sensor config: inline JSON, @file.json or @file.yaml.'}),
    'sensor-ref': Flags.string({description: 'Sensor ref the sensor sees in $SENSOR_REF (default: local.<file name>).'}),
    'trigger-ref': Flags.string({description: 'Trigger ref the sensor sees in $TRIGGER_REF (default: <sensor ref>_event).'}),
    timeout: Flags.string({char: 't', description: 'Seconds before the sensor and its children are killed (default 30, or sensor.timeout).'}),
    env: Flags.string({char: 'e', description: 'Extra environment variable for the sensor, KEY=VALUE (repeatable).', multiple: true, multipleNonGreedy: true}),
    persistent: Flags.boolean({description: 'Import the sensor once in a runner and poll it over a pipe (python and node).'}),
    repeat: Flags.integer({char: 'n', description: 'Poll this many times.', default: 1, min: 1, max: 10_000}),
    watch: Flags.boolean({char: 'w', description: 'Run again whenever the file changes (Ctrl-C to stop).', exclusive: ['json']}),
  }

  public async run(): Promise<SensorTestResult | undefined> {
    const {flags, args} = this
    const timeoutSeconds = flags.timeout === undefined ? undefined : parseTimeout(flags.timeout)
    const loaded = this.loadConfig({sensor: {timeout: timeoutSeconds}})
    const {config} = loaded
    const runAs = sensorRunAs(loaded)
    const rootWarning = sensorRootWarning(runAs)
    if (rootWarning) process.stderr.write(`Warning: ${rootWarning}\n`)
    const sensorConfig = flags.config === undefined ? {} : readObjectArgument(flags.config, '--config')
    const {sensor, trigger} = await prepareLocalSensor({
      file: args.file,
      runtime: flags.runtime,
      sensorRef: flags['sensor-ref'],
      triggerRef: flags['trigger-ref'],
      env: parseEnv(flags.env ?? []),
      persistent: flags.persistent,
      runAs,
    })
    const options = {
      timeoutMs: config.sensor.timeout * 1000,
      maxOutputBytes: config.sensor.max_output_bytes,
      interpreters: config.sensor.interpreters,
      runAs,
      repeat: flags.repeat,
    }
    const ui = this.jsonEnabled() ? undefined : await import('../../ui/sensor-report.js')
    const runOnce = async (runners?: PersistentRunnerPool): Promise<SensorTestRun> => {
      const status = ui && process.stderr.isTTY ? startStatus(`Running ${sensor.ref}…`) : undefined
      try {
        return await runSensorPolls(sensor, trigger, sensorConfig, {
          ...options,
          runners,
          onPoll: (result, index) => {
            if (ui && flags.repeat > 1) process.stdout.write(`${ui.renderPollLine(result, index)}\n`)
          },
        })
      } finally {
        status?.stop()
      }
    }
    const show = (run: SensorTestRun) => {
      if (!ui) return
      const last = run.runs.find((result) => result.error !== null) ?? run.runs.at(-1)
      if (last) process.stdout.write(`${ui.renderSensorReport(last)}\n`)
      if (flags.repeat > 1) {
        const failed = run.runs.filter((result) => result.error !== null).length
        const mean = Math.round(run.runs.reduce((sum, result) => sum + result.duration_ms, 0) / run.runs.length)
        const runner = flags.persistent ? `, runner started ${run.runner_starts}×` : ''
        process.stdout.write(`\n${run.runs.length} polls, ${failed} failed, mean ${mean} ms${runner}\n`)
      }
    }

    if (flags.watch) {
      await this.watch(args.file, sensor.ref, runOnce, show)
      return undefined
    }
    const run = await runOnce()
    show(run)
    this.setFailed(run.runs.some((result) => result.error !== null))
    return flags.repeat === 1 ? run.runs[0] : {...run, persistent: Boolean(flags.persistent)}
  }

  /** Runs, then runs again on every change of the file until Ctrl-C. */
  private async watch(
    file: string,
    key: string,
    runOnce: (runners?: PersistentRunnerPool) => Promise<SensorTestRun>,
    show: (run: SensorTestRun) => void,
  ): Promise<void> {
    const runners = new PersistentRunnerPool()
    let running = Promise.resolve()
    const rerun = (reason: string) => {
      running = running.then(async () => {
        process.stderr.write(`\n── ${reason} ${new Date().toISOString()} ──\n`)
        // A changed file must be imported afresh: drop the warm runner.
        runners.closeAll()
        show(await runOnce(runners))
        process.stderr.write(`Watching ${file} for changes (Ctrl-C to stop)\n`)
      })
    }
    rerun('run')
    const watcher = watchFile(file, () => rerun(`${key} changed`))
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => {
        watcher.close()
        runners.closeAll()
        resolve()
      })
    })
  }
}

function parseTimeout(value: string): number {
  const seconds = Number(value)
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new AbortError(`--timeout must be a positive number of seconds, got "${value}"`, {code: 'flag_invalid'})
  }
  return seconds
}

function parseEnv(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {}
  for (const pair of pairs) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(pair)
    if (!match) throw new AbortError(`--env must be KEY=VALUE, got "${pair}"`, {code: 'flag_invalid'})
    env[match[1]] = match[2]
  }
  return env
}

/** A one-line spinner on stderr while a poll runs (only on a terminal). */
function startStatus(text: string): {stop(): void} {
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']
  let frame = 0
  const timer = setInterval(() => process.stderr.write(`\r${frames[frame++ % frames.length]} ${text}`), 80)
  return {
    stop() {
      clearInterval(timer)
      process.stderr.write('\r\u001B[2K')
    },
  }
}
