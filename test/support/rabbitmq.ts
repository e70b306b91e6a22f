/**
 * A private RabbitMQ node for tests and benchmarks: Debian's `rabbitmq-server`, started from
 * its own temp dir with free ports for AMQP, Erlang distribution and epmd, its own node name,
 * data dir (`RABBITMQ_MNESIA_BASE`), logs, config file and `HOME` (so the Erlang cookie is
 * private too). `stop()` (or `kill()`, SIGKILL) / `start()` take the same node down and up again (outage tests);
 * `destroy()` stops it, ends the epmd it started and removes the dir (a watchdog does the same
 * if this process dies without cleaning up).
 *
 * Server script: `$ATTUNE_TEST_RABBITMQ_SERVER`, else `/usr/lib/rabbitmq/bin/rabbitmq-server`.
 * Under `CI=true` a missing RabbitMQ is a failure, never a skip.
 */
import {connect} from 'amqplib'
import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

export const RABBITMQ_SERVER = process.env.ATTUNE_TEST_RABBITMQ_SERVER ?? '/usr/lib/rabbitmq/bin/rabbitmq-server'

export interface RabbitServer {
  /** `amqp://guest:guest@127.0.0.1:<port>/` */
  url: string
  port: number
  dir: string
  nodename: string
  /** Whether the node is up (between start and stop). */
  readonly running: boolean
  /** Stops the node (graceful: the broker closes its connections); its data stays. */
  stop(): Promise<void>
  /** Kills the node outright (SIGKILL to its process group: no clean shutdown); its data stays. */
  kill(): Promise<void>
  /** Starts the same node again (same port, same data) and waits until it accepts connections. */
  start(): Promise<void>
  /** Stops the node and its epmd, and removes every file. */
  destroy(): Promise<void>
}

export function rabbitmqAvailable(): boolean {
  return existsSync(RABBITMQ_SERVER)
}

