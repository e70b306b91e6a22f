import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {extname, join} from 'node:path'
import {createInterface} from 'node:readline'
import {fileURLToPath} from 'node:url'
import {AbortError} from '../errors.js'
import {serveEmbeddedDatabase, type EmbeddedServer} from './embedded.js'
import {migrate} from './migrate.js'
import {openPgliteStore} from './pglite.js'
import {claimEmbeddedDatabase} from './owner.js'
import {ensurePrivateDir, privatizeTree} from './private.js'

/**
 * The embedded database in a process of its own, for the daemon. PGlite keeps its whole heap
 * in the process that opens it (hundreds of MB), and every `fork()` of a sensor has to copy
 * that process's page tables: in the daemon's own process, spawning 200 sensors a second
 * became the bottleneck. Served from a child, the daemon stays small and spawns fast. The
 * child dies with the daemon (it exits when its stdin closes).
 *
 * A new data directory is created (initdb) and migrated by a short-lived child of its own
 * first: initdb leaves PGlite's heap at about 800 MB, a process that opens an existing
 * directory needs under half of that, and WebAssembly memory never shrinks.
 *
 * The daemon owns the embedded database from the first moment (owner.ts): it claims it before
 * any child starts and keeps the claim until the database is closed again, so commands run
 * meanwhile wait for the socket instead of opening the data directory between the two children
 * or before the first. A command that had the database open before the claim is waited for
 * (`lockWaitMs`, default 30 s); one that keeps it longer fails the start with an error naming
 * its pid.
 *
 * Protocol on the child's stdout: JSON lines, `{"waiting": pid}` while it waits for the lock,
 * then `{"ready": url}` or `{"error", "code", "hint"}`.
 */

const SELF = fileURLToPath(import.meta.url)

/** How long the daemon waits for a command that has the embedded database open. */
export const EMBEDDED_LOCK_WAIT_MS = 30_000

export interface EmbeddedProcessOptions {
  /** How long to wait for another process holding the data directory (default 30 s). */
  lockWaitMs?: number
  /**
   * Called once when the start has to wait for another process that has the database open
   * (default: the message goes to stderr).
   */
  onWait?: (message: string) => void
}

export async function startEmbeddedDatabaseProcess(home: string, options: EmbeddedProcessOptions = {}): Promise<EmbeddedServer> {
  ensurePrivateDir(home)
  const claim = claimEmbeddedDatabase(home)
  const lockWaitMs = options.lockWaitMs ?? EMBEDDED_LOCK_WAIT_MS
  let noticed = false
  const onWait = (pid: number | undefined) => {
    if (noticed) return
    noticed = true
    const message = `The embedded database in ${join(home, 'pgdata')} is open in process ${pid ?? '?'}: waiting up to ${Math.round(lockWaitMs / 1000)} s for it to close it.`
    if (options.onWait) options.onWait(message)
    else process.stderr.write(`${message}\n`)
  }
  try {
    if (!existsSync(join(home, 'pgdata', 'PG_VERSION'))) {
      const init = await startChild(home, 'init', lockWaitMs, onWait)
      await init.close()
    }
    const server = await startChild(home, 'serve', lockWaitMs, onWait)
    return {
      ...server,
      async close() {
        try {
          await server.close()
        } finally {
          claim.release()
        }
      },
    }
  } catch (error) {
    claim.release()
    throw error
  }
}

async function startChild(home: string, mode: 'init' | 'serve', lockWaitMs: number, onWait: (pid: number | undefined) => void): Promise<EmbeddedServer> {
  // Under tsx (bin/dev.js) this file is .ts and needs the loader. Never forward execArgv as a
  // whole: under `node -e` it holds the parent's script, and the child would run it again.
  const loader = SELF.endsWith('.ts') ? ['--import', 'tsx'] : []
  const child = spawn(process.execPath, [...loader, SELF, home, mode, String(lockWaitMs)], {stdio: ['pipe', 'pipe', 'inherit']})
  const lines = createInterface({input: child.stdout!})
  const first = await new Promise<Record<string, string>>((resolve) => {
    // The lock wait comes on top of the start itself.
    const timer = setTimeout(() => resolve({error: `the embedded database did not start within ${Math.round((120_000 + lockWaitMs) / 1000)} s`, code: 'database_unavailable'}), 120_000 + lockWaitMs)
    const onLine = (line: string) => {
      let message: Record<string, unknown>
      try {
        message = JSON.parse(line) as Record<string, unknown>
      } catch {
        message = {error: `unexpected output from the database process: ${line}`, code: 'database_unavailable'}
      }
      if ('waiting' in message) {
        onWait(typeof message.waiting === 'number' ? message.waiting : undefined)
        return
      }
      clearTimeout(timer)
      lines.off('line', onLine)
      resolve(message as Record<string, string>)
    }
    lines.on('line', onLine)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({error: `the embedded database process exited (code ${code})`, code: 'database_unavailable'})
    })
  })
  if (!first.ready) {
    child.kill('SIGKILL')
    throw new AbortError(first.error, {code: first.code ?? 'database_unavailable', hint: first.hint})
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return {
    url: first.ready,
    socketPath: first.socket,
    pid: child.pid,
    async close() {
      child.stdin?.end() // the child closes PGlite, removes the socket and exits
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      await exited
      clearTimeout(timer)
    },
  }
}

async function main(home: string, mode: string, lockWaitMs: number): Promise<void> {
  let server: EmbeddedServer
  const onLockWait = (pid: number | undefined) => process.stdout.write(`${JSON.stringify({waiting: pid ?? null})}\n`)
  try {
    if (mode === 'init') {
      const store = await openPgliteStore(join(home, 'pgdata'), {lockWaitMs, onLockWait})
      try {
        await migrate(store)
      } finally {
        await store.close() // closing fixes the modes of what initdb and migrate wrote
      }
      privatizeTree(join(home, 'pgdata'))
      process.stdout.write(`${JSON.stringify({ready: 'initialised'})}\n`)
      process.stdin.on('end', () => process.exit(0))
      process.stdin.resume()
      return
    }
    server = await serveEmbeddedDatabase(home, {lockWaitMs, onLockWait})
  } catch (error) {
    const abort = error instanceof AbortError ? error : undefined
    process.stdout.write(`${JSON.stringify({error: error instanceof Error ? error.message : String(error), code: abort?.code, hint: abort?.hint})}\n`)
    process.exit(2)
  }
  process.stdout.write(`${JSON.stringify({ready: server.url, socket: server.socketPath})}\n`)
  const shutdown = async () => {
    await server.close().catch(() => {})
    process.exit(0)
  }
  // The parent closed our stdin (clean stop) or died: either way the database closes.
  process.stdin.on('end', shutdown)
  process.stdin.on('close', shutdown)
  process.stdin.resume()
  // Signals sent to the daemon's whole process group (Ctrl-C; `kill -TERM -pgid`; systemd's
  // default KillMode sends SIGTERM to every process of the unit at once) are the daemon's to
  // act on: it still needs the database to finish its polls and flush the outbox, and it
  // closes our stdin when it is done. SIGKILL of the daemon closes the pipe all the same.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {})
}

if (process.argv[1] && [SELF, SELF.replace(/\.ts$/, '.js')].includes(process.argv[1]) && extname(process.argv[1]) !== '' && process.argv[2]) {
  void main(process.argv[2], process.argv[3] ?? 'serve', Number(process.argv[4] ?? EMBEDDED_LOCK_WAIT_MS))
}
