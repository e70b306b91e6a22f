/**
 * The environment a sensor sees: an allow-list, never the daemon's own environment
 * (no database URL, no JWT secret). Config travels in SENSOR_CONFIG, never on argv.
 * The process layer adds ATTUNE_SENSOR_RUN, the marker of its process tree (tree.ts).
 */

/** Variables copied from the parent environment when set. */
export const INHERITED_VARIABLES = ['PATH', 'HOME', 'LANG', 'TZ'] as const

export interface SensorEnvironmentInput {
  sensorRef: string
  triggerRef: string
  config: unknown
  /** Variables the sensor definition declares. */
  declared?: Record<string, string>
  parentEnv?: NodeJS.ProcessEnv
  /** `sensor.run_as`: HOME and TMPDIR become the sensor user's own directories. */
  runAs?: {home: string; tmp: string}
}

export function sensorEnvironment(input: SensorEnvironmentInput): Record<string, string> {
  const parent = input.parentEnv ?? process.env
  const env: Record<string, string> = {}
  for (const name of INHERITED_VARIABLES) {
    const value = parent[name]
    if (value !== undefined) env[name] = value
  }
  if (env.PATH === undefined) env.PATH = '/usr/local/bin:/usr/bin:/bin'
  if (input.runAs) {
    // attune's own HOME is not the sensor user's to read (or write).
    env.HOME = input.runAs.home
    env.TMPDIR = input.runAs.tmp
  }
  Object.assign(env, input.declared ?? {})
  // The engine's own variables come last: a declaration cannot forge them.
  env.SENSOR_REF = input.sensorRef
  env.TRIGGER_REF = input.triggerRef
  env.SENSOR_CONFIG = JSON.stringify(input.config ?? {})
  return env
}
