import {readFileSync} from 'node:fs'
import {afterAll, describe, expect, it} from 'vitest'
import {executeSensor} from '../../src/engine/sensor/execute.js'
import type {SensorExecutionResult} from '../../src/engine/sensor/types.js'
import {eventually, isAlive, sensorDir} from '../support/sensors.js'

const files = sensorDir()
afterAll(() => files.cleanup())

const trigger = {ref: 'test.trigger'}

function run(entrypoint: string, config: unknown = {}, options: Parameters<typeof executeSensor>[3] = {}, runtime?: string) {
  return executeSensor({ref: 'test.sensor', entrypoint, runtime}, trigger, config, options)
}

const RESULT_KEYS = [
  'sensor_ref',
  'trigger_ref',
  'runtime',
  'events',
  'count',
  'duration_ms',
  'exit_code',
  'signal',
  'stdout',
  'stderr',
  'error',
  'error_type',
  'traceback',
  'truncated',
  'warnings',
]

function expectClean(result: SensorExecutionResult) {
  expect(result.error, `${result.error}\n${result.stderr}`).toBeNull()
  expect(Object.keys(result).sort()).toEqual([...RESULT_KEYS].sort())
}

/**
 * The same behaviours, written once per runtime. Each body receives the events it should
 * produce (or fail with) and must follow the runtime's contract.
 */
interface RuntimeCase {
  runtime: string
  ext: string
  several: string
  one: string
  nothing: string
  nonObject: string
  throws: string
  prints: string
  unicode: string
  echoConfig: string
  environment: string
  /** Writes its pid and a grandchild's pid to the file named in config.pids, then sleeps. */
  hangsWithGrandchild: string
  floods: string
  errorType: string
  traceField: 'traceback' | 'stack'
}

const python: RuntimeCase = {
  runtime: 'python',
  ext: '.py',
  several: 'def poll_sensor(config):\n    for n in range(3):\n        yield {"n": n}\n',
  one: 'def poll_sensor(config):\n    return {"only": True}\n',
  nothing: 'def poll_sensor(config):\n    return None\n',
  nonObject: 'def poll_sensor(config):\n    return [{"ok": 1}, "not an object"]\n',
  throws: 'def helper():\n    raise ValueError("bad reading")\n\ndef poll_sensor(config):\n    helper()\n',
  prints: 'import sys\ndef poll_sensor(config):\n    print("{\\"events\\": [\\"forged\\"]}")\n    print("to stderr", file=sys.stderr)\n    return [{"real": True}]\n',
  unicode: 'def poll_sensor(config):\n    return {"text": "héllo wörld ✓ 日本語 🎉"}\n',
  echoConfig: 'def poll_sensor(config):\n    return {"config": config}\n',
  environment: 'import os\ndef poll_sensor(config):\n    return {"env": dict(os.environ)}\n',
  hangsWithGrandchild:
    'import os, subprocess, time, json\ndef poll_sensor(config):\n    child = subprocess.Popen(["sleep", "300"])\n    open(config["pids"], "w").write(json.dumps([os.getpid(), child.pid]))\n    time.sleep(300)\n',
  floods: 'import sys\ndef poll_sensor(config):\n    chunk = "x" * 65536\n    for _ in range(200):\n        sys.stdout.write(chunk)\n    return []\n',
  errorType: 'ValueError',
  traceField: 'traceback',
}

