/**
 * Column values for Attune's `worker` and `sensor_process` rows, written the way Attune's
 * own sensor service (crates/sensor, Attune commit 9206d41) writes them, so Attune's API
 * (`GET /api/v1/workers`) and web UI read attune's rows as they read their own.
 *
 * Pure: no database access. Callers turn the maps into SQL. See docs/attune-worker-facts.md
 * for where each value comes from.
 */

import {backoffDelay} from '../backoff.js'

/** Heartbeat cadence of Attune's sensor service (config `sensor.heartbeat_interval`, default). */
export const ATTUNE_HEARTBEAT_INTERVAL_SECONDS = 30
/**
 * Attune's API and executor treat a heartbeat older than this (30 s x 3, fixed, whatever the
 * worker's own interval) as stale: the API shows the worker `offline`, the executor's monitor
 * (every 60 s) sets `status = 'inactive'` and raises a `worker_stale_heartbeat` alert.
 */
export const ATTUNE_HEARTBEAT_STALE_SECONDS = 90
/** `capabilities.max_concurrent_sensors` when the sensor config gives none. */
export const ATTUNE_DEFAULT_MAX_CONCURRENT_SENSORS = 10
/** Restart backoff: 5 s doubled per consecutive failure, at most 300 s. */
export const SENSOR_RESTART_BASE_DELAY_SECONDS = 5
export const SENSOR_RESTART_MAX_DELAY_SECONDS = 300
/** A repeated-failure alert is raised from this many consecutive failures on. */
export const SENSOR_ALERT_FAILURE_THRESHOLD = 3
/** stderr excerpt: at most the last 80 lines of the last 16 KiB of the sensor's stderr. */
export const STDERR_EXCERPT_MAX_BYTES = 16 * 1024
export const STDERR_EXCERPT_MAX_LINES = 80

export type AttuneWorkerStatus = 'active' | 'inactive' | 'busy' | 'error'
export type AttuneWorkerType = 'local' | 'remote' | 'container'
export type SensorProcessStatus = 'starting' | 'running' | 'stopped' | 'failed' | 'backoff'
export type TaintEffect = 'no_schedule' | 'prefer_no_schedule'

export interface WorkerTaint {
  key: string
  value?: string
  /** Default `no_schedule`. */
  effect?: TaintEffect
}

/** One interpreter found on this machine (Attune's agent-mode `detected_interpreters` entry). */
export interface DetectedInterpreter {
  name: string
  path: string
  version: string | null
}

export interface SensorWorkerCapabilitiesInput {
  /**
   * Runtime names this worker can run sensors with (Attune: the lowercased `runtime.name` of each
   * runtime that verified locally, or `ATTUNE_SENSOR_RUNTIMES`). Ignored when `interpreters` is given.
   */
  runtimes?: readonly string[]
  /**
   * Detected interpreters with versions. When given, `runtimes` becomes the sorted normalized names
   * and `runtime_versions` / `detected_interpreters` are written as Attune's agent mode does.
   */
  interpreters?: readonly DetectedInterpreter[]
  /** Default 10. */
  maxConcurrentSensors?: number
  /** The daemon's version (`capabilities.sensor_version`). */
  version: string
  /** Sensors the daemon has taken on (running or waiting to restart). Default 0. */
  monitored?: number
  /** Sensors whose process is up. Default 0. */
  running?: number
  /** Distinct enabled rules on the monitored sensors. Default 0. */
  activeRules?: number
  /** Placement labels (`capabilities.labels`), matched by `sensor.worker_selector` / affinity. */
  labels?: Readonly<Record<string, string>>
  /** Placement taints (`capabilities.taints`), matched by `sensor.worker_tolerations`. */
  taints?: readonly WorkerTaint[]
  /** Attune's agent-mode keys; leave unset for a normal sensor service. */
  agent?: {mode?: boolean; binaryName?: string; binaryVersion?: string}
  /**
   * attune's own keys (e.g. `lease_seconds`). Attune ignores unknown keys; Attune-defined keys
   * computed here win over same-named extra keys.
   */
  extra?: Readonly<Record<string, unknown>>
}

