import {Args, Flags} from '@oclif/core'
import {existsSync, readFileSync, statSync} from 'node:fs'
import {extname} from 'node:path'
import {AbortError} from '../../engine/errors.js'
import {readObjectArgument} from '../../engine/input.js'
import {evaluateRuleFile, type RuleEvalResult, type StoredRuleEvalResult} from '../../engine/rules/eval.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class RuleEval extends AttuneCommand<typeof RuleEval> {
  static override summary = 'Evaluate rules against an event payload and explain the decision, condition by condition.'

  static override description = `RULE is a rule file or a registered rule ref:
- a file holds one or more rules (YAML documents) in the Attune form (ref, trigger, conditions,
  action) or the StackStorm form (name, pack, trigger, criteria, action). Every rule in the file
  is evaluated, or only the one named by --rule. Disabled rules are evaluated too.
- a ref (pack.name) names a rule registered in the database (enabled or not).
With --trigger REF instead of RULE, every enabled rule of that registered trigger is evaluated,
exactly as the daemon matches an event of it.

EVENT is the payload a sensor emits, as a JSON object: a file path (.json, .yaml), - for stdin,
or inline JSON. --event-id ID evaluates a stored event instead (its payload, id, trigger and time,
as the daemon saw it; st2-rule-tester's --trigger-instance-id); without RULE or --trigger it
evaluates every enabled rule of that event's trigger. Exactly one of --event and --event-id.

For each condition the output shows field, operator, expected value, actual value, result and
the reason (missing field, type mismatch, ...); for an expression condition ({expression:
"{{ ... }}"}, Attune's expression language over event.payload), its value or its error.

Exit codes: 0 a rule matched, 1 no rule matched, 2 bad input (unreadable file, invalid YAML or
JSON, unknown operator, invalid regex, bad field path, unknown rule or trigger: the message
names it).`

  static override examples = [
    {description: 'Explain a rule against an event file', command: '<%= config.bin %> <%= command.id %> rules/deploy.yaml --event push.json'},
    {description: 'Inline event, JSON output', command: `<%= config.bin %> <%= command.id %> rules/deploy.yaml --event '{"branch": "main"}' --json`},
    {description: 'One rule of a file, event from stdin', command: 'sensor_output | <%= config.bin %> <%= command.id %> rules.yaml --rule mypack.deploy --event -'},
    {description: 'A registered rule', command: `<%= config.bin %> <%= command.id %> examples.alert_on_full_root --event '{"path": "/", "usage_percent": 95}'`},
    {description: 'Every enabled rule of a trigger', command: `<%= config.bin %> <%= command.id %> --trigger examples.endpoint_problem --event '{"event_type": "endpoint_slow"}'`},
    {description: 'A stored event against the enabled rules of its trigger', command: '<%= config.bin %> <%= command.id %> --event-id 1'},
    {description: 'A stored event against one registered rule', command: '<%= config.bin %> <%= command.id %> examples.alert_on_full_root --event-id 1 --json'},
  ]

  static override args = {
    rule: Args.string({description: 'Path of a rule file (YAML or JSON), or the ref of a registered rule.'}),
  }

  static override flags = {
    ...databaseFlags,
    event: Flags.string({char: 'e', description: 'Event payload: a .json/.yaml file path, - for stdin, or inline JSON.', exactlyOne: ['event', 'event-id']}),
    'event-id': Flags.integer({description: 'Evaluate the stored event with this id (see `attune event list`).', min: 1, exactlyOne: ['event', 'event-id']}),
    rule: Flags.string({char: 'r', description: 'With a rule file: evaluate only the rule with this ref.'}),
    trigger: Flags.string({description: 'Evaluate every enabled rule of this registered trigger (instead of RULE).'}),
  }

  public async run(): Promise<RuleEvalResult | StoredRuleEvalResult> {
    const {args, flags} = this
    if (flags.trigger !== undefined && args.rule !== undefined) {
      throw new AbortError(`pass RULE or --trigger, not both (got ${JSON.stringify(args.rule)} and --trigger ${flags.trigger})`, {code: 'bad_usage'})
    }
    const eventId = flags['event-id']
    if (flags.trigger === undefined && args.rule === undefined && eventId === undefined) {
      throw new AbortError('missing RULE (a rule file or a registered rule ref) or --trigger REF', {code: 'bad_usage'})
    }
    const isFile = args.rule !== undefined && isRuleFile(args.rule)
    if (!isFile && flags.rule !== undefined) throw new AbortError('--rule selects a rule within a rule file; a registered rule is named by RULE itself', {code: 'bad_usage'})
    if (eventId !== undefined) return this.evaluateStoredEvent(eventId, isFile)
    const payload = readEvent(flags.event!)
    if (isFile) return this.renderFileResult(evaluateRuleFile(args.rule!, payload, {ref: flags.rule}))
    const {evaluateRegisteredRule, evaluateTriggerRules} = await import('../../engine/rules/eval.js')
    const result = await this.withStore((store) =>
      flags.trigger === undefined ? evaluateRegisteredRule(store, args.rule!, payload) : evaluateTriggerRules(store, flags.trigger, payload),
    )
    return this.renderStoredResult(result)
  }

  /** --event-id: the stored event against RULE (file or ref), --trigger, or its own trigger's enabled rules. */
  private async evaluateStoredEvent(id: number, isFile: boolean): Promise<RuleEvalResult | StoredRuleEvalResult> {
    const {args, flags} = this
    const {evaluateRegisteredRule, evaluateTriggerRules, storedEventInput, triggerMismatches} = await import('../../engine/rules/eval.js')
    const result = await this.withStore(async (store) => {
      const input = await storedEventInput(store, id)
      const evaluated = isFile
        ? evaluateRuleFile(args.rule!, input.payload, {ref: flags.rule, event: input.event})
        : args.rule === undefined
          ? await evaluateTriggerRules(store, flags.trigger ?? input.trigger_ref, input.payload, input.event)
          : await evaluateRegisteredRule(store, args.rule, input.payload, input.event)
      evaluated.warnings.push(...triggerMismatches(evaluated.rules, input))
      evaluated.event = {id: input.id, trigger_ref: input.trigger_ref, payload: input.payload}
      return {evaluated, input}
    })
    if (!this.jsonEnabled()) process.stderr.write(`Event ${result.input.id} (${result.input.trigger_ref}), payload ${JSON.stringify(result.input.payload)}\n`)
    return isFile ? this.renderFileResult(result.evaluated as RuleEvalResult) : this.renderStoredResult(result.evaluated as StoredRuleEvalResult)
  }

  private async renderFileResult(result: RuleEvalResult): Promise<RuleEvalResult> {
    if (!this.jsonEnabled()) {
      for (const warning of result.warnings) process.stderr.write(`Warning: ${warning}\n`)
      const {renderRuleEvalResult} = await import('../../ui/rule-trace.js')
      process.stdout.write(`${renderRuleEvalResult(result)}\n`)
    }
    this.setFailed(!result.matched)
    return result
  }

  private async renderStoredResult(result: StoredRuleEvalResult): Promise<StoredRuleEvalResult> {
    if (!this.jsonEnabled()) {
      for (const warning of result.warnings) process.stderr.write(`Warning: ${warning}\n`)
      const {renderStoredRuleEvalResult} = await import('../../ui/run-once.js')
      process.stdout.write(`${renderStoredRuleEvalResult(result)}\n`)
    }
    this.setFailed(!result.matched)
    return result
  }
}

const REF = /^[\w-]+(\.[\w-]+)+$/

/** A file when one is there, or when the name looks like a path; otherwise a registered ref. */
function isRuleFile(value: string): boolean {
  if (existsSync(value) && statSync(value).isFile()) return true
  return value.includes('/') || ['.yaml', '.yml', '.json'].includes(extname(value).toLowerCase()) || !REF.test(value)
}

/** `-` is stdin, text starting with `{` or `[` is inline JSON, anything else a file path (`@` optional). */
function readEvent(value: string) {
  if (value === '-') return readObjectArgument(value, '--event', {stdin: () => readFileSync(0, 'utf8')})
  if (/^\s*[{[]/.test(value) || value.startsWith('@')) return readObjectArgument(value, '--event')
  return readObjectArgument(`@${value}`, '--event')
}