const node: RuntimeCase = {
  runtime: 'node',
  ext: '.cjs',
  several: 'exports.poll_sensor = async function* () { for (let n = 0; n < 3; n++) yield {n} }\n',
  one: 'module.exports.poll_sensor = async () => ({only: true})\n',
  nothing: 'module.exports = {poll_sensor() { return undefined }}\n',
  nonObject: 'exports.poll_sensor = () => [{ok: 1}, "not an object"]\n',
  throws: 'function helper() { throw new RangeError("bad reading") }\nexports.poll_sensor = async () => { helper() }\n',
  prints: 'exports.poll_sensor = () => { console.log(\'{"events": ["forged"]}\'); console.error("to stderr"); return [{real: true}] }\n',
  unicode: 'exports.poll_sensor = () => ({text: "héllo wörld ✓ 日本語 🎉"})\n',
  echoConfig: 'exports.poll_sensor = (config) => ({config})\n',
  environment: 'exports.poll_sensor = () => ({env: {...process.env}})\n',
  hangsWithGrandchild:
    'const {spawn} = require("node:child_process"); const fs = require("node:fs")\nexports.poll_sensor = async (config) => { const child = spawn("sleep", ["300"], {stdio: "ignore"}); fs.writeFileSync(config.pids, JSON.stringify([process.pid, child.pid])); await new Promise(() => setInterval(() => {}, 1000)) }\n',
  floods: 'exports.poll_sensor = () => { const chunk = "x".repeat(65536); for (let i = 0; i < 200; i++) process.stdout.write(chunk); return [] }\n',
  errorType: 'RangeError',
  traceField: 'stack',
}

const shellEvents = (events: string) => `#!/bin/bash\necho '{"events": ${events}}'\n`
const shell: RuntimeCase = {
  runtime: 'shell',
  ext: '.sh',
  several: shellEvents('[{"n": 0}, {"n": 1}, {"n": 2}]'),
  one: shellEvents('[{"only": true}]'),
  nothing: shellEvents('[]'),
  nonObject: shellEvents('[{"ok": 1}, "not an object"]'),
  throws: '#!/bin/bash\necho \'{"error": "bad reading", "error_type": "ReadingError", "traceback": "line 2 of the script"}\'\nexit 3\n',
  prints: '#!/bin/bash\necho "to stderr" >&2\necho \'{"events": [{"real": true}]}\'\n',
  unicode: shellEvents('[{"text": "héllo wörld ✓ 日本語 🎉"}]'),
  echoConfig: '#!/bin/bash\necho "{\\"events\\": [{\\"config\\": $SENSOR_CONFIG}]}"\n',
  environment: '#!/bin/bash\nnode -e \'console.log(JSON.stringify({events: [{env: process.env}]}))\'\n',
  hangsWithGrandchild: '#!/bin/bash\nsleep 300 &\npids_file=$(echo "$SENSOR_CONFIG" | sed \'s/.*"pids": *"\\([^"]*\\)".*/\\1/\')\necho "[$$, $!]" > "$pids_file"\nsleep 300\n',
  floods: '#!/bin/bash\nhead -c 13000000 /dev/zero | tr "\\0" x\n',
  errorType: 'ReadingError',
  traceField: 'traceback',
}

// Native sensors follow the shell contract but are executed directly (the kernel reads the #! line).
const native: RuntimeCase = {...shell, runtime: 'native', ext: ''}

