import {mkdirSync, mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, afterEach, describe, expect, it} from 'vitest'
import {loadConfig} from '../../src/engine/config.js'
import {checkSensorCode} from '../../src/engine/sensor/check.js'
import {PersistentRunnerPool} from '../../src/engine/sensor/persistent.js'
import {executeSensor} from '../../src/engine/sensor/execute.js'
import {FileWatcher} from '../../src/engine/sensor/watch.js'
import {eventually} from '../support/sensors.js'

const root = mkdtempSync(join(tmpdir(), 'attune-code-watch-'))
afterAll(() => rmSync(root, {recursive: true, force: true}))
let counter = 0
const freshDir = () => {
  const dir = join(root, `d${counter++}`)
  mkdirSync(dir, {recursive: true})
  return dir
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('checkSensorCode: does a changed sensor file load', () => {
  it('passes a python file that imports and defines poll_sensor, at both depths', async () => {
    const file = join(freshDir(), 'ok.py')
    writeFileSync(file, 'def poll_sensor(config):\n    return {"ok": True}\n')
    expect(await checkSensorCode({ref: 't.ok', entrypoint: file}, {depth: 'import'})).toBeNull()
    expect(await checkSensorCode({ref: 't.ok', entrypoint: file}, {depth: 'syntax'})).toBeNull()
  })

  it('names a python syntax error with its file and line, at both depths', async () => {
    const file = join(freshDir(), 'broken.py')
    writeFileSync(file, 'def poll_sensor(config):\n    return {"ok": True\n')
    const imported = await checkSensorCode({ref: 't.broken', entrypoint: file}, {depth: 'import'})
    expect(imported).toMatch(/SyntaxError/)
    expect(imported).toContain('broken.py')
    const compiled = await checkSensorCode({ref: 't.broken', entrypoint: file}, {depth: 'syntax'})
    expect(compiled).toMatch(new RegExp(`${file}:2: SyntaxError`))
  })

  it('an import check also catches a failed import and a missing poll_sensor; the syntax check does not run the file', async () => {
    const dir = freshDir()
    const missing = join(dir, 'missing.py')
    writeFileSync(missing, 'import attune_no_such_module\ndef poll_sensor(config):\n    return None\n')
    expect(await checkSensorCode({ref: 't.m', entrypoint: missing}, {depth: 'import'})).toMatch(/ModuleNotFoundError: .*attune_no_such_module/)
    expect(await checkSensorCode({ref: 't.m', entrypoint: missing}, {depth: 'syntax'})).toBeNull()
    const noFunction = join(dir, 'nofn.py')
    writeFileSync(noFunction, 'x = 1\n')
    expect(await checkSensorCode({ref: 't.n', entrypoint: noFunction}, {depth: 'import'})).toMatch(/poll_sensor/)
    // A long-running sensor's file is its program: compiling it must not start it.
    const marker = join(dir, 'ran')
    const program = join(dir, 'program.py')
    writeFileSync(program, `open(${JSON.stringify(marker)}, "w").write("ran")\n`)
    expect(await checkSensorCode({ref: 't.p', entrypoint: program}, {depth: 'syntax'})).toBeNull()
    expect(() => rmSync(marker)).toThrow()
  })

  it('checks node (node --check) and shell (sh -n) files; a missing file is a problem', async () => {
    const dir = freshDir()
    const js = join(dir, 'bad.js')
    writeFileSync(js, 'module.exports.poll_sensor = () => {\n  return [\n}\n')
    expect(await checkSensorCode({ref: 't.js', entrypoint: js}, {depth: 'syntax'})).toMatch(/SyntaxError/)
    expect(await checkSensorCode({ref: 't.js', entrypoint: js}, {depth: 'import'})).toMatch(/SyntaxError/)
    const goodJs = join(dir, 'good.mjs')
    writeFileSync(goodJs, 'export function poll_sensor() { return [] }\n')
    expect(await checkSensorCode({ref: 't.mjs', entrypoint: goodJs}, {depth: 'import'})).toBeNull()
    const sh = join(dir, 'bad.sh')
    writeFileSync(sh, '#!/bin/sh\nif true; then\necho hi\n', {mode: 0o755})
    expect(await checkSensorCode({ref: 't.sh', entrypoint: sh}, {depth: 'syntax'})).toMatch(/bad\.sh/)
    expect(await checkSensorCode({ref: 't.gone', entrypoint: join(dir, 'gone.py')}, {depth: 'syntax'})).toMatch(/Sensor file not found/)
  })
})

describe('PersistentRunnerPool.retireSensor', () => {
  it('lets the poll under way finish, then the next poll imports the new code in a new runner', async () => {
    const file = join(freshDir(), 'pers.py')
    writeFileSync(file, 'import time\ndef poll_sensor(config):\n    time.sleep(0.3)\n    return {"marker": "one"}\n')
    const runners = new PersistentRunnerPool()
    const spec = {ref: 't.pers', entrypoint: file, runtime: 'python', execution: 'persistent' as const}
    try {
      expect((await executeSensor(spec, {ref: 't'}, {}, {runners})).events).toEqual([{marker: 'one'}])
      const inFlight = executeSensor(spec, {ref: 't'}, {}, {runners})
      await sleep(100)
      writeFileSync(file, 'def poll_sensor(config):\n    return {"marker": "two, longer"}\n')
      const retired = runners.retireSensor('t.pers')
      expect((await inFlight).events).toEqual([{marker: 'one'}])
      expect(await retired).toBe(1)
      expect((await executeSensor(spec, {ref: 't'}, {}, {runners})).events).toEqual([{marker: 'two, longer'}])
      expect(runners.starts.get(`t.pers\0${file}`)).toBe(2)
    } finally {
      runners.closeAll()
    }
  })
})

describe('the python wrapper runs the file as it is on disk', () => {
  it('a file saved twice within one second at the same size runs the second save (no stale bytecode cache)', async () => {
    const file = join(freshDir(), 'same.py')
    const when = new Date('2026-11-30T08:00:00Z')
    writeFileSync(file, 'def poll_sensor(config):\n    return {"v": "a1"}\n')
    utimesSync(file, when, when)
    expect((await executeSensor({ref: 't.same', entrypoint: file}, {ref: 't'}, {})).events).toEqual([{v: 'a1'}])
    writeFileSync(file, 'def poll_sensor(config):\n    return {"v": "a2"}\n')
    utimesSync(file, when, when)
    expect((await executeSensor({ref: 't.same', entrypoint: file}, {ref: 't'}, {})).events).toEqual([{v: 'a2'}])
  })
})

describe('FileWatcher', () => {
  const watchers: FileWatcher[] = []
  afterEach(() => watchers.splice(0).forEach((watcher) => watcher.close()))
  const start = (targets: {files?: string[]; folders?: Array<{dir: string; match: RegExp}>}) => {
    const batches: string[][] = []
    const watcher = new FileWatcher({debounceMs: 100, onChange: (paths) => batches.push(paths)})
    watcher.set({files: targets.files ?? [], folders: targets.folders ?? []})
    watchers.push(watcher)
    return batches
  }

  it('reports a rewritten file once, and an editor-style save (temp file renamed over it)', async () => {
    const dir = freshDir()
    const file = join(dir, 'sensor.py')
    writeFileSync(file, 'v1\n')
    const batches = start({files: [file]})
    writeFileSync(file, 'v2\n')
    writeFileSync(file, 'v2 again\n') // one burst: one batch
    expect(await eventually(() => batches.length > 0, 3000)).toBe(true)
    await sleep(300)
    expect(batches).toEqual([[file]])
    writeFileSync(join(dir, '.sensor.py.swp'), 'v3\n')
    renameSync(join(dir, '.sensor.py.swp'), file)
    expect(await eventually(() => batches.length > 1, 3000)).toBe(true)
    expect(batches[1]).toEqual([file])
  })

  it('ignores a touch, a save without a change and files it does not watch', async () => {
    const dir = freshDir()
    const file = join(dir, 'sensor.py')
    writeFileSync(file, 'same\n')
    const batches = start({files: [file]})
    utimesSync(file, new Date(), new Date())
    writeFileSync(file, 'same\n')
    writeFileSync(join(dir, 'other.py'), 'x\n')
    await sleep(600)
    expect(batches).toEqual([])
  })

  it('reports new and changed files of a folder that match, and a deletion', async () => {
    const dir = freshDir()
    writeFileSync(join(dir, 'a.yaml'), 'ref: a\n')
    const batches = start({folders: [{dir, match: /\.ya?ml$/}]})
    writeFileSync(join(dir, 'b.yml'), 'ref: b\n')
    writeFileSync(join(dir, 'a.yaml'), 'ref: a2\n')
    writeFileSync(join(dir, 'c.txt'), 'no\n')
    expect(await eventually(() => batches.length > 0, 3000)).toBe(true)
    expect(batches[0]).toEqual([join(dir, 'a.yaml'), join(dir, 'b.yml')])
    rmSync(join(dir, 'b.yml'))
    expect(await eventually(() => batches.length > 1, 3000)).toBe(true)
    expect(batches[1]).toEqual([join(dir, 'b.yml')])
  })

  it('with compareContent: false (sensor test --watch), a save without a change counts too', async () => {
    const file = join(freshDir(), 'sensor.py')
    writeFileSync(file, 'same\n')
    const batches: string[][] = []
    const watcher = new FileWatcher({debounceMs: 100, compareContent: false, onChange: (paths) => batches.push(paths)})
    watchers.push(watcher)
    watcher.set({files: [file], folders: []})
    writeFileSync(file, 'same\n')
    expect(await eventually(() => batches.length > 0, 3000)).toBe(true)
    expect(batches[0]).toEqual([file])
  })

  it('stops watching a file dropped from the set', async () => {
    const dir = freshDir()
    const file = join(dir, 'sensor.py')
    writeFileSync(file, 'v1\n')
    const watcher = new FileWatcher({debounceMs: 50, onChange: () => expect.unreachable('no change expected')})
    watchers.push(watcher)
    watcher.set({files: [file], folders: []})
    expect(watcher.dirs).toEqual([dir])
    watcher.set({files: [], folders: []})
    expect(watcher.dirs).toEqual([])
    writeFileSync(file, 'v2\n')
    await sleep(300)
  })
})

describe('daemon.watch', () => {
  it('is on by default; ATTUNE_WATCH=0 turns it off; a bad value is an error naming the variable', () => {
    const home = freshDir()
    expect(loadConfig({env: {ATTUNE_HOME: home}, cwd: home}).config.daemon.watch).toBe(true)
    expect(loadConfig({env: {ATTUNE_HOME: home, ATTUNE_WATCH: '0'}, cwd: home}).config.daemon.watch).toBe(false)
    expect(loadConfig({env: {ATTUNE_HOME: home, ATTUNE_WATCH: 'off'}, cwd: home}).config.daemon.watch).toBe(false)
    expect(() => loadConfig({env: {ATTUNE_HOME: home, ATTUNE_WATCH: 'sometimes'}, cwd: home})).toThrow(/ATTUNE_WATCH must be/)
    writeFileSync(join(home, 'config.yaml'), 'daemon:\n  watch: false\n')
    expect(loadConfig({env: {ATTUNE_HOME: home}, cwd: home}).config.daemon.watch).toBe(false)
  })
})
