import {existsSync} from 'node:fs'
import {dirname, join, resolve, sep} from 'node:path'
import {errorMessage} from '../engine/errors.js'
import {PackError, registerPacks, type RegisterReport} from '../engine/packs/index.js'
import {checkSensorCode, type CodeCheckDepth} from '../engine/sensor/check.js'
import {isBuiltinTimer, sensorEntryPath, sensorExecutor} from '../engine/sensor/row.js'
import {FileWatcher} from '../engine/sensor/watch.js'
import type {SensorRow} from '../engine/store/index.js'
import type {DatabaseService} from './database.js'
import type {LongRunningService} from './long-running.js'
import type {PollingService} from './polling.js'
import {sleep, type DaemonContext} from './service.js'

/** The folders of a pack whose YAML files `attune pack register` reads. */
const PACK_FOLDERS = ['runtimes', 'triggers', 'sensors', 'actions', 'rules']
const YAML = /\.ya?ml$/
const PACK_FILE = /^pack\.ya?ml$/

/**
 * "Edit, save, see it run" (docs/daemon.md, "Changing a sensor while the daemon runs"): watches
 * the files of the sensors this daemon runs, and applies a change without a daemon restart.
 *
 * - The entry point of a persistent runner or a long-running sensor: the new file is checked
 *   first (`checkSensorCode`: imported as a runner would, or compiled); if it loads, the
 *   process is replaced (`sensor code changed: restarting`); if not, the old process keeps
 *   running, the reason is logged and shown as the sensor's last error.
 * - A pack's YAML (pack.yaml, and the folders `pack register` reads): the pack is registered
 *   again with the engine's `registerPacks`, as `attune pack register <folder>` would, only
 *   when the whole pack validates; the reconciler then applies the new definitions.
 *
 * One-off poll sensors start a fresh process every poll: their next poll runs the new code.
 * Each daemon watches the files of the sensors it holds (scale-out: the set follows the leases).
 */
export class CodeWatcher {
  private readonly files: FileWatcher
  /** Entry point → the sensors run from it that keep a process (persistent, long-running). */
  private entries = new Map<string, {row: SensorRow; depth: CodeCheckDepth}[]>()
  /** Pack folder → the refs of its sensors this daemon runs. */
  private packs = new Map<string, string[]>()
  private work: Promise<void> = Promise.resolve()
  private closed = false

  constructor(
    private readonly context: DaemonContext,
    private readonly parts: {database: DatabaseService; polling: PollingService; longRunning: LongRunningService},
    options: {debounceMs?: number} = {},
  ) {
    this.files = new FileWatcher({
      debounceMs: options.debounceMs,
      onChange: (paths) => {
        this.work = this.work.then(() => this.apply(paths)).catch((error) => context.logger.error('could not apply a file change', {error: errorMessage(error)}))
      },
      onWatchError: (dir, error) => context.logger.debug('cannot watch a folder', {dir, error: error.message}),
    })
  }

  /** The sensors this daemon runs now (after the leases): their files are watched. */
  sync(rows: readonly SensorRow[]): void {
    if (this.closed) return
    const entries = new Map<string, {row: SensorRow; depth: CodeCheckDepth}[]>()
    const packs = new Map<string, string[]>()
    for (const row of rows) {
      if (row.pack_path) {
        const dir = resolve(row.pack_path)
        packs.set(dir, [...(packs.get(dir) ?? []), row.ref])
      }
      if (isBuiltinTimer(row) || sensorExecutor(row) === 'builtin') continue
      const depth: CodeCheckDepth | undefined = row.execution === 'long_running' ? 'syntax' : row.execution === 'persistent' ? 'import' : undefined
      if (!depth) continue
      const entry = resolve(sensorEntryPath(row))
      entries.set(entry, [...(entries.get(entry) ?? []), {row, depth}])
    }
    this.entries = entries
    this.packs = packs
    const folders = [...packs.keys()].flatMap((dir) => [
      {dir, match: PACK_FILE},
      ...PACK_FOLDERS.map((folder) => join(dir, folder))
        .filter((folder) => existsSync(folder))
        .map((folder) => ({dir: folder, match: YAML})),
    ])
    this.files.set({files: entries.keys(), folders})
  }

