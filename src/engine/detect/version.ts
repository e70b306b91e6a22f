import {RE2JS} from 're2js'

/** `3.11.7` -> [3, 11, 7]; `v20.1` -> [20, 1]; `21` -> [21]; undefined without a leading number. */
export function parseVersionParts(version: string): number[] | undefined {
  const match = /^\s*v?(\d+(?:\.\d+)*)/.exec(version)
  return match ? match[1].split('.').map(Number) : undefined
}

/** Compares two versions part by part (missing parts count as 0): negative, 0 or positive. */
export function compareVersions(a: string, b: string): number {
  const left = parseVersionParts(a) ?? []
  const right = parseVersionParts(b) ?? []
  for (let index = 0; index < Math.max(left.length, right.length); index++) {
    const difference = (left[index] ?? 0) - (right[index] ?? 0)
    if (difference !== 0) return difference
  }
  return 0
}

const DOTTED = /\d+(?:\.\d+)+/
const NUMBER = /\d+/

/**
 * The version in a verification command's output. With a pattern, it is read from where the
 * pattern matched: a capture group if the pattern has one (`version "(\d[\d.]*)`), else the
 * first dotted number on the matched line at or after the match (`Python 3.` -> `3.11.7`,
 * perl's `v5.34.0`), else the first plain number there (`openjdk version "21"`). Without a
 * pattern, the same from the start of the output.
 */
export function extractVersion(output: string, pattern?: RE2JS): string | null {
  let from = 0
  if (pattern) {
    const matcher = pattern.matcher(output)
    if (!matcher.find()) return null
    if (pattern.groupCount() > 0) {
      const group = matcher.group(1)
      if (group && parseVersionParts(group)) return group.trim().replace(/^v/, '')
    }
    from = matcher.start()
  }
  // Prefer the line the pattern matched on: a date or build number further down is no version.
  const rest = output.slice(from)
  const line = rest.split('\n')[0]
  return (DOTTED.exec(line) ?? NUMBER.exec(line) ?? DOTTED.exec(rest))?.[0] ?? null
}
