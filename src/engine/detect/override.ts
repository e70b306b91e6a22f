import type {AttuneConfig} from '../config.js'
import {AbortError} from '../errors.js'
import type {DetectionSource, RuntimeResult} from './types.js'

export interface RuntimeOverride {
  source: Exclude<DetectionSource, 'detection'>
  source_detail: string
  runtimes: string[]
}

const NAME = /^[a-z0-9][a-z0-9._+-]*$/

function normalize(names: readonly string[], where: string): string[] {
  const result: string[] = []
  for (const raw of names) {
    const name = raw.trim().toLowerCase()
    // "python,,shell" or a trailing comma: an empty entry is no name.
    if (name === '') continue
    if (!NAME.test(name)) {
      throw new AbortError(`${where} has an invalid runtime name ${JSON.stringify(raw)}`, {
        code: 'runtimes_invalid',
        hint: 'Runtime names are letters, digits and . _ + - (e.g. "python,node,shell").',
      })
    }
    if (!result.includes(name)) result.push(name)
  }
  if (result.length === 0) {
    throw new AbortError(`${where} lists no runtimes`, {
      code: 'runtimes_invalid',
      hint: 'Name at least one runtime (e.g. "python,shell"), or remove it to detect the runtimes.',
    })
  }
  return result
}

/**
 * Seed 002's priority: `ATTUNE_SENSOR_RUNTIMES` first, then the config file's
 * `sensor.capabilities.runtimes`; both skip the database and every check. Returns undefined
 * when neither is set (detection decides). Bad names are an `AbortError` naming the source.
 */
export function runtimeOverride(env: NodeJS.ProcessEnv, config: AttuneConfig, configFile?: string): RuntimeOverride | undefined {
  const fromEnv = env.ATTUNE_SENSOR_RUNTIMES
  if (fromEnv !== undefined && fromEnv !== '') {
    return {source: 'env', source_detail: 'ATTUNE_SENSOR_RUNTIMES', runtimes: normalize(fromEnv.split(','), 'ATTUNE_SENSOR_RUNTIMES')}
  }
  const fromConfig = config.sensor.capabilities.runtimes
  if (fromConfig !== undefined) {
    const where = `sensor.capabilities.runtimes${configFile ? ` in ${configFile}` : ''}`
    return {source: 'config', source_detail: where, runtimes: normalize(fromConfig, where)}
  }
  return undefined
}

/** The report rows of an override: listed means available, nothing was checked. */
export function overrideResults(override: RuntimeOverride): RuntimeResult[] {
  return override.runtimes.map((name) => ({
    name,
    label: name,
    ref: null,
    aliases: [],
    available: true,
    binary: null,
    path: null,
    version: null,
    min_version: null,
    reason: `listed in ${override.source_detail} (not checked)`,
    checks: [],
  }))
}
