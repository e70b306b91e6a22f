import {RE2JS} from 're2js'
import semver, {type SemVer} from 'semver'

/** A leading version number, optionally after `v`: what a version must start with. */
const LEADING_VERSION = /^\s*v?\d/

/**
 * A version read by semver, leniently as runtimes print them: `3.11.7`, `v20.1` (20.1.0), `21`
 * (21.0.0), `3.08` (3.8.0), `3.12.0rc1` (3.12.0); a fourth part is ignored. Undefined without a
 * leading number.
 */
export function parseVersion(version: string): SemVer | undefined {
  if (!LEADING_VERSION.test(version)) return undefined
  return semver.coerce(version, {loose: true}) ?? undefined
}

/**
 * Compares two versions by semver precedence of their major.minor.patch (missing parts count
 * as 0, a version that does not parse as 0.0.0): negative, 0 or positive.
 */
export function compareVersions(a: string, b: string): number {
  return semver.compare(parseVersion(a) ?? '0.0.0', parseVersion(b) ?? '0.0.0')
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
      if (group && parseVersion(group)) return group.trim().replace(/^v/, '')
    }
    from = matcher.start()
  }
  // Prefer the line the pattern matched on: a date or build number further down is no version.
  const rest = output.slice(from)
  const line = rest.split('\n')[0]
  return (DOTTED.exec(line) ?? NUMBER.exec(line) ?? DOTTED.exec(rest))?.[0] ?? null
}
