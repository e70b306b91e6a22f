import {chmodSync, lstatSync, mkdirSync, readdirSync} from 'node:fs'
import {join} from 'node:path'

/**
 * Private by default: attune's home and the embedded database's data directory are for the
 * user who runs attune alone. Directories are 0700 and files 0600; PGlite writes its files
 * 0666 whatever the umask, so the data directory's modes are fixed after PGlite writes them
 * (after create/initdb, after migrate, on open and on close, and periodically while served).
 *
 * Nothing here is fatal: a mode that cannot be changed (a file owned by someone else, a file
 * system without Unix modes) is left as it is. On Windows, modes mean nothing and nothing is done.
 */

export const PRIVATE_DIR_MODE = 0o700
export const PRIVATE_FILE_MODE = 0o600

const enabled = process.platform !== 'win32'

/** The current user's uid, or undefined where there is none (Windows). */
function myUid(): number | undefined {
  return typeof process.getuid === 'function' ? process.getuid() : undefined
}

function chmodQuietly(path: string, mode: number): void {
  try {
    chmodSync(path, mode)
  } catch {
    // Gone meanwhile, or not ours to change: leave it.
  }
}

/**
 * Creates `path` (and missing parents) as 0700 when it does not exist; when it exists, is a
 * directory owned by this user and group or other can reach it, tightens it to 0700.
 */
export function ensurePrivateDir(path: string): void {
  mkdirSync(path, {recursive: true, mode: PRIVATE_DIR_MODE})
  if (!enabled) return
  let stat
  try {
    stat = lstatSync(path)
  } catch {
    return
  }
  if (!stat.isDirectory() || stat.uid !== myUid()) return
  if ((stat.mode & 0o777) !== PRIVATE_DIR_MODE) chmodQuietly(path, PRIVATE_DIR_MODE)
}

/**
 * Sets every directory under `root` (itself included) to 0700 and every file to 0600, for
 * what this user owns. Symbolic links are not followed. Files that vanish during the walk
 * (PGlite's temporary files) are skipped.
 */
export function privatizeTree(root: string): void {
  if (!enabled) return
  const uid = myUid()
  const walk = (path: string): void => {
    let stat
    try {
      stat = lstatSync(path)
    } catch {
      return
    }
    if (stat.isSymbolicLink() || stat.uid !== uid) return
    if (stat.isDirectory()) {
      if ((stat.mode & 0o777) !== PRIVATE_DIR_MODE) chmodQuietly(path, PRIVATE_DIR_MODE)
      let entries: string[]
      try {
        entries = readdirSync(path)
      } catch {
        return
      }
      for (const entry of entries) walk(join(path, entry))
    } else if (stat.isFile()) {
      if ((stat.mode & 0o777) !== PRIVATE_FILE_MODE) chmodQuietly(path, PRIVATE_FILE_MODE)
    }
  }
  walk(root)
}

/** How often a served data directory's modes are fixed again (new relation files, WAL segments). */
export const PRIVATIZE_INTERVAL_MS = 60_000

/**
 * Runs `privatizeTree(root)` every `intervalMs` without keeping the process alive; returns the
 * function that stops it.
 */
export function keepTreePrivate(root: string, intervalMs = PRIVATIZE_INTERVAL_MS): () => void {
  if (!enabled) return () => {}
  const timer = setInterval(() => privatizeTree(root), intervalMs)
  timer.unref()
  return () => clearInterval(timer)
}
