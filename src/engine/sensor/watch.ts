import {createHash} from 'node:crypto'
import {readdirSync, readFileSync, watch, type FSWatcher} from 'node:fs'
import {basename, dirname, join, resolve} from 'node:path'

/**
 * Tells which files changed among those it is given, for "edit, save, see it run"
 * (docs/daemon.md). It watches the files' folders with `fs.watch` (inotify on Linux), not the
 * files themselves: editors save by writing a temporary file and renaming it over the old
 * one, and a watch on the old file would see nothing after the first save. Events are
 * debounced (one batch once the folders have been quiet for `debounceMs`), and a file counts
 * as changed only when its content differs from what was last seen: a `touch`, a save
 * without a change or a burst of events for one write report nothing, or once.
 */
export interface WatchTargets {
  /** Files watched by path (a sensor's entry point). */
  files: Iterable<string>
  /** Folders whose files matching `match` are watched, new ones included (a pack's YAML). */
  folders: Iterable<{dir: string; match: RegExp}>
}

export interface FileWatcherOptions {
  /** Called with the paths whose content changed (or that appeared or disappeared). */
  onChange: (paths: string[]) => void
  debounceMs?: number
  /** A folder could not be watched (it does not exist, or the watch limit is reached). */
  onWatchError?: (dir: string, error: Error) => void
  /**
   * Report only files whose content changed (default true). False: every save counts, an
   * unchanged one too (`sensor test --watch`, where saving is how one asks for a re-run).
   */
  compareContent?: boolean
  /** Keep the process alive while watching (default false: a watch alone never does). */
  persistent?: boolean
}

/** The content of a file as a hash; `missing` when it cannot be read. */
function fingerprint(path: string): string {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex')
  } catch {
    return 'missing'
  }
}

export class FileWatcher {
  private readonly watchers = new Map<string, FSWatcher>()
  /** Watched files by path: their last seen fingerprint. */
  private readonly seen = new Map<string, string>()
  private files = new Set<string>()
  private folders = new Map<string, RegExp[]>()
  private readonly pending = new Set<string>()
  private timer?: NodeJS.Timeout
  private closed = false

  constructor(private readonly options: FileWatcherOptions) {}

  /** The files to watch from now on (the previous set is replaced; unchanged ones keep their state). */
  set(targets: WatchTargets): void {
    if (this.closed) return
    const files = new Set([...targets.files].map((file) => resolve(file)))
    const folders = new Map<string, RegExp[]>()
    for (const {dir, match} of targets.folders) folders.set(resolve(dir), [...(folders.get(resolve(dir)) ?? []), match])
    // First sight of a file: remember its content, so only later changes count.
    for (const file of files) if (!this.seen.has(file)) this.seen.set(file, fingerprint(file))
    for (const [dir, matches] of folders) {
      if (this.folders.has(dir)) continue
      for (const name of safeReaddir(dir)) {
        const path = join(dir, name)
        if (matches.some((match) => match.test(name)) && !this.seen.has(path)) this.seen.set(path, fingerprint(path))
      }
    }
    this.files = files
    this.folders = folders
    const dirs = new Set([...[...files].map((file) => dirname(file)), ...folders.keys()])
    for (const [dir, watcher] of this.watchers) {
      if (dirs.has(dir)) continue
      watcher.close()
      this.watchers.delete(dir)
    }
    for (const path of [...this.seen.keys()]) if (!this.isWatched(path)) this.seen.delete(path)
    for (const dir of dirs) if (!this.watchers.has(dir)) this.watchDir(dir)
  }

  /** The folders watched now. */
  get dirs(): string[] {
    return [...this.watchers.keys()]
  }

  close(): void {
    this.closed = true
    clearTimeout(this.timer)
    for (const watcher of this.watchers.values()) watcher.close()
    this.watchers.clear()
  }

  private isWatched(path: string): boolean {
    if (this.files.has(path)) return true
    const name = basename(path)
    return (this.folders.get(dirname(path)) ?? []).some((match) => match.test(name))
  }

  private watchDir(dir: string): void {
    let watcher: FSWatcher
    try {
      watcher = watch(dir, {persistent: this.options.persistent ?? false}, (_event, name) => this.onEvent(dir, name))
    } catch (error) {
      // A folder that does not exist (yet): tried again at the next `set`.
      this.options.onWatchError?.(dir, error as Error)
      return
    }
    watcher.on('error', (error) => {
      // The folder was removed or renamed: dropped, and watched again at the next `set`.
      watcher.close()
      if (this.watchers.get(dir) === watcher) this.watchers.delete(dir)
      this.options.onWatchError?.(dir, error)
    })
    this.watchers.set(dir, watcher)
  }

  private onEvent(dir: string, name: string | Buffer | null): void {
    if (this.closed) return
    if (name === null) {
      // The platform did not say which file: every watched file of the folder is looked at.
      for (const path of this.seen.keys()) if (dirname(path) === dir) this.pending.add(path)
      for (const file of this.files) if (dirname(file) === dir) this.pending.add(file)
    } else {
      const path = join(dir, String(name))
      if (!this.isWatched(path)) return
      this.pending.add(path)
    }
    clearTimeout(this.timer)
    this.timer = setTimeout(() => this.flush(), this.options.debounceMs ?? 300)
    if (!this.options.persistent) this.timer.unref()
  }

  private flush(): void {
    if (this.closed) return
    const changed: string[] = []
    for (const path of this.pending) {
      const now = fingerprint(path)
      const before = this.seen.get(path)
      // A file of a folder that was not there before and still is not (a temporary file): nothing.
      if (now === (before ?? 'missing') && (this.options.compareContent ?? true)) continue
      this.seen.set(path, now)
      changed.push(path)
    }
    this.pending.clear()
    if (changed.length > 0) this.options.onChange(changed.sort())
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}
