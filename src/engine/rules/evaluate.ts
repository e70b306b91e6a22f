/**
 * Evaluating compiled rules against an event payload (the object a sensor emitted).
 * `evaluate` is the hot path of the daemon; `explain` is for people (`attune rule eval`).
 * Expression conditions also see the event's id, trigger and creation time: pass what is
 * known as `event` (the rest defaults to id null, the rule's trigger, now).
 */
import type {CompiledCondition, CompiledRule, EventInfo, Explanation, GroupTrace} from './types.js'

type Target = CompiledRule | CompiledCondition

function conditionsOf(target: Target): CompiledCondition {
  return 'conditions' in target ? target.conditions : target
}

/** Does the payload satisfy the rule's conditions? Never throws on any payload. */
export function evaluate(target: Target, payload: unknown, event?: EventInfo): boolean {
  return conditionsOf(target).test(payload, event)
}

/** The decision and, per condition, field, operator, expected, actual, result and reason. */
export function explain(target: Target, payload: unknown, event?: EventInfo): Explanation {
  const node = conditionsOf(target).explain(payload, event)
  // A single compiled leaf is wrapped so the trace always has a group at its root.
  const trace: GroupTrace = 'group' in node ? node : {group: 'all', result: node.result, children: [node]}
  return {matched: trace.result, trace}
}
