/**
 * A starting daemon owns the embedded database (store/owner.ts): commands run while it starts
 * wait for its socket or say it is starting, and never open the data directory themselves; a
 * command that had the database open before the daemon started is waited for, not fatal.
 * Real processes: `bin/run.js daemon` and `bin/run.js <command>` on one temp ATTUNE_HOME.
 */
import {execa, type ResultPromise} from 'execa'
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {AbortError} from '../../src/engine/errors.js'
import {startEmbeddedDatabaseProcess} from '../../src/engine/store/embedded-process.js'
import {claimEmbeddedDatabase, embeddedDataDir, embeddedOwnerPath, lockPathFor, openStore} from '../../src/engine/store/index.js'
import {attune, BIN, ROOT} from '../support/cli.js'
import {eventually} from '../support/sensors.js'

const homes: string[] = []
const newHome = () => {
  const home = mkdtempSync(join(tmpdir(), 'attune-start-'))
  homes.push(home)
  return home
}
afterAll(() => {
  for (const home of homes) rmSync(home, {recursive: true, force: true})
})

const envFor = (home: string) => ({NO_COLOR: '1', NODE_ENV: 'production', ATTUNE_HOME: home})

/** The parent pid of a live process (from /proc), or undefined once it is gone. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return undefined
  }
}

/** A daemon process on `home`, its JSON log lines and its stderr. */
function spawnDaemon(home: string): {child: ResultPromise; logs: Array<Record<string, unknown>>; stderr: () => string; started: () => boolean; exited: () => boolean} {
  const child = execa(process.execPath, [BIN, 'daemon', '--no-ui', '--health-port', '0', '--api-port', '0'], {cwd: ROOT, env: envFor(home), reject: false, buffer: false, forceKillAfterDelay: 45_000})
  const logs: Array<Record<string, unknown>> = []
  let partial = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line))
      } catch {
        logs.push({msg: 'unparsed', line})
      }
    }
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  let exited = false
  void child.then(() => (exited = true))
  return {child, logs, stderr: () => stderr, started: () => logs.some((log) => log.msg === 'daemon started'), exited: () => exited}
}

async function healthz(logs: Array<Record<string, unknown>>): Promise<number> {
  const url = logs.find((log) => log.msg === 'health endpoints listening')?.url
  return (await fetch(String(url))).status
}

interface Run {
  args: string[]
  pid: number
  /** The daemon's claim had been seen before this command was started. */
  afterClaim: boolean
  exitCode: number | undefined
  stdout: string
  stderr: string
}

const COMMANDS = [
  ['event', 'list', '--json'],
  ['sensor', 'status', '--json'],
  ['db', 'migrate', '--json'],
]

