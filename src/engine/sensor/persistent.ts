import type {Readable, Writable} from 'node:stream'
import {describeSpawnError, persistentArgs, stderrTail, type LaunchPlan, type RawPoll} from './execute.js'
import {CappedCollector, groupKiller, spawnDetached, type GroupKiller} from './process.js'

/**
 * Persistent execution (SPEC §4): a runner process imports the sensor once and serves
 * polls over a line protocol, so a poll costs a function call instead of an interpreter
 * start. Request (stdin): `{"id": N, "config": {...}}`. Reply (fd 3):
 * `{"id": N, "ok": true|false, "result": <events document or error document>}`, with
 * `"fatal": true` before "result" when the runner exits after replying (import failure).
 * A runner that crashes, hangs past the timeout or floods its output is killed, the poll
 * is reported as failed, and the next poll starts a fresh runner.
 */

type WrappedPlan = Extract<LaunchPlan, {file: string}>

export interface RunnerRequest {
  /** Identifies the runner: one per sensor and file. */
  key: string
  plan: WrappedPlan
  env: Record<string, string>
  cwd: string
  limits: {timeoutMs: number; maxOutputBytes: number; killGraceMs: number}
}

const REPLY_HEADER = /^\{"id":(-?\d+|null),"ok":(true|false),("fatal":true,)?"result":/

class PersistentRunner {
  private readonly subprocess
  private readonly killer: GroupKiller
  private readonly stdout: CappedCollector
  private readonly stderr: CappedCollector
  private lineBuffer: Buffer[] = []
  private lineBytes = 0
  private nextId = 1
  private pending?: {id: number; settle: (outcome: PollOutcome) => void}
  alive = true
  exitInfo?: {code: number | null; signal: string | null}
  spawnError?: {code: string; message: string}
  private overflowed = false

  constructor(private readonly request: RunnerRequest) {
    const {plan, env, cwd, limits} = request
    this.subprocess = spawnDetached(plan.file, persistentArgs(plan), {env, cwd, stdio: ['pipe', 'pipe', 'pipe', 'pipe'], runAs: plan.runAs})
    this.killer = groupKiller(this.subprocess.pid, limits.killGraceMs)
    const overflow = () => this.fail({kind: 'truncated'})
    this.stdout = new CappedCollector(limits.maxOutputBytes, overflow)
    this.stderr = new CappedCollector(limits.maxOutputBytes, overflow)
    this.subprocess.stdout?.on('data', (chunk: Buffer) => this.stdout.push(chunk))
    this.subprocess.stderr?.on('data', (chunk: Buffer) => this.stderr.push(chunk))
    const channel = this.subprocess.stdio[3] as Readable | null
    channel?.on('data', (chunk: Buffer) => this.onResultData(chunk))
    ;(this.subprocess.stdin as Writable | null)?.on('error', () => {
      // EPIPE when the runner died: reported through the exit handler below.
    })
    this.subprocess.then((outcome) => {
      this.alive = false
      this.killer.dispose()
      if (outcome.failed && outcome.exitCode === undefined && outcome.signal === undefined && !this.exitInfo) {
        this.spawnError = {code: String((outcome.cause as NodeJS.ErrnoException | undefined)?.code ?? 'ESPAWN'), message: outcome.shortMessage ?? 'could not start the process'}
      }
      this.exitInfo = {code: outcome.exitCode ?? null, signal: outcome.signal ?? null}
      // Let the last stderr bytes arrive before the crash is reported.
      setImmediate(() => this.pending?.settle({kind: 'exited'}))
    })
  }

  private onResultData(chunk: Buffer): void {
    let start = 0
    for (let newline = chunk.indexOf(10); newline !== -1; newline = chunk.indexOf(10, start)) {
      this.lineBuffer.push(chunk.subarray(start, newline))
      const line = Buffer.concat(this.lineBuffer).toString('utf8')
      this.lineBuffer = []
      this.lineBytes = 0
      start = newline + 1
      this.onReply(line)
    }
    if (start < chunk.length) {
      this.lineBytes += chunk.length - start
      if (this.lineBytes > this.request.limits.maxOutputBytes) {
        this.lineBuffer = []
        this.fail({kind: 'truncated'})
        return
      }
      this.lineBuffer.push(chunk.subarray(start))
    }
  }

  private onReply(line: string): void {
    const header = REPLY_HEADER.exec(line)
    if (!header || !this.pending || Number(header[1]) !== this.pending.id) {
      this.fail({kind: 'protocol', detail: line.slice(0, 200)})
      return
    }
    const document = line.slice(header[0].length, line.lastIndexOf('}'))
    if (header[3]) {
      // The runner could not import the sensor and is exiting: the next poll starts a new one.
      this.alive = false
      this.killer.terminate()
    }
    this.pending.settle({kind: 'reply', ok: header[2] === 'true', document})
  }

  /** Kills the runner and settles the pending poll with the given failure. */
  private fail(outcome: PollOutcome): void {
    this.alive = false
    this.overflowed ||= outcome.kind === 'truncated'
    this.killer.terminate()
    this.pending?.settle(outcome)
  }

  poll(config: unknown): Promise<PollOutcome> {
    const id = this.nextId++
    return new Promise<PollOutcome>((resolve) => {
      const timer = setTimeout(() => this.fail({kind: 'timeout'}), this.request.limits.timeoutMs)
      this.pending = {
        id,
        settle: (outcome) => {
          if (this.pending?.id !== id) return
          clearTimeout(timer)
          this.pending = undefined
          // stdout/stderr travel on pipes of their own: give bytes written before the reply a turn to arrive.
          setImmediate(() => resolve(outcome))
        },
      }
      if (!this.alive) {
        this.pending.settle({kind: 'exited'})
        return
      }
      this.subprocess.stdin?.write(`${JSON.stringify({id, config: config ?? {}})}\n`)
    })
  }

  takeLogs(): {stdout: string; stderr: string} {
    return {stdout: this.stdout.take().toString('utf8'), stderr: this.stderr.take().toString('utf8')}
  }

  close(): void {
    if (!this.alive) return
    this.alive = false
    this.subprocess.stdin?.end()
    this.killer.terminate()
  }
}

type PollOutcome =
  | {kind: 'reply'; ok: boolean; document: string}
  | {kind: 'timeout'}
  | {kind: 'truncated'}
  | {kind: 'exited'}
  | {kind: 'protocol'; detail: string}

/** The runners of one process (a `sensor test --persistent` run, or the daemon). */
export class PersistentRunnerPool {
  private readonly runners = new Map<string, PersistentRunner>()
  /** Polls of one runner never overlap: each waits for the previous one. */
  private readonly queues = new Map<string, Promise<unknown>>()
  /** How many runners were started, per key (the first start included). */
  readonly starts = new Map<string, number>()

  poll(request: RunnerRequest, config: unknown): Promise<RawPoll> {
    const previous = this.queues.get(request.key) ?? Promise.resolve()
    const next = previous.then(() => this.pollNow(request, config))
    this.queues.set(
      request.key,
      next.catch(() => undefined),
    )
    return next
  }

  private async pollNow(request: RunnerRequest, config: unknown): Promise<RawPoll> {
    let runner = this.runners.get(request.key)
    const warnings: string[] = []
    if (!runner || !runner.alive) {
      if (runner) warnings.push('the persistent runner had stopped; started a new one')
      runner = new PersistentRunner(request)
      this.runners.set(request.key, runner)
      this.starts.set(request.key, (this.starts.get(request.key) ?? 0) + 1)
    }
    const started = performance.now()
    const outcome = await runner.poll(config)
    const durationMs = Math.round(performance.now() - started)
    const logs = runner.takeLogs()
    const base = {stdout: logs.stdout, stderr: logs.stderr, durationMs, timedOut: false, truncated: false, failed: false, document: '', warnings}
    switch (outcome.kind) {
      case 'reply':
        return {...base, exitCode: null, signal: null, failed: !outcome.ok, document: outcome.document}
      case 'timeout':
        return {...base, exitCode: null, signal: 'SIGTERM', timedOut: true}
      case 'truncated':
        return {...base, exitCode: null, signal: 'SIGTERM', truncated: true}
      case 'protocol':
        return {
          ...base,
          exitCode: null,
          signal: null,
          processError: {message: `Persistent runner broke the protocol (did the sensor write to fd 3?): ${outcome.detail}`, type: 'RunnerCrashed'},
        }
      case 'exited': {
        if (runner.spawnError) {
          return {...base, exitCode: null, signal: null, processError: describeSpawnError(request.plan, runner.spawnError)}
        }
        const exit = runner.exitInfo
        const how = exit?.signal ? `was killed by ${exit.signal}` : `exited with code ${exit?.code}`
        const tail = stderrTail(logs.stderr)
        return {
          ...base,
          exitCode: exit?.code ?? null,
          signal: exit?.signal ?? null,
          processError: {message: `Persistent runner ${how} during the poll${tail ? `: ${tail}` : ''}`, type: 'RunnerCrashed'},
        }
      }
    }
  }

  /** Stops one sensor's runner (e.g. its file changed). */
  close(key: string): void {
    this.runners.get(key)?.close()
    this.runners.delete(key)
  }

  /** Closes every runner of a sensor (keys are `<ref>\0<entrypoint>`). */
  closeSensor(ref: string): void {
    for (const key of this.keysOf(ref)) this.close(key)
  }

  /**
   * Retires every runner of a sensor once the poll it serves now (if any) has finished: the
   * next poll starts a new runner, which imports the sensor's file afresh (its code changed).
   * Resolves when they are closed; the number of runners that were alive.
   */
  async retireSensor(ref: string): Promise<number> {
    let alive = 0
    await Promise.all(
      this.keysOf(ref).map((key) => {
        const previous = this.queues.get(key) ?? Promise.resolve()
        const retired = previous.then(() => {
          if (this.runners.get(key)?.alive) alive++
          this.close(key)
        })
        this.queues.set(key, retired)
        return retired
      }),
    )
    return alive
  }

  private keysOf(ref: string): string[] {
    return [...this.runners.keys()].filter((key) => key.startsWith(`${ref}\0`))
  }

  /** Stops every runner: stdin is closed, and the group is killed after the grace period. */

  closeAll(): void {
    for (const runner of this.runners.values()) runner.close()
    this.runners.clear()
  }
}