/** Why the RabbitMQ suite cannot run here, or undefined when it can. Throws under CI. */
export function rabbitmqSkipReason(): string | undefined {
  if (rabbitmqAvailable()) return undefined
  const reason = `RabbitMQ not found at ${RABBITMQ_SERVER} (apt-get install rabbitmq-server, or set ATTUNE_TEST_RABBITMQ_SERVER)`
  if (process.env.CI === 'true') throw new Error(`${reason}: required under CI=true`)
  return reason
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

function findEpmd(): string {
  for (const candidate of ['/usr/bin/epmd', '/usr/lib/erlang/bin/epmd']) if (existsSync(candidate)) return candidate
  return 'epmd'
}

export async function startRabbitMQ(options: {startTimeoutMs?: number} = {}): Promise<RabbitServer> {
  const reason = rabbitmqSkipReason()
  if (reason) throw new Error(reason)
  const dir = mkdtempSync(join(tmpdir(), 'attune-rabbitmq-'))
  const [port, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()]
  const nodename = `attune-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}@localhost`
  const logDir = join(dir, 'log')
  mkdirSync(logDir)
  writeFileSync(
    join(dir, 'rabbitmq.conf'),
    [
      `listeners.tcp.default = 127.0.0.1:${port}`,
      // Test machines have small, busy disks: do not block publishers over free space.
      'disk_free_limit.absolute = 1MB',
      'log.console = false',
      'log.file.level = warning',
      '',
    ].join('\n'),
  )
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n')
  writeFileSync(join(dir, 'rabbitmq-env.conf'), '')
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    LANG: 'C.UTF-8',
    HOME: dir,
    RABBITMQ_NODENAME: nodename,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: logDir,
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_PID_FILE: join(dir, 'rabbitmq.pid'),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    ERL_CRASH_DUMP: join(dir, 'erl_crash.dump'),
  }
  const url = `amqp://guest:guest@127.0.0.1:${port}/`
  let child: ChildProcess | undefined
  let output = ''

  const logTail = () => {
    let logs = ''
    try {
      for (const name of readdirSync(logDir)) logs += readFileSync(join(logDir, name), 'utf8').slice(-3000)
    } catch {
      // no logs yet
    }
    return `${output.slice(-3000)}\n${logs}`
  }

  // The script runs in its own process group; a signal to the group reaches erl too.
  const killGroup = (signal: NodeJS.Signals) => {
    if (child?.pid === undefined) return
    try {
      process.kill(-child.pid, signal)
    } catch {
      // already gone
    }
  }
  const stopEpmd = () => {
    try {
      execFileSync(findEpmd(), ['-kill'], {env: {PATH: process.env.PATH, ERL_EPMD_PORT: String(epmdPort)}, stdio: 'ignore', timeout: 5000})
    } catch {
      // not running
    }
  }

  const start = async () => {
    if (child) return
    output = ''
    const started = spawn(RABBITMQ_SERVER, [], {env, cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe']})
    child = started
    started.stdout?.on('data', (chunk) => (output = (output + chunk).slice(-8000)))
    started.stderr?.on('data', (chunk) => (output = (output + chunk).slice(-8000)))
    started.once('exit', () => {
      if (child === started) child = undefined
    })
    const deadline = Date.now() + (options.startTimeoutMs ?? 90_000)
    let lastError: unknown
    while (Date.now() < deadline) {
      if (started.exitCode !== null || started.signalCode !== null) {
        throw new Error(`rabbitmq-server exited (${started.exitCode ?? started.signalCode}) before accepting connections:\n${logTail()}`)
      }
      try {
        const connection = await connect(url, {timeout: 2000})
        await connection.close()
        return
      } catch (error) {
        lastError = error
        await new Promise((resolve) => setTimeout(resolve, 250))
      }
    }
    killGroup('SIGKILL')
    throw new Error(`RabbitMQ did not accept connections within ${options.startTimeoutMs ?? 90_000} ms: ${String(lastError)}\n${logTail()}`)
  }

  const stop = async () => {
    const running = child
    if (!running) return
    const exited = new Promise<void>((resolve) => {
      if (running.exitCode !== null || running.signalCode !== null) resolve()
      else running.once('exit', () => resolve())
    })
    // The script traps TERM and stops the broker cleanly.
    running.kill('SIGTERM')
    const timer = setTimeout(() => killGroup('SIGKILL'), 30_000)
    await exited
    clearTimeout(timer)
    // erl may outlive the script by a moment: make sure the whole group is gone.
    killGroup('SIGKILL')
    child = undefined
  }

  const kill = async () => {
    const running = child
    if (!running) return
    const exited = new Promise<void>((resolve) => {
      if (running.exitCode !== null || running.signalCode !== null) resolve()
      else running.once('exit', () => resolve())
    })
    killGroup('SIGKILL')
    await exited
    child = undefined
  }

  const killOnExit = () => {
    killGroup('SIGKILL')
    stopEpmd()
    rmSync(dir, {recursive: true, force: true})
  }
  process.once('exit', killOnExit)
  // If this process is killed outright, the watchdog's stdin closes: it ends the node's
  // process group (its pid is in the pid file), the epmd, and the dir.
  const watchdog = spawn(
    'sh',
    [
      '-c',
      'read _ ; pid=$(cat "$1/rabbitmq.pid" 2>/dev/null) && kill -KILL "$pid" 2>/dev/null; ERL_EPMD_PORT="$2" "$3" -kill >/dev/null 2>&1; sleep 1; rm -rf "$1"',
      'watchdog',
      dir,
      String(epmdPort),
      findEpmd(),
    ],
    {stdio: ['pipe', 'ignore', 'ignore'], detached: true},
  )
  watchdog.unref()

  const destroy = async () => {
    process.removeListener('exit', killOnExit)
    await stop()
    stopEpmd()
    rmSync(dir, {recursive: true, force: true})
    watchdog.stdin?.end()
  }

  try {
    await start()
  } catch (error) {
    await destroy()
    throw error
  }

  return {
    url,
    port,
    dir,
    nodename,
    get running() {
      return child !== undefined
    },
    stop,
    kill,
    start,
    destroy,
  }
}
