/**
 * `attune sensor run-once`: one poll of a registered sensor (or a sensor file) through the
 * same engine the daemon uses: `executeSensor`, the payload check against the trigger's
 * output schema, the rule matching of the event pipeline, and with `persist` the pipeline's
 * transaction and the outbox relay. Without `persist` nothing is written.
 */
import {isBuiltinTimer, sensorEntryPath, sensorExecutor} from '../sensor/row.js'
import {existsSync, statSync} from 'node:fs'
import {basename, dirname, extname, resolve} from 'node:path'
import {OutboxRelay} from '../bus/outbox.js'
import type {Bus} from '../bus/types.js'
import {AbortError} from '../errors.js'
import {loadPack, type SensorDefinition} from '../packs/index.js'
import type {GroupTrace} from '../rules/index.js'
import {executeSensor, type ExecuteSensorOptions} from '../sensor/execute.js'
import {prepareLocalSensor} from '../sensor/local.js'
import type {SensorExecutionResult, SensorSpec} from '../sensor/types.js'
import {getSensor, getTrigger, type TriggerRow} from '../store/queries.js'
import type {Store} from '../store/types.js'
import {EventPipeline, type PollEvents, type PreviewDedup} from './pipeline.js'
import {configSnapshot, payloadChecker, sensorPollConfig} from './snapshot.js'

export interface RunOnceOptions {
  /** A registered sensor ref, or the path of a sensor file. */
  sensor: string
  /** Merged over the registered sensor's stored config (the whole config for a file). */
  config?: Record<string, unknown>
  /** For a sensor file (ignored for a registered sensor): as in `attune sensor test`. */
  file?: {runtime?: string; sensorRef?: string; triggerRef?: string; env?: Record<string, string>}
  /** `pipeline.enforcements`: who creates enforcements (default attune). */
  enforcements?: 'attune' | 'executor'
  /** Add the condition-by-condition trace of every rule. */
  explain?: boolean
  /** Store events, enforcements and outbox rows, then publish through `bus`. */
  persist?: boolean
  /** Where `persist` publishes (the relay flushes the outbox to it). */
  bus?: Bus
  /** How long publishing may retry an unreachable broker before giving up (default 10 s). */
  publishTimeoutMs?: number
  execute?: ExecuteSensorOptions
}

export interface RunOnceRule {
  rule_id: number
  rule_ref: string
  action_ref: string
  matched: boolean
  trace?: GroupTrace
  /** With `persist`: the enforcement the match created. */
  enforcement_id?: number
}

export interface RunOnceEvent {
  index: number
  payload: unknown
  /** Where the payload disagrees with the trigger's output schema. */
  warnings: string[]
  /** Every enabled rule of the trigger and its decision. */
  rules: RuleDecisions
  /** With `persist`: the stored event (for a duplicate, the event it duplicates). */
  event_id?: number
  /**
   * The trigger deduplicates and the event has a key: its key, and whether it is (without
   * `persist`: would be) dropped as a duplicate of `event_id`.
   */
  dedup?: PreviewDedup
}

type RuleDecisions = RunOnceRule[]

/** The `--json` document of `attune sensor run-once`. */
export interface RunOnceResult {
  sensor_ref: string
  trigger_ref: string
  /** `registered` (from the database), `definition` (a sensor YAML of a pack folder) or `file`. */
  source: 'registered' | 'definition' | 'file'
  dry_run: boolean
  poll: SensorExecutionResult
  events: RunOnceEvent[]
  /** (event, rule) pairs that matched: enforcements created, or that would be. */
  matches: number
  /** `deduplicated`: events dropped as duplicates (not counted in `events`). */
  stored: {events: number; enforcements: number; messages: number; deduplicated: number} | null
  published: {bus: 'amqp' | 'local'; location: string; sent: number; pending: number; error: string | null} | null
  warnings: string[]
}

const REF = /^[\w-]+(\.[\w-]+)+$/
const SENSOR_EXTENSIONS = new Set(['.py', '.js', '.mjs', '.cjs', '.sh', '.bash'])

/** A file when one exists there or the name looks like a path; otherwise a registered ref. */
function looksLikeFile(target: string): boolean {
  if (existsSync(target) && statSync(target).isFile()) return true
  return target.includes('/') || SENSOR_EXTENSIONS.has(extname(target)) || !REF.test(target)
}

