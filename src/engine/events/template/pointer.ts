/**
 * JSON Pointers (RFC 6901: `/db/password`, `~1` for `/`, `~0` for `~`): how Attune names a
 * place inside rendered parameters, a pack config or a schema, and the small conversions it
 * makes between pointers and dotted template paths.
 */
import type {JsonValue} from '../../rules/types.js'

export function escapeSegment(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1')
}

export function unescapeSegment(segment: string): string {
  return segment.replaceAll('~1', '/').replaceAll('~0', '~')
}

/** `api.token` → `/api/token`; empty segments are dropped, nothing at all gives `''`. */
export function pointerFromDotPath(path: string): string {
  const segments = path.split('.').filter((segment) => segment !== '').map(escapeSegment)
  return segments.length === 0 ? '' : `/${segments.join('/')}`
}

/** `/api/token` → `api.token` (leading slashes and empty segments are dropped). */
export function dotPathFromPointer(pointer: string): string {
  return stripLeadingSlashes(pointer)
    .split('/')
    .filter((segment) => segment !== '')
    .map(unescapeSegment)
    .join('.')
}

/** `prefix + suffix`, where either may be the empty (root) pointer. */
export function joinPointers(base: string, suffix: string): string {
  if (base === '') return suffix
  if (suffix === '') return base
  return `${base}${suffix}`
}

/** What `full` adds below `prefix` (`''` when equal), or `undefined` when it is not below it. */
export function pointerSuffix(full: string, prefix: string): string | undefined {
  if (full === prefix) return ''
  if (!full.startsWith(prefix)) return undefined
  const rest = full.slice(prefix.length)
  return rest.startsWith('/') ? rest : undefined
}

/**
 * The value a pointer names, or `undefined`. Array steps must be canonical indexes (`0`,
 * `12`; not `01` or `+1`); only own properties of objects count.
 */
export function valueAtPointer(value: JsonValue, pointer: string): JsonValue | undefined {
  if (pointer === '') return value
  if (!pointer.startsWith('/')) return undefined
  let current: JsonValue | undefined = value
  for (const raw of pointer.split('/').slice(1)) {
    const token = unescapeSegment(raw)
    if (Array.isArray(current)) {
      current = /^(0|[1-9][0-9]*)$/.test(token) ? current[Number(token)] : undefined
    } else if (current !== null && typeof current === 'object') {
      current = Object.hasOwn(current, token) ? current[token] : undefined
    } else {
      return undefined
    }
    if (current === undefined) return undefined
  }
  return current
}

/**
 * Replaces the value a pointer names, in place, creating missing objects on the way (never
 * array items). Like Attune, every leading `/` is stripped before splitting, so a pointer
 * whose first key is empty (`//x`) lands on `x`. Returns the (possibly new) root.
 */
export function setAtPointer(root: JsonValue, pointer: string, replacement: JsonValue): JsonValue {
  const segments = pointer === '' ? [] : stripLeadingSlashes(pointer).split('/').map(unescapeSegment)
  if (segments.length === 0) return replacement
  let current: JsonValue = root
  for (let i = 0; i < segments.length; i++) {
    const last = i === segments.length - 1
    const segment = segments[i]
    if (Array.isArray(current)) {
      if (!/^\+?[0-9]+$/.test(segment)) return root
      const index = Number(segment)
      if (index >= current.length) return root
      if (last) current[index] = replacement
      else current = current[index]
    } else if (current !== null && typeof current === 'object') {
      if (last) {
        defineOwn(current, segment, replacement)
      } else {
        if (!Object.hasOwn(current, segment)) defineOwn(current, segment, {})
        current = current[segment]
      }
    } else {
      return root
    }
  }
  return root
}

/** Sets an own, enumerable property (also for keys like `__proto__`). */
export function defineOwn(target: {[key: string]: JsonValue}, key: string, value: JsonValue): void {
  Object.defineProperty(target, key, {value, writable: true, enumerable: true, configurable: true})
}

function stripLeadingSlashes(pointer: string): string {
  let start = 0
  while (pointer[start] === '/') start++
  return pointer.slice(start)
}