describe.each([python, node, shell, native])('$runtime sensors', (rt) => {
  const write = (name: string, body: string) => files.write(`${rt.runtime}_${name}${rt.ext}`, body, 0o755)
  const run = (entrypoint: string, config: unknown = {}, options: Parameters<typeof executeSensor>[3] = {}) =>
    executeSensor({ref: 'test.sensor', entrypoint, runtime: rt.runtime === 'native' ? 'native' : undefined}, trigger, config, options)

  it('returns every event a sensor produces', async () => {
    const result = await run(write('several', rt.several))
    expectClean(result)
    expect(result.runtime).toBe(rt.runtime)
    expect(result.events).toEqual([{n: 0}, {n: 1}, {n: 2}])
    expect(result.count).toBe(3)
    expect(result.exit_code).toBe(0)
  })

  it('turns one object into one event', async () => {
    const result = await run(write('one', rt.one))
    expectClean(result)
    expect(result.events).toEqual([{only: true}])
  })

  it('treats nothing as zero events, not an error', async () => {
    const result = await run(write('nothing', rt.nothing))
    expectClean(result)
    expect(result.events).toEqual([])
    expect(result.count).toBe(0)
  })

  it('rejects a non-object event and names its index', async () => {
    const result = await run(write('non_object', rt.nonObject))
    expect(result.error).toMatch(/index 1 is not a JSON object \(got string/)
    expect(result.error_type).toBe('InvalidEvent')
    expect(result.events).toEqual([])
  })

  it('captures the error type and trace of a failing sensor', async () => {
    const result = await run(write('throws', rt.throws))
    expect(result.error).toBe('bad reading')
    expect(result.error_type).toBe(rt.errorType)
    expect(result.traceback).toBeTruthy()
    if (rt.runtime === 'python' || rt.runtime === 'node') expect(result.traceback).toContain('helper')
    expect(result.traceback).not.toContain('_wrapper')
    expect(result.events).toEqual([])
  })

  it('keeps prints as logs without corrupting the result', async () => {
    const result = await run(write('prints', rt.prints))
    expectClean(result)
    expect(result.events).toEqual([{real: true}])
    if (rt.runtime === 'python' || rt.runtime === 'node') expect(result.stdout).toContain('{"events": ["forged"]}')
    expect(result.stderr).toContain('to stderr')
  })

  it('carries unicode payloads intact', async () => {
    const result = await run(write('unicode', rt.unicode))
    expectClean(result)
    expect(result.events).toEqual([{text: 'héllo wörld ✓ 日本語 🎉'}])
  })

  it('hands the config to the sensor', async () => {
    const config = {path: '/var/log', threshold: 90, nested: {list: [1, 'two']}, quote: 'it\'s "quoted"'}
    const result = await run(write('config', rt.echoConfig), config)
    expectClean(result)
    expect(result.events).toEqual([{config}])
  })

  it('shows the sensor only the allow-listed environment', async () => {
    const parentEnv = {...process.env, ATTUNE_JWT_SECRET: 'parent-secret', DATABASE_URL: 'postgres://leak', TZ: 'UTC'}
    const result = await executeSensor(
      {ref: 'test.env', entrypoint: write('environment', rt.environment), env: {DECLARED: 'yes'}, runtime: rt.runtime === 'native' ? 'native' : undefined},
      trigger,
      {a: 1},
      {parentEnv},
    )
    expectClean(result)
    const env = result.events[0].env as Record<string, string>
    expect(env.SENSOR_REF).toBe('test.env')
    expect(env.TRIGGER_REF).toBe('test.trigger')
    expect(JSON.parse(env.SENSOR_CONFIG)).toEqual({a: 1})
    expect(env.DECLARED).toBe('yes')
    expect(env.TZ).toBe('UTC')
    expect(env.ATTUNE_JWT_SECRET).toBeUndefined()
    expect(env.DATABASE_URL).toBeUndefined()
    expect(JSON.stringify(env)).not.toContain('parent-secret')
    const allowed = new Set(['PATH', 'HOME', 'LANG', 'TZ', 'SENSOR_REF', 'TRIGGER_REF', 'SENSOR_CONFIG', 'DECLARED'])
    // Interpreters add a few of their own (bash: PWD, SHLVL, _), never the parent's.
    const extra = Object.keys(env).filter((key) => !allowed.has(key))
    const shellOwn = new Set(['PWD', 'OLDPWD', 'SHLVL', '_'])
    for (const key of extra.filter((name) => !shellOwn.has(name))) expect((parentEnv as Record<string, string | undefined>)[key], `leaked ${key}`).toBeUndefined()
  })

  it('kills the sensor and its grandchildren at the timeout', async () => {
    const pidsFile = `${files.dir}/${rt.runtime}_pids.json`
    const result = await run(write('hangs', rt.hangsWithGrandchild), {pids: pidsFile}, {timeoutMs: 1500, killGraceMs: 500})
    expect(result.error).toBe('Sensor execution timed out after 1.5 seconds')
    expect(result.error_type).toBe('Timeout')
    expect(result.events).toEqual([])
    expect(result.duration_ms).toBeLessThan(10_000)
    const pids = JSON.parse(readFileSync(pidsFile, 'utf8')) as number[]
    expect(pids).toHaveLength(2)
    for (const pid of pids) expect(await eventually(() => !isAlive(pid)), `pid ${pid} survived`).toBe(true)
  })

  it('stops reading at the output cap and kills the sensor', async () => {
    const before = process.memoryUsage().rss
    const result = await run(write('floods', rt.floods), {}, {maxOutputBytes: 1024 * 1024})
    expect(result.truncated).toBe(true)
    expect(result.error_type).toBe('OutputTooLarge')
    expect(result.error).toContain('1 MB limit')
    expect(result.stdout.length).toBeLessThanOrEqual(1024 * 1024)
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024)
  })
})

