/**
 * A private PostgreSQL 15 for tests: initdb in a temp dir, a free port, trust auth on
 * 127.0.0.1 only, run as the `postgres` user when the tests run as root (PostgreSQL refuses
 * to run as root). Stopped and removed by `stop()` (and on process exit as a last resort).
 *
 * Binaries: `$ATTUNE_TEST_PG_BIN`, else `/usr/lib/postgresql/15/bin`. Under `CI=true` a
 * missing PostgreSQL is a failure, never a skip (see `requirePostgresUnderCi`).
 */
import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import pg from 'pg'

export const POSTGRES_BIN = process.env.ATTUNE_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin'

export interface PostgresServer {
  /** URL of the `postgres` database (superuser `postgres`, no password). */
  url: string
  port: number
  dir: string
  /** Creates a fresh, empty database and returns its URL. */
  createDatabase(name: string): Promise<string>
  /** Stops the server (fast shutdown) but keeps its data: an outage. */
  pause(): Promise<void>
  /** Starts the paused server again on the same port. */
  resume(): Promise<void>
  /**
   * SIGSTOPs the server and every backend: connections stay open but nothing answers,
   * as in a network partition that drops packets. `thaw()` continues them.
   */
  freeze(): void
  thaw(): void
  stop(): Promise<void>
}

/** The pids of a process's children (from /proc: no procps needed). */
function childPids(parent: number): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === parent) pids.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return pids
}

export function postgresAvailable(): boolean {
  return existsSync(join(POSTGRES_BIN, 'initdb')) && existsSync(join(POSTGRES_BIN, 'postgres'))
}

/** Why the PostgreSQL suite cannot run here, or undefined when it can. Throws under CI. */
export function postgresSkipReason(): string | undefined {
  if (postgresAvailable()) return undefined
  const reason = `PostgreSQL 15 not found in ${POSTGRES_BIN} (set ATTUNE_TEST_PG_BIN)`
  if (process.env.CI === 'true') throw new Error(`${reason}: required under CI=true`)
  return reason
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0

/** argv that runs `command` as the postgres user when we are root. */
function asPostgres(command: string, args: string[]): [string, string[]] {
  return isRoot ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args]
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

async function waitReady(url: string, child: ChildProcess, log: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode}:\n${log()}`)
    const client = new pg.Client({connectionString: url})
    try {
      await client.connect()
      await client.query('SELECT 1')
      return
    } catch (error) {
      lastError = error
      await new Promise((resolve) => setTimeout(resolve, 100))
    } finally {
      await client.end().catch(() => {})
    }
  }
  throw new Error(`postgres did not accept connections within ${timeoutMs} ms: ${String(lastError)}\n${log()}`)
}

export async function startPostgres(): Promise<PostgresServer> {
  const reason = postgresSkipReason()
  if (reason) throw new Error(reason)
  const dir = mkdtempSync(join(tmpdir(), 'attune-pg-'))
  if (isRoot) {
    const {uid, gid} = postgresIds()
    chownSync(dir, uid, gid)
  }
  const data = join(dir, 'data')
  const [initdb, initArgs] = asPostgres(join(POSTGRES_BIN, 'initdb'), [
    '-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync',
  ])
  try {
    execFileSync(initdb, initArgs, {stdio: 'pipe'})
  } catch (error) {
    rmSync(dir, {recursive: true, force: true})
    const stderr = (error as {stderr?: Buffer}).stderr?.toString() ?? ''
    throw new Error(`initdb failed: ${stderr || String(error)}`)
  }
  const port = await freePort()
  // Durability is irrelevant for a throwaway cluster; these make startup and DDL fast.
  const [postgres, args] = asPostgres(join(POSTGRES_BIN, 'postgres'), [
    '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
    '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
    '-c', 'max_connections=50', '-c', 'shared_buffers=16MB',
  ])
  let output = ''
  const launch = () => {
    const started = spawn(postgres, args, {stdio: ['ignore', 'pipe', 'pipe']})
    started.stdout?.on('data', (chunk) => (output = (output + chunk).slice(-8000)))
    started.stderr?.on('data', (chunk) => (output = (output + chunk).slice(-8000)))
    return started
  }
  let child = launch()
  // Signal the postmaster itself (its pid is in postmaster.pid): `runuser` in between
  // does not pass signals on.
  const signalPostmaster = (signal: NodeJS.Signals): boolean => {
    try {
      const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0])
      if (!Number.isInteger(pid) || pid <= 0) return false
      process.kill(pid, signal)
      return true
    } catch {
      return false
    }
  }
  const killOnExit = () => {
    if (!signalPostmaster('SIGQUIT')) child.kill('SIGKILL')
  }
  process.once('exit', killOnExit)
  // If this process is killed outright (no 'exit' event), its end of this pipe closes and
  // the watchdog stops the cluster and removes its directory: no orphaned postgres.
  const watchdog = spawn(
    'sh',
    ['-c', 'read _ ; pid=$(head -n 1 "$1/data/postmaster.pid" 2>/dev/null) && kill -QUIT "$pid" 2>/dev/null; sleep 1; rm -rf "$1"', 'watchdog', dir],
    {stdio: ['pipe', 'ignore', 'ignore'], detached: true},
  )
  watchdog.unref()
  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`

  const shutDown = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      // SIGINT is PostgreSQL's fast shutdown: roll back clients and exit.
      if (!signalPostmaster('SIGINT')) child.kill('SIGKILL')
      const timer = setTimeout(() => {
        signalPostmaster('SIGQUIT')
        child.kill('SIGKILL')
      }, 10_000)
      await exited
      clearTimeout(timer)
    }
  }
  let frozen: number[] = []
  const stop = async () => {
    process.removeListener('exit', killOnExit)
    for (const pid of frozen) process.kill(pid, 'SIGCONT') // a frozen server cannot shut down
    await shutDown()
    rmSync(dir, {recursive: true, force: true})
    watchdog.stdin?.end()
  }

  try {
    await waitReady(url, child, () => output)
  } catch (error) {
    await stop()
    throw error
  }

  return {
    url,
    port,
    dir,
    async createDatabase(name: string) {
      const client = new pg.Client({connectionString: url})
      await client.connect()
      try {
        await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`)
      } finally {
        await client.end()
      }
      return `postgresql://postgres@127.0.0.1:${port}/${encodeURIComponent(name)}`
    },
    pause: shutDown,
    freeze() {
      const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0])
      frozen = [postmaster, ...childPids(postmaster)]
      for (const pid of frozen) process.kill(pid, 'SIGSTOP')
    },
    thaw() {
      for (const pid of frozen.reverse()) {
        try {
          process.kill(pid, 'SIGCONT')
        } catch {
          // exited meanwhile
        }
      }
      frozen = []
    },
    async resume() {
      child = launch()
      await waitReady(url, child, () => output)
    },
    stop,
  }
}

function postgresIds(): {uid: number; gid: number} {
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim())
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim())
  return {uid, gid}
}