describe('a starting daemon and the commands run meanwhile (embedded database)', () => {
  it('owns the database from its start: every command goes through its socket or says it is starting, none opens the data directory itself', async () => {
    const home = newHome() // a new home: the daemon creates the database first (two database processes)
    const lockFile = lockPathFor(embeddedDataDir(home))
    const ownerFile = embeddedOwnerPath(home)
    // Who holds pgdata.lock over time, and when the daemon's claim was first seen.
    const holders = new Set<number>()
    let claimSeen = false
    const watch = setInterval(() => {
      if (!claimSeen && existsSync(ownerFile)) claimSeen = true
      try {
        const pid = Number(readFileSync(lockFile, 'utf8').split('\n')[0])
        if (pid > 0) holders.add(pid)
      } catch {
        // no lock file right now
      }
    }, 5)
    const daemon = spawnDaemon(home)
    const runs: Run[] = []
    try {
      // Two commands at a time, from the moment the daemon is spawned until two more each ran
      // after it reported itself started.
      let next = 0
      const worker = async () => {
        let afterStart = 0
        while (afterStart < 2 && !daemon.exited()) {
          const started = daemon.started()
          const args = COMMANDS[next++ % COMMANDS.length]
          const afterClaim = claimSeen
          const sub = attune(args, {env: envFor(home)})
          const result = await sub
          runs.push({args, pid: sub.pid!, afterClaim, exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr)})
          if (started) afterStart++
        }
      }
      await Promise.all([worker(), worker()])
      expect(daemon.started(), `the daemon did not start:\n${daemon.stderr()}\n${JSON.stringify(daemon.logs)}`).toBe(true)
      expect(daemon.exited()).toBe(false)
      expect(await healthz(daemon.logs)).toBe(200)
    } finally {
      clearInterval(watch)
    }
    const describeRun = (run: Run) => `attune ${run.args.join(' ')} (pid ${run.pid}, after the claim: ${run.afterClaim}) exited ${run.exitCode}\n${run.stdout}\n${run.stderr}`
    const commandPids = new Set(runs.map((run) => run.pid))
    for (const run of runs) {
      if (run.exitCode === 0) continue
      expect(run.exitCode, describeRun(run)).toBe(2)
      const {error} = JSON.parse(run.stdout) as {error: {code: string; message: string}}
      if (error.code === 'daemon_starting') continue
      // Before the daemon's claim two commands can still meet as before (one at a time without
      // a daemon): the one that loses names the other command, never the daemon's process.
      expect(run.afterClaim, describeRun(run)).toBe(false)
      expect(error.code, describeRun(run)).toBe('database_locked')
      expect(commandPids.has(Number(/in use by process (\d+)/.exec(error.message)?.[1])), describeRun(run)).toBe(true)
    }
    const afterClaim = runs.filter((run) => run.afterClaim)
    expect(afterClaim.length).toBeGreaterThanOrEqual(4)
    for (const run of afterClaim) {
      // Started once the daemon owned the database: never held its lock...
      expect(holders.has(run.pid), describeRun(run)).toBe(false)
      // ...and what it read came through the daemon's socket.
      if (run.exitCode === 0 && run.args[0] === 'db') expect(JSON.parse(run.stdout).database, describeRun(run)).toMatch(/\(served by the daemon\)$/)
    }
    // Those that came while the database was being created waited for it, and said so.
    expect(runs.some((run) => /The daemon \(pid \d+\) is starting: waiting up to 30 s/.test(run.stderr)), runs.map(describeRun).join('\n')).toBe(true)
    // The lock is the daemon's database process's now.
    const holder = Number(readFileSync(lockFile, 'utf8').split('\n')[0])
    expect(parentOf(holder)).toBe(daemon.child.pid)

    daemon.child.kill('SIGTERM')
    expect((await daemon.child).exitCode).toBe(0)
    expect(existsSync(ownerFile)).toBe(false)
    expect(existsSync(lockFile)).toBe(false)
    // With the daemon gone, a command opens the database itself again.
    const direct = await attune(['db', 'migrate', '--json'], {env: envFor(home)})
    expect(direct.exitCode, String(direct.stderr)).toBe(0)
    expect(JSON.parse(String(direct.stdout)).database).toBe(embeddedDataDir(home))
  }, 240_000)

  it('waits for a command that had the database open when it started, and commands run meanwhile wait for the daemon, not for that command', async () => {
    const home = newHome()
    const init = await attune(['db', 'migrate', '--json'], {env: envFor(home)})
    expect(init.exitCode, String(init.stderr)).toBe(0)
    // A command that has the database open (directly: no daemon yet) until its stdin closes.
    const holder = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/store/helpers/open-store-child.ts'), home, 'hold'], {cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe']})
    let holderOut = ''
    holder.stdout.on('data', (chunk) => (holderOut += chunk))
    const holderExited = new Promise<void>((resolve) => holder.once('close', () => resolve()))
    expect(await eventually(() => holderOut.includes('ready'), 90_000)).toBe(true)
    // Who holds pgdata.lock over time.
    const lockFile = lockPathFor(embeddedDataDir(home))
    const holders = new Set<number>()
    const watch = setInterval(() => {
      try {
        holders.add(Number(readFileSync(lockFile, 'utf8').split('\n')[0]))
      } catch {
        // no lock file right now
      }
    }, 5)
    const daemon = spawnDaemon(home)
    try {
      expect(await eventually(() => daemon.stderr().includes(`is open in process ${holder.pid}: waiting up to 30 s`) || daemon.exited(), 90_000), daemon.stderr()).toBe(true)
      expect(daemon.exited()).toBe(false)
      // A command now waits for the daemon (which owns the database) even though the lock is
      // about to be free: it must not take it from the daemon's database process.
      const waiting = attune(['event', 'list', '--json'], {env: envFor(home)})
      await new Promise((resolve) => setTimeout(resolve, 500))
      holder.stdin.end()
      await holderExited
      const run = await waiting
      expect(String(run.stderr)).toMatch(/The daemon \(pid \d+\) is starting: waiting up to 30 s/)
      // Through the socket; or, on a machine so loaded that the daemon took longer than 30 s, exit 2 saying it is starting.
      if (run.exitCode !== 0) expect(JSON.parse(String(run.stdout)).error.code, `${run.stdout}\n${run.stderr}`).toBe('daemon_starting')
      expect(holders.has(waiting.pid!)).toBe(false)
      expect(await eventually(() => daemon.started() || daemon.exited(), 120_000)).toBe(true)
      expect(daemon.started(), daemon.stderr()).toBe(true)
      expect(await healthz(daemon.logs)).toBe(200)
      expect(parentOf(Number(readFileSync(lockFile, 'utf8').split('\n')[0]))).toBe(daemon.child.pid)
    } finally {
      clearInterval(watch)
      holder.kill('SIGKILL')
      daemon.child.kill('SIGTERM')
      await daemon.child
    }
  }, 240_000)

  it('fails to start, naming the holder, when a command keeps the database open longer than the wait; and gives the claim back', async () => {
    const home = newHome()
    const holder = await openStore({home})
    try {
      const error = await startEmbeddedDatabaseProcess(home, {lockWaitMs: 1_500, onWait: () => {}}).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(AbortError)
      expect((error as AbortError).code).toBe('database_locked')
      expect((error as AbortError).message).toMatch(new RegExp(`in use by process ${process.pid} .*waited 2 s for it to be released`))
      expect((error as AbortError).hint).toContain(`Let process ${process.pid} finish`)
      expect(existsSync(embeddedOwnerPath(home))).toBe(false)
    } finally {
      await holder.close()
    }
  }, 120_000)

  it('a command gives up on a daemon that owns the database but does not serve it: exit 2 material, said once on the way', async () => {
    const home = newHome()
    const claim = claimEmbeddedDatabase(home)
    const notices: string[] = []
    try {
      const error = await openStore({home, daemonWaitMs: 600, onWait: (message) => notices.push(message)}).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(AbortError)
      expect((error as AbortError).code).toBe('daemon_starting')
      expect((error as AbortError).message).toMatch(new RegExp(`The daemon \\(pid ${process.pid}\\) is starting: it does not serve the embedded database in .* yet`))
      expect((error as AbortError).hint).toMatch(/\/healthz/)
      expect(notices).toHaveLength(1)
      // Nothing was opened meanwhile.
      expect(existsSync(lockPathFor(embeddedDataDir(home)))).toBe(false)
    } finally {
      claim.release()
    }
    expect(existsSync(embeddedOwnerPath(home))).toBe(false)
  })

  it('shares a claim within one process (the daemon command, then its database start), until the last release', () => {
    const home = newHome()
    const first = claimEmbeddedDatabase(home)
    const second = claimEmbeddedDatabase(home)
    first.release()
    first.release() // idempotent
    expect(existsSync(embeddedOwnerPath(home))).toBe(true)
    second.release()
    expect(existsSync(embeddedOwnerPath(home))).toBe(false)
  })
})
