import {publishRuleLifecycle, type RuleChange} from '../bus/rules.js'
import {resolveRuntimeName} from '../sensor/runtimes.js'
import {upsertByRef, type ColumnValue, type RefTable, type UpsertResult} from '../store/upsert.js'
import type {Queryable, Store} from '../store/types.js'
import {PackError, type FieldPath, type PackProblem} from './errors.js'
import {readPack, type ItemSource, type LoadedPack, type SkippedKind} from './load.js'

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
  /** `rule.*` lifecycle messages written to the outbox (published by the daemon's relay). */
  rule_messages: number
}

export interface RegisterOptions {
  /** Do everything in the transaction, report it, then roll back. */
  dryRun?: boolean
  /**
   * Delete the sensors, rules, triggers and runtimes of the registered packs that are no
   * longer in their folders. A trigger or runtime another pack still uses is kept.
   */
  prune?: boolean
}

class DryRun extends Error {}

type Columns = Record<string, ColumnValue>
const text = (value: string | null | undefined): ColumnValue => ({type: 'text', value: value ?? null})
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
    for (const item of pack.rules) check('rule', item.ref, item.source, 'ref')
  }
  return problems
}

async function findId(tx: Queryable, table: 'trigger', ref: string): Promise<number | undefined> {
  const {rows} = await tx.query<{id: number}>(`SELECT id FROM attune."${table}" WHERE ref = $1`, [ref])
  return rows[0]?.id
}

/** Where a rule wrote its trigger: `trigger.type`, `trigger` or `trigger_ref`. */
function ruleTriggerField(source: ItemSource): FieldPath {
  const data = source.doc.data as Record<string, unknown>
  const trigger = data.trigger
  if (typeof trigger === 'object' && trigger !== null) return ['trigger', 'type' in trigger ? 'type' : 'ref']
  return trigger !== undefined ? ['trigger'] : ['trigger_ref']
}

/**
 * Finds the runtime a sensor's `runner_type` names: a runtime whose ref is the name itself,
 * `<pack>.<name>` or `core.<name>`, else one that lists it among its aliases (this pack's
 * first, then core's). Undefined when the database has none.
 */
async function findRuntime(tx: Queryable, name: string, packRef: string): Promise<{id: number; ref: string} | undefined> {
  const {rows} = await tx.query<{id: number; ref: string}>(
    `SELECT id, ref FROM attune.runtime
     WHERE ref = $1 OR ref = $2 OR ref = $3 OR aliases @> $4::jsonb
     ORDER BY (ref = $1) DESC, (ref = $2) DESC, (ref = $3) DESC, (pack_ref = $5) DESC, (pack_ref = 'core') DESC, ref
     LIMIT 1`,
    [name, `${packRef}.${name}`, `core.${name}`, JSON.stringify([name.toLowerCase()]), packRef],
  )
  return rows[0]
}

/**
 * Registers pack folders in ONE transaction: every pack, runtime, trigger, sensor and rule
 * is upserted by ref (idempotent: a second run reports everything unchanged), and actions,
 * workflows and permission sets are reported as skipped. All folders are read and
 * validated before the database is touched; a problem found later (a sensor naming a
 * trigger that exists nowhere) rolls everything back. Throws a `PackError` listing every
 * problem with file, line and field.
 */