interface Resolved {
  source: RunOnceResult['source']
  spec: SensorSpec
  sensorId: number | null
  trigger: {id: number | null; ref: string; row?: TriggerRow}
  config: Record<string, unknown>
  snapshot: unknown
  warnings: string[]
}

async function resolveSensor(store: Store, options: RunOnceOptions): Promise<Resolved> {
  const warnings: string[] = []
  if (/\.ya?ml$/i.test(options.sensor) && existsSync(options.sensor)) return resolveDefinition(store, options)
  if (looksLikeFile(options.sensor)) {
    const {sensor, trigger} = await prepareLocalSensor({file: options.sensor, ...options.file, runAs: options.execute?.runAs})
    const row = await getTrigger(store, trigger.ref)
    if (!row) warnings.push(`trigger ${trigger.ref} is not registered: no rule can match its events`)
    const config = options.config ?? {}
    return {source: 'file', spec: sensor, sensorId: null, trigger: {id: row?.id ?? null, ref: trigger.ref, row}, config, snapshot: config, warnings}
  }
  const row = await getSensor(store, options.sensor)
  if (!row) {
    throw new AbortError(`no sensor ${JSON.stringify(options.sensor)} is registered (and there is no such file)`, {
      code: 'sensor_not_found',
      hint: 'List the registered sensors with `attune sensor list`, or pass the path of a sensor file.',
    })
  }
  if (row.execution === 'long_running' || isBuiltinTimer(row)) throw notPollable(row.ref)
  if (!row.enabled) warnings.push(`sensor ${row.ref} is disabled: the daemon does not poll it`)
  const {config, problems} = sensorPollConfig(row.param_schema, row.config, options.config)
  if (problems.length > 0) {
    throw new AbortError(`config of sensor ${row.ref} does not match its parameters: ${problems.join('; ')}`, {code: 'config_invalid'})
  }
  const trigger = await getTrigger(store, row.trigger_ref)
  return {
    source: 'registered',
    // One poll: a persistent runner would be started for nothing.
    spec: {ref: row.ref, entrypoint: sensorEntryPath(row), runtime: sensorExecutor(row) ?? row.runtime_ref, execution: 'poll', env: row.env ?? undefined},
    sensorId: row.id,
    trigger: {id: trigger?.id ?? row.trigger, ref: row.trigger_ref, row: trigger},
    config,
    snapshot: configSnapshot(config, row.param_schema),
    warnings,
  }
}

export async function runSensorOnce(store: Store, options: RunOnceOptions): Promise<RunOnceResult> {
  if (options.persist && !options.bus) throw new AbortError('persisting needs a bus to publish on')
  const resolved = await resolveSensor(store, options)
  const poll = await executeSensor(resolved.spec, {ref: resolved.trigger.ref}, resolved.config, options.execute)
  const result: RunOnceResult = {
    sensor_ref: resolved.spec.ref,
    trigger_ref: resolved.trigger.ref,
    source: resolved.source,
    dry_run: !options.persist,
    poll,
    events: [],
    matches: 0,
    stored: null,
    published: null,
    warnings: resolved.warnings,
  }
  if (poll.error !== null) return result

  const check = payloadChecker(resolved.trigger.row?.out_schema)
  const input: PollEvents = {
    trigger: {id: resolved.trigger.id, ref: resolved.trigger.ref},
    sensor: {id: resolved.sensorId, ref: resolved.spec.ref},
    config: resolved.snapshot,
    events: poll.events,
  }
  const pipeline = new EventPipeline(store, {enforcements: options.enforcements})
  const preview = await pipeline.preview(store, [input], {explain: options.explain})
  result.warnings.push(...preview.warnings)
  result.events = preview.events.map((event) => ({
    index: event.index,
    payload: event.payload,
    warnings: check ? check(event.payload) : [],
    rules: event.rules.map(({rule_id, rule_ref, action_ref, matched, trace}) => ({rule_id, rule_ref, action_ref, matched, ...(trace ? {trace} : {})})),
    ...(event.dedup ? {dedup: event.dedup, ...(event.dedup.event_id === undefined ? {} : {event_id: event.dedup.event_id})} : {}),
  }))
  // A duplicate would not be stored: its matches would create nothing.
  result.matches = result.events.reduce((sum, event) => sum + (event.dedup?.duplicate ? 0 : event.rules.filter((rule) => rule.matched).length), 0)
  if (!options.persist || poll.events.length === 0) return result

  const stored = await pipeline.persist(input)
  stored.events.forEach((event, i) => {
    const shown = result.events[i]
    shown.event_id = event.id
    const duplicate = stored.duplicates.find((d) => d.poll === event.poll && d.index === event.index)
    if (shown.dedup || duplicate) shown.dedup = {key: shown.dedup?.key ?? duplicate!.key, duplicate: Boolean(event.duplicate), ...(event.duplicate ? {event_id: event.id} : {})}
    for (const enforcement of event.enforcements) {
      const rule = shown.rules.find((r) => r.rule_id === enforcement.rule_id)
      if (rule) {
        rule.matched = true
        rule.enforcement_id = enforcement.id
      } else {
        // A rule enabled between the preview and the commit.
        shown.rules.push({rule_id: enforcement.rule_id, rule_ref: enforcement.rule_ref, action_ref: enforcement.action_ref, matched: true, enforcement_id: enforcement.id})
      }
    }
  })
  result.matches = stored.enforcements.length
  result.stored = {events: stored.events.length - stored.deduplicated, enforcements: stored.enforcements.length, messages: stored.messages, deduplicated: stored.deduplicated}
  const bus = options.bus!
  const flushed = await new OutboxRelay(store, bus).flush({timeoutMs: options.publishTimeoutMs ?? 10_000})
  result.published = {bus: bus.kind, location: bus.location, ...flushed}
  return result
}

