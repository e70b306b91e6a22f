/**
 * Shell globs for StackStorm's `matchwildcard`, with Python `fnmatch` semantics (what
 * StackStorm uses): `*` any run of characters (slashes and newlines included), `?` one
 * character, `[abc]` / `[a-z]` a class, `[!abc]` a negated class, an unclosed `[` is literal.
 * The whole value must match, case-sensitively. Translated to an RE2 pattern, so it stays
 * linear whatever the glob.
 */

const REGEX_SPECIAL = new Set([...'\\.+*?()|[]{}^$'])

function escapeChar(ch: string): string {
  return REGEX_SPECIAL.has(ch) ? `\\${ch}` : ch
}

/** Translate a glob into an anchored RE2 pattern. */
export function globToPattern(glob: string): string {
  let out = ''
  let i = 0
  while (i < glob.length) {
    const ch = glob[i]
    i++
    if (ch === '*') {
      // Runs of stars mean the same as one.
      while (glob[i] === '*') i++
      out += '.*'
    } else if (ch === '?') {
      out += '.'
    } else if (ch === '[') {
      const klass = readClass(glob, i)
      if (klass === undefined) {
        out += '\\['
      } else {
        out += klass.pattern
        i = klass.next
      }
    } else {
      out += escapeChar(ch)
    }
  }
  return `(?s)^(?:${out})$`
}

/** Read a class starting after `[`; `undefined` if it never closes (then `[` is literal). */
function readClass(glob: string, start: number): {pattern: string; next: number} | undefined {
  let i = start
  let negate = false
  if (glob[i] === '!') {
    negate = true
    i++
  }
  // A `]` right after `[` or `[!` is a member, not the end.
  const bodyStart = i
  if (glob[i] === ']') i++
  while (i < glob.length && glob[i] !== ']') i++
  if (i >= glob.length) return undefined
  const body = glob.slice(bodyStart, i)
  let pattern = ''
  for (const ch of body) pattern += ch === '\\' || ch === ']' || ch === '[' || ch === '^' ? `\\${ch}` : ch
  return {pattern: `[${negate ? '^' : ''}${pattern}]`, next: i + 1}
}