/** Attune's runtime name normalization (`normalize_runtime_name`). */
export function normalizeRuntimeName(name: string): string {
  const n = name.trim().toLowerCase()
  switch (n) {
    case 'node':
    case 'nodejs':
    case 'node.js':
      return 'node'
    case 'python':
    case 'python3':
      return 'python'
    case 'shell':
    case 'bash':
    case 'sh':
      return 'shell'
    case 'native':
    case 'builtin':
    case 'standalone':
      return 'native'
    case 'ruby':
    case 'rb':
      return 'ruby'
    case 'go':
    case 'golang':
      return 'go'
    case 'java':
    case 'jdk':
    case 'openjdk':
      return 'java'
    case 'perl':
    case 'perl5':
      return 'perl'
    case 'r':
    case 'rscript':
      return 'r'
    default:
      return n
  }
}

function count(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback
  if (!Number.isSafeInteger(v) || v < 0) {
    // Attune's API reads these with as_u64(): anything but a non-negative integer reads as absent.
    throw new RangeError(`${name} must be a non-negative integer, got ${v}`)
  }
  return v
}

function checkLabels(labels: Readonly<Record<string, string>>): void {
  for (const [key, value] of Object.entries(labels)) {
    if (key.trim() === '') throw new RangeError('worker label keys must be non-empty')
    if (typeof value !== 'string' || value.trim() === '') {
      throw new RangeError(`worker label '${key}' must be a non-empty string`)
    }
  }
}

function taintJson(taint: WorkerTaint): Record<string, string> {
  if (taint.key.trim() === '') throw new RangeError('worker taint keys must be non-empty')
  if (taint.value !== undefined && taint.value.trim() === '') {
    throw new RangeError(`worker taint '${taint.key}' value must be non-empty when given`)
  }
  const out: Record<string, string> = {key: taint.key}
  if (taint.value !== undefined) out.value = taint.value
  out.effect = taint.effect ?? 'no_schedule'
  return out
}

/**
 * The worker row's `capabilities` object. Keys Attune reads: `runtimes` (names shown as the
 * worker's supported runtimes), `runtime_versions`, `max_concurrent_sensors`,
 * `sensor_processes_monitored`, `sensor_processes_running`, `active_rules`, `labels`, `taints`.
 * `sensor_version` and the agent keys are stored but not read.
 */
export function sensorWorkerCapabilities(input: SensorWorkerCapabilitiesInput): Record<string, unknown> {
  const caps: Record<string, unknown> = {...(input.extra ?? {})}
  caps.max_concurrent_sensors = count('maxConcurrentSensors', input.maxConcurrentSensors, ATTUNE_DEFAULT_MAX_CONCURRENT_SENSORS)
  caps.sensor_processes_monitored = count('monitored', input.monitored, 0)
  caps.sensor_processes_running = count('running', input.running, 0)
  caps.active_rules = count('activeRules', input.activeRules, 0)
  caps.sensor_version = input.version
  if (input.agent?.mode) caps.agent_mode = true
  const binaryName = input.agent?.binaryName?.trim()
  if (binaryName) caps.agent_binary_name = binaryName
  const binaryVersion = input.agent?.binaryVersion?.trim()
  if (binaryVersion) caps.agent_binary_version = binaryVersion
  if (input.labels && Object.keys(input.labels).length > 0) {
    checkLabels(input.labels)
    caps.labels = {...input.labels}
  }
  if (input.taints && input.taints.length > 0) caps.taints = input.taints.map(taintJson)

  if (input.interpreters) {
    const versions = new Map<string, Set<string>>()
    const names = new Set<string>()
    for (const it of input.interpreters) {
      const name = normalizeRuntimeName(it.name)
      names.add(name)
      if (it.version !== null && it.version.trim() !== '') {
        if (!versions.has(name)) versions.set(name, new Set())
        versions.get(name)!.add(it.version)
      }
    }
    caps.detected_interpreters = input.interpreters.map((it) => ({name: it.name, path: it.path, version: it.version}))
    caps.runtime_versions = Object.fromEntries([...versions].map(([name, set]) => [name, [...set].sort()]))
    caps.runtimes = [...names].sort()
  } else {
    const seen = new Set<string>()
    for (const r of input.runtimes ?? []) {
      const name = r.trim().toLowerCase()
      if (name !== '') seen.add(name)
    }
    caps.runtimes = [...seen]
  }
  return caps
}

/** The three activity counts a sensor worker keeps in `capabilities` (rewritten only when they change). */
export function sensorWorkerActivity(a: {monitored: number; running: number; activeRules: number}): {
  sensor_processes_monitored: number
  sensor_processes_running: number
  active_rules: number
} {
  return {
    sensor_processes_monitored: count('monitored', a.monitored, 0),
    sensor_processes_running: count('running', a.running, 0),
    active_rules: count('activeRules', a.activeRules, 0),
  }
}

