import {Args, Flags} from '@oclif/core'
import {readFileSync} from 'node:fs'
import {readObjectArgument} from '../../engine/input.js'
import {evaluateRuleFile, type RuleEvalResult} from '../../engine/rules/eval.js'
import {AttuneCommand} from '../base.js'

export default class RuleEval extends AttuneCommand<typeof RuleEval> {
  static override summary = 'Evaluate the rules of a file against an event payload and explain the decision, condition by condition.'

  static override description = `RULE_FILE holds one or more rules (YAML documents) in the Attune form (ref, trigger,
conditions, action) or the StackStorm form (name, pack, trigger, criteria, action). Every rule
in the file is evaluated, or only the one named by --rule. Disabled rules are evaluated too.

EVENT is the payload a sensor emits, as a JSON object: a file path (.json, .yaml), - for stdin,
or inline JSON.

For each condition the output shows field, operator, expected value, actual value, result and
the reason (missing field, type mismatch, ...).

Exit codes: 0 a rule matched, 1 no rule matched, 2 bad input (unreadable file, invalid YAML or
JSON, unknown operator, invalid regex, bad field path: the message names it).`

  static override examples = [
    {description: 'Explain a rule against an event file', command: '<%= config.bin %> <%= command.id %> rules/deploy.yaml --event push.json'},
    {description: 'Inline event, JSON output', command: `<%= config.bin %> <%= command.id %> rules/deploy.yaml --event '{"branch": "main"}' --json`},
    {description: 'One rule of a file, event from stdin', command: 'sensor_output | <%= config.bin %> <%= command.id %> rules.yaml --rule mypack.deploy --event -'},
  ]

  static override args = {
    rule_file: Args.string({description: 'Path of a rule file (YAML or JSON).', required: true}),
  }

  static override flags = {
    event: Flags.string({char: 'e', description: 'Event payload: a .json/.yaml file path, - for stdin, or inline JSON.', required: true}),
    rule: Flags.string({char: 'r', description: 'Evaluate only the rule with this ref.'}),
  }

  public async run(): Promise<RuleEvalResult> {
    const payload = readEvent(this.flags.event)
    const result = evaluateRuleFile(this.args.rule_file, payload, {ref: this.flags.rule})
    if (!this.jsonEnabled()) {
      for (const warning of result.warnings) process.stderr.write(`Warning: ${warning}\n`)
      const {renderRuleEvalResult} = await import('../../ui/rule-trace.js')
      process.stdout.write(`${renderRuleEvalResult(result)}\n`)
    }
    this.setFailed(!result.matched)
    return result
  }
}

/** `-` is stdin, text starting with `{` or `[` is inline JSON, anything else a file path (`@` optional). */
function readEvent(value: string) {
  if (value === '-') return readObjectArgument(value, '--event', {stdin: () => readFileSync(0, 'utf8')})
  if (/^\s*[{[]/.test(value) || value.startsWith('@')) return readObjectArgument(value, '--event')
  return readObjectArgument(`@${value}`, '--event')
}