  /** At the daemon's stop: nothing is watched or restarted any more (a check under way is waited for 3 s at most). */
  async close(): Promise<void> {
    this.closed = true
    this.files.close()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.work, new Promise<void>((done) => (timer = setTimeout(done, 3000)))])
    clearTimeout(timer)
  }

  private async apply(paths: string[]): Promise<void> {
    const changedPacks = new Map<string, string[]>()
    for (const path of paths) {
      const pack = YAML.test(path) ? this.packOf(path) : undefined
      if (pack) changedPacks.set(pack, [...(changedPacks.get(pack) ?? []), path])
    }
    for (const [pack, files] of changedPacks) {
      if (this.closed) return
      await this.registerAgain(pack, files)
    }
    for (const path of paths) {
      for (const {row, depth} of this.entries.get(path) ?? []) {
        if (this.closed) return
        await this.reload(row, depth, path)
      }
    }
  }

  /** The pack folder a YAML file belongs to (pack.yaml, or one of the folders `pack register` reads). */
  private packOf(path: string): string | undefined {
    for (const dir of this.packs.keys()) {
      if (dirname(path) === dir && PACK_FILE.test(path.slice(dir.length + 1))) return dir
      if (PACK_FOLDERS.some((folder) => dirname(path) === join(dir, folder))) return dir
    }
    return undefined
  }

  /** A sensor's file changed: replace its process if the new file loads, else keep the old one. */
  private async reload(row: SensorRow, depth: CodeCheckDepth, file: string): Promise<void> {
    const {config, logger, runAs} = this.context
    const {polling, longRunning} = this.parts
    const isLongRunning = row.execution === 'long_running'
    // Not running here now (stopped for a database outage, moved to another daemon): nothing to replace.
    if (!(isLongRunning ? longRunning.has(row.ref) : polling.has(row.ref))) return
    const problem = await checkSensorCode(
      {ref: row.ref, entrypoint: file, runtime: sensorExecutor(row) ?? row.runtime_ref, execution: row.execution, env: row.env ?? undefined},
      {depth, interpreters: config.sensor.interpreters, runAs, config: row.config ?? {}, trigger: row.trigger_ref},
    ).catch((error: unknown) => `the check could not run: ${errorMessage(error)}`)
    if (this.closed) return
    if (problem !== null) {
      logger.error('sensor code changed but does not load: the running process is kept', {sensor: row.ref, file, error: problem})
      const note = `changed file not loaded (the previous code still runs): ${problem}`
      if (isLongRunning) longRunning.noteCode(row.ref, note)
      else polling.noteCode(row.ref, note)
      return
    }
    logger.info('sensor code changed: restarting', {sensor: row.ref, file, execution: row.execution})
    if (isLongRunning) await longRunning.reloadCode(row.ref)
    else await polling.reloadCode(row.ref)
  }

  /** A pack's YAML changed: registered again (as `attune pack register`) when it validates. */
  private async registerAgain(pack: string, files: string[]): Promise<void> {
    const {config, logger} = this.context
    const shown = files.map((file) => (file.startsWith(pack + sep) ? file.slice(pack.length + 1) : file))
    let report: RegisterReport | undefined
    for (let attempt = 1; attempt <= 2 && !report; attempt++) {
      try {
        report = await registerPacks(this.parts.database.store, [pack], {enforcements: config.pipeline.enforcements})
      } catch (error) {
        if (error instanceof PackError) {
          logger.error('pack files changed but do not validate: the registered definitions are kept', {pack, files: shown, error: error.message})
          return
        }
        // Another daemon registering the same change at the same moment, or the database: once more.
        if (attempt === 2 || this.closed) {
          logger.error('pack files changed but could not be registered', {pack, files: shown, error: errorMessage(error), hint: `attune pack register ${pack}`})
          return
        }
        await sleep(1000)
      }
    }
    if (!report) return
    const changed = report.items.filter((item) => item.status !== 'unchanged' && item.status !== 'skipped')
    if (changed.length === 0) {
      logger.info('pack files changed: nothing registered differs', {pack, files: shown})
      return
    }
    logger.info('pack files changed: registered again', {
      pack,
      files: shown,
      changed: changed.map((item) => `${item.kind} ${item.ref ?? item.file}: ${item.reason ?? item.status}`),
    })
    const ours = new Set(this.packs.get(pack) ?? [])
    for (const item of changed) {
      if (item.kind !== 'sensor' || !item.ref || !ours.has(item.ref)) continue
      // The reconciler applies the new row at its next tick: a new version restarts the sensor.
      logger.info('sensor code changed: restarting', {sensor: item.ref, file: item.file, changed: item.changed ?? [item.status]})
    }
  }
}
