import chalk from 'chalk'
import type {RuleEvalResult, RuleEvaluation} from '../engine/rules/eval.js'
import type {GroupTrace, TraceNode} from '../engine/rules/types.js'

/** Values longer than this are cut in the terminal; `--json` keeps them whole. */
const MAX_VALUE = 80

function mark(result: boolean): string {
  return result ? chalk.green('✓') : chalk.red('✗')
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text
}

function nodeLine(node: TraceNode): string {
  if ('group' in node) {
    const passed = node.children.filter((child) => child.result).length
    return `${mark(node.result)} ${chalk.bold(node.group)} ${chalk.dim(`(${passed} of ${node.children.length} true)`)}`
  }
  if ('expression' in node) {
    // One line however the expression was written (a YAML block may span several).
    const text = node.expression.replace(/\s+/g, ' ').trim()
    const shown = text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text
    return `${mark(node.result)} ${chalk.magenta('expression')} ${chalk.cyan(shown)}  ${chalk.dim('·')} ${chalk.dim(node.reason)}`
  }
  const expected = node.expected === undefined ? '' : ` ${chalk.yellow(show(node.expected))}`
  const actual = 'actual' in node ? `${chalk.dim('actual')} ${show(node.actual)} ${chalk.dim('·')} ` : ''
  return `${mark(node.result)} ${chalk.cyan(node.field)} ${node.operator}${expected}  ${chalk.dim('·')} ${actual}${chalk.dim(node.reason)}`
}

function treeLines(group: GroupTrace, prefix: string, out: string[]): void {
  group.children.forEach((child, index) => {
    const last = index === group.children.length - 1
    out.push(`${prefix}${chalk.dim(last ? '└─ ' : '├─ ')}${nodeLine(child)}`)
    if ('group' in child) treeLines(child, `${prefix}${chalk.dim(last ? '   ' : '│  ')}`, out)
  })
}

/** One rule: the verdict, where it comes from, then its conditions as a tree. */
export function renderRuleEvaluation(evaluation: RuleEvaluation): string {
  const verdict = evaluation.matched ? chalk.green.bold('matched') : chalk.red.bold('not matched')
  const disabled = evaluation.enabled ? '' : chalk.yellow(' (disabled: the daemon would not run it)')
  const lines = [
    `${mark(evaluation.matched)} ${chalk.bold(evaluation.ref)} ${verdict}${disabled}`,
    chalk.dim(`  ${evaluation.file}:${evaluation.line}  ${evaluation.trigger_ref} → ${evaluation.action_ref}`),
  ]
  if (evaluation.trace.children.length === 0 && evaluation.trace.group === 'all') {
    lines.push(`  ${chalk.dim('no conditions: every event of the trigger matches')}`)
  } else {
    lines.push(`  ${nodeLine(evaluation.trace)}`)
    treeLines(evaluation.trace, '  ', lines)
  }
  return lines.join('\n')
}

/** Every rule of the file, and a summary line when there are several. */
export function renderRuleEvalResult(result: RuleEvalResult): string {
  const blocks = result.rules.map(renderRuleEvaluation)
  if (result.rules.length > 1) {
    const matched = result.rules.filter((rule) => rule.matched).length
    blocks.push(`${matched} of ${result.rules.length} rules matched`)
  }
  return blocks.join('\n\n')
}
