/**
 * Reference material beside the repository (`../shared`: Attune's core pack, its timer rule
 * examples and its migrations). A user's clone does not have it, CI does. Tests that check
 * against it run whenever it is present, fail under `CI=true` when it is missing, and are
 * otherwise skipped with one line saying why.
 */
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

export const SHARED_DIR = fileURLToPath(new URL('../../../shared/', import.meta.url))

export interface SharedPath {
  path: string
  /** Why a test that needs it is skipped here; undefined when it is present. */
  skip?: string
}

const announced = new Set<string>()

/** `relative` inside ../shared: present, or the one-line reason to skip (throws under CI). */
export function sharedPath(relative: string): SharedPath {
  const path = join(SHARED_DIR, relative)
  if (existsSync(path)) return {path}
  if (process.env.CI === 'true') {
    throw new Error(`${path} is missing: CI runs with ../shared beside the clone, and the Attune compatibility tests need it`)
  }
  const skip = `../shared/${relative} is not beside this clone: the Attune reference checks are skipped (they run in CI)`
  if (!announced.has(relative)) {
    announced.add(relative)
    console.warn(`skipped: ${skip}`)
  }
  return {path, skip}
}
