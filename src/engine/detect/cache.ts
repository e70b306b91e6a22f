import {createHash} from 'node:crypto'
import {mkdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {ensurePrivateDir} from '../store/private.js'
import type {RuntimeSpec, RuntimeResult} from './types.js'

/** How long a detection result is reused (seed 002 suggests 5-10 minutes). */
export const DETECTION_CACHE_TTL_MS = 5 * 60 * 1000

export function detectionCachePath(home: string): string {
  return join(home, 'cache', 'runtime-detect.json')
}

interface CacheFile {
  version: 1
  key: string
  checked_at: string
  duration_ms: number
  runtimes: RuntimeResult[]
}

/**
 * What a cached result depends on: the runtime rows as detection reads them, the PATH the
 * binaries were found on, and the timeout. Registering or editing a runtime, or changing
 * PATH, therefore misses the cache instead of showing a stale answer.
 */
export function detectionCacheKey(specs: RuntimeSpec[], path: string, timeoutMs: number): string {
  return createHash('sha256').update(JSON.stringify({specs, path, timeoutMs})).digest('hex')
}

/** A fresh cached result for `key`, or undefined (missing, stale, unreadable or another key). */
export function readDetectionCache(
  home: string,
  key: string,
  now = Date.now(),
  ttlMs = DETECTION_CACHE_TTL_MS,
): {checked_at: string; duration_ms: number; runtimes: RuntimeResult[]} | undefined {
  try {
    const data = JSON.parse(readFileSync(detectionCachePath(home), 'utf8')) as CacheFile
    const age = now - Date.parse(data.checked_at)
    if (data.version !== 1 || data.key !== key || !Array.isArray(data.runtimes) || !(age >= 0 && age < ttlMs)) return undefined
    return {checked_at: data.checked_at, duration_ms: data.duration_ms, runtimes: data.runtimes}
  } catch {
    // No cache yet, or a damaged one: detect again (and overwrite it).
    return undefined
  }
}

/** Writes the cache atomically (temp file + rename): a reader never sees half a file. A failure is not fatal. */
export function writeDetectionCache(home: string, key: string, result: {checked_at: string; duration_ms: number; runtimes: RuntimeResult[]}): boolean {
  const path = detectionCachePath(home)
  const data: CacheFile = {version: 1, key, ...result}
  try {
    ensurePrivateDir(home)
    mkdirSync(join(home, 'cache'), {recursive: true, mode: 0o700})
    const temp = `${path}.${process.pid}.tmp`
    writeFileSync(temp, `${JSON.stringify(data, null, 2)}\n`, {mode: 0o600})
    renameSync(temp, path)
    return true
  } catch {
    return false
  }
}
