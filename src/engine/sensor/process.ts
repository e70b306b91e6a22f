import {execa, type ResultPromise} from 'execa'
import type {Readable} from 'node:stream'
import {attachSensorTree, killSensorTrees, newSensorTree, removeCgroupParent, RUN_MARKER, settleSensorTree, signalSensorTree, spawnInTree, type SensorTree} from './tree.js'

/**
 * Running one sensor process with the guarantees SPEC §4 asks for:
 * its own process group and tracked process tree (so a timeout kills grandchildren too, even
 * those that called setsid), a hard cap on what is read from each output stream, and no
 * exception for any failure.
 */

export interface SensorProcessOptions {
  /** Program to run (an interpreter or the native sensor itself). */
  file: string
  args: string[]
  /** The complete environment: nothing of the parent's environment is added. */
  env: Record<string, string>
  cwd?: string
  /** Open fd 3 as a separate result channel (wrappers write the result there). */
  resultChannel: boolean
  timeoutMs: number
  /** Cap per stream; reading stops there and the process group is killed. */
  maxOutputBytes: number
  /** Time between SIGTERM and SIGKILL when the group is killed. */
  killGraceMs: number
  /** Run as this user and group (`sensor.run_as`); unset: as this process. */
  runAs?: SpawnIdentity
}

export interface SensorProcessOutcome {
  exitCode: number | null
  signal: string | null
  stdout: Buffer
  stderr: Buffer
  /** What arrived on fd 3 (empty when the channel was not opened). */
  result: Buffer
  timedOut: boolean
  /** Some stream went over `maxOutputBytes` and the process was killed. */
  truncated: boolean
  /** The program could not be started at all (missing interpreter, not executable). */
  spawnError?: {code: string; message: string}
  durationMs: number
}

/** Trees of sensor processes still running, by pid; killed if this process exits first. */
const liveTrees = new Map<number, SensorTree>()
let exitHookInstalled = false

function trackTree(pid: number, tree: SensorTree): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once('exit', () => {
      killAllSensorProcesses()
      removeCgroupParent()
    })
  }
  liveTrees.set(pid, tree)
}

/**
 * Kills every sensor process this process started that is still alive, with everything they
 * started (docs/security.md#process-trees). For shutdown and the `exit` hook: synchronous.
 */
export function killAllSensorProcesses(): void {
  for (const tree of liveTrees.values()) tree.terminated = true
  killSensorTrees(liveTrees.values())
  liveTrees.clear()
}

/** Sends a signal to a whole process group; a group that is already gone is not an error. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    // ESRCH: every member has exited already.
  }
}

/** Collects a stream into memory up to `cap` bytes; past it calls `onOverflow` once and keeps draining. */
export class CappedCollector {
  private readonly chunks: Buffer[] = []
  private size = 0
  overflowed = false

  constructor(
    private readonly cap: number,
    private readonly onOverflow: () => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.overflowed) return
    const room = this.cap - this.size
    if (chunk.length > room) {
      if (room > 0) this.chunks.push(chunk.subarray(0, room))
      this.size = this.cap
      this.overflowed = true
      this.onOverflow()
      return
    }
    this.chunks.push(chunk)
    this.size += chunk.length
  }

  /** Everything collected so far; the buffer is emptied. */
  take(): Buffer {
    const all = Buffer.concat(this.chunks)
    this.chunks.length = 0
    this.size = 0
    return all
  }

  get bytes(): number {
    return this.size
  }
}

function collect(stream: Readable | null | undefined, collector: CappedCollector): Promise<void> {
  if (!stream) return Promise.resolve()
  return new Promise((resolve) => {
    stream.on('data', (chunk: Buffer) => collector.push(chunk))
    stream.once('error', () => resolve())
    stream.once('close', () => resolve())
    stream.once('end', () => resolve())
  })
}

export interface GroupKiller {
  /** SIGTERM the tree now, SIGKILL after the grace period. Idempotent. */
  terminate(): void
  /** Stop any pending SIGKILL timer. */
  dispose(): void
}

/**
 * Ends the process tree of a sensor process started by `spawnDetached`: its process group and
 * every descendant that left it (cgroup, or the run marker; see tree.ts). For any other pid,
 * its process group alone.
 */