describe('shell and native output', () => {
  it('reports invalid JSON with the parser message', async () => {
    const result = await run(files.write('garbage.sh', '#!/bin/sh\necho "this is not json"\n'))
    expect(result.error).toMatch(/^Failed to parse sensor output: /)
    expect(result.error_type).toBe('InvalidOutput')
  })

  it('reports a missing events array', async () => {
    const result = await run(files.write('no_events.sh', '#!/bin/sh\necho \'{"count": 0}\'\n'))
    expect(result.error).toBe('Failed to parse sensor output: the "events" array is missing')
  })

  it('warns when count does not match the events', async () => {
    const result = await run(files.write('count.sh', '#!/bin/sh\necho \'{"events": [{"a": 1}], "count": 3}\'\n'))
    expect(result.error).toBeNull()
    expect(result.events).toHaveLength(1)
    expect(result.warnings).toEqual(['"count" says 3 but 1 event(s) were returned'])
  })

  it('uses the tail of stderr when a failing sensor printed no error document', async () => {
    const result = await run(files.write('exit.sh', '#!/bin/sh\necho "first line" >&2\necho "disk not mounted" >&2\nexit 4\n'))
    expect(result.exit_code).toBe(4)
    expect(result.error_type).toBe('NonZeroExit')
    expect(result.error).toBe('Sensor exited with code 4: first line\ndisk not mounted')
  })

  it('accepts log lines before a final result line, with a warning', async () => {
    const result = await run(files.write('chatty.sh', '#!/bin/sh\necho "checking /"\necho \'{"events": [{"a": 1}]}\'\n'))
    expect(result.error).toBeNull()
    expect(result.events).toEqual([{a: 1}])
    expect(result.warnings[0]).toMatch(/treated as logs/)
  })

  it('runs a native executable directly with its config in SENSOR_CONFIG', async () => {
    const file = files.write('native_sensor', '#!/usr/bin/env python3\nimport os\nprint(\'{"events": [{"config": %s}]}\' % os.environ["SENSOR_CONFIG"])\n', 0o755)
    const result = await run(file, {k: 'v'}, {}, 'native')
    expect(result.error).toBeNull()
    expect(result.runtime).toBe('native')
    expect(result.events).toEqual([{config: {k: 'v'}}])
  })

  it('infers native from the executable bit when nothing else tells', async () => {
    const file = files.write('plain_exec', '#!/bin/sh\necho \'{"events": []}\'\n', 0o755)
    // A #!/bin/sh line says shell; without one, the executable bit says native.
    const native = files.write('no_shebang_exec', 'echo \'{"events": [{"ran": true}]}\'\n', 0o755)
    expect((await run(file)).runtime).toBe('shell')
    const result = await run(native)
    expect(result.runtime).toBe('native')
    expect(result.events).toEqual([{ran: true}])
  })

  it('says so when a node sensor returns a promise that can never settle', async () => {
    const file = files.write('never.cjs', 'exports.poll_sensor = () => new Promise(() => {})\n')
    const result = await run(file)
    expect(result.error_type).toBe('UnsettledPromise')
    expect(result.error).toMatch(/never settled/)
    expect(result.duration_ms).toBeLessThan(10_000) // at once, not at the timeout
  })

  it('imports a python sensor known only by its shebang (no .py extension), in both modes', async () => {
    const code = '#!/usr/bin/env python3\ndef poll_sensor(config):\n    return [{"from": "shebang", "config": config}]\n'
    for (const mode of [0o644, 0o755]) {
      const file = files.write(`pyshebang_${mode.toString(8)}`, code, mode)
      const result = await run(file, {k: 1})
      expect(result.error, result.traceback ?? '').toBeNull()
      expect(result.runtime).toBe('python')
      expect(result.events).toEqual([{from: 'shebang', config: {k: 1}}])
    }
  })

  it('says a native sensor is not executable', async () => {
    const result = await run(files.write('not_exec', 'echo hi\n', 0o644), {}, {}, 'native')
    expect(result.error_type).toBe('SensorNotExecutable')
    expect(result.error).toMatch(/chmod \+x/)
  })
})

