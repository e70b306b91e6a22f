/**
 * `attune pack remove REF`: deletes a registered pack and its rows (runtimes, triggers, sensors,
 * actions, rules) in one transaction. What the schema ties to them goes with them (attune's
 * settings, state, leases and timer state of its sensors, triggers and rules; Attune's
 * `sensor_process` rows and webhook log of its triggers). Stored events and enforcements are
 * history and stay: their foreign keys to the deleted rows become NULL (ON DELETE SET NULL) and
 * they keep the refs as text (`trigger_ref`, `source_ref`, `rule_ref`).
 */
import {publishRuleLifecycle, type RuleChange} from '../bus/rules.js'
import {AbortError} from '../errors.js'
import {packContents, unknownRef, type PackContents} from '../store/inspect.js'
import type {Queryable, Store} from '../store/types.js'

/** A row of another pack that needs something of the pack being removed. */
export interface PackDependent {
  kind: 'rule' | 'sensor' | 'action'
  ref: string
  pack_ref: string
  /** What it uses: `trigger x.y`, `action x.y`, `runtime x.y`. */
  uses: string
  /** What `--force` does with it: rules and sensors are deleted, an action loses its runtime. */
  with_force: 'deleted' | 'runtime unset'
}

export interface PackRemoveReport {
  pack: string
  dry_run: boolean
  /** The pack's own rows that were (with --dry-run: would be) deleted. */
  removed: PackContents
  /** Rows of other packs that used the pack (handled only with --force). */
  dependents: PackDependent[]
  /** Stored history that is kept, unlinked from the deleted rows. */
  kept: {events: number; enforcements: number}
  /** `RuleDisabled` messages written to the outbox for the enabled rules that were deleted. */
  rule_messages: number
}

export interface PackRemoveOptions {
  dryRun?: boolean
  /** Also delete other packs' rules and sensors that use the pack (else they make it refuse). */
  force?: boolean
}

export const PROTECTED_PACKS = new Set(['core'])

class DryRun extends Error {}

export async function removePack(store: Store, ref: string, options: PackRemoveOptions = {}): Promise<PackRemoveReport> {
  if (PROTECTED_PACKS.has(ref)) {
    throw new AbortError(`The ${ref} pack cannot be removed: it holds the runtimes and triggers other packs build on.`, {
      code: 'pack_protected',
      hint: 'Register it again to update it (`attune pack register DIR`).',
    })
  }
  let report: PackRemoveReport | undefined
  try {
    await store.transaction(async (tx) => {
      report = await remove(tx, ref, options)
      if (options.dryRun) throw new DryRun()
    })
  } catch (error) {
    if (!(error instanceof DryRun)) throw asRemoveError(error, ref)
  }
  return report!
}

