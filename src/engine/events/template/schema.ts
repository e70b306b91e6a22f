/**
 * Which parameters a schema marks secret, the way Attune reads `param_schema` (actions) and
 * `conf_schema` (packs). Two schema shapes are accepted:
 *
 * - JSON Schema: a root with `type: object` and a `properties` key. Every property with
 *   `secret: true` is a secret path; properties of a non-secret property are searched too
 *   (`/db/password`). A `secret: true` on the root itself means nothing.
 * - Flat (anything else): each key of the object is a parameter and its value the
 *   definition; `secret: true` marks it, and its `properties` are searched the same way.
 *
 * Only `secret: true` (the boolean) counts. Under a secret property nothing more is
 * collected: the whole value is secret. `items`, `$ref`, `allOf` and the like are not looked into.
 */
import {compareUtf8} from './json-text.js'
import {escapeSegment} from './pointer.js'

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** JSON Pointers (`/password`, `/db/password`) of the parameters a schema marks `secret: true`, sorted. */
export function secretParamPaths(schema: unknown): string[] {
  if (!isObject(schema)) return []
  const paths: string[] = []
  if (schema.type === 'object' && Object.hasOwn(schema, 'properties')) {
    collect(schema, '', paths)
  } else {
    for (const [key, definition] of Object.entries(schema)) collect(definition, `/${escapeSegment(key)}`, paths)
  }
  return [...new Set(paths)].sort(compareUtf8)
}

function collect(definition: unknown, path: string, paths: string[]): void {
  if (!isObject(definition)) return
  if (definition.secret === true && path !== '') {
    paths.push(path)
    return
  }
  if (isObject(definition.properties)) {
    for (const [key, child] of Object.entries(definition.properties)) collect(child, `${path}/${escapeSegment(key)}`, paths)
  }
}

/** True when a pointer is a secret path of the schema or lies below one. */
export function isUnderSecretPath(pointer: string, secretPaths: readonly string[]): boolean {
  return secretPaths.some((secret) => pointer === secret || (pointer.startsWith(secret) && pointer.slice(secret.length).startsWith('/')))
}