/** True when writing `activity` into `capabilities` would change it (Attune skips the write otherwise). */
export function activityChanged(capabilities: Readonly<Record<string, unknown>>, activity: ReturnType<typeof sensorWorkerActivity>): boolean {
  return (Object.keys(activity) as (keyof typeof activity)[]).some((k) => capabilities[k] !== activity[k])
}

/** Attune's default sensor worker name (`sensor-<hostname>`). attune must not reuse the Rust service's name. */
export function defaultSensorWorkerName(hostname: string): string {
  return `sensor-${hostname}`
}

export type SensorWorkerWriteKind = 'insert' | 'reregister' | 'heartbeat' | 'capabilities' | 'deregister'

export interface SensorWorkerWriteInput {
  name?: string
  host?: string | null
  capabilities?: Record<string, unknown>
  now: Date
}

/**
 * Columns Attune's sensor service writes to its `worker` row at each step:
 * - `insert`: first registration (no row with this name and `worker_role = 'sensor'`).
 * - `reregister`: startup when the row exists (status, capabilities, heartbeat, host).
 * - `heartbeat`: every 30 s (`last_heartbeat`, `status = 'active'`).
 * - `capabilities`: when the activity counts changed (before the heartbeat of the same tick).
 * - `deregister`: graceful shutdown (`status = 'inactive'`; the heartbeat is left as it was).
 * `updated` is also set by the table's BEFORE UPDATE trigger; `port`, `runtime` and `meta` are never written.
 */
export function sensorWorkerWrite(kind: SensorWorkerWriteKind, input: SensorWorkerWriteInput): Record<string, unknown> {
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new TypeError(`${kind} needs ${what}`)
    return v
  }
  switch (kind) {
    case 'insert':
      return {
        name: need(input.name, 'name'),
        worker_type: 'local' satisfies AttuneWorkerType,
        worker_role: 'sensor',
        host: input.host ?? null,
        status: 'active' satisfies AttuneWorkerStatus,
        capabilities: need(input.capabilities, 'capabilities'),
        last_heartbeat: input.now,
      }
    case 'reregister':
      return {
        status: 'active' satisfies AttuneWorkerStatus,
        capabilities: need(input.capabilities, 'capabilities'),
        last_heartbeat: input.now,
        updated: input.now,
        host: input.host ?? null,
      }
    case 'heartbeat':
      return {last_heartbeat: input.now, status: 'active' satisfies AttuneWorkerStatus, updated: input.now}
    case 'capabilities':
      return {capabilities: need(input.capabilities, 'capabilities'), updated: input.now}
    case 'deregister':
      return {status: 'inactive' satisfies AttuneWorkerStatus, updated: input.now}
  }
}

/** How Attune's API judges a heartbeat: age in whole seconds (never negative); stale when none or older than 90 s. */
export function heartbeatHealth(lastHeartbeat: Date | null, now: Date): {ageSeconds: number | null; stale: boolean} {
  if (lastHeartbeat === null) return {ageSeconds: null, stale: true}
  const ageSeconds = Math.max(0, Math.trunc((now.getTime() - lastHeartbeat.getTime()) / 1000))
  return {ageSeconds, stale: ageSeconds > ATTUNE_HEARTBEAT_STALE_SECONDS}
}

export type WorkerHealthState = 'active' | 'busy' | 'offline' | 'inactive' | 'error' | 'cordoned'

/**
 * The `health_state` Attune's API shows for a sensor worker row (web UI: badge; dashboard: counts
 * `offline` sensor workers), and the `status` it reports (`busy` instead of `active` when busy).
 */