async function remove(tx: Queryable, ref: string, options: PackRemoveOptions): Promise<PackRemoveReport> {
  const {rows: packs} = await tx.query<{id: number}>('SELECT id FROM attune.pack WHERE ref = $1 FOR UPDATE', [ref])
  if (packs.length === 0) throw await unknownRef(tx, 'pack', ref)
  const contents = await packContents(tx, ref)
  const dependents = await findDependents(tx, ref, contents)
  if (dependents.length > 0 && !options.force) {
    const lines = dependents.map((item) => `  ${item.kind} ${item.ref} (pack ${item.pack_ref}) uses ${item.uses}`)
    throw new AbortError(`Pack ${ref} is used by other packs:\n${lines.join('\n')}`, {
      code: 'pack_in_use',
      hint: `--force removes them too (rules and sensors deleted, actions lose the runtime); --dry-run shows everything that would go.`,
    })
  }
  const {rows: history} = await tx.query<{events: number; enforcements: number}>(
    `SELECT (SELECT count(*) FROM attune.event WHERE trigger_ref = ANY($1::text[]) OR source_ref = ANY($2::text[]))::int AS events,
            (SELECT count(*) FROM attune.enforcement WHERE rule_ref = ANY($3::text[]))::int AS enforcements`,
    [contents.triggers, contents.sensors, [...contents.rules, ...dependents.filter((item) => item.kind === 'rule').map((item) => item.ref)]],
  )

  const disabled: RuleChange['rule'][] = []
  const deleteRules = async (sql: string, params: unknown[]) => {
    const {rows} = await tx.query<RuleChange['rule']>(`DELETE FROM attune.rule WHERE ${sql} RETURNING id, ref, trigger_ref, trigger_params, action_ref, enabled`, params)
    for (const rule of rows) if (rule.enabled) disabled.push({...rule, enabled: false})
  }
  // Other packs' rows first (with --force), then the pack's own, dependents before what they use.
  const other = (kind: PackDependent['kind']) => [...new Set(dependents.filter((item) => item.kind === kind && item.with_force === 'deleted').map((item) => item.ref))]
  await deleteRules('ref = ANY($1::text[])', [other('rule')])
  await tx.query('DELETE FROM attune.sensor WHERE ref = ANY($1::text[])', [other('sensor')])
  await tx.query('UPDATE attune.action SET runtime = NULL WHERE ref = ANY($1::text[])', [
    dependents.filter((item) => item.kind === 'action').map((item) => item.ref),
  ])
  await deleteRules('pack_ref = $1', [ref])
  for (const table of ['sensor', 'action', 'trigger', 'runtime'] as const) {
    await tx.query(`DELETE FROM attune."${table}" WHERE pack_ref = $1`, [ref])
  }
  await tx.query('DELETE FROM attune.pack WHERE id = $1', [packs[0].id])
  // Attune has no rule deletion message: a deleted rule is announced as disabled, as --prune does.
  const ruleMessages = await publishRuleLifecycle(
    tx,
    disabled.map((rule) => ({kind: 'disabled' as const, rule})),
  )
  return {pack: ref, dry_run: Boolean(options.dryRun), removed: contents, dependents, kept: history[0], rule_messages: ruleMessages}
}

/**
 * Other packs' rules on its triggers or actions, sensors that emit its triggers or run on its
 * runtimes (the schema would delete those with the runtime), actions that run on its runtimes.
 */
async function findDependents(tx: Queryable, ref: string, contents: PackContents): Promise<PackDependent[]> {
  const {rows} = await tx.query<Omit<PackDependent, 'with_force'>>(
    `SELECT 'rule' AS kind, ref, pack_ref, 'trigger ' || trigger_ref AS uses FROM attune.rule
      WHERE pack_ref IS DISTINCT FROM $1 AND trigger_ref = ANY($2::text[])
     UNION ALL
     SELECT 'rule', ref, pack_ref, 'action ' || action_ref FROM attune.rule
      WHERE pack_ref IS DISTINCT FROM $1 AND action_ref = ANY($3::text[])
     UNION ALL
     SELECT 'sensor', s.ref, s.pack_ref, 'runtime ' || s.runtime_ref FROM attune.sensor s
      WHERE s.pack_ref IS DISTINCT FROM $1 AND s.runtime_ref = ANY($4::text[])
     UNION ALL
     SELECT 'sensor', s.ref, s.pack_ref, 'trigger ' || t.ref FROM attune.sensor s
       JOIN attune_sensor.sensor_settings st ON st.sensor = s.id
       JOIN unnest($2::text[]) AS t(ref) ON t.ref = ANY(st.trigger_types)
      WHERE s.pack_ref IS DISTINCT FROM $1
     UNION ALL
     SELECT 'action', a.ref, a.pack_ref, 'runtime ' || r.ref FROM attune.action a JOIN attune.runtime r ON r.id = a.runtime
      WHERE a.pack_ref IS DISTINCT FROM $1 AND r.pack_ref = $1
     ORDER BY 1, 2, 4`,
    [ref, contents.triggers, contents.actions, contents.runtimes],
  )
  return rows.map((row) => ({...row, with_force: row.kind === 'action' ? 'runtime unset' : 'deleted'}))
}

/** A row of a table attune does not manage that still points at the pack (Attune's `key.owner_pack`). */
function asRemoveError(error: unknown, ref: string): unknown {
  const pg = error as {code?: string; message?: string; constraint?: string; table?: string}
  if (pg.code !== '23503') return error
  return new AbortError(`Pack ${ref} cannot be removed: ${pg.message}`, {
    code: 'pack_referenced',
    hint: `A row${pg.table ? ` of table ${pg.table}` : ''} attune does not manage still refers to it; remove that first (Attune's API or CLI).`,
    cause: error,
  })
}