describe('failures outside the sensor', () => {
  it('reports an unknown runtime as a result, not an exception', async () => {
    const result = await run(files.write('x.py', 'def poll_sensor(c): pass\n'), {}, {}, 'cobol')
    expect(result.error).toBe('Unsupported sensor runtime: cobol')
    expect(result.error_type).toBe('UnsupportedRuntime')
  })

  it('reports a missing file', async () => {
    const result = await run(`${files.dir}/does_not_exist.py`)
    expect(result.error).toMatch(/^Sensor file not found: /)
    expect(result.error_type).toBe('SensorNotFound')
  })

  it('reports a missing interpreter clearly', async () => {
    const result = await run(files.write('y.py', 'def poll_sensor(c): pass\n'), {}, {interpreters: {python: '/nonexistent/python3'}})
    expect(result.error_type).toBe('InterpreterNotFound')
    expect(result.error).toMatch(/Python interpreter not found/)
  })

  it('reports a Python file without poll_sensor', async () => {
    const result = await run(files.write('no_poll.py', 'x = 1\n'))
    expect(result.error_type).toBe('AttributeError')
    expect(result.error).toMatch(/does not define a poll_sensor\(config\) function/)
  })

  it('reports a syntax error in a Node.js sensor with its location', async () => {
    const result = await run(files.write('broken.cjs', 'exports.poll_sensor = () => {\n'))
    expect(result.error_type).toBe('SyntaxError')
    expect(result.traceback).toContain('broken.cjs')
  })

  it('loads ES module sensors: named and default exports', async () => {
    const named = await run(files.write('named.mjs', 'export async function poll_sensor(c) { return [{esm: "named"}] }\n'))
    const byDefault = await run(files.write('default.mjs', 'export default async (c) => ({esm: "default"})\n'))
    expect(named.events).toEqual([{esm: 'named'}])
    expect(byDefault.events).toEqual([{esm: 'default'}])
  })

  it('does not let a sensor keep a finished poll alive', async () => {
    const result = await run(
      files.write('lingers.cjs', 'exports.poll_sensor = () => { setInterval(() => {}, 1000); return [{done: true}] }\n'),
      {},
      {timeoutMs: 10_000},
    )
    expect(result.error).toBeNull()
    expect(result.duration_ms).toBeLessThan(5000)
  })

  it('reports a Python value JSON cannot hold', async () => {
    const result = await run(files.write('nan.py', 'def poll_sensor(c):\n    return {"v": float("nan")}\n'))
    expect(result.error_type).toBe('ValueError')
    expect(result.error).toMatch(/JSON/)
  })

  it('serialises datetimes returned by a Python sensor', async () => {
    const result = await run(
      files.write('dates.py', 'from datetime import datetime, timezone\ndef poll_sensor(c):\n    return {"at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)}\n'),
    )
    expect(result.events).toEqual([{at: '2026-01-02T03:04:05+00:00'}])
  })
})

describe('the 10 MB default cap', () => {
  it('truncates output over 10 MB with the default limit', async () => {
    const result = await run(files.write('eleven_mb.sh', '#!/bin/bash\nhead -c 11000000 /dev/zero | tr "\\0" y\n'))
    expect(result.truncated).toBe(true)
    expect(result.error).toBe('Sensor output exceeded the 10 MB limit; the sensor was stopped')
    expect(Buffer.byteLength(result.stdout)).toBe(10 * 1024 * 1024)
  })
})