export function attuneWorkerView(row: {
  status: AttuneWorkerStatus | null
  cordoned: boolean
  last_heartbeat: Date | null
  capabilities: Readonly<Record<string, unknown>> | null
  now: Date
}): {status: AttuneWorkerStatus | null; healthState: WorkerHealthState; heartbeatAgeSeconds: number | null; heartbeatStale: boolean; utilizationPercent: number | null} {
  const u64 = (k: string): number | null => {
    const v = row.capabilities?.[k]
    return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null
  }
  const running = u64('sensor_processes_running')
  const rules = u64('active_rules')
  const max = u64('max_concurrent_sensors')
  const busy = (running ?? 0) > 0 || (rules ?? 0) > 0
  const {ageSeconds, stale} = heartbeatHealth(row.last_heartbeat, row.now)
  const status = row.status === 'active' && busy ? 'busy' : row.status
  let healthState: WorkerHealthState
  if (row.cordoned) healthState = 'cordoned'
  else if (row.status === 'error') healthState = 'error'
  else if (row.status === 'inactive') healthState = 'offline'
  else if ((row.status === 'active' || row.status === 'busy') && stale) healthState = 'offline'
  else if (row.status === 'busy') healthState = 'busy'
  else if (row.status === 'active') healthState = busy ? 'busy' : 'active'
  else healthState = 'inactive'
  const utilizationPercent = max !== null && max > 0 && running !== null ? Math.round((running / max) * 100) : null
  return {status, healthState, heartbeatAgeSeconds: ageSeconds, heartbeatStale: stale, utilizationPercent}
}

/** Restart delay after the `failureCount`-th consecutive failure: 5, 10, 20, 40, 80, 160, then 300 s. */
export function sensorRestartBackoffSeconds(failureCount: number): number {
  return backoffDelay(Math.max(1, Math.trunc(failureCount)) - 1, {initialMs: SENSOR_RESTART_BASE_DELAY_SECONDS, maxMs: SENSOR_RESTART_MAX_DELAY_SECONDS})
}

/**
 * The `stderr_excerpt` Attune stores from a sensor's stderr tail: the last 80 lines, prefixed by
 * `…` and a newline when the text was cut from a longer log; null when blank.
 */
export function stderrExcerpt(tail: string, truncated: boolean): string | null {
  const lines = tail.split(/\r?\n/)
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop()
  const excerpt = lines.slice(-STDERR_EXCERPT_MAX_LINES).join('\n')
  if (excerpt.trim() === '') return null
  return truncated ? `…\n${excerpt}` : excerpt
}

/** The `stderr_excerpt` Attune stores when a restart attempt itself fails (spawn error, token, ...). */
export function restartFailureExcerpt(message: string): string {
  return `restart failed: ${message}`
}

/** What Attune knows of the row before a transition (null: no row yet for (sensor, worker)). */
export interface SensorProcessPrevious {
  consecutive_failures: number
  last_alerted_failure_count: number
  last_alerted_at: Date | null
}

export type SensorProcessTransitionKind = 'starting' | 'running' | 'stopped' | 'backoff' | 'failed' | 'alerted'

interface Key {
  /** sensor.id */
  sensor: number
  /** worker.id of this daemon */
  worker: number
}

export interface StartTransitionInput extends Key {
  sensorRef: string
  workerName: string
  pid: number | null
  now: Date
  /** Enabled rules across the sensor's triggers (clamped to 0..2^31-1). */
  activeRuleCount: number
  /** true for a fresh start (daemon start, rule change, reconcile); false for a restart after backoff. */
  resetFailureCount: boolean
  previous: SensorProcessPrevious | null
  /** Default `sensor.<ref>.stderr` (the sensor's stderr log artifact). */
  logArtifactRef?: string | null
  /** Default `{manager: 'attune-sensor', reset_failure_count}`. */
  meta?: Record<string, unknown>
}

export interface StoppedTransitionInput extends Key {
  now: Date
  /** Omit to leave the stored count as it is (Attune does when counting rules failed). */
  activeRuleCount?: number
}

export interface FailureTransitionInput extends Key {
  now: Date
  activeRuleCount: number
  /** Exit code; null when killed by a signal or when the start itself failed. */
  exitCode: number | null
  signal: number | null
  stderrExcerpt: string | null
  previous: SensorProcessPrevious | null
  /** For `backoff`, default now + the backoff for the new failure count. For `failed`, default null. */
  nextRestartAt?: Date | null
}

export interface AlertedTransitionInput extends Key {
  now: Date
  failureCount: number
}

export interface SensorProcessWrite {
  /**
   * `upsert`: INSERT all of `columns` (plus `sensor`, `worker`) ON CONFLICT (sensor, worker) DO UPDATE
   * SET `columns`. `update`: UPDATE ... SET `columns` WHERE sensor = key.sensor AND worker = key.worker;
   * no row, no write.
   */
  op: 'upsert' | 'update'
  key: Key
  columns: Record<string, unknown>
}

function ruleCount(n: number): number {
  if (!Number.isFinite(n)) throw new RangeError(`activeRuleCount must be a number, got ${n}`)
  return Math.min(2 ** 31 - 1, Math.max(0, Math.trunc(n)))
}

