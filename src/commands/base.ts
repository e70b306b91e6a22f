import {Command, Errors, Flags, type Interfaces} from '@oclif/core'
import {AbortError, errorMessage} from '../engine/errors.js'
import {suggestFlags} from '../engine/suggest.js'
import {loadConfig, type ConfigOverrides, type LoadedConfig} from '../engine/config.js'
import {killAllSensorProcesses} from '../engine/sensor/process.js'
import type {Store} from '../engine/store/types.js'

/** Flags of every command that reads or writes the database. */
export const databaseFlags = {
  'database-url': Flags.string({
    description: 'PostgreSQL URL (default: ATTUNE_DATABASE_URL, DATABASE_URL, database.url, else the embedded database in $ATTUNE_HOME).',
    helpGroup: 'DATABASE',
  }),
}

/**
 * What every attune command shares (SPEC §10): `--json` (one JSON document on stdout:
 * the value `run()` returns), `--config-file`, `--debug`, and the exit codes
 * 0 success / 1 the checked thing failed / 2 bad usage or input, with user errors
 * printed without a stack trace.
 */
export abstract class AttuneCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true

  static override baseFlags = {
    'config-file': Flags.string({
      description: 'attune config file (default: ./attune.yaml, then $ATTUNE_HOME/config.yaml).',
      env: 'ATTUNE_CONFIG',
      helpGroup: 'GLOBAL',
    }),
    debug: Flags.boolean({description: 'Print stack traces of errors.', helpGroup: 'GLOBAL'}),
  }

  protected flags!: Interfaces.InferredFlags<(typeof AttuneCommand)['baseFlags'] & T['flags']>
  protected args!: Interfaces.InferredArgs<T['args']>

  public override async init(): Promise<void> {
    await super.init()
    const {flags, args} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (this.ctor as typeof AttuneCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    })
    this.flags = flags as typeof this.flags
    this.args = args as typeof this.args
    this.installSignalHandlers()
  }

  /** Ctrl-C or a TERM must not leave sensor processes behind: exiting runs the engine's cleanup. */
  protected installSignalHandlers(): void {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        killAllSensorProcesses()
        process.exit(signal === 'SIGINT' ? 130 : 143)
      })
    }
  }

  /** The resolved configuration: flags (`overrides`) > ATTUNE_* env > config file > defaults. */
  protected loadConfig(overrides?: ConfigOverrides): LoadedConfig {
    return loadConfig({file: this.flags['config-file'], overrides})
  }

  /**
   * Opens the database the configuration names (PostgreSQL, or the embedded default, migrated
   * on first use). Loaded lazily: commands that never touch the database never pay for it.
   */
  protected async openStore(config: LoadedConfig['config'], options: {migrate?: boolean} = {}): Promise<Store> {
    const {openStore} = await import('../engine/store/index.js')
    return openStore({
      databaseUrl: config.database.url,
      home: config.home,
      migrate: options.migrate,
      onMigrated: (result) => {
        if (!this.jsonEnabled()) process.stderr.write(`Prepared the database (${result.applied.length} migration(s) applied).\n`)
      },
      // A notice on stderr even under --json: stdout keeps the one result document.
      onWait: (message) => process.stderr.write(`${message}\n`),
    })
  }

  /** Opens the database, runs `fn`, and always closes it again. */
  protected async withStore<R>(fn: (store: Store) => Promise<R>, options: {migrate?: boolean} = {}): Promise<R> {
    const flags = this.flags as {'database-url'?: string}
    const {config} = this.loadConfig({database: {url: flags['database-url']}})
    const store = await this.openStore(config, options)
    try {
      return await fn(store)
    } finally {
      await store.close()
    }
  }

  /** Writes human output to stdout (never under --json: there the result is the output). */
  protected print(text: string): void {
    if (!this.jsonEnabled()) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
  }

  /** Marks the run as "the checked thing failed" (exit 1) while still printing the result. */
  protected setFailed(failed: boolean): void {
    if (failed) process.exitCode = 1
  }

  /**
   * The --json document. oclif colours it with a regex tokenizer that overflows the stack on
   * multi-megabyte strings (a sensor's 10 MB of output): only a small document on a terminal
   * gets colour, everything else is written as it is.
   */
  public override logJson(json: unknown): void {
    const text = JSON.stringify(json, null, 2)
    if (process.stdout.isTTY && text.length < 200_000) super.logJson(json)
    else process.stdout.write(`${text}\n`)
  }

  public override async catch(thrown: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (thrown instanceof Errors.ExitError) throw thrown
    const error = asUserError(thrown)
    const isUsage = error instanceof AbortError || error instanceof Errors.CLIError && error.oclif?.exit === 2 || isParseError(error)
    const exitCode = isUsage ? 2 : 1
    process.exitCode = exitCode
    const debug = process.argv.includes('--debug')
    const flagHint = this.unknownFlagHint(error)
    if (this.jsonEnabled()) {
      this.logJson({
        error: {
          message: error.message,
          code: error instanceof AbortError ? error.code : isUsage ? 'bad_usage' : 'internal_error',
          hint: error instanceof AbortError ? error.hint : flagHint,
          exit_code: exitCode,
        },
      })
      return
    }
    const lines = [`Error: ${errorMessage(error)}`]
    if (error instanceof AbortError && error.hint) lines.push(`  ${error.hint}`)
    if (flagHint) lines.push(`  ${flagHint}`)
    if (isParseError(error) && !error.message.includes('--help')) lines.push(`  See: attune ${this.id?.replaceAll(':', ' ') ?? ''} --help`)
    if (!isUsage) lines.push('  This looks like a bug in attune; please report it with the output of --debug.')
    if (debug || (!isUsage && error.stack)) lines.push('', error.stack ?? '')
    process.stderr.write(`${lines.join('\n')}\n`)
    return undefined
  }

  /** "Did you mean --pack?" for an unknown flag close to one of this command's flags. */
  private unknownFlagHint(error: Error): string | undefined {
    const unknown = (error as {flags?: unknown}).flags
    if (!isParseError(error) || !Array.isArray(unknown)) return undefined
    const ctor = this.ctor as typeof AttuneCommand
    const known = [...Object.keys({...ctor.baseFlags, ...ctor.flags}), 'json', 'help']
    return suggestFlags(unknown.map(String), known)
  }
}

function isParseError(error: unknown): boolean {
  return error instanceof Errors.CLIError && /Parse|Flag|Arg/.test(error.constructor.name)
}

/**
 * A PostgreSQL without attune's tables is a setup step not yet done, not a bug: the embedded
 * database migrates itself, a real one needs `attune db migrate` first.
 */
function asUserError<E extends Error>(error: E): E | AbortError {
  const code = (error as {code?: unknown}).code
  if ((code === '42P01' || code === '3F000') && /attune/.test(error.message)) {
    return new AbortError(`The database has no attune tables yet (${error.message}).`, {
      code: 'database_not_migrated',
      hint: 'Run `attune db migrate` (with the same --database-url) first.',
      cause: error,
    })
  }
  return error
}
