/**
 * Runtime detection and worker registration (SPEC §8, seed 002), shared by
 * `attune runtime detect` and anything else that needs to know what this host can run.
 */
import type {AttuneConfig} from '../config.js'
import {AbortError} from '../errors.js'
import {CORE_PACK_DIR, registerPacks} from '../packs/register.js'
import {useDetectedInterpreters} from '../sensor/interpreters.js'
import {resolveRuntimeName} from '../sensor/runtimes.js'
import type {InterpreterPaths} from '../sensor/types.js'
import type {Queryable, Store} from '../store/types.js'
import type {RuntimeRow} from '../store/queries.js'
import {detectionCacheKey, readDetectionCache, writeDetectionCache} from './cache.js'
import {DEFAULT_CHECK_TIMEOUT_MS, detectRuntimes, executorRuntime} from './detect.js'
import {overrideResults, runtimeOverride} from './override.js'
import {runtimeSpec} from './spec.js'
import type {DetectionReport, RequiredRuntime, RuntimeResult, RuntimeSpec} from './types.js'
import {registerSensorWorker, workerCapabilities} from './worker.js'

export * from './types.js'
export {detectionCacheKey, detectionCachePath, readDetectionCache, writeDetectionCache, DETECTION_CACHE_TTL_MS} from './cache.js'
export {runCommand} from './command.js'
export type {CommandOutcome} from './command.js'
export {DEFAULT_CHECK_TIMEOUT_MS, checkEnvironment, checkRuntime, detectRuntimes, executorRuntime} from './detect.js'
export type {DetectOptions} from './detect.js'
export {overrideResults, runtimeOverride} from './override.js'
export type {RuntimeOverride} from './override.js'
export {capabilityName, patternProblem, runtimeSpec} from './spec.js'
export type {RuntimeRowLike} from './spec.js'
export {compareVersions, extractVersion, parseVersion} from './version.js'
export {defaultWorkerName, registerSensorWorker, workerCapabilities} from './worker.js'

/** The core pack shipped with attune (its runtimes are what a fresh database lacks). */
export {CORE_PACK_DIR} from '../packs/register.js'

/** The rows detection considers: every runtime row (Attune's table has no sensor/action type). */
export async function readRuntimeRows(q: Queryable): Promise<RuntimeRow[]> {
  try {
    const {rows} = await q.query<RuntimeRow>(
      `SELECT * FROM attune.runtime ORDER BY ref`,
    )
    return rows
  } catch (error) {
    if ((error as {code?: string}).code === '42P01' || (error as {code?: string}).code === '3F000') {
      throw new AbortError('The database has no attune schema yet', {code: 'database_not_migrated', hint: 'Run `attune db migrate` (with the same --database-url) first.'})
    }
    throw error
  }
}

/**
 * The interpreter paths a detection hands to the sensor executors: the real path of each
 * python/node/shell runtime whose check passed (not always-available guesses, not overrides).
 */
export function detectedInterpreterPaths(runtimes: RuntimeResult[]): InterpreterPaths {
  const paths: InterpreterPaths = {}
  for (const runtime of runtimes) {
    if (!runtime.available || !runtime.path || !runtime.checks.some((check) => check.outcome === 'passed')) continue
    const executor = executorRuntime({ref: runtime.ref ?? runtime.name, name: runtime.name, aliases: runtime.aliases})
    if ((executor === 'python' || executor === 'node' || executor === 'shell') && paths[executor] === undefined) paths[executor] = runtime.path
  }
  return paths
}

/** Capability names of the available runtimes, deduplicated, in report order. */
export function availableNames(runtimes: RuntimeResult[]): string[] {
  return [...new Set(runtimes.filter((runtime) => runtime.available).map((runtime) => runtime.name))]
}

function namesOf(runtime: Pick<RuntimeResult, 'name' | 'label' | 'ref' | 'aliases'>): string[] {
  return [runtime.name, runtime.label, runtime.ref ?? '', ...runtime.aliases].map((name) => name.toLowerCase()).filter(Boolean)
}

/** True when `wanted` names this runtime (name, alias, ref or label; python3 = python for the executors' runtimes). */
function answers(runtime: Pick<RuntimeResult, 'name' | 'label' | 'ref' | 'aliases'>, wanted: string): boolean {
  const names = namesOf(runtime)
  if (names.includes(wanted)) return true
  const executor = resolveRuntimeName(wanted)
  return executor !== undefined && wanted !== 'builtin' && names.some((name) => name !== 'builtin' && resolveRuntimeName(name) === executor)
}

const REQUIRE_NAME = /^[a-z0-9][a-z0-9._+-]*$/

/** Splits and checks `--require` values (repeatable, or comma-separated). */
export function parseRequired(values: readonly string[]): string[] {
  const names: string[] = []
  for (const value of values) {
    for (const raw of value.split(',')) {
      const name = raw.trim().toLowerCase()
      if (!REQUIRE_NAME.test(name)) throw new AbortError(`--require: invalid runtime name ${JSON.stringify(raw)}`, {code: 'flag_invalid'})
      if (!names.includes(name)) names.push(name)
    }
  }
  return names
}