export async function registerPacks(store: Store, dirs: string[], options: RegisterOptions = {}): Promise<RegisterReport> {
  const problems: PackProblem[] = []
  const packs: LoadedPack[] = []
  for (const dir of dirs) {
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
        conf_schema: json(pack.conf_schema),
        config: json(pack.config),
        meta: json(pack.meta),
        tags: json(pack.tags),
        runtime_deps: json(pack.runtime_deps),
        is_standard: bool(pack.is_standard),
        enabled: bool(pack.enabled),
        path: text(pack.path),
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
          runtime_type: text(runtime.runtime_type),
          aliases: json(runtime.aliases),
          distributions: json(runtime.distributions),
          installation: json(runtime.installation),
          execution_config: json(runtime.execution_config),
          versions: json(runtime.versions),
        })
        record('runtime', runtime.ref, runtime.pack_ref, runtime.source, result)
      }
    }

    for (const {triggers} of packs) {
      for (const trigger of triggers) {
        const result = await upsertByRef(tx, 'trigger', trigger.ref, {
          pack: id(packIds.get(trigger.pack_ref)!),
          pack_ref: text(trigger.pack_ref),
          label: text(trigger.label),
          description: text(trigger.description),
          enabled: bool(trigger.enabled),
          param_schema: json(trigger.param_schema),
          out_schema: json(trigger.out_schema),
        })
        record('trigger', trigger.ref, trigger.pack_ref, trigger.source, result)
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
        if (!runtime && !resolveRuntimeName(sensor.runner_type)) {
          problems.push(
            problemAt(
              sensor.source,
              fields[`runtime:${sensor.runner_type}`] ?? ['runner_type'],
              `unknown runtime '${sensor.runner_type}': no runtime has that ref or alias, and it is not python, node, shell or native`,
            ),
          )
        }
        if (triggerIds.length !== sensor.trigger_types.length || (!runtime && !resolveRuntimeName(sensor.runner_type))) continue
        const result = await upsertByRef(tx, 'sensor', sensor.ref, {
          pack: id(packIds.get(sensor.pack_ref)!),
          pack_ref: text(sensor.pack_ref),
          label: text(sensor.label),
          description: text(sensor.description),
          entrypoint: text(sensor.entrypoint),
          runtime: id(runtime?.id ?? null),
          runtime_ref: text(runtime?.ref ?? sensor.runner_type),
          trigger: id(triggerIds[0]),
          trigger_ref: text(sensor.trigger_types[0]),
          trigger_types: json(sensor.trigger_types),
          enabled: bool(sensor.enabled),
          param_schema: json(sensor.param_schema),
          config: json(sensor.config),
          poll_interval: int(sensor.poll_interval),
          execution: text(sensor.execution),
          env: json(sensor.env),
        })
        record('sensor', sensor.ref, sensor.pack_ref, sensor.source, result, sensor.warnings)
      }
    }

    for (const {rules} of packs) {
      for (const rule of rules) {
        const triggerId = await findId(tx, 'trigger', rule.trigger_ref)
        if (triggerId === undefined) {
          problems.push(problemAt(rule.source, ruleTriggerField(rule.source), `trigger '${rule.trigger_ref}' does not exist (not in this run, not in the database)`))
          continue
        }
        const result = await upsertByRef(tx, 'rule', rule.ref, {
          pack: id(packIds.get(rule.pack_ref)!),
          pack_ref: text(rule.pack_ref),
          label: text(rule.label),
          description: text(rule.description),
          // Actions are not in this database (the executor owns them): the ref is the link.
          action: id(null),
          action_ref: text(rule.action_ref),
          trigger: id(triggerId),
          trigger_ref: text(rule.trigger_ref),
          conditions: json(rule.conditions),
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
    ruleChanges.push(...removed.rules.map((rule) => ({kind: 'deleted' as const, rule})))
    // In the same transaction: the announcements go out if and only if the change commits.
    report.rule_messages = await publishRuleLifecycle(tx, ruleChanges)
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

type DeletedItem = Omit<RegisterItem, 'status'>

/**
 * Finds the rows of the registered packs whose definitions are gone from the folders, and
 * with `prune` deletes them: rules and sensors always, triggers and runtimes only when no
 * remaining sensor or rule (of any pack) uses them. Deleted rules are returned so their
 * `rule.deleted` messages go out with the change.
 */
async function removeStale(tx: Queryable, packs: LoadedPack[], prune: boolean): Promise<{deleted: DeletedItem[]; stale: StaleItem[]; rules: RuleChange['rule'][]}> {
  const deleted: DeletedItem[] = []
  const stale: StaleItem[] = []
  const rules: RuleChange['rule'][] = []
  const present: Record<'rule' | 'sensor' | 'trigger' | 'runtime', Set<string>> = {rule: new Set(), sensor: new Set(), trigger: new Set(), runtime: new Set()}
  for (const pack of packs) {
    for (const item of pack.rules) present.rule.add(item.ref)
    for (const item of pack.sensors) present.sensor.add(item.ref)
    for (const item of pack.triggers) present.trigger.add(item.ref)
    for (const item of pack.runtimes) present.runtime.add(item.ref)
  }
  const packRefs = packs.map((pack) => pack.pack.ref)
  const folders = new Map(packs.map((pack) => [pack.pack.ref, pack.pack.path]))
  // Dependents first: a trigger is only free once the rules and sensors that used it are gone.
  for (const table of ['rule', 'sensor', 'trigger', 'runtime'] as const) {
    const {rows} = await tx.query<{id: number; ref: string; pack_ref: string}>(
      `SELECT id, ref, pack_ref FROM attune."${table}" WHERE pack_ref = ANY($1::text[]) ORDER BY ref`,
      [packRefs],
    )
    for (const row of rows) {
      if (present[table].has(row.ref)) continue
      const usedBy = table === 'trigger' || table === 'runtime' ? await stillUsedBy(tx, table, row) : undefined
      if (!prune || usedBy) {
        stale.push({kind: table, ref: row.ref, pack_ref: row.pack_ref, ...(usedBy ? {kept_because: `still used by ${usedBy}`} : {})})
        continue
      }
      if (table === 'rule') {
        const {rows: gone} = await tx.query<{id: number; ref: string; trigger_ref: string; trigger_params: unknown; action_ref: string; enabled: boolean}>(
          'DELETE FROM attune.rule WHERE id = $1 RETURNING id, ref, trigger_ref, trigger_params, action_ref, enabled',
          [row.id],
        )
        rules.push({...gone[0], enabled: false})
      } else {
        await tx.query(`DELETE FROM attune."${table}" WHERE id = $1`, [row.id])
      }
      deleted.push({kind: table, ref: row.ref, pack_ref: row.pack_ref, file: folders.get(row.pack_ref) ?? '', reason: 'no longer in the pack folder', id: row.id})
    }
  }
  return {deleted, stale, rules}
}

/** The first sensor or rule (kept after pruning) that still needs this trigger or runtime. */
async function stillUsedBy(tx: Queryable, table: 'trigger' | 'runtime', row: {id: number; ref: string}): Promise<string | undefined> {
  const sql =
    table === 'trigger'
      ? `SELECT 'sensor ' || ref AS used_by FROM attune.sensor WHERE trigger = $1 OR trigger_types @> $2::jsonb
         UNION ALL SELECT 'rule ' || ref FROM attune.rule WHERE trigger = $1 OR trigger_ref = $3
         ORDER BY 1 LIMIT 1`
      : `SELECT 'sensor ' || ref AS used_by FROM attune.sensor WHERE runtime = $1 OR runtime_ref = $2 ORDER BY 1 LIMIT 1`
  const params = table === 'trigger' ? [row.id, JSON.stringify([row.ref]), row.ref] : [row.id, row.ref]
  const {rows} = await tx.query<{used_by: string}>(sql, params)
  return rows[0]?.used_by
}
