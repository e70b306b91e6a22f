/**
 * The human views of `attune ... show`: a title, then compact `key  value` lines and short
 * sections of related things. Colour only through chalk (NO_COLOR turns it off).
 */
import chalk from 'chalk'
import type {PackRemoveReport} from '../engine/packs/remove.js'
import type {EnabledChange, EnforcementShow, EventShow, PackShow, RuleShow, RuleSummary, SensorShow, TriggerShow} from '../engine/store/inspect.js'

type Field = [string, string | number | boolean | null | undefined]

function fields(rows: Field[]): string[] {
  const shown = rows.filter(([, value]) => value !== undefined && value !== null && value !== '')
  const width = Math.max(0, ...shown.map(([key]) => key.length))
  return shown.map(([key, value]) => `  ${chalk.dim(key.padEnd(width))}  ${indentRest(formatValue(value), width + 4)}`)
}

function formatValue(value: Field[1]): string {
  if (typeof value === 'boolean') return value ? 'yes' : 'no'
  return String(value)
}

function indentRest(text: string, by: number): string {
  return text.split('\n').join(`\n${' '.repeat(by)}`)
}

function section(title: string, lines: string[], empty: string): string[] {
  return ['', chalk.bold(title), ...(lines.length > 0 ? lines : [`  ${chalk.dim(empty)}`])]
}

function json(value: unknown): string {
  if (value === null || value === undefined) return ''
  if (typeof value === 'object' && Object.keys(value).length === 0) return ''
  return JSON.stringify(value, null, 2)
}

function when(value: Date | string | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined
  return new Date(value).toISOString()
}

const onOff = (enabled: boolean | null) => (enabled === null ? chalk.yellow('not registered') : enabled ? chalk.green('enabled') : chalk.yellow('disabled'))

function ruleLines(rules: RuleSummary[]): string[] {
  return rules.map((rule) => `  ${rule.ref}  ${onOff(rule.enabled)}  ${rule.trigger_ref} → ${rule.action_ref}`)
}

function schemaKeys(schema: Record<string, unknown> | null): string {
  return Object.keys((schema?.properties as Record<string, unknown> | undefined) ?? {}).join(', ')
}

export function renderSensorShow({sensor, status, triggers, rules}: SensorShow): string {
  return [
    `${chalk.bold('sensor')} ${sensor.ref}`,
    ...fields([
      ['label', sensor.label],
      ['description', sensor.description],
      ['pack', sensor.pack_ref],
      ['enabled', sensor.enabled],
      ['runtime', `${sensor.runtime_ref} (${sensor.runtime_name})`],
      ['entrypoint', sensor.entrypoint],
      ['execution', sensor.execution === 'poll' ? `poll, every ${sensor.poll_interval ? `${sensor.poll_interval}s` : 'default interval'}` : sensor.execution],
      ['config', json(sensor.config)],
      ['env', sensor.env ? Object.keys(sensor.env).join(', ') : undefined],
    ]),
    ...section(
      'state',
      status
        ? fields([
            ['state', status.state],
            ['owner', status.owner ? `${status.owner}${status.owner_alive ? '' : ' (not alive)'}` : undefined],
            ['polls', status.polls],
            ['failures', status.failures],
            ['events', status.events],
            ['last poll', when(status.last_poll)],
            ['next poll', when(status.next_poll)],
            ['last error', status.last_error],
          ])
        : [],
      'no daemon has reported on it',
    ),
    ...section(
      'triggers',
      triggers.map((trigger) => `  ${trigger.ref}  ${onOff(trigger.registered ? trigger.enabled : null)}`),
      'none',
    ),
    ...section(`rules of its triggers (${rules.length})`, ruleLines(rules), 'none: its events match no rule'),
  ].join('\n')
}

export function renderRuleShow({rule, trigger, action}: RuleShow): string {
  return [
    `${chalk.bold('rule')} ${rule.ref}`,
    ...fields([
      ['label', rule.label],
      ['description', rule.description],
      ['pack', rule.pack_ref],
      ['enabled', rule.enabled],
      ['trigger', `${rule.trigger_ref}  ${onOff(trigger.registered ? trigger.enabled : null)}${trigger.sensors.length > 0 ? `  (emitted by ${trigger.sensors.join(', ')})` : ''}`],
      ['action', `${rule.action_ref}${action.registered ? '' : `  ${chalk.yellow('not registered')}`}`],
      ['trigger params', json(rule.trigger_params)],
      ['criteria', json(rule.conditions)],
      ['action params', json(rule.action_params)],
      ['updated', when(rule.updated)],
    ]),
  ].join('\n')
}

