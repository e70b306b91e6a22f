import {spawn} from 'node:child_process'
import {signalGroup} from '../sensor/process.js'

export interface CommandOutcome {
  exitCode: number | null
  signal: string | null
  stdout: string
  stderr: string
  timedOut: boolean
  /** The program could not be started (not executable, vanished). */
  spawnError?: string
  durationMs: number
}

/** Enough for any `--version` banner; more is dropped, never buffered. */
const MAX_OUTPUT_BYTES = 64 * 1024

/**
 * Runs one verification command: separate argv, no shell, stdin closed, in its own process
 * group. At the timeout the whole group is killed (a `sh` script's `sleep` child included)
 * and the outcome returns at once: a hung check never holds detection past its timeout.
 */
export function runCommand(file: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<CommandOutcome> {
  const started = performance.now()
  return new Promise((resolve) => {
    let settled = false
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    const sizes = {stdout: 0, stderr: 0}
    const finish = (outcome: Omit<CommandOutcome, 'stdout' | 'stderr' | 'durationMs'>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve({
        ...outcome,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        durationMs: performance.now() - started,
      })
    }
    const child = spawn(file, args, {stdio: ['ignore', 'pipe', 'pipe'], detached: true, env, windowsHide: true})
    const collect = (target: Buffer[], key: 'stdout' | 'stderr') => (chunk: Buffer) => {
      if (sizes[key] >= MAX_OUTPUT_BYTES) return
      target.push(chunk.subarray(0, MAX_OUTPUT_BYTES - sizes[key]))
      sizes[key] += chunk.length
    }
    child.stdout.on('data', collect(stdout, 'stdout'))
    child.stderr.on('data', collect(stderr, 'stderr'))
    const timer = setTimeout(() => {
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL')
      finish({exitCode: null, signal: 'SIGKILL', timedOut: true})
    }, timeoutMs)
    child.once('error', (error: NodeJS.ErrnoException) => {
      finish({exitCode: null, signal: null, timedOut: false, spawnError: error.code ?? error.message})
    })
    // A check that exits but leaves a background child holding its output open would keep
    // 'close' from coming: whatever is left of its group goes with it.
    child.once('exit', () => {
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL')
    })
    // 'close' waits for the output streams too, so nothing printed at the end is lost.
    child.once('close', (code, signal) => finish({exitCode: code, signal, timedOut: false}))
  })
}
