import {constants} from 'node:fs'
import {access, open} from 'node:fs/promises'
import {extname} from 'node:path'

/** The four ways a sensor file can run (SPEC §4). */
export type SensorRuntime = 'python' | 'node' | 'shell' | 'native'

export const SENSOR_RUNTIMES: readonly SensorRuntime[] = ['python', 'node', 'shell', 'native']

const ALIASES: Record<string, SensorRuntime> = {
  python: 'python',
  python3: 'python',
  'core.sensor.python': 'python',
  'core.python': 'python',
  node: 'node',
  nodejs: 'node',
  'node.js': 'node',
  'core.sensor.nodejs': 'node',
  'core.nodejs': 'node',
  shell: 'shell',
  bash: 'shell',
  sh: 'shell',
  'core.sensor.shell': 'shell',
  'core.shell': 'shell',
  native: 'native',
  builtin: 'native',
  standalone: 'native',
  'core.sensor.native': 'native',
  'core.native': 'native',
}

/** Every name accepted for a runtime, for help texts and error hints. */
export const RUNTIME_ALIASES: Readonly<Record<string, SensorRuntime>> = ALIASES

/** Maps a runtime ref or alias (case-insensitive) to its runtime, or undefined when unknown. */
export function resolveRuntimeName(name: string): SensorRuntime | undefined {
  return ALIASES[name.trim().toLowerCase()]
}

const EXTENSIONS: Record<string, SensorRuntime> = {
  '.py': 'python',
  '.js': 'node',
  '.mjs': 'node',
  '.cjs': 'node',
  '.sh': 'shell',
  '.bash': 'shell',
}

/**
 * Infers the runtime of a sensor file: by extension first, then by shebang
 * (`#!/usr/bin/env python3`, `#!/bin/bash`, ...), then an executable file is native.
 * Returns undefined when nothing tells.
 */
export async function inferRuntime(file: string): Promise<SensorRuntime | undefined> {
  const byExtension = EXTENSIONS[extname(file).toLowerCase()]
  if (byExtension) return byExtension
  const shebang = await readShebang(file)
  if (shebang) {
    const interpreter = shebangInterpreter(shebang)
    if (/^python[0-9.]*$/.test(interpreter)) return 'python'
    if (interpreter === 'node' || interpreter === 'nodejs') return 'node'
    if (['bash', 'sh', 'dash', 'zsh', 'ksh'].includes(interpreter)) return 'shell'
  }
  try {
    await access(file, constants.X_OK)
    return 'native'
  } catch {
    return undefined
  }
}

async function readShebang(file: string): Promise<string | undefined> {
  let handle
  try {
    handle = await open(file, 'r')
    const buffer = Buffer.alloc(256)
    const {bytesRead} = await handle.read(buffer, 0, buffer.length, 0)
    const head = buffer.subarray(0, bytesRead).toString('utf8')
    return head.startsWith('#!') ? head.slice(2).split('\n')[0].trim() : undefined
  } catch {
    return undefined
  } finally {
    await handle?.close()
  }
}

/** `/usr/bin/env -S python3 -u` -> `python3`; `/bin/bash -e` -> `bash`. */
function shebangInterpreter(shebang: string): string {
  const words = shebang.split(/\s+/).filter(Boolean)
  let index = 0
  if (words[0]?.endsWith('/env')) {
    index = 1
    while (words[index]?.startsWith('-')) index++
  }
  const program = words[index] ?? ''
  return program.slice(program.lastIndexOf('/') + 1)
}
