import type {Readable} from 'node:stream'
import {backoffDelay} from '../engine/backoff.js'
import {sensorEnvironment} from '../engine/sensor/environment.js'
import type {LaunchPlan} from '../engine/sensor/execute.js'
import {groupKiller, spawnDetached} from '../engine/sensor/process.js'
import {ensureSensorDirs} from '../engine/sensor/run-as.js'
import type {Logger} from './logger.js'

/**
 * Long-running sensors (SPEC §4, seed 004; Attune's standalone sensors): started once and
 * supervised, with Attune's environment: the trigger instances they serve in
 * ATTUNE_SENSOR_TRIGGERS (built from the enabled rules at start: the bootstrap the seed lacked),
 * a sensor token in ATTUNE_API_TOKEN, the daemon's API in ATTUNE_API_URL, the broker in
 * ATTUNE_MQ_URL / ATTUNE_MQ_EXCHANGE when there is one, ATTUNE_LOG_LEVEL. They emit events
 * through the API or as one JSON event per stdout line; stderr is their log. A crash restarts
 * them with capped exponential backoff; a new trigger list (rule created/enabled/disabled/
 * deleted) restarts them with the new environment. They refresh their token themselves
 * (`POST /api/v1/auth/refresh`): the daemon never restarts one to renew it.
 */

export interface TriggerInstance {
  /** The rule's id: events carry it back as `trigger_instance_id`. */
  id: number
  ref: string
  trigger_ref: string
  config: Record<string, unknown>
}

export interface LongRunningEvent {
  trigger_ref: string
  trigger_instance_id: number | null
  payload: Record<string, unknown>
}

export interface SupervisorOptions {
  sensor: {id: number; ref: string; triggerTypes: string[]; config: unknown; env?: Record<string, string>}
  /**
   * How to start it: `planLaunch()`'s answer, run without the poll wrapper (as `plan.runAs`
   * when `planLaunch` was given `runAs`).
   */
  plan: Extract<LaunchPlan, {file: string}>
  triggers: TriggerInstance[]
  /** A fresh sensor token and its expiry. */
  issueToken: () => Promise<{token: string; expiresAt: Date}>
  onEvent: (event: LongRunningEvent) => Promise<void>
  /** More of Attune's environment: ATTUNE_API_URL, ATTUNE_MQ_URL, ATTUNE_MQ_EXCHANGE, ATTUNE_LOG_LEVEL. */
  environment?: Record<string, string>
  logger: Logger
  /** Each stderr line (and `error` for an unexpected exit), for the sensor log store. */
  onLog?: (line: string, stream: 'stderr' | 'error', pid: number | undefined) => void
  /** First restart delay; doubles per consecutive crash up to `maxBackoffMs`. */
  backoffMs?: number
  maxBackoffMs?: number
  /** Crashes in a row after which the sensor counts as failed (default 3). */
  maxRestartAttempts?: number
  /** Longest accepted stdout line (default 1 MB): longer lines are dropped with a warning. */
  maxLineBytes?: number
  killGraceMs?: number
}

export interface SupervisorStatus {
  ref: string
  /**
   * `failed` after `maxRestartAttempts` crashes in a row (still restarted with backoff, and
   * `running` again once it stays up a minute); `backoff` while waiting to restart.
   */
  state: 'starting' | 'running' | 'backoff' | 'failed' | 'stopped'
  pid: number | null
  restarts: number
  /** Crashes since the sensor last stayed up a minute (drives the backoff). */
  consecutive_crashes: number
  events: number
  malformed_lines: number
  last_exit: string | null
  started_at: string | null
  triggers: number
}

/** The argv of a long-running sensor: the interpreter with the file itself (no poll wrapper). */
export function longRunningCommand(plan: Extract<LaunchPlan, {file: string}>): {file: string; args: string[]} {
  if (plan.runtime === 'native') return {file: plan.entrypoint, args: []}
  if (plan.runtime === 'python') return {file: plan.file, args: ['-u', plan.entrypoint]}
  return {file: plan.file, args: [plan.entrypoint]}
}

