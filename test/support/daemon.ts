import {execa, type ResultPromise} from 'execa'
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {BIN, ROOT, attune} from './cli.js'
import {eventually} from './sensors.js'

/** A daemon child process and what it logged (JSON lines on stdout). */
export interface DaemonProcess {
  process: ResultPromise
  logs: Array<Record<string, unknown>>
  healthPort: () => number
  /** The API's base URL (throws when the daemon did not start it). */
  apiUrl: () => string
  /** What the daemon wrote on stderr so far (for failure messages). */
  stderr: () => string
  /** Sends a signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{exitCode: number | undefined}>
}

export async function startDaemon(args: string[], env: Record<string, string>, options: {startTimeoutMs?: number} = {}): Promise<DaemonProcess> {
  const child = execa(process.execPath, [BIN, 'daemon', '--no-ui', '--health-port', '0', '--api-port', '0', ...args], {
    cwd: ROOT,
    env: {NO_COLOR: '1', NODE_ENV: 'production', ...env},
    reject: false,
    buffer: false,
    // A graceful stop may take longer than execa's default 5 s under load (API requests and
    // polls in flight finish first; the daemon's own limit is --shutdown-timeout, 30 s).
    forceKillAfterDelay: 45_000,
  })
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
  const started = await eventually(() => logs.some((log) => log.msg === 'daemon started') || child.exitCode !== null, options.startTimeoutMs ?? 60_000)
  if (!started || !logs.some((log) => log.msg === 'daemon started')) {
    child.kill('SIGKILL')
    throw new Error(`the daemon did not start:\n${stderr}\n${JSON.stringify(logs)}`)
  }
  const health = logs.find((log) => log.msg === 'health endpoints listening')
  const api = logs.find((log) => log.msg === 'API listening')
  return {
    process: child,
    logs,
    healthPort: () => Number(new URL(String(health?.url)).port),
    apiUrl: () => {
      if (!api) throw new Error(`the daemon did not start its API:\n${JSON.stringify(logs.slice(0, 20))}`)
      return String(api.url)
    },
    stderr: () => stderr,
    async stop(signal = 'SIGTERM') {
      child.kill(signal)
      const done = await child
      // The daemon command's safety net fired: something kept the process alive after the stop.
      const lingered = logs.find((log) => String(log.msg).startsWith('the process was still running'))
      if (lingered) throw new Error(`the daemon did not exit by itself after stopping:\n${JSON.stringify(logs.slice(-15))}`)
      return {exitCode: done.exitCode}
    },
  }
}

/** Writes a pack folder: files maps relative paths to contents (sensor scripts get chmod +x). */
export function writePack(dir: string, files: Record<string, string>): string {
  for (const [path, content] of Object.entries(files)) {
    const full = join(dir, path)
    mkdirSync(join(full, '..'), {recursive: true})
    writeFileSync(full, content, {mode: path.endsWith('.sh') || path.endsWith('.py') ? 0o755 : 0o644})
  }
  return dir
}

/** Runs a CLI command and parses its --json output. */
export async function attuneJson<T>(args: string[], env: Record<string, string>): Promise<T> {
  const run = await attune([...args, '--json'], {env: {NO_COLOR: '1', NODE_ENV: 'production', ...env}})
  if (run.exitCode !== 0) throw new Error(`attune ${args.join(' ')} exited ${run.exitCode}: ${run.stderr}${run.stdout}`)
  return JSON.parse(run.stdout as string) as T
}
