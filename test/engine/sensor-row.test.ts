import {mkdtempSync, mkdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {isBuiltinTimer, sensorEntryPath, sensorExecutor} from '../../src/engine/sensor/row.js'

const pack = mkdtempSync(join(tmpdir(), 'attune-row-'))
afterAll(() => rmSync(pack, {recursive: true, force: true}))

const row = (over: Partial<Parameters<typeof sensorExecutor>[0]> = {}) => ({
  ref: 'p.s',
  entrypoint: 's.py',
  runtime_ref: 'core.python',
  runtime_name: 'Python',
  runtime_aliases: ['python', 'python3'],
  runtime_interpreter: 'python3',
  pack_path: pack,
  ...over,
})

describe('how attune runs a registered sensor row', () => {
  it('resolves the entry point in the pack’s sensors/ folder, as Attune stores it (file name)', () => {
    expect(sensorEntryPath(row())).toBe(join(pack, 'sensors', 's.py'))
    expect(sensorEntryPath(row({entrypoint: '/opt/x/run'}))).toBe('/opt/x/run')
    expect(sensorEntryPath(row({pack_path: null}))).toBe('s.py')
  })

  it('takes the executor from any pack’s runtime row: ref, name, aliases, else its interpreter', () => {
    expect(sensorExecutor(row())).toBe('python')
    expect(sensorExecutor(row({runtime_ref: 'ops.js', runtime_name: 'JS', runtime_aliases: ['nodejs'], runtime_interpreter: null}))).toBe('node')
    expect(sensorExecutor(row({runtime_ref: 'ops.py312', runtime_name: 'Py 3.12', runtime_aliases: [], runtime_interpreter: '/opt/py/bin/python3.12'}))).toBe('python')
    expect(sensorExecutor(row({runtime_ref: 'ops.sh', runtime_name: 'Scripts', runtime_aliases: [], runtime_interpreter: '/bin/bash'}))).toBe('shell')
    expect(sensorExecutor(row({runtime_ref: 'ops.ruby', runtime_name: 'Ruby', runtime_aliases: ['rb'], runtime_interpreter: 'ruby'}))).toBeUndefined()
  })

  it('serves Attune’s core.timer_sensor with the built-in timer while its binary is absent, and attune’s own always', () => {
    const attunes = row({ref: 'core.timer_sensor', entrypoint: 'attune-core-timer-sensor', runtime_ref: 'core.native', runtime_name: 'Native', runtime_aliases: ['native', 'builtin', 'standalone'], runtime_interpreter: null})
    expect(isBuiltinTimer(attunes)).toBe(true)
    expect(sensorExecutor(attunes)).toBe('builtin')
    mkdirSync(join(pack, 'sensors'), {recursive: true})
    writeFileSync(join(pack, 'sensors', 'attune-core-timer-sensor'), '#!/bin/sh\n', {mode: 0o755})
    expect(isBuiltinTimer(attunes)).toBe(false) // the real binary is installed: it runs as itself
    expect(sensorExecutor(attunes)).toBe('native')
    expect(isBuiltinTimer(row({ref: 'core.timer_sensor', entrypoint: 'timer', runtime_ref: 'core.builtin', runtime_name: 'Built-in', runtime_aliases: ['builtin']}))).toBe(true)
  })
})