/** Fails early (exit 2) for a `--require` name that no runtime row answers to. */
function checkRequiredKnown(required: string[], specs: RuntimeSpec[]): void {
  const known = specs.map((spec) => ({name: spec.name, label: spec.label, ref: spec.ref, aliases: spec.aliases}))
  for (const wanted of required) {
    if (!known.some((runtime) => answers(runtime, wanted))) {
      throw new AbortError(`--require ${wanted}: no runtime of that name in the runtime table`, {
        code: 'runtime_unknown',
        hint: `Known runtimes: ${[...new Set(known.map((runtime) => runtime.name))].join(', ')}. Add one with a runtime YAML and \`attune pack register\` (docs/runtimes.md).`,
      })
    }
  }
}

/** Whether each required runtime is available (an available runtime answering the name wins). */
export function requiredRuntimes(report: Pick<DetectionReport, 'runtimes' | 'source' | 'source_detail'>, required: string[]): RequiredRuntime[] {
  return required.map((wanted) => {
    const matches = report.runtimes.filter((runtime) => answers(runtime, wanted))
    const hit = matches.find((runtime) => runtime.available) ?? matches[0]
    if (!hit) return {name: wanted, available: false, runtime: null, reason: `not listed in ${report.source_detail}`}
    return {name: wanted, available: hit.available, runtime: hit.ref ?? hit.name, reason: hit.reason}
  })
}

export interface RuntimeDetectionOptions {
  config: AttuneConfig
  /** The config file that was read (named in the report when it decided). */
  configFile?: string
  env?: NodeJS.ProcessEnv
  /** Opens the database when detection or registration needs it (closed again at the end). */
  openStore?: () => Promise<Store>
  /** An open database to use instead (left open). */
  store?: Store
  /** Reuse a result younger than the cache TTL from `$ATTUNE_HOME/cache` (default true). */
  useCache?: boolean
  /** Register the bundled core pack when the database has no runtime rows at all (default true). */
  registerCore?: boolean
  /** Upsert this worker row with the result. */
  register?: {name: string}
  /** Runtime names that must be available (see `requiredRuntimes`); unknown names are an AbortError. */
  require?: string[]
  timeoutMs?: number
  /** Progress notes for a human (stderr). */
  notice?: (message: string) => void
}

/**
 * `attune runtime detect` without the rendering: override (env, then config) or detection
 * from the runtime table (cached briefly), the interpreters handed to the executors of
 * this process, and optionally the worker row.
 */
export async function runtimeDetection(options: RuntimeDetectionOptions): Promise<DetectionReport> {
  const env = options.env ?? process.env
  const started = performance.now()
  const required = options.require ?? []
  let store = options.store
  const opened = !store
  const database = async (): Promise<Store> => {
    if (store) return store
    if (!options.openStore) throw new Error('runtimeDetection needs a store or openStore')
    store = await options.openStore()
    return store
  }
  try {
    let report: DetectionReport
    const override = runtimeOverride(env, options.config, options.configFile)
    if (override) {
      const runtimes = overrideResults(override)
      report = {
        source: override.source,
        source_detail: override.source_detail,
        runtimes,
        available: availableNames(runtimes),
        checked_at: new Date().toISOString(),
        duration_ms: Math.round(performance.now() - started),
        cached: false,
      }
    } else {
      const db = await database()
      let rows = await readRuntimeRows(db)
      let registeredCore = false
      if (rows.length === 0) {
        if (options.registerCore === false) {
          throw new AbortError('The runtime table has no sensor runtimes', {
            code: 'no_runtimes',
            hint: 'Register the core pack first: attune pack register packs/core',
          })
        }
        options.notice?.(`No sensor runtimes in the database: registering the bundled core pack (${CORE_PACK_DIR}).`)
        await registerPacks(db, [CORE_PACK_DIR])
        registeredCore = true
        rows = await readRuntimeRows(db)
      }
      const specs = rows.map(runtimeSpec)
      checkRequiredKnown(required, specs)
      const timeoutMs = options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS
      const key = detectionCacheKey(specs, env.PATH ?? '', timeoutMs)
      const cached = options.useCache === false ? undefined : readDetectionCache(options.config.home, key)
      let result: {checked_at: string; duration_ms: number; runtimes: RuntimeResult[]}
      if (cached) {
        result = cached
      } else {
        const checkStarted = performance.now()
        const checkedAt = new Date().toISOString()
        const runtimes = await detectRuntimes(specs, {timeoutMs, env})
        result = {checked_at: checkedAt, duration_ms: Math.round(performance.now() - checkStarted), runtimes}
        writeDetectionCache(options.config.home, key, result)
      }
      useDetectedInterpreters(detectedInterpreterPaths(result.runtimes))
      report = {
        source: 'detection',
        source_detail: `runtime table (${rows.length} runtime${rows.length === 1 ? '' : 's'})`,
        runtimes: result.runtimes,
        available: availableNames(result.runtimes),
        checked_at: result.checked_at,
        duration_ms: result.duration_ms,
        cached: Boolean(cached),
        ...(registeredCore ? {registered_core_pack: true} : {}),
      }
    }
    if (options.register) {
      report.worker = await registerSensorWorker(await database(), options.register.name, workerCapabilities(report))
    }
    if (required.length > 0) report.required = requiredRuntimes(report, required)
    return report
  } finally {
    if (opened && store) await store.close()
  }
}
