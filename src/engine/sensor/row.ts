/**
 * How attune runs a registered sensor row: which executor its runtime row means, where its
 * entry point is, and whether attune's built-in timer serves it.
 */
import {existsSync} from 'node:fs'
import {isAbsolute, join} from 'node:path'
import {executorRuntime} from '../detect/detect.js'
import type {SensorRow} from '../store/queries.js'
import type {SensorRuntime} from './runtimes.js'

/** The built-in runtime names (attune's `core.builtin`, and the ref older packs used). */
const BUILTIN_NAMES = new Set(['builtin', 'core.builtin', 'core.sensor.builtin'])

/** Attune's timer sensor: a native binary built separately, which a pack folder does not hold. */
export const ATTUNE_TIMER_SENSOR = {ref: 'core.timer_sensor', entrypoint: 'attune-core-timer-sensor'}

type RowLike = Pick<SensorRow, 'ref' | 'entrypoint' | 'runtime_ref' | 'runtime_name' | 'runtime_aliases' | 'pack_path'>

/** The entry point's path: absolute as stored, else inside the pack's `sensors/` folder (as Attune resolves it). */
export function sensorEntryPath(row: Pick<SensorRow, 'entrypoint' | 'pack_path'>): string {
  if (isAbsolute(row.entrypoint) || !row.pack_path) return row.entrypoint
  return join(row.pack_path, 'sensors', row.entrypoint)
}

function isBuiltinRuntime(row: RowLike): boolean {
  return [row.runtime_ref, row.runtime_name, ...(row.runtime_aliases ?? [])].some((name) => BUILTIN_NAMES.has(name.toLowerCase()))
}

/**
 * Whether attune's built-in timer serves this sensor: attune's own (`runner_type: builtin`,
 * `entry_point: timer`), or Attune's `core.timer_sensor` when its binary is not installed.
 */
export function isBuiltinTimer(row: RowLike): boolean {
  if (isBuiltinRuntime(row) && row.entrypoint === 'timer') return true
  return row.ref === ATTUNE_TIMER_SENSOR.ref && row.entrypoint === ATTUNE_TIMER_SENSOR.entrypoint && !existsSync(sensorEntryPath(row))
}

/** The executor of a sensor: from its runtime row (ref, name, aliases; any pack's), or `builtin`. */
export function sensorExecutor(row: RowLike): SensorRuntime | 'builtin' | undefined {
  if (isBuiltinTimer(row) || isBuiltinRuntime(row)) return 'builtin'
  return executorRuntime({ref: row.runtime_ref, name: row.runtime_name, aliases: row.runtime_aliases ?? []})
}
