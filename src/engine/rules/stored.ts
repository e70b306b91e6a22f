/**
 * The form a rule's conditions take in the `rule` table. Attune's executor reads two forms:
 * a list of `{field, operator, value}` (fields relative to the payload; it knows equals,
 * not_equals and contains) and `{"expression": "{{ ... }}"}`. A rule attune registers is
 * stored in one of those whenever its conditions fit, so Attune's executor (if it creates the
 * enforcements) and Attune's UI read it; richer conditions (groups, other operators) are stored
 * as attune's condition tree, which attune reads and Attune's executor does not (docs/attune.md).
 */
import {parseFieldPath} from './path.js'
import type {ConditionGroup, ConditionNode, JsonValue} from './types.js'

/** The operators Attune's own evaluator knows (anything else is false there). */
export const ATTUNE_OPERATORS = new Set(['equals', 'not_equals', 'contains'])

const SIMPLE_SEGMENT = /^[A-Za-z_][A-Za-z0-9_]*$/

/** A canonical `payload.a.b` as Attune's executor walks it (`a.b`), or undefined when it cannot. */
function attuneField(canonical: string): string | undefined {
  const {segments} = parseFieldPath(canonical)
  if (segments.length === 0) return undefined
  if (segments.some((segment) => typeof segment !== 'string' || !SIMPLE_SEGMENT.test(segment))) return undefined
  // Read back, a first segment named payload, trigger or event would mean the payload itself.
  if (['payload', 'trigger', 'event'].includes(segments[0] as string)) return undefined
  return segments.join('.')
}

/** The stored `conditions` value for a normalised condition tree. */
export function storedConditions(group: ConditionGroup): JsonValue {
  const children: ConditionNode[] = 'all' in group ? group.all : group.any
  if (children.length === 0) return 'all' in group ? [] : (group as unknown as JsonValue)
  if ('all' in group) {
    if (children.length === 1 && 'expression' in children[0]) return {expression: children[0].expression}
    const list: JsonValue[] = []
    for (const child of children) {
      if (!('field' in child) || !ATTUNE_OPERATORS.has(child.operator) || child.value === undefined) return group as unknown as JsonValue
      const field = attuneField(child.field)
      if (field === undefined) return group as unknown as JsonValue
      list.push({field, operator: child.operator, value: child.value})
    }
    return list
  }
  return group as unknown as JsonValue
}