function notPollable(ref: string): AbortError {
  return new AbortError(`sensor ${ref} is long-running (execution: long_running): it has no single poll to run`, {
    code: 'sensor_not_pollable',
    hint: 'Long-running sensors are started and supervised by `attune daemon`.',
  })
}

/**
 * A sensor definition (`<pack>/sensors/<name>.yaml`): the pack folder is loaded and checked as
 * `pack register` would, and the sensor runs as defined in the file (entry point, runtime,
 * config, environment) against the rules registered for its trigger. Its edits need no
 * register to try; with `persist`, events are linked to the registered sensor of that ref.
 */
async function resolveDefinition(store: Store, options: RunOnceOptions): Promise<Resolved> {
  const file = resolve(options.sensor)
  const packDir = dirname(dirname(file))
  if (basename(dirname(file)) !== 'sensors' || !existsSync(resolve(packDir, 'pack.yaml'))) {
    throw new AbortError(`${options.sensor} is not a sensor definition in a pack folder (expected <pack>/sensors/<name>.yaml next to <pack>/pack.yaml)`, {
      code: 'sensor_not_found',
      hint: 'Pass a registered sensor ref, a sensor definition inside a pack, or the sensor code file itself.',
    })
  }
  const pack = await loadPack(packDir)
  const sensor: SensorDefinition | undefined = pack.sensors.find((item) => resolve(item.source.file) === file)
  if (!sensor) throw new AbortError(`${options.sensor} defines no sensor`, {code: 'sensor_not_found'})
  if (sensor.execution === 'long_running') throw notPollable(sensor.ref)
  const warnings = [...sensor.warnings]
  if (!sensor.enabled) warnings.push(`sensor ${sensor.ref} is disabled: the daemon does not poll it`)
  const {config, problems} = sensorPollConfig(sensor.param_schema, sensor.config, options.config)
  if (problems.length > 0) {
    throw new AbortError(`config of sensor ${sensor.ref} does not match its parameters: ${problems.join('; ')}`, {code: 'config_invalid'})
  }
  const triggerRef = sensor.trigger_types[0]
  const trigger = await getTrigger(store, triggerRef)
  if (!trigger) warnings.push(`trigger ${triggerRef} is not registered: no rule can match its events (register the pack first)`)
  const registered = await getSensor(store, sensor.ref)
  return {
    source: 'definition',
    spec: {ref: sensor.ref, entrypoint: sensor.entry_path ?? sensor.entrypoint, runtime: sensor.runner_type, execution: 'poll', env: sensor.env ?? undefined},
    sensorId: registered?.id ?? null,
    trigger: {id: trigger?.id ?? null, ref: triggerRef, row: trigger},
    config,
    snapshot: configSnapshot(config, sensor.param_schema),
    warnings,
  }
}
