import {readFileSync} from 'node:fs'

let cached: string | undefined

/** attune's version, from its package.json (the same file from src/ and dist/). */
export function attuneVersion(): string {
  if (cached === undefined) {
    try {
      cached = String((JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {version?: unknown}).version ?? 'unknown')
    } catch {
      cached = 'unknown'
    }
  }
  return cached
}
