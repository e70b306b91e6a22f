import {resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {packRegisteredMessage, type OutboundMessage} from '../bus/envelope.js'
import {enqueueMessages} from '../bus/outbox.js'
import {publishRuleLifecycle, type RuleChange} from '../bus/rules.js'
import {possibleSecretParams, secretRefusalMessage} from '../events/template/index.js'
import {storedConditions} from '../rules/stored.js'
import type {JsonValue} from '../rules/types.js'
import {upsertByRef, type ColumnValue, type RefTable, type UpsertResult} from '../store/upsert.js'
import type {Queryable, Store} from '../store/types.js'
import {webhookColumns} from '../webhooks/keys.js'
import {PackError, type FieldPath, type PackProblem} from './errors.js'
import {readPack, type ItemSource, type LoadedPack, type SkippedKind} from './load.js'

/** The core pack shipped with attune: runtimes, timer triggers and the actions the examples use. */
export const CORE_PACK_DIR = fileURLToPath(new URL('../../../packs/core', import.meta.url))

export type RegisterItemKind = RefTable | SkippedKind
export type RegisterStatus = 'created' | 'updated' | 'unchanged' | 'skipped' | 'deleted'

/** One line of the report (snake_case: it is printed as JSON by `--json`). */
export interface RegisterItem {
  kind: RegisterItemKind
  ref: string | null
  pack_ref: string
  file: string
  status: RegisterStatus
  /** Why it was skipped, or what changed (`description, param_schema`). */
  reason?: string
  changed?: string[]
  warnings?: string[]
  /** Database id (absent in a dry run: nothing was kept). */
  id?: number
}

/** A row of a registered pack whose definition is no longer in the pack folder. */
export interface StaleItem {
  kind: RefTable
  ref: string
  pack_ref: string
  /** Why it was kept even with `prune` (another pack's sensor or rule still uses it). */
  kept_because?: string
}

export interface RegisterReport {
  dry_run: boolean
  packs: string[]
  items: RegisterItem[]
  summary: Record<RegisterStatus, number>
  /** Rows no longer in their pack folder that were kept (all of them unless `prune`). */
  stale: StaleItem[]
  /** Rule lifecycle messages written to the outbox (published by the daemon's relay). */
  rule_messages: number
  /** `PackRegistered` messages written to the outbox: one per pack that changed. */
  pack_messages: number
  /** Set when the bundled core pack was registered first (the database had no runtimes). */
  registered_core_pack?: boolean
}

export interface RegisterOptions {
  /** Do everything in the transaction, report it, then roll back. */
  dryRun?: boolean
  /**
   * Delete the sensors, rules, triggers and runtimes of the registered packs that are no
   * longer in their folders. A trigger or runtime another pack still uses is kept.
   */
  prune?: boolean
  /**
   * Who creates enforcements (`pipeline.enforcements`): with `attune` (the default) a rule
   * that would put a parameter its action marks secret into plain `enforcement.config` is
   * refused; with `executor`, Attune's executor stores such parameters encrypted itself.
   */
  enforcements?: 'attune' | 'executor'
  /**
   * On a database without runtimes, register the bundled core pack first when the run itself
   * defines none (sensors name runtimes by ref or alias; default true). Said in the report.
   */
  coreWhenEmpty?: boolean
}

class DryRun extends Error {}

type Columns = Record<string, ColumnValue>
const text = (value: string | null | undefined): ColumnValue => ({type: 'text', value: value ?? null})
const texts = (value: readonly string[]): ColumnValue => ({type: 'text[]', value: [...value]})
const json = (value: unknown): ColumnValue => ({type: 'jsonb', value: value ?? null})
const bool = (value: boolean): ColumnValue => ({type: 'boolean', value})
const int = (value: number | null): ColumnValue => ({type: 'integer', value})
const id = (value: number | null): ColumnValue => ({type: 'bigint', value})

function problemAt(source: ItemSource, path: FieldPath, message: string): PackProblem {
  return source.doc.problem(path, message)
}

/** Refs must be unique per kind over the whole run (they are unique in the database). */
function duplicateProblems(packs: LoadedPack[]): PackProblem[] {
  const problems: PackProblem[] = []
  const seen = new Map<string, ItemSource>()
  const check = (kind: string, ref: string, source: ItemSource, field: string) => {
    const key = `${kind}:${ref}`
    const first = seen.get(key)
    if (first) problems.push(problemAt(source, [field], `${kind} '${ref}' is also defined in ${first.file}`))
    else seen.set(key, source)
  }
  for (const pack of packs) {
    check('pack', pack.pack.ref, pack.pack.source, 'ref')
    for (const item of pack.runtimes) check('runtime', item.ref, item.source, 'ref')
    for (const item of pack.triggers) check('trigger', item.ref, item.source, 'ref')
    for (const item of pack.sensors) check('sensor', item.ref, item.source, 'ref')
    for (const item of pack.actions) check('action', item.ref, item.source, 'ref')
    for (const item of pack.rules) check('rule', item.ref, item.source, 'ref')
  }
  return problems
}

async function findId(tx: Queryable, table: 'trigger' | 'action', ref: string): Promise<number | undefined> {
  const {rows} = await tx.query<{id: number}>(`SELECT id FROM attune."${table}" WHERE ref = $1`, [ref])
  return rows[0]?.id
}

/** The action a rule names (this run's or one already in the database), with its parameter schema. */
async function findAction(tx: Queryable, ref: string): Promise<{id: number; param_schema: unknown} | undefined> {
  const {rows} = await tx.query<{id: number; param_schema: unknown}>('SELECT id, param_schema FROM attune.action WHERE ref = $1', [ref])
  return rows[0]
}

/** Where a rule wrote its action parameters. */
function ruleActionParamsField(source: ItemSource): FieldPath {
  const data = source.doc.data as Record<string, unknown>
  if (data.action_params !== undefined) return ['action_params']
  const action = data.action
  if (typeof action === 'object' && action !== null && 'parameters' in action) return ['action', 'parameters']
  return data.action !== undefined ? ['action'] : ['action_ref']
}

/** attune's settings of a sensor (schema attune_sensor); returns the names of what changed. */
async function upsertSensorSettings(tx: Queryable, sensorId: number, sensor: LoadedPack['sensors'][number]): Promise<string[]> {
  const values = [sensorId, sensor.poll_interval, sensor.execution, sensor.env === null ? null : JSON.stringify(sensor.env), sensor.trigger_types]
  const {rows} = await tx.query<Record<string, boolean>>(
    `SELECT poll_interval IS DISTINCT FROM $2::integer AS poll_interval, execution IS DISTINCT FROM $3::text AS execution,
            env IS DISTINCT FROM $4::jsonb AS env, trigger_types IS DISTINCT FROM $5::text[] AS trigger_types
       FROM attune_sensor.sensor_settings WHERE sensor = $1`,
    values,
  )
  const changed = rows[0] ? Object.keys(rows[0]).filter((key) => rows[0][key] === true) : ['poll_interval', 'execution', 'env', 'trigger_types']
  if (changed.length === 0) return []
  await tx.query(
    `INSERT INTO attune_sensor.sensor_settings (sensor, poll_interval, execution, env, trigger_types)
     VALUES ($1, $2::integer, $3::text, $4::jsonb, $5::text[])
     ON CONFLICT (sensor) DO UPDATE SET poll_interval = EXCLUDED.poll_interval, execution = EXCLUDED.execution,
       env = EXCLUDED.env, trigger_types = EXCLUDED.trigger_types, updated = now()`,
    values,
  )
  return rows[0] ? changed : []
}

/**
 * attune's settings of a trigger (schema attune_sensor: Attune's trigger table has no column
 * for them): today its `dedup`. A trigger without settings has no row. Returns what changed.
 */
async function upsertTriggerSettings(tx: Queryable, triggerId: number, trigger: LoadedPack['triggers'][number]): Promise<string[]> {
  const key = trigger.dedup?.key ?? null
  const windowMs = trigger.dedup?.window_ms ?? null
  const {rows} = await tx.query<{changed: boolean}>(
    'SELECT (dedup_key IS DISTINCT FROM $2::text OR dedup_window_ms IS DISTINCT FROM $3::bigint) AS changed FROM attune_sensor.trigger_settings WHERE trigger = $1',
    [triggerId, key, windowMs],
  )
  if (!trigger.dedup) {
    if (rows.length === 0) return []
    await tx.query('DELETE FROM attune_sensor.trigger_settings WHERE trigger = $1', [triggerId])
    return ['dedup']
  }
  if (rows[0] && !rows[0].changed) return []
  await tx.query(
    `INSERT INTO attune_sensor.trigger_settings (trigger, dedup_key, dedup_window_ms) VALUES ($1, $2::text, $3::bigint)
     ON CONFLICT (trigger) DO UPDATE SET dedup_key = EXCLUDED.dedup_key, dedup_window_ms = EXCLUDED.dedup_window_ms, updated = now()`,
    [triggerId, key, windowMs],
  )
  return ['dedup']
}

/**
 * Links the sensor's triggers to it as Attune's loader does (`trigger.sensor`, `sensor_ref`).
 * A trigger served by another sensor until now is taken over (one sensor per trigger, as in
 * Attune); those are returned so the report can say so.
 */
async function linkTriggers(tx: Queryable, sensorId: number, sensorRef: string, triggerRefs: readonly string[]): Promise<Array<{ref: string; from: string | null}>> {
  const {rows} = await tx.query<{ref: string; from: string | null}>(
    `WITH old AS (SELECT id, ref, sensor_ref FROM attune.trigger WHERE ref = ANY($3::text[]) AND sensor IS DISTINCT FROM $1 FOR UPDATE)
     UPDATE attune.trigger t SET sensor = $1, sensor_ref = $2 FROM old WHERE t.id = old.id
     RETURNING t.ref, old.sensor_ref AS "from"`,
    [sensorId, sensorRef, [...triggerRefs]],
  )
  return rows
}

/** Where a rule wrote its trigger: `trigger.type`, `trigger` or `trigger_ref`. */
function ruleTriggerField(source: ItemSource): FieldPath {
  const data = source.doc.data as Record<string, unknown>
  const trigger = data.trigger
  if (typeof trigger === 'object' && trigger !== null) return ['trigger', 'type' in trigger ? 'type' : 'ref']
  return trigger !== undefined ? ['trigger'] : ['trigger_ref']
}

/** Attune's pack loader maps these runner types to its core runtimes. */
const CORE_RUNTIME_OF: Record<string, string> = {
  shell: 'core.shell', bash: 'core.shell', sh: 'core.shell',
  python: 'core.python', python3: 'core.python',
  node: 'core.nodejs', nodejs: 'core.nodejs', 'node.js': 'core.nodejs',
  native: 'core.native', standalone: 'core.native',
}

/**
 * Finds the runtime row a `runner_type` names, in any pack: its ref (`core.python`), the
 * pack's own (`<pack>.<name>`), core's (`core.<name>`, and the core runtime Attune's loader
 * maps the name to), else a runtime whose aliases or name (case-insensitive) match, this
 * pack's first, then core's. Undefined when the database has none.
 */
async function findRuntime(tx: Queryable, name: string, packRef: string): Promise<{id: number; ref: string} | undefined> {
  const lower = name.trim().toLowerCase()
  const {rows} = await tx.query<{id: number; ref: string}>(
    `SELECT id, ref FROM attune.runtime
     WHERE ref = $1 OR ref = $2 OR ref = $3 OR ref = $4 OR aliases @> ARRAY[$1]::text[] OR lower(name) = $1
     ORDER BY (ref = $1) DESC, (ref = $2) DESC, (ref = $3) DESC, (ref = $4) DESC, (pack_ref = $5) DESC, (pack_ref = 'core') DESC, ref
     LIMIT 1`,
    [lower, `${packRef}.${lower}`, `core.${lower}`, CORE_RUNTIME_OF[lower] ?? `core.${lower}`, packRef],
  )
  return rows[0]
}

/**
 * Registers pack folders in ONE transaction: every pack, runtime, trigger, sensor, action and
 * rule is upserted by ref into Attune's tables (idempotent: a second run reports everything
 * unchanged; rows Attune's API or loader wrote are updated in place), sensors get attune's
 * settings and are linked to their triggers as Attune links them (`trigger.sensor`), and
 * workflows and permission sets are reported as skipped. All folders are read and
 * validated before the database is touched; a problem found later (a sensor naming a
 * trigger that exists nowhere) rolls everything back. Throws a `PackError` listing every
 * problem with file, line and field.
 */
export async function registerPacks(store: Store, dirs: string[], options: RegisterOptions = {}): Promise<RegisterReport> {
  const problems: PackProblem[] = []
  const packs: LoadedPack[] = []
  let withCore = false
  if (options.coreWhenEmpty !== false && !dirs.some((dir) => resolve(dir) === CORE_PACK_DIR)) {
    const {rows} = await store.query<{n: number}>('SELECT count(*)::int AS n FROM attune.runtime')
    if (rows[0].n === 0) {
      const loaded = await Promise.all(dirs.map((dir) => readPack(dir)))
      withCore = !loaded.some((result) => (result.pack?.runtimes.length ?? 0) > 0)
    }
  }
  for (const dir of withCore ? [CORE_PACK_DIR, ...dirs] : dirs) {
    const result = await readPack(dir)
    problems.push(...result.problems)
    if (result.pack) packs.push(result.pack)
  }
  problems.push(...duplicateProblems(packs))
  if (problems.length > 0) throw new PackError(problems)

  const report: RegisterReport = {
    dry_run: Boolean(options.dryRun),
    packs: packs.map((p) => p.pack.ref),
    items: [],
    summary: {created: 0, updated: 0, unchanged: 0, skipped: 0, deleted: 0},
    stale: [],
    rule_messages: 0,
    pack_messages: 0,
    ...(withCore ? {registered_core_pack: true} : {}),
  }
  const ruleChanges: RuleChange[] = []

  const run = async (tx: Queryable) => {
    const record = (kind: RefTable, ref: string, packRef: string, source: ItemSource, result: UpsertResult, warnings: string[] = []) => {
      report.items.push({
        kind,
        ref,
        pack_ref: packRef,
        file: source.file,
        status: result.status,
        ...(result.status === 'updated' ? {reason: `changed: ${result.changed.join(', ')}`, changed: result.changed} : {}),
        ...(warnings.length > 0 ? {warnings} : {}),
        ...(options.dryRun ? {} : {id: result.id}),
      })
    }
    const packIds = new Map<string, number>()

    // Order matters: sensors and rules point at triggers and runtimes of any pack in the run.
    for (const {pack} of packs) {
      const columns: Columns = {
        label: text(pack.label),
        description: text(pack.description),
        version: text(pack.version),
        conf_schema: json(pack.conf_schema ?? {}),
        config: json(pack.config ?? {}),
        meta: json(pack.meta ?? {}),
        tags: texts(pack.tags),
        runtime_deps: texts(pack.runtime_deps),
        dependencies: texts(pack.dependencies),
        is_standard: bool(pack.is_standard),
        storage_path: text(pack.storage_path),
      }
      const result = await upsertByRef(tx, 'pack', pack.ref, columns)
      packIds.set(pack.ref, result.id)
      record('pack', pack.ref, pack.ref, pack.source, result)
    }

    for (const {runtimes} of packs) {
      for (const runtime of runtimes) {
        const result = await upsertByRef(tx, 'runtime', runtime.ref, {
          pack: id(packIds.get(runtime.pack_ref)!),
          pack_ref: text(runtime.pack_ref),
          name: text(runtime.name),
          description: text(runtime.description),
          aliases: texts(runtime.aliases),
          distributions: json(runtime.distributions),
          installation: json(runtime.installation),
          execution_config: json(runtime.execution_config ?? {}),
        })
        record('runtime', runtime.ref, runtime.pack_ref, runtime.source, result)
      }
    }

    for (const {triggers} of packs) {
      for (const trigger of triggers) {
        const result = await upsertByRef(tx, 'trigger', trigger.ref, {
          ...(await webhookColumns(tx, trigger)),
          pack: id(packIds.get(trigger.pack_ref)!),
          pack_ref: text(trigger.pack_ref),
          label: text(trigger.label),
          description: text(trigger.description),
          enabled: bool(trigger.enabled),
          param_schema: json(trigger.param_schema),
          out_schema: json(trigger.out_schema),
        })
        const settings = await upsertTriggerSettings(tx, result.id, trigger)
        const changed = [...result.changed, ...settings]
        const merged: UpsertResult = result.status === 'created' || changed.length === 0 ? result : {id: result.id, status: 'updated', changed}
        record('trigger', trigger.ref, trigger.pack_ref, trigger.source, merged)
      }
    }

    for (const {sensors} of packs) {
      for (const sensor of sensors) {
        const fields = sensor.source.fields ?? {}
        const triggerIds: number[] = []
        for (const ref of sensor.trigger_types) {
          const triggerId = await findId(tx, 'trigger', ref)
          if (triggerId === undefined) {
            problems.push(problemAt(sensor.source, fields[ref] ?? ['trigger_types'], `trigger '${ref}' does not exist (not in this run, not in the database)`))
          } else {
            triggerIds.push(triggerId)
          }
        }
        const runtime = await findRuntime(tx, sensor.runner_type, sensor.pack_ref)
        if (!runtime) {
          problems.push(
            problemAt(
              sensor.source,
              fields[`runtime:${sensor.runner_type}`] ?? ['runner_type'],
              `unknown runtime '${sensor.runner_type}': no runtime has that ref, name or alias (register the core pack first: attune pack register packs/core)`,
            ),
          )
        }
        if (triggerIds.length !== sensor.trigger_types.length || !runtime) continue
        const result = await upsertByRef(tx, 'sensor', sensor.ref, {
          pack: id(packIds.get(sensor.pack_ref)!),
          pack_ref: text(sensor.pack_ref),
          label: text(sensor.label),
          description: text(sensor.description),
          entrypoint: text(sensor.entrypoint),
          runtime: id(runtime.id),
          runtime_ref: text(runtime.ref),
          enabled: bool(sensor.enabled),
          param_schema: json(sensor.param_schema),
          config: json(sensor.config),
        })
        const settings = await upsertSensorSettings(tx, result.id, sensor)
        const linked = await linkTriggers(tx, result.id, sensor.ref, sensor.trigger_types)
        // Attune links a trigger to one sensor; say so when that takes it from a sensor outside this run.
        const runSensors = new Set(packs.flatMap((p) => p.sensors.map((item) => item.ref)))
        const taken = linked.filter((link) => link.from !== null && link.from !== sensor.ref && !runSensors.has(link.from))
        const warnings = [...sensor.warnings, ...taken.map((link) => `trigger ${link.ref} was served by sensor ${link.from}; it is served by ${sensor.ref} now (a trigger has one sensor)`)]
        const changed = [...result.changed, ...settings, ...(linked.length > 0 ? ['trigger.sensor'] : [])]
        const merged: UpsertResult =
          result.status === 'created' || changed.length === 0 ? result : {id: result.id, status: 'updated', changed}
        record('sensor', sensor.ref, sensor.pack_ref, sensor.source, merged, warnings)
      }
    }

    for (const {actions} of packs) {
      for (const action of actions) {
        const runtime = action.runner_type ? await findRuntime(tx, action.runner_type, action.pack_ref) : undefined
        const result = await upsertByRef(tx, 'action', action.ref, {
          pack: id(packIds.get(action.pack_ref)!),
          pack_ref: text(action.pack_ref),
          label: text(action.label),
          description: text(action.description),
          entrypoint: text(action.entrypoint),
          runtime: id(runtime?.id ?? null),
          param_schema: json(action.param_schema),
          out_schema: json(action.out_schema),
          parameter_delivery: text(action.parameter_delivery),
          parameter_format: text(action.parameter_format),
          output_format: text(action.output_format),
          timeout_seconds: int(action.timeout_seconds),
        })
        const warnings = action.runner_type && !runtime ? [`runtime '${action.runner_type}' not found: the action is registered without one`] : []
        record('action', action.ref, action.pack_ref, action.source, result, warnings)
      }
    }

    for (const {rules} of packs) {
      for (const rule of rules) {
        const triggerId = await findId(tx, 'trigger', rule.trigger_ref)
        if (triggerId === undefined) {
          problems.push(problemAt(rule.source, ruleTriggerField(rule.source), `trigger '${rule.trigger_ref}' does not exist (not in this run, not in the database)`))
          continue
        }
        const action = await findAction(tx, rule.action_ref)
        if (!action) {
          // Attune's pack loader skips a rule whose action does not exist; so does attune, and says so.
          report.items.push({
            kind: 'rule',
            ref: rule.ref,
            pack_ref: rule.pack_ref,
            file: rule.source.file,
            status: 'skipped',
            reason: `action '${rule.action_ref}' does not exist (not in this run, not in the database): Attune's pack loader skips such a rule too; register the pack that defines the action first`,
          })
          continue
        }
        if (options.enforcements !== 'executor') {
          const confSchema = (packs.find((p) => p.pack.ref === rule.pack_ref)?.pack.conf_schema ?? null) as JsonValue | null
          const secret = possibleSecretParams(rule.action_params, action.param_schema as JsonValue | null, confSchema)
          if (secret.length > 0) {
            problems.push(problemAt(rule.source, ruleActionParamsField(rule.source), secretRefusalMessage(rule.ref, rule.action_ref, secret)))
            continue
          }
        }
        const result = await upsertByRef(tx, 'rule', rule.ref, {
          pack: id(packIds.get(rule.pack_ref)!),
          pack_ref: text(rule.pack_ref),
          label: text(rule.label),
          description: text(rule.description),
          action: id(action.id),
          action_ref: text(rule.action_ref),
          trigger: id(triggerId),
          trigger_ref: text(rule.trigger_ref),
          conditions: json(storedConditions(rule.conditions)),
          action_params: json(rule.action_params),
          trigger_params: json(rule.trigger_params),
          enabled: bool(rule.enabled),
        })
        record('rule', rule.ref, rule.pack_ref, rule.source, result, rule.warnings)
        const kind = ruleLifecycleKind(result, rule.enabled)
        if (kind) ruleChanges.push({kind, rule: {id: result.id, ref: rule.ref, trigger_ref: rule.trigger_ref, trigger_params: rule.trigger_params, action_ref: rule.action_ref, enabled: rule.enabled}})
      }
    }

    for (const pack of packs) {
      for (const item of pack.skipped) {
        report.items.push({kind: item.kind, ref: item.ref, pack_ref: pack.pack.ref, file: item.file, status: 'skipped', reason: item.reason})
      }
    }

    if (problems.length > 0) throw new PackError(problems)
    const removed = await removeStale(tx, packs, Boolean(options.prune))
    report.stale = removed.stale
    for (const item of removed.deleted) report.items.push({...item, status: 'deleted'})
    ruleChanges.push(...removed.rules.map((rule) => ({kind: 'disabled' as const, rule})))
    // In the same transaction: the announcements go out if and only if the change commits.
    report.rule_messages = await publishRuleLifecycle(tx, ruleChanges)
    report.pack_messages = await announcePacks(tx, packs, packIds, report.items)
    if (options.dryRun) throw new DryRun()
  }

  try {
    await store.transaction(run)
  } catch (error) {
    if (!(error instanceof DryRun)) throw error
  }
  for (const item of report.items) report.summary[item.status]++
  return report
}

/**
 * What a rule upsert announces (SPEC §7): a new rule is `created`; switching `enabled` is
 * `enabled` or `disabled`; any other change to an enabled rule is announced as `enabled`
 * with its new definition, so a consumer rebuilding its trigger list sees the new
 * parameters. Unchanged rules, and changes to a rule that stays disabled, announce nothing.
 */
function ruleLifecycleKind(result: UpsertResult, enabled: boolean): RuleChange['kind'] | undefined {
  if (result.status === 'created') return 'created'
  if (result.status !== 'updated') return undefined
  if (result.changed.includes('enabled')) return enabled ? 'enabled' : 'disabled'
  return enabled ? 'enabled' : undefined
}



/**
 * Finds the rows of the registered packs whose definitions are gone from the folders, and
 * with `prune` deletes them: rules and sensors always, actions, triggers and runtimes only
 * when nothing that remains (of any pack) uses them. Deleted rules are returned so their
 * `RuleDisabled` messages go out with the change (Attune has no rule deletion message).
 */
/**
 * `PackRegistered` for every pack of the run in which something was created, updated or
 * deleted (as Attune's API announces a registered pack: its workers set up the runtimes), with
 * the lowercased names of the runtimes its sensors and actions use.
 */
async function announcePacks(tx: Queryable, packs: LoadedPack[], packIds: Map<string, number>, items: RegisterItem[]): Promise<number> {
  const messages: OutboundMessage[] = []
  for (const {pack} of packs) {
    if (!items.some((item) => item.pack_ref === pack.ref && ['created', 'updated', 'deleted'].includes(item.status))) continue
    const packId = packIds.get(pack.ref)!
    const {rows} = await tx.query<{name: string}>(
      `SELECT DISTINCT lower(r.name) AS name FROM attune.runtime r
        WHERE r.id IN (SELECT runtime FROM attune.sensor WHERE pack = $1 UNION SELECT runtime FROM attune.action WHERE pack = $1 AND runtime IS NOT NULL)
        ORDER BY 1`,
      [packId],
    )
    messages.push(packRegisteredMessage({id: packId, ref: pack.ref, version: pack.version, runtime_names: rows.map((row) => row.name)}))
  }
  return enqueueMessages(tx, messages)
}

type DeletedItem = Omit<RegisterItem, 'status'>

async function removeStale(tx: Queryable, packs: LoadedPack[], prune: boolean): Promise<{deleted: DeletedItem[]; stale: StaleItem[]; rules: RuleChange['rule'][]}> {
  const deleted: DeletedItem[] = []
  const stale: StaleItem[] = []
  const rules: RuleChange['rule'][] = []
  const tables = ['rule', 'sensor', 'action', 'trigger', 'runtime'] as const
  const present = Object.fromEntries(tables.map((table) => [table, new Set<string>()])) as Record<(typeof tables)[number], Set<string>>
  for (const pack of packs) {
    for (const item of pack.rules) present.rule.add(item.ref)
    for (const item of pack.sensors) present.sensor.add(item.ref)
    for (const item of pack.actions) present.action.add(item.ref)
    for (const item of pack.triggers) present.trigger.add(item.ref)
    for (const item of pack.runtimes) present.runtime.add(item.ref)
  }
  const packRefs = packs.map((pack) => pack.pack.ref)
  const folders = new Map(packs.map((pack) => [pack.pack.ref, pack.pack.storage_path]))
  // Dependents first: a trigger is only free once the rules and sensors that used it are gone.
  for (const table of tables) {
    const {rows} = await tx.query<{id: number; ref: string; pack_ref: string}>(
      `SELECT id, ref, pack_ref FROM attune."${table}" WHERE pack_ref = ANY($1::text[]) ORDER BY ref`,
      [packRefs],
    )
    for (const row of rows) {
      if (present[table].has(row.ref)) continue
      const usedBy = table === 'trigger' || table === 'runtime' || table === 'action' ? await stillUsedBy(tx, table, row) : undefined
      if (!prune || usedBy) {
        stale.push({kind: table, ref: row.ref, pack_ref: row.pack_ref, ...(usedBy ? {kept_because: `still used by ${usedBy}`} : {})})
        continue
      }
      if (table === 'rule') {
        const {rows: gone} = await tx.query<{id: number; ref: string; trigger_ref: string; trigger_params: unknown; action_ref: string; enabled: boolean}>(
          'DELETE FROM attune.rule WHERE id = $1 RETURNING id, ref, trigger_ref, trigger_params, action_ref, enabled',
          [row.id],
        )
        if (gone[0].enabled) rules.push({...gone[0], enabled: false})
      } else {
        await tx.query(`DELETE FROM attune."${table}" WHERE id = $1`, [row.id])
      }
      deleted.push({kind: table, ref: row.ref, pack_ref: row.pack_ref, file: folders.get(row.pack_ref) ?? '', reason: 'no longer in the pack folder', id: row.id})
    }
  }
  return {deleted, stale, rules}
}

/** The first sensor, action or rule (kept after pruning) that still needs this trigger, runtime or action. */
async function stillUsedBy(tx: Queryable, table: 'trigger' | 'runtime' | 'action', row: {id: number; ref: string}): Promise<string | undefined> {
  const sql = {
    trigger: `SELECT 'sensor ' || s.ref AS used_by FROM attune_sensor.sensor_settings st JOIN attune.sensor s ON s.id = st.sensor WHERE $2 = ANY(st.trigger_types)
              UNION ALL SELECT 'rule ' || ref FROM attune.rule WHERE trigger = $1 OR trigger_ref = $2
              ORDER BY 1 LIMIT 1`,
    runtime: `SELECT 'sensor ' || ref AS used_by FROM attune.sensor WHERE runtime = $1 OR runtime_ref = $2
              UNION ALL SELECT 'action ' || ref FROM attune.action WHERE runtime = $1
              ORDER BY 1 LIMIT 1`,
    action: `SELECT 'rule ' || ref AS used_by FROM attune.rule WHERE action = $1 OR action_ref = $2 ORDER BY 1 LIMIT 1`,
  }[table]
  const {rows} = await tx.query<{used_by: string}>(sql, [row.id, row.ref])
  return rows[0]?.used_by
}