function positivePid(pid: number | null): number | null {
  // Attune stores the pid only when it fits an INTEGER; the table requires pid > 0.
  return pid !== null && Number.isSafeInteger(pid) && pid > 0 && pid <= 2 ** 31 - 1 ? pid : null
}

export function sensorProcessTransition(kind: 'starting' | 'running', input: StartTransitionInput): SensorProcessWrite
export function sensorProcessTransition(kind: 'stopped', input: StoppedTransitionInput): SensorProcessWrite
export function sensorProcessTransition(kind: 'backoff' | 'failed', input: FailureTransitionInput): SensorProcessWrite
export function sensorProcessTransition(kind: 'alerted', input: AlertedTransitionInput): SensorProcessWrite
/**
 * Columns of `sensor_process` written at each transition, as Attune's sensor manager writes them.
 * `updated` is included (the table trigger also sets it). Columns not in the map are left unchanged.
 */
export function sensorProcessTransition(
  kind: SensorProcessTransitionKind,
  input: StartTransitionInput | StoppedTransitionInput | FailureTransitionInput | AlertedTransitionInput,
): SensorProcessWrite {
  const key = {sensor: input.sensor, worker: input.worker}
  switch (kind) {
    case 'starting':
    case 'running': {
      const i = input as StartTransitionInput
      const keep = !i.resetFailureCount && i.previous !== null
      return {
        op: 'upsert',
        key,
        columns: {
          sensor_ref: i.sensorRef,
          worker_name: i.workerName,
          status: kind satisfies SensorProcessStatus,
          pid: positivePid(i.pid),
          consecutive_failures: keep ? i.previous!.consecutive_failures : 0,
          last_alerted_failure_count: keep ? i.previous!.last_alerted_failure_count : 0,
          last_alerted_at: keep ? i.previous!.last_alerted_at : null,
          last_exit_code: null,
          last_signal: null,
          last_started_at: i.now,
          last_stopped_at: null,
          next_restart_at: null,
          stderr_excerpt: null,
          log_artifact_ref: i.logArtifactRef === undefined ? `sensor.${i.sensorRef}.stderr` : i.logArtifactRef,
          active_rule_count: ruleCount(i.activeRuleCount),
          meta: i.meta ?? {manager: 'attune-sensor', reset_failure_count: i.resetFailureCount},
          updated: i.now,
        },
      }
    }
    case 'stopped': {
      const i = input as StoppedTransitionInput
      const columns: Record<string, unknown> = {
        status: 'stopped' satisfies SensorProcessStatus,
        pid: null,
        last_stopped_at: i.now,
        next_restart_at: null,
      }
      if (i.activeRuleCount !== undefined) columns.active_rule_count = ruleCount(i.activeRuleCount)
      columns.updated = i.now
      return {op: 'update', key, columns}
    }
    case 'backoff':
    case 'failed': {
      const i = input as FailureTransitionInput
      const failures = (i.previous?.consecutive_failures ?? 0) + 1
      const nextRestartAt =
        i.nextRestartAt !== undefined
          ? i.nextRestartAt
          : kind === 'backoff'
            ? new Date(i.now.getTime() + sensorRestartBackoffSeconds(failures) * 1000)
            : null
      return {
        op: 'update',
        key,
        columns: {
          status: kind satisfies SensorProcessStatus,
          pid: null,
          consecutive_failures: failures,
          last_exit_code: i.exitCode,
          last_signal: i.signal,
          last_stopped_at: i.now,
          stderr_excerpt: i.stderrExcerpt,
          active_rule_count: ruleCount(i.activeRuleCount),
          next_restart_at: nextRestartAt,
          updated: i.now,
        },
      }
    }
    case 'alerted': {
      const i = input as AlertedTransitionInput
      return {op: 'update', key, columns: {last_alerted_failure_count: i.failureCount, last_alerted_at: i.now, updated: i.now}}
    }
  }
}

/** Attune raises a `sensor_process_repeated_failure` alert after a failure write when this holds. */
export function shouldAlertRepeatedFailure(row: {active_rule_count: number; consecutive_failures: number; last_alerted_failure_count: number}): boolean {
  return (
    row.active_rule_count > 0 &&
    row.consecutive_failures >= SENSOR_ALERT_FAILURE_THRESHOLD &&
    row.last_alerted_failure_count < row.consecutive_failures
  )
}