export function renderTriggerShow({trigger, sensors, rules, webhook}: TriggerShow, baseUrl: string): string {
  return [
    `${chalk.bold('trigger')} ${trigger.ref}`,
    ...fields([
      ['label', trigger.label],
      ['description', trigger.description],
      ['pack', trigger.pack_ref],
      ['enabled', trigger.enabled],
      ['parameters', schemaKeys(trigger.param_schema)],
      ['payload', schemaKeys(trigger.out_schema)],
      ['dedup', trigger.dedup ? `${trigger.dedup.key} within ${trigger.dedup.window}` : undefined],
      ['webhook', webhook.enabled && webhook.path ? `enabled  ${baseUrl.replace(/\/+$/, '')}${webhook.path}` : 'disabled'],
    ]),
    ...section('sensors', sensors.map((ref) => `  ${ref}`), 'none registered emits it'),
    ...section(`rules (${rules.length})`, ruleLines(rules), 'none'),
  ].join('\n')
}

export function renderPackShow({pack, counts, contents, history}: PackShow): string {
  const list = (refs: string[]) => (refs.length > 0 ? refs.join(', ') : '-')
  return [
    `${chalk.bold('pack')} ${pack.ref}`,
    ...fields([
      ['label', pack.label],
      ['description', pack.description],
      ['version', pack.version],
      ['folder', pack.storage_path],
      ['updated', when(pack.updated)],
    ]),
    ...section(
      'contents',
      fields([
        [`runtimes (${counts.runtimes})`, list(contents.runtimes)],
        [`triggers (${counts.triggers})`, list(contents.triggers)],
        [`sensors (${counts.sensors})`, list(contents.sensors)],
        [`actions (${counts.actions})`, list(contents.actions)],
        [`rules (${counts.rules})`, list(contents.rules)],
      ]),
      'empty',
    ),
    ...section('history', fields([['events', history.events], ['enforcements', history.enforcements]]), ''),
  ].join('\n')
}

export function renderEventShow({event, enforcements}: EventShow): string {
  return [
    `${chalk.bold('event')} ${event.id}`,
    ...fields([
      ['trigger', `${event.trigger_ref}${event.trigger === null ? chalk.dim('  (no longer registered)') : ''}`],
      ['source', event.source_ref],
      ['created', when(event.created)],
      ['payload', json(event.payload) || '{}'],
    ]),
    ...section(
      `enforcements (${enforcements.length})`,
      enforcements.map((item) => `  ${item.id}  ${item.rule_ref}  ${item.status}`),
      'none: it matched no rule',
    ),
  ].join('\n')
}

export function renderEnforcementShow({enforcement, rule, event}: EnforcementShow): string {
  return [
    `${chalk.bold('enforcement')} ${enforcement.id}`,
    ...fields([
      ['status', enforcement.status],
      ['rule', `${enforcement.rule_ref}${rule ? `  ${onOff(rule.enabled)}  → ${rule.action_ref}` : chalk.dim('  (no longer registered)')}`],
      ['trigger', enforcement.trigger_ref],
      ['event', event ? `${event.id}  ${event.trigger_ref}  ${when(event.created)}` : enforcement.event === null ? undefined : `${enforcement.event} (not stored)`],
      ['created', when(enforcement.created)],
      ['resolved', when(enforcement.resolved_at)],
      ['config', json(enforcement.config)],
      ['payload', json(enforcement.payload)],
    ]),
  ].join('\n')
}

export function renderEnabledChange(change: EnabledChange): string {
  if (!change.changed) return `${change.note}: nothing changed.`
  const state = change.enabled ? chalk.green('enabled') : chalk.yellow('disabled')
  return `${change.kind === 'sensor' ? 'Sensor' : 'Rule'} ${change.ref} ${state}. A running daemon picks this up at its next tick.`
}

export function renderPackRemove(report: PackRemoveReport): string {
  const lines: string[] = []
  const verb = report.dry_run ? 'would be removed' : 'removed'
  lines.push(`${report.dry_run ? 'Dry run (nothing written): ' : ''}pack ${report.pack} ${verb}, with:`)
  for (const kind of ['runtimes', 'triggers', 'sensors', 'actions', 'rules'] as const) {
    const refs = report.removed[kind]
    if (refs.length > 0) lines.push(`  ${kind.padEnd(8)}  ${refs.join(', ')}`)
  }
  if (report.dependents.length > 0) {
    lines.push(`Other packs' rows that used it (--force):`)
    for (const item of report.dependents) lines.push(`  ${item.kind} ${item.ref} (pack ${item.pack_ref}, uses ${item.uses}): ${item.with_force}`)
  }
  lines.push(`Kept (history): ${report.kept.events} event(s), ${report.kept.enforcements} enforcement(s).`)
  return lines.join('\n')
}
