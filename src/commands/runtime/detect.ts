import {Flags} from '@oclif/core'
import type {DetectionReport} from '../../engine/detect/index.js'
import {AbortError} from '../../engine/errors.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class RuntimeDetect extends AttuneCommand<typeof RuntimeDetect> {
  static override summary = 'Detect the sensor runtimes this host can run, and optionally register this host as a sensor worker.'

  static override description = `Reads the sensor runtimes (and pack runtimes without a type) from the runtime table and
checks them all in parallel: always_available runtimes need no check; otherwise the
verification commands run in priority order (no shell, 2 s timeout each) and the first whose
exit code, output pattern and min_version pass decides. Python and Node.js are asked for their
own path, so a pyenv/asdf shim resolves to the real interpreter, which sensor polls then use.

ATTUNE_SENSOR_RUNTIMES="python,shell", else sensor.capabilities.runtimes in the config file,
replaces detection (no database, no checks); the output names the source that decided.
An empty runtime table gets the bundled core pack registered first (--no-core-pack: fail).
Results are cached in $ATTUNE_HOME/cache for 5 minutes (until a runtime row or PATH changes).

Exit codes: 0 detected (whatever is available), 1 a --require'd runtime is not available,
2 bad input (flag values, override lists, a --require name no runtime answers to).`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    {description: 'Record this host as a sensor worker with what it can run', command: '<%= config.bin %> <%= command.id %> --register'},
    {description: 'In a provisioning script: fail unless Python and Node.js work', command: '<%= config.bin %> <%= command.id %> --require python --require node --no-cache'},
    {description: 'Skip detection (development)', command: 'ATTUNE_SENSOR_RUNTIMES=python,shell <%= config.bin %> <%= command.id %> --json'},
  ]

  static override flags = {
    ...databaseFlags,
    register: Flags.boolean({description: "Upsert this host's worker row (worker_role sensor, capabilities.runtimes, heartbeat)."}),
    'worker-name': Flags.string({description: 'Name of the worker row for --register (default: the host name).', dependsOn: ['register']}),
    cache: Flags.boolean({description: 'Reuse a result from the last 5 minutes (--no-cache: check again).', default: true, allowNo: true}),
    require: Flags.string({
      description: 'Exit 1 unless this runtime is available (name, alias or ref; repeatable or comma-separated).',
      multiple: true,
      multipleNonGreedy: true,
    }),
    timeout: Flags.string({description: 'Seconds each verification command may take before it is killed (default 2).'}),
    'core-pack': Flags.boolean({
      description: 'Register the bundled core pack when the database has no sensor runtimes (--no-core-pack: fail instead).',
      default: true,
      allowNo: true,
    }),
  }

  public async run(): Promise<DetectionReport> {
    const {flags} = this
    const {config, file} = this.loadConfig({database: {url: flags['database-url']}})
    const engine = await import('../../engine/detect/index.js')
    // Bad input is reported before the database is opened or anything is run.
    const timeoutMs = flags.timeout === undefined ? undefined : parseTimeout(flags.timeout)
    const required = engine.parseRequired(flags.require ?? [])
    const workerName = flags.register ? parseWorkerName(flags['worker-name'] ?? engine.defaultWorkerName()) : undefined
    const human = !this.jsonEnabled()

    const report = await engine.runtimeDetection({
      config,
      configFile: file,
      openStore: () => this.openStore(config),
      useCache: flags.cache,
      registerCore: flags['core-pack'],
      register: workerName === undefined ? undefined : {name: workerName},
      require: required,
      timeoutMs,
      notice: human ? (message) => process.stderr.write(`${message}\n`) : undefined,
    })
    const missing = (report.required ?? []).filter((runtime) => !runtime.available)
    if (human) {
      const {renderRuntimeReport} = await import('../../ui/runtime-detect.js')
      this.print(renderRuntimeReport(report))
      for (const runtime of missing) process.stderr.write(`Required runtime ${runtime.name} is not available: ${runtime.reason}\n`)
    }
    this.setFailed(missing.length > 0)
    return report
  }
}

function parseTimeout(value: string): number {
  const seconds = Number(value)
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 600) {
    throw new AbortError(`--timeout must be a number of seconds between 0 and 600, got "${value}"`, {code: 'flag_invalid'})
  }
  return seconds * 1000
}

function parseWorkerName(value: string): string {
  const name = value.trim()
  if (name === '' || name.length > 200 || /[\s\u0000-\u001f]/.test(name)) {
    throw new AbortError(`--worker-name must be 1 to 200 characters without spaces, got ${JSON.stringify(value)}`, {code: 'flag_invalid'})
  }
  return name
}