export class LongRunningSupervisor {
  private child?: ReturnType<typeof spawnDetached>
  private stopped = false
  private consecutiveCrashes = 0
  private restartTimer?: NodeJS.Timeout
  private stableTimer?: NodeJS.Timeout
  private triggers: TriggerInstance[]
  private readonly status: SupervisorStatus
  /** Resolves when the current child has exited (for restarts and stop). */
  private exited: Promise<void> = Promise.resolve()

  constructor(private readonly options: SupervisorOptions) {
    this.triggers = options.triggers
    this.status = {ref: options.sensor.ref, state: 'starting', pid: null, restarts: 0, consecutive_crashes: 0, events: 0, malformed_lines: 0, last_exit: null, started_at: null, triggers: options.triggers.length}
  }

  snapshot(): SupervisorStatus {
    return {...this.status, triggers: this.triggers.length, consecutive_crashes: this.consecutiveCrashes}
  }

  async start(): Promise<void> {
    this.stopped = false
    await this.spawn()
  }

  /** Hands the sensor a new trigger list: it is restarted with the new environment. */
  async updateTriggers(triggers: TriggerInstance[]): Promise<void> {
    const same = JSON.stringify(triggers) === JSON.stringify(this.triggers)
    this.triggers = triggers
    if (same || this.stopped) return
    this.options.logger.info('trigger list changed: restarting the sensor', {sensor: this.options.sensor.ref, triggers: triggers.length})
    await this.restartNow()
  }