export function groupKiller(pid: number | undefined, graceMs: number): GroupKiller {
  let killTimer: NodeJS.Timeout | undefined
  let terminating = false
  const tree = pid === undefined ? undefined : liveTrees.get(pid)
  const signal = (name: NodeJS.Signals) => {
    if (pid === undefined) return
    // After the exit, its clean-up has ended the tree: only the group is left to signal.
    if (tree && liveTrees.get(pid) === tree) signalSensorTree(tree, name)
    else signalGroup(pid, name)
  }
  return {
    terminate() {
      if (pid === undefined || terminating) return
      terminating = true
      if (tree) tree.terminated = true
      signal('SIGTERM')
      killTimer = setTimeout(() => signal('SIGKILL'), graceMs)
      killTimer.unref()
    },
    dispose() {
      if (killTimer) clearTimeout(killTimer)
    },
  }
}

/** The user and group a sensor process runs as (`sensor.run_as`). */
export interface SpawnIdentity {
  uid: number
  gid: number
}

/** How long a finished sensor's output pipes may stay open before its leftovers are looked for. */
const PIPES_HELD_MS = 100

/**
 * Spawns a detached child (its own process group) with a complete, explicit environment,
 * as `runAs` when given, and tracks its whole process tree: whatever it leaves running when
 * it exits is killed then, descendants that called setsid included.
 */
export function spawnDetached(
  file: string,
  args: string[],
  options: {env: Record<string, string>; cwd?: string; stdio: Array<'pipe' | 'ignore'>; runAs?: SpawnIdentity},
): ResultPromise<{buffer: false; reject: false}> {
  const tree = newSensorTree()
  const env = tree.marker ? {...options.env, [RUN_MARKER]: tree.marker} : options.env
  // execa spawns synchronously: the child is forked inside the tree's cgroup.
  const subprocess = spawnInTree(tree, () =>
    execa(file, args, {
      env,
      extendEnv: false,
      cwd: options.cwd,
      detached: true,
      cleanup: false,
      buffer: false,
      reject: false,
      stdio: options.stdio as ['pipe' | 'ignore', 'pipe', 'pipe'],
      // libuv drops the supplementary groups (setgroups(0)) whenever it switches user or group.
      ...(options.runAs ? {uid: options.runAs.uid, gid: options.runAs.gid} : {}),
    }),
  )
  if (subprocess.pid === undefined) {
    settleSensorTree(tree)
  } else {
    const pid = subprocess.pid
    attachSensorTree(tree, pid)
    trackTree(pid, tree)
    let closed = false
    subprocess.once('close', () => (closed = true))
    subprocess.once('exit', () => {
      liveTrees.delete(pid)
      // A finished sensor's leftovers (background children) would hold its pipes open.
      settleSensorTree(tree)
      if (closed) return
      const timer = setTimeout(() => {
        if (!closed) settleSensorTree(tree, {pipesHeld: true})
      }, PIPES_HELD_MS)
      timer.unref()
      subprocess.once('close', () => clearTimeout(timer))
    })
  }
  return subprocess as ResultPromise<{buffer: false; reject: false}>
}

/** Runs a sensor process to completion (or timeout, or cap) and reports what happened. */
export async function runSensorProcess(options: SensorProcessOptions): Promise<SensorProcessOutcome> {
  const started = performance.now()
  const subprocess = spawnDetached(options.file, options.args, {
    env: options.env,
    cwd: options.cwd,
    stdio: options.resultChannel ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'],
    runAs: options.runAs,
  })
  const killer = groupKiller(subprocess.pid, options.killGraceMs)
  let truncated = false
  const onOverflow = () => {
    truncated = true
    killer.terminate()
  }
  const stdout = new CappedCollector(options.maxOutputBytes, onOverflow)
  const stderr = new CappedCollector(options.maxOutputBytes, onOverflow)
  const result = new CappedCollector(options.maxOutputBytes, onOverflow)

  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    killer.terminate()
  }, options.timeoutMs)

  const reading = Promise.all([
    collect(subprocess.stdout, stdout),
    collect(subprocess.stderr, stderr),
    options.resultChannel ? collect(subprocess.stdio[3] as Readable | null, result) : Promise.resolve(),
  ])
  const outcome = await subprocess
  await reading
  clearTimeout(timer)
  killer.dispose()

  const spawnError =
    outcome.failed && outcome.exitCode === undefined && outcome.signal === undefined && !timedOut
      ? {code: String((outcome.cause as NodeJS.ErrnoException | undefined)?.code ?? 'ESPAWN'), message: outcome.shortMessage ?? 'could not start the process'}
      : undefined

  return {
    exitCode: outcome.exitCode ?? null,
    signal: outcome.signal ?? null,
    stdout: stdout.take(),
    stderr: stderr.take(),
    result: result.take(),
    timedOut,
    truncated,
    spawnError,
    durationMs: Math.round(performance.now() - started),
  }
}
