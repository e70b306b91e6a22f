/**
 * How attune runs a registered sensor row: which executor its runtime row means, where its
 * entry point is, and whether attune's built-in timer serves it.
 */
import {existsSync} from 'node:fs'
import {basename, isAbsolute, join} from 'node:path'
import {executorRuntime} from '../detect/detect.js'
import type {SensorRow} from '../store/queries.js'
import type {SensorRuntime} from './runtimes.js'

/** The built-in runtime names (attune's `core.builtin`, and the ref older packs used). */
const BUILTIN_NAMES = new Set(['builtin', 'built-in', 'core.builtin', 'core.sensor.builtin'])

/** Whether a runtime name or ref is attune's built-in runtime. */
export function isBuiltinName(name: string): boolean {
  return BUILTIN_NAMES.has(name.toLowerCase())
}

/** Attune's timer sensor: a native binary built separately, which a pack folder does not hold. */
export const ATTUNE_TIMER_SENSOR = {ref: 'core.timer_sensor', entrypoint: 'attune-core-timer-sensor'}

type RowLike = Pick<SensorRow, 'ref' | 'entrypoint' | 'runtime_ref' | 'runtime_name' | 'runtime_aliases' | 'pack_path'> & {runtime_interpreter?: string | null}

/** The entry point's path: absolute as stored, else inside the pack's `sensors/` folder (as Attune resolves it). */
export function sensorEntryPath(row: Pick<SensorRow, 'entrypoint' | 'pack_path'>): string {
  if (isAbsolute(row.entrypoint) || !row.pack_path) return row.entrypoint
  return join(row.pack_path, 'sensors', row.entrypoint)
}

/** attune's own built-in runtime (by ref or name; not by alias: Attune's core.native lists `builtin` as one of its aliases). */
function isBuiltinRuntime(row: RowLike): boolean {
  return [row.runtime_ref, row.runtime_name].some(isBuiltinName)
}

/**
 * Whether attune's built-in timer serves this sensor: attune's own (`runner_type: builtin`,
 * `entry_point: timer`), or Attune's `core.timer_sensor` when its binary is not installed.
 */
export function isBuiltinTimer(row: RowLike): boolean {
  if (isBuiltinRuntime(row) && row.entrypoint === 'timer') return true
  return row.ref === ATTUNE_TIMER_SENSOR.ref && row.entrypoint === ATTUNE_TIMER_SENSOR.entrypoint && !existsSync(sensorEntryPath(row))
}

/** The executor an interpreter binary means (`/usr/bin/python3.12` -> python, `/bin/bash` -> shell). */
function executorOfBinary(binary: string | null | undefined): SensorRuntime | undefined {
  if (!binary) return undefined
  const name = basename(binary)
  if (/^python[0-9.]*$/.test(name)) return 'python'
  if (/^node(js)?$/.test(name)) return 'node'
  if (['sh', 'bash', 'dash', 'zsh', 'ksh'].includes(name)) return 'shell'
  return undefined
}

/**
 * The executor of a sensor: from its runtime row, any pack's: its ref, name or aliases
 * (`core.python`, `Python`, `python3`), else the interpreter its execution_config names; or
 * `builtin`. Undefined when the row says nothing attune can run.
 */
export function sensorExecutor(row: RowLike): SensorRuntime | 'builtin' | undefined {
  if (isBuiltinTimer(row) || isBuiltinRuntime(row)) return 'builtin'
  return executorRuntime({ref: row.runtime_ref, name: row.runtime_name, aliases: row.runtime_aliases ?? []}) ?? executorOfBinary(row.runtime_interpreter)
}