  /** Its file changed (and loads): restarted at once, with a fresh backoff (new code, new chances). */
  async restartForCode(): Promise<void> {
    if (this.stopped) return
    this.consecutiveCrashes = 0
    await this.restartNow()
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.restartTimer)
    clearTimeout(this.stableTimer)
    this.status.state = 'stopped'
    await this.killChild()
  }

  private async restartNow(): Promise<void> {
    clearTimeout(this.restartTimer)
    await this.killChild()
    if (!this.stopped) await this.spawn()
  }

  private async killChild(): Promise<void> {
    const child = this.child
    if (!child) return
    this.child = undefined
    groupKiller(child.pid, this.options.killGraceMs ?? 2000).terminate()
    await this.exited
  }

  private async spawn(): Promise<void> {
    const {sensor, plan, logger} = this.options
    let token: {token: string; expiresAt: Date}
    try {
      token = await this.options.issueToken()
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      logger.error('cannot issue a token for the sensor; retrying', {sensor: sensor.ref, err: error})
      this.status.last_exit = `could not start: no token: ${message}`
      this.scheduleRestart('token')
      return
    }
    if (this.stopped) return // stopped while the token was being issued
    const env = sensorEnvironment({sensorRef: sensor.ref, triggerRef: sensor.triggerTypes[0] ?? '', config: sensor.config, declared: sensor.env, runAs: plan.runAs})
    env.ATTUNE_SENSOR_REF = sensor.ref
    env.ATTUNE_SENSOR_ID = String(sensor.id)
    env.ATTUNE_SENSOR_TRIGGERS = JSON.stringify(this.triggers)
    env.ATTUNE_API_TOKEN = token.token
    Object.assign(env, this.options.environment)
    const command = longRunningCommand(plan)
    if (plan.runAs) ensureSensorDirs(plan.runAs) // a temp cleaner may have removed them since the plan was made
    const child = spawnDetached(command.file, command.args, {env, cwd: plan.entrypoint.replace(/\/[^/]*$/, '') || '/', stdio: ['ignore', 'pipe', 'pipe'], runAs: plan.runAs})
    this.child = child
    this.status.pid = child.pid ?? null
    this.status.state = this.failing() ? 'failed' : 'running'
    this.status.started_at = new Date().toISOString()
    logger.info('long-running sensor started', {sensor: sensor.ref, sensor_pid: child.pid, triggers: this.triggers.length})
    this.readLines(child.stdout as Readable, (line) => this.onStdoutLine(line))
    this.readLines(child.stderr as Readable, (line) => {
      logger.info('sensor log', {sensor: sensor.ref, stream: 'stderr', line})
      this.options.onLog?.(line, 'stderr', child.pid)
    })
    // A sensor that stays up a minute has recovered: the next crash starts the backoff afresh.
    clearTimeout(this.stableTimer)
    this.stableTimer = setTimeout(() => {
      this.consecutiveCrashes = 0
      if (this.status.state === 'failed') this.status.state = 'running'
    }, 60_000)
    this.exited = child.then((outcome) => {
      const how = outcome.signal ? `killed by ${outcome.signal}` : `exit code ${outcome.exitCode ?? '?'}`
      this.status.last_exit = outcome.failed && outcome.exitCode === undefined && !outcome.signal ? `could not start: ${outcome.shortMessage}` : how
      this.status.pid = null
      if (this.child !== child) return // stopped or restarted on purpose
      this.child = undefined
      clearTimeout(this.stableTimer)
      logger.error('long-running sensor exited; restarting with backoff', {sensor: sensor.ref, exit: this.status.last_exit})
      this.options.onLog?.(`exited (${this.status.last_exit}); restarting with backoff`, 'error', child.pid)
      this.scheduleRestart('crash')
    })
  }

  private failing(): boolean {
    return this.consecutiveCrashes >= (this.options.maxRestartAttempts ?? 3)
  }

  private scheduleRestart(reason: string): void {
    if (this.stopped) return
    this.consecutiveCrashes++
    this.status.restarts++
    this.status.state = this.failing() ? 'failed' : 'backoff'
    const delay = backoffDelay(this.consecutiveCrashes - 1, {initialMs: this.options.backoffMs ?? 1000, maxMs: this.options.maxBackoffMs ?? 60_000})
    this.options.logger.debug('restart scheduled', {sensor: this.options.sensor.ref, reason, delay_ms: delay})
    this.restartTimer = setTimeout(() => void this.spawn(), delay)
  }

  private onStdoutLine(line: string): void {
    if (line.trim() === '') return
    const {logger, sensor} = this.options
    let parsed: unknown
    try {
      parsed = JSON.parse(line)
    } catch (error) {
      this.status.malformed_lines++
      logger.warn('skipped a line that is not JSON', {sensor: sensor.ref, line: line.slice(0, 200), error: (error as Error).message})
      return
    }
    const event = asEvent(parsed, sensor.triggerTypes)
    if (typeof event === 'string') {
      this.status.malformed_lines++
      logger.warn(`skipped an event: ${event}`, {sensor: sensor.ref, line: line.slice(0, 200)})
      return
    }
    this.status.events++
    this.options.onEvent(event).catch((error) => {
      logger.error('could not store an event of a long-running sensor', {sensor: sensor.ref, err: error})
    })
  }

  private readLines(stream: Readable | null | undefined, onLine: (line: string) => void): void {
    if (!stream) return
    const max = this.options.maxLineBytes ?? 1024 * 1024
    let pending = ''
    let dropping = false
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      let start = 0
      for (let newline = chunk.indexOf('\n'); newline !== -1; newline = chunk.indexOf('\n', start)) {
        const piece = chunk.slice(start, newline)
        start = newline + 1
        if (dropping) {
          dropping = false
          pending = ''
          continue
        }
        onLine(pending + piece)
        pending = ''
      }
      if (!dropping) pending += chunk.slice(start)
      if (!dropping && pending.length > max) {
        this.status.malformed_lines++
        this.options.logger.warn('dropped a stdout line longer than the limit', {sensor: this.options.sensor.ref, limit_bytes: max})
        dropping = true
        pending = ''
      }
    })
  }
}

/** Validates one stdout event: `{trigger_ref, trigger_instance_id, payload}`; a string says what is wrong. */
function asEvent(value: unknown, triggerTypes: string[]): LongRunningEvent | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object'
  const record = value as Record<string, unknown>
  const payload = record.payload
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return '"payload" must be a JSON object'
  const triggerRef = record.trigger_ref ?? (triggerTypes.length === 1 ? triggerTypes[0] : undefined)
  if (typeof triggerRef !== 'string') return '"trigger_ref" is missing'
  if (!triggerTypes.includes(triggerRef)) return `trigger "${triggerRef}" is not one this sensor declares (${triggerTypes.join(', ')})`
  const instance = record.trigger_instance_id
  if (instance !== undefined && instance !== null && !Number.isInteger(instance)) return '"trigger_instance_id" must be a rule id'
  return {trigger_ref: triggerRef, trigger_instance_id: (instance as number | undefined) ?? null, payload: payload as Record<string, unknown>}
}
