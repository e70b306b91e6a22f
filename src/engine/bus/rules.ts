import type {Queryable} from '../store/types.js'
import {ruleLifecycleMessage, type EnvelopeOptions, type RuleLifecycleKind} from './envelope.js'
import {enqueueMessages} from './outbox.js'

export interface RuleChange {
  kind: RuleLifecycleKind
  rule: {id: number; ref: string; trigger_ref: string; trigger_params?: unknown; action_ref: string; enabled: boolean}
}

/**
 * Announces rule changes (`rule.created|enabled|disabled|deleted` on `attune.events`)
 * through the outbox: call it in the transaction that changes the rules, so the messages go
 * out if and only if the change commits. The relay publishes them like every other row.
 */
export async function publishRuleLifecycle(q: Queryable, changes: readonly RuleChange[], options: EnvelopeOptions = {}): Promise<number> {
  return enqueueMessages(
    q,
    changes.map((change) => ruleLifecycleMessage(change.kind, change.rule, options)),
  )
}
