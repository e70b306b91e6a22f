import chalk from 'chalk'
import type {RunOnceResult} from '../engine/events/run-once.js'
import type {StoredRuleEvalResult, StoredRuleEvaluation} from '../engine/rules/eval.js'
import type {GroupTrace} from '../engine/rules/types.js'
import {renderRuleEvaluation} from './rule-trace.js'

function mark(result: boolean): string {
  return result ? chalk.green('✓') : chalk.red('✗')
}

/**
 * A rule's verdict and trace tree as `attune rule eval` draws it, with the location line
 * replaced (a registered rule has no file and line).
 */
function traceBlock(rule: {ref: string; label?: string; enabled?: boolean; trigger_ref: string; action_ref: string; matched: boolean; trace: GroupTrace}, location: string): string[] {
  const lines = renderRuleEvaluation({
    ref: rule.ref,
    label: rule.label ?? rule.ref,
    file: '',
    line: 0,
    enabled: rule.enabled ?? true,
    trigger_ref: rule.trigger_ref,
    action_ref: rule.action_ref,
    matched: rule.matched,
    trace: rule.trace,
  }).split('\n')
  lines[1] = chalk.dim(`  ${location}`)
  return lines
}

/** `attune rule eval REF` / `--trigger REF`. */
export function renderStoredRuleEvalResult(result: StoredRuleEvalResult): string {
  const blocks = result.rules.map((rule: StoredRuleEvaluation) =>
    traceBlock(rule, `registered rule #${rule.id}  ${rule.trigger_ref} → ${rule.action_ref}`).join('\n'),
  )
  if (result.trigger_ref !== undefined) {
    if (result.rules.length === 0) blocks.push(`trigger ${result.trigger_ref} has no enabled rules: no event of it would be enforced`)
    else blocks.push(`${result.rules.filter((rule) => rule.matched).length} of ${result.rules.length} enabled rules of ${result.trigger_ref} matched`)
  }
  return blocks.join('\n\n')
}

/** The rules part of `attune sensor run-once` (the poll itself is the sensor report). */
export function renderRunOnce(result: RunOnceResult): string {
  const out: string[] = []
  if (result.poll.error !== null) return ''
  if (result.events.length === 0) {
    out.push(chalk.dim('No events: nothing to match.'))
  }
  for (const event of result.events) {
    const duplicate = event.dedup?.duplicate
    const of = event.event_id === undefined ? 'an earlier event of this poll' : `event #${event.event_id}`
    const stored = duplicate
      ? chalk.yellow(` ${result.dry_run ? 'would be deduplicated' : 'deduplicated, not stored'}: duplicate of ${of} (dedup key ${JSON.stringify(event.dedup!.key)})`)
      : event.event_id === undefined
        ? ''
        : chalk.dim(` stored as event #${event.event_id}`)
    out.push(`${chalk.bold(`event ${event.index}`)}${stored}`)
    for (const warning of event.warnings) out.push(`  ${chalk.yellow('!')} ${chalk.yellow(`payload ${warning} (trigger output schema)`)}`)
    if (event.rules.length === 0) out.push(chalk.dim(`  no enabled rules on ${result.trigger_ref}`))
    for (const rule of event.rules) {
      if (rule.trace) {
        const enforcement = rule.enforcement_id === undefined ? '' : `enforcement #${rule.enforcement_id}  `
        const block = traceBlock({...rule, ref: rule.rule_ref, trigger_ref: result.trigger_ref, trace: rule.trace}, `${enforcement}${result.trigger_ref} → ${rule.action_ref}`)
        out.push(...block.map((line) => `  ${line}`))
      } else {
        const verdict = rule.matched ? chalk.green('matches') : chalk.dim('does not match')
        const enforcement = rule.enforcement_id === undefined ? '' : chalk.dim(`  enforcement #${rule.enforcement_id}`)
        out.push(`  ${mark(rule.matched)} ${rule.rule_ref} ${verdict} ${chalk.dim(`→ ${rule.action_ref}`)}${enforcement}`)
      }
    }
  }
  out.push('')
  if (result.dry_run) {
    const would = result.matches === 1 ? '1 enforcement' : `${result.matches} enforcements`
    const duplicates = result.events.filter((event) => event.dedup?.duplicate).length
    const dropped = duplicates > 0 ? ` (${duplicates} would be dropped as duplicates)` : ''
    out.push(`Dry run: nothing stored. ${result.events.length} event(s)${dropped}, ${would} would be created; --persist stores and publishes them.`)
  } else if (!result.stored) {
    out.push('Nothing to store.')
  } else {
    const dropped = result.stored.deduplicated > 0 ? ` ${result.stored.deduplicated} duplicate(s) dropped.` : ''
    out.push(`Stored ${result.stored.events} event(s), ${result.stored.enforcements} enforcement(s), ${result.stored.messages} outbox message(s).${dropped}`)
    const published = result.published
    if (published) {
      const where = published.bus === 'amqp' ? `RabbitMQ at ${published.location}` : 'the in-process bus (no AMQP URL set)'
      if (published.error === null) out.push(`${mark(true)} Published ${published.sent} message(s) to ${where}.`)
      else out.push(`${mark(false)} Not published to ${where}: ${published.error}. ${published.pending} message(s) wait in the outbox for the daemon's relay.`)
    }
  }
  return out.join('\n')
}
