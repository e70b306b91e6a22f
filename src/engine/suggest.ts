/** Levenshtein distance; names are short, so the quadratic table is fine. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({length: b.length + 1}, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]
}

/**
 * The known name closest to `name` (case-insensitively), when it is plausibly a typo: at
 * most a third of the name differs (one edit for short names). Undefined otherwise.
 */
export function closestName(name: string, known: Iterable<string>): string | undefined {
  const text = name.toLowerCase()
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of known) {
    const distance = editDistance(text, candidate)
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined
}

/** ` (did you mean "x"?)` when a known name is close, else the empty string. */
export function didYouMean(name: string, known: Iterable<string>): string {
  const best = closestName(name, known)
  return best === undefined ? '' : ` (did you mean "${best}"?)`
}

/**
 * "Did you mean --x?" for flags a parser did not know (`--pak`, `-pack`, `--pack-ref=x`), or
 * undefined when no known flag is close. `known` are flag names without dashes.
 */
export function suggestFlags(unknown: readonly string[], known: Iterable<string>): string | undefined {
  const names = [...known]
  const suggestions: string[] = []
  for (const flag of unknown) {
    const name = flag.replace(/^-+/, '').split('=')[0]
    const best = closestName(name, names)
    if (best !== undefined) suggestions.push(`--${best}`)
  }
  return suggestions.length > 0 ? `Did you mean ${[...new Set(suggestions)].join(', ')}?` : undefined
}
