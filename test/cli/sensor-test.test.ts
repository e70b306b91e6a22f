import {execa} from 'execa'
import {afterAll, describe, expect, it} from 'vitest'
import {attune, BIN} from '../support/cli.js'
import {eventually, sensorDir} from '../support/sensors.js'

const files = sensorDir()
afterAll(() => files.cleanup())

const goodPython = files.write('good.py', 'def poll_sensor(config):\n    print("log line")\n    yield {"config": config}\n')
const failingNode = files.write('fails.cjs', 'exports.poll_sensor = () => { throw new Error("upstream is down") }\n')

describe('attune sensor test', () => {
  it('prints the SPEC result document with --json and exits 0', async () => {
    const run = await attune(['sensor', 'test', goodPython, '--config', '{"path": "/tmp"}', '--sensor-ref', 'my.sensor', '--trigger-ref', 'my.trigger', '--json'])
    expect(run.exitCode).toBe(0)
    const result = JSON.parse(run.stdout as string)
    expect(Object.keys(result).sort()).toEqual(
      ['count', 'duration_ms', 'error', 'error_type', 'events', 'exit_code', 'runtime', 'sensor_ref', 'signal', 'stderr', 'stdout', 'traceback', 'trigger_ref', 'truncated', 'warnings'].sort(),
    )
    expect(result).toMatchObject({sensor_ref: 'my.sensor', trigger_ref: 'my.trigger', runtime: 'python', count: 1, events: [{config: {path: '/tmp'}}], stdout: 'log line\n'})
  })

  it('renders events, logs and duration for people', async () => {
    const run = await attune(['sensor', 'test', goodPython, '--config', '{"path": "/tmp"}'])
    expect(run.exitCode).toBe(0)
    expect(run.stdout).toContain('✓ local.good (python)')
    expect(run.stdout).toMatch(/1 event in \d+ ms/)
    expect(run.stdout).toContain('Events (1)')
    expect(run.stdout).toContain('stdout │ log line')
    expect(run.stdout).not.toMatch(/\u001B\[/) // NO_COLOR is set by the helper
  })

  it('exits 1 with the error and stack when the sensor fails', async () => {
    const run = await attune(['sensor', 'test', failingNode])
    expect(run.exitCode).toBe(1)
    expect(run.stdout).toContain('Error: upstream is down')
    expect(run.stdout).toContain('fails.cjs:1')
    const json = await attune(['sensor', 'test', failingNode, '--json'])
    expect(json.exitCode).toBe(1)
    expect(JSON.parse(json.stdout as string)).toMatchObject({error: 'upstream is down', error_type: 'Error', events: []})
  })

  it('exits 1 on a timeout and says so', async () => {
    const slow = files.write('slow.sh', '#!/bin/sh\nsleep 30\n')
    const run = await attune(['sensor', 'test', slow, '--timeout', '0.5', '--json'])
    expect(run.exitCode).toBe(1)
    expect(JSON.parse(run.stdout as string).error).toBe('Sensor execution timed out after 0.5 seconds')
  })

  it('shows huge output bounded and at once, and still prints it whole under --json', async () => {
    // 12 MB on one line, over the 10 MB cap: laying that out in the terminal took minutes.
    const flood = files.write('flood.sh', "#!/bin/sh\nhead -c 12000000 /dev/zero | tr '\\0' z\n", 0o755)
    const human = await attune(['sensor', 'test', flood], {timeout: 60_000})
    expect(human.exitCode).toBe(1)
    expect(human.stdout).toMatch(/stdout │ z{20}/)
    expect(human.stdout).toMatch(/… \(\d+ more characters; --json shows all\)/)
    expect(human.stdout).toContain('OutputTooLarge: Sensor output exceeded the 10 MB limit')
    expect((human.stdout as string).length).toBeLessThan(20_000)
    // The JSON document is 10 MB of one string: written as it is (colouring it overflowed the stack).
    const json = await attune(['sensor', 'test', flood, '--json'], {timeout: 60_000})
    expect(json.exitCode).toBe(1)
    const result = JSON.parse(json.stdout as string)
    expect(result).toMatchObject({truncated: true, error_type: 'OutputTooLarge'})
    expect(result.stdout.length).toBe(10 * 1024 * 1024)
    // A long error message and many lines are cut the same way.
    const loud = files.write('loud.py', 'import sys\ndef poll_sensor(config):\n    for i in range(1000):\n        print("line", i)\n    raise ValueError("x" * 100000)\n')
    const failed = await attune(['sensor', 'test', loud])
    expect(failed.exitCode).toBe(1)
    expect(failed.stdout).toContain('… 800 earlier lines not shown (see --json)')
    expect(failed.stdout).toContain('stdout │ line 999')
    expect(failed.stdout).toMatch(/ValueError: x{50}[\s\S]*… \(98000 more\s+characters; --json shows all\)/)
  })

  it('reads the config from a YAML file', async () => {
    const config = files.write('config.yaml', 'path: /var/log\nthreshold: 5\n')
    const run = await attune(['sensor', 'test', goodPython, '--config', `@${config}`, '--json'])
    expect(JSON.parse(run.stdout as string).events).toEqual([{config: {path: '/var/log', threshold: 5}}])
  })

  it.each([
    [['sensor', 'test', '/definitely/missing.py'], /Sensor file not found: \/definitely\/missing\.py/],
    [['sensor', 'test', goodPython, '--config', '{not json'], /--config is not valid JSON/],
    [['sensor', 'test', goodPython, '--config', '[1, 2]'], /--config must be a JSON object/],
    [['sensor', 'test', goodPython, '--config', '@/no/such/config.json'], /--config: cannot read \/no\/such\/config\.json/],
    [['sensor', 'test', goodPython, '--runtime', 'cobol'], /Unsupported sensor runtime: cobol/],
    [['sensor', 'test', files.write('mystery.dat', 'poll me\n')], /Cannot tell the runtime of .*mystery\.dat: no known extension[\s\S]*Pass --runtime/],
    [['sensor', 'test', goodPython, '--timeout', '-3'], /--timeout must be a positive number/],
    [['sensor', 'test', goodPython, '--env', 'NOEQUALS'], /--env must be KEY=VALUE/],
    [['sensor', 'test', goodPython, '--sensor-ref', 'no dots'], /--sensor-ref must look like pack.name/],
    [['sensor', 'test', goodPython, '--repeat', '0'], /repeat/],
    [['sensor', 'test', goodPython, '--no-such-flag'], /Nonexistent flag: --no-such-flag/],
    [['sensor', 'test'], /Missing 1 required arg/],
  ])('exits 2 for bad usage: %j', async (args, message) => {
    const run = await attune(args)
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toMatch(message)
    expect(run.stderr).not.toMatch(/\n\s+at .*\.js:\d+/) // no stack trace for user errors
    expect(run.stdout).toBe('')
  })

  it('prints bad usage as one JSON error document under --json', async () => {
    const run = await attune(['sensor', 'test', '/missing.py', '--json'])
    expect(run.exitCode).toBe(2)
    expect(JSON.parse(run.stdout as string)).toEqual({error: {message: 'Sensor file not found: /missing.py', code: 'sensor_not_found', exit_code: 2}})
  })

  it('refuses --watch with --json: a watch never ends in one document', async () => {
    const run = await attune(['sensor', 'test', goodPython, '--watch', '--json'])
    expect(run.exitCode).toBe(2)
    expect(JSON.parse(run.stdout as string).error.message).toMatch(/cannot also be provided when using --watch/)
  })

  it('rejects an unknown key in the config file by name', async () => {
    const config = files.write('attune.yaml', 'sensor:\n  timout: 5\n')
    const run = await attune(['sensor', 'test', goodPython, '--config-file', config])
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toContain('Unknown key "sensor.timout"')
  })

  it('takes the timeout from the environment below the flag', async () => {
    const slow = files.write('slow2.sh', '#!/bin/sh\nsleep 30\n')
    const fromEnv = await attune(['sensor', 'test', slow, '--json'], {env: {NO_COLOR: '1', ATTUNE_SENSOR_TIMEOUT: '0.4'}})
    expect(JSON.parse(fromEnv.stdout as string).error).toMatch(/after 0\.4 seconds/)
    const flagWins = await attune(['sensor', 'test', slow, '--json', '--timeout', '0.6'], {env: {NO_COLOR: '1', ATTUNE_SENSOR_TIMEOUT: '0.4'}})
    expect(JSON.parse(flagWins.stdout as string).error).toMatch(/after 0\.6 seconds/)
  })

  it('polls a persistent runner --repeat times through one process', async () => {
    const counter = files.write('counter.py', 'n = 0\ndef poll_sensor(config):\n    global n\n    n += 1\n    return {"n": n}\n')
    const run = await attune(['sensor', 'test', counter, '--persistent', '--repeat', '4', '--json'])
    expect(run.exitCode).toBe(0)
    const output = JSON.parse(run.stdout as string)
    expect(output.persistent).toBe(true)
    expect(output.runner_starts).toBe(1)
    expect(output.runs.map((result: {events: Array<{n: number}>}) => result.events[0].n)).toEqual([1, 2, 3, 4])
    const human = await attune(['sensor', 'test', counter, '--persistent', '--repeat', '3'])
    expect(human.stdout).toContain('poll 3 ✓ 1 event')
    expect(human.stdout).toContain('3 polls, 0 failed')
    expect(human.stdout).toContain('runner started 1×')
  })

  it('runs each example sensor of the examples pack', async () => {
    for (const [file, config] of [
      ['packs/examples/sensors/disk_usage.sh', '{"path": "/", "threshold": 0}'],
      ['packs/examples/sensors/file_watcher.py', JSON.stringify({path: files.dir, state_file: `${files.dir}/watcher.state`})],
      ['packs/examples/sensors/http_monitor.js', '{"url": "http://127.0.0.1:9/", "timeout": 1000}'],
    ]) {
      const run = await attune(['sensor', 'test', file, '--config', config, '--json'])
      expect(run.exitCode, `${file}: ${run.stdout}${run.stderr}`).toBe(0)
      expect(JSON.parse(run.stdout as string).count, file).toBeGreaterThan(0)
    }
  })

  it('re-runs on change with --watch and stops on Ctrl-C', async () => {
    const watched = files.write('watched.py', 'def poll_sensor(config):\n    return {"version": 1, "meta": {"nested": True}}\n')
    const child = execa(process.execPath, [BIN, 'sensor', 'test', watched, '--watch'], {reject: false, env: {NO_COLOR: '1', NODE_ENV: 'production'}})
    let stdout = ''
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    expect(await eventually(() => stdout.includes('version: 1'), 15_000)).toBe(true)
    files.write('watched.py', 'def poll_sensor(config):\n    return {"version": 2, "meta": {"nested": True}}\n')
    expect(await eventually(() => stdout.includes('version: 2'), 15_000)).toBe(true)
    child.kill('SIGINT')
    const done = await child
    expect(done.exitCode).toBe(130)
  })
})

describe('attune --version and --help', () => {
  it('says which commands were meant for an unknown one, exit 2, as JSON under --json', async () => {
    const human = await attune(['sensor', 'tset'])
    expect(human.exitCode).toBe(2)
    expect(human.stderr).toContain('Error: command sensor tset not found')
    expect(human.stderr).toContain('attune sensor test')
    const json = await attune(['sensor', 'tset', '--json'])
    expect(json.exitCode).toBe(2)
    expect(JSON.parse(json.stdout as string).error).toMatchObject({code: 'command_not_found', exit_code: 2, message: 'command sensor tset not found'})
  })

  it('prints the version', async () => {
    const run = await attune(['--version'])
    expect(run.exitCode).toBe(0)
    expect(run.stdout).toMatch(/^attune\/\d+\.\d+\.\d+/)
  })

  it('teaches sensor test in --help', async () => {
    const run = await attune(['sensor', 'test', '--help'])
    expect(run.exitCode).toBe(0)
    for (const text of ['--persistent', '--watch', '--json', 'poll_sensor(config)', 'Exit codes', 'EXAMPLES']) expect(run.stdout).toContain(text)
  })
})
