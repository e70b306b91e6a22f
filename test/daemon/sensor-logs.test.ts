import {execa} from 'execa'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {openStore, type SensorLogRecord} from '../../src/engine/store/index.js'
import {attune, BIN, ROOT} from '../support/cli.js'
import {attuneJson, startDaemon, writePack, type DaemonProcess} from '../support/daemon.js'
import {eventually} from '../support/sensors.js'

/**
 * The daemon's log (pino: pid, hostname, service, version on every line, errors with their
 * stack, --log-level / ATTUNE_LOG_LEVEL) and the sensor logs it stores for `attune sensor logs`:
 * a shell poll sensor that writes 300 stderr lines a poll (kept: the last 200), a Python poll
 * sensor that raises (its traceback), a long-running sensor's stderr; real daemon, embedded
 * database.
 */
const home = mkdtempSync(join(tmpdir(), 'attune-sensor-logs-'))
const pack = writePack(join(home, 'pack'), {
  'pack.yaml': 'ref: lg\n',
  'triggers/t.yaml': 'ref: lg.t\n',
  'sensors/noisy.sh': '#!/bin/sh\ni=1\nwhile [ $i -le 300 ]; do echo "noisy line $i of 300" >&2; i=$((i+1)); done\nprintf \'{"events": []}\\n\'\n',
  'sensors/noisy.yaml': 'ref: lg.noisy\nrunner_type: shell\nentry_point: noisy.sh\ntrigger_types: [lg.t]\npoll_interval: 1\n',
  'sensors/boom.py': 'import sys\n\ndef poll_sensor(config):\n    print("about to fail", file=sys.stderr)\n    raise ValueError("boom from the sensor")\n',
  'sensors/boom.yaml': 'ref: lg.boom\nrunner_type: python\nentry_point: boom.py\ntrigger_types: [lg.t]\npoll_interval: 1\n',
  'sensors/chatty.sh': '#!/bin/sh\nn=0\nwhile true; do n=$((n+1)); echo "chatty says $n" >&2; sleep 0.5; done\n',
  'sensors/chatty.yaml': 'ref: lg.chatty\nrunner_type: shell\nentry_point: chatty.sh\nexecution: long_running\ntrigger_types: [lg.t]\n',
  // Made unusable in the database by a test: the timer service then logs an error record (with err).
  'rules/cron.yaml': 'ref: lg.cron\ntrigger_ref: core.crontimer\ntrigger_params: {expression: "0 0 0 1 1 *"}\naction_ref: core.echo\n',
})
const env = {ATTUNE_HOME: join(home, 'home')}
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {version: string}).version
let daemon: DaemonProcess

beforeAll(async () => {
  daemon = await startDaemon(['--packs', join(ROOT, 'packs', 'core'), '--packs', pack, '--log-level', 'debug'], env, {startTimeoutMs: 150_000})
}, 180_000)

afterAll(async () => {
  if (daemon && daemon.process.exitCode === null) await daemon.stop('SIGKILL')
  rmSync(home, {recursive: true, force: true})
})

const logsOf = async (ref: string, extra: string[] = []) => (await attuneJson<{sensor: string; lines: SensorLogRecord[]}>(['sensor', 'logs', ref, ...extra], env)).lines

describe('the daemon log', () => {
  it('has pid, hostname, service and version on every line, level labels and ISO times', () => {
    expect(daemon.logs.length).toBeGreaterThan(5)
    for (const log of daemon.logs) {
      expect(log).toMatchObject({pid: daemon.process.pid, hostname: hostname(), service: 'attune', version})
      expect(['debug', 'info', 'warn', 'error']).toContain(log.level)
      expect(new Date(String(log.ts)).toISOString()).toBe(log.ts)
      expect(typeof log.msg).toBe('string')
    }
  })

  it('--log-level debug adds a line for every poll started and finished, with its duration', async () => {
    expect(await eventually(() => daemon.logs.some((log) => log.msg === 'poll finished' && log.sensor === 'lg.noisy'), 30_000)).toBe(true)
    const finished = daemon.logs.find((log) => log.msg === 'poll finished' && log.sensor === 'lg.noisy')!
    expect(finished).toMatchObject({level: 'debug', ok: true})
    expect(typeof finished.duration_ms).toBe('number')
    expect(daemon.logs.some((log) => log.msg === 'poll started' && log.level === 'debug')).toBe(true)
    expect(await eventually(() => daemon.logs.some((log) => log.msg === 'lease tick' || log.msg === 'sensor log lines stored'), 10_000)).toBe(true)
  }, 60_000)

  it('logs an error as an err object with its message and stack', async () => {
    // Through the daemon's socket, as any command on this home would.
    const store = await openStore({home: env.ATTUNE_HOME})
    try {
      await store.query(`UPDATE attune.rule SET trigger_params = '{"expression": "not a cron at all"}'::jsonb, updated = now() WHERE ref = 'lg.cron'`)
    } finally {
      await store.close()
    }
    expect(await eventually(() => daemon.logs.some((log) => log.msg === 'timer rule cannot run'), 30_000)).toBe(true)
    const record = daemon.logs.find((log) => log.msg === 'timer rule cannot run')!
    const err = record.err as {message: string; stack: string; type: string}
    expect(record.level).toBe('error')
    expect(err.message).toMatch(/cron|expression/i)
    expect(err.stack).toContain(err.message)
    expect(err.stack).toMatch(/\n\s+at /)
  }, 60_000)
})

describe('sensor logs', () => {
  it('logs and stores what a poll sensor writes on stderr, the last 200 lines of each poll', async () => {
    expect(await eventually(() => daemon.logs.some((log) => log.msg === 'sensor log' && log.sensor === 'lg.noisy' && log.line === 'noisy line 300 of 300'), 30_000)).toBe(true)
    expect(daemon.logs.some((log) => log.msg === 'sensor log' && log.sensor === 'lg.noisy' && log.line === 'noisy line 100 of 300')).toBe(false)
    let lines: SensorLogRecord[] = []
    for (let i = 0; i < 40 && !lines.some((line) => line.line === 'noisy line 300 of 300'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 500))
      lines = await logsOf('lg.noisy', ['--lines', '1000'])
    }
    // The newest poll (older ones may be partly pruned already).
    const firstPoll = lines.filter((line) => line.poll === lines.at(-1)!.poll)
    expect(firstPoll.length).toBe(201)
    expect(firstPoll[0].line).toBe('… 100 earlier line(s) not kept')
    expect(firstPoll[1]).toMatchObject({sensor: 'lg.noisy', stream: 'stderr', line: 'noisy line 101 of 300'})
    expect(firstPoll.at(-1)!.line).toBe('noisy line 300 of 300')
    // --lines: the newest N, oldest first.
    const last3 = await logsOf('lg.noisy', ['--lines', '3'])
    expect(last3.map((line) => line.line)).toEqual(['noisy line 298 of 300', 'noisy line 299 of 300', 'noisy line 300 of 300'])
    // Human output: one line each, with the stream.
    const text = await attune(['sensor', 'logs', 'lg.noisy', '-n', '2'], {env: {NO_COLOR: '1', NODE_ENV: 'production', ...env}})
    expect(text.exitCode).toBe(0)
    expect(String(text.stdout).trim().split('\n')).toHaveLength(2)
    expect(text.stdout).toMatch(/stderr\s+poll \w+\s+noisy line 300 of 300$/)
  }, 60_000)

  it('keeps at most 1000 lines per sensor', async () => {
    // 201 lines a poll, a poll a second: past 1000 after five polls.
    let count = 0
    for (let i = 0; i < 60 && count < 1000; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1000))
      count = (await logsOf('lg.noisy', ['--lines', '5000'])).length
    }
    expect(count).toBe(1000)
    await new Promise((resolve) => setTimeout(resolve, 2500))
    expect((await logsOf('lg.noisy', ['--lines', '5000'])).length).toBe(1000)
  }, 120_000)

  it("keeps a Python sensor's stderr and traceback", async () => {
    let lines: SensorLogRecord[] = []
    for (let i = 0; i < 40 && !lines.some((line) => line.stream === 'traceback'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 500))
      lines = await logsOf('lg.boom')
    }
    expect(lines).toContainEqual(expect.objectContaining({stream: 'stderr', line: 'about to fail'}))
    const traceback = lines.filter((line) => line.stream === 'traceback' && line.poll === lines.find((l) => l.stream === 'traceback')!.poll)
    expect(traceback[0].line).toMatch(/^Traceback/)
    expect(traceback.some((line) => line.line.includes('boom.py'))).toBe(true)
    expect(traceback.at(-1)!.line).toBe('ValueError: boom from the sensor')
    const logged = daemon.logs.find((log) => log.msg === 'sensor traceback' && log.sensor === 'lg.boom')
    expect(logged).toMatchObject({level: 'warn', error_type: 'ValueError'})
    expect(String(logged!.traceback)).toContain('ValueError: boom from the sensor')
  }, 60_000)

  it("stores a long-running sensor's stderr lines with its pid", async () => {
    let lines: SensorLogRecord[] = []
    for (let i = 0; i < 40 && lines.length < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500))
      lines = await logsOf('lg.chatty')
    }
    expect(lines.length).toBeGreaterThanOrEqual(2)
    expect(lines[0]).toMatchObject({stream: 'stderr', poll: null})
    expect(lines[0].line).toMatch(/^chatty says \d+$/)
    expect(lines[0].pid).toBeGreaterThan(0)
  }, 60_000)

  it('--follow prints new lines as they arrive, as JSON lines under --json', async () => {
    const before = await logsOf('lg.chatty', ['--lines', '1'])
    const child = execa(process.execPath, [BIN, 'sensor', 'logs', 'lg.chatty', '--follow', '--lines', '1', '--json'], {
      cwd: ROOT,
      env: {NO_COLOR: '1', NODE_ENV: 'production', ...env},
      reject: false,
      buffer: false,
    })
    const seen: SensorLogRecord[] = []
    let partial = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n')
      partial = parts.pop() ?? ''
      for (const part of parts) seen.push(JSON.parse(part) as SensorLogRecord)
    })
    try {
      // Lines written after the command started, not only the one it printed first.
      expect(await eventually(() => seen.filter((line) => line.id > before[0].id).length >= 2, 30_000)).toBe(true)
      expect(seen.every((line) => line.sensor === 'lg.chatty')).toBe(true)
      const ids = seen.map((line) => line.id)
      expect([...ids].sort((a, b) => a - b)).toEqual(ids)
      expect(new Set(ids).size).toBe(ids.length)
    } finally {
      child.kill('SIGINT')
    }
    const done = await child
    expect(done.exitCode).toBe(0)
  }, 60_000)

  it('an unknown sensor is bad input: exit 2, with the closest ref', async () => {
    const run = await attune(['sensor', 'logs', 'lg.noisey', '--json'], {env: {NO_COLOR: '1', NODE_ENV: 'production', ...env}})
    expect(run.exitCode).toBe(2)
    const body = JSON.parse(String(run.stdout)) as {error: {code: string; message: string; hint: string}}
    expect(body.error).toMatchObject({code: 'sensor_not_found'})
    expect(body.error.hint).toContain('lg.noisy')
    const bad = await attune(['sensor', 'logs', 'lg.noisy', '--since', 'yesterday'], {env: {NO_COLOR: '1', NODE_ENV: 'production', ...env}})
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr).toContain('--since')
  }, 60_000)
})

describe('ATTUNE_LOG_LEVEL', () => {
  it('warn leaves out the info lines (and a bad value is bad input)', async () => {
    await daemon.stop()
    const child = execa(process.execPath, [BIN, 'daemon', '--no-ui', '--health-port', '0', '--api-port', '0'], {
      cwd: ROOT,
      env: {NO_COLOR: '1', NODE_ENV: 'production', ATTUNE_LOG_LEVEL: 'warn', ...env},
      reject: false,
      buffer: false,
    })
    const lines: Array<Record<string, unknown>> = []
    let partial = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n')
      partial = parts.pop() ?? ''
      for (const part of parts) lines.push(JSON.parse(part) as Record<string, unknown>)
    })
    try {
      // lg.boom fails every second: a warn line (poll failed, sensor traceback) comes soon.
      expect(await eventually(() => lines.some((line) => line.msg === 'sensor traceback'), 60_000)).toBe(true)
    } finally {
      child.kill('SIGTERM')
    }
    await child
    expect(lines.length).toBeGreaterThan(0)
    expect(lines.filter((line) => line.level !== 'warn' && line.level !== 'error')).toEqual([])

    const bad = await attune(['daemon', '--no-ui'], {env: {NO_COLOR: '1', NODE_ENV: 'production', ATTUNE_LOG_LEVEL: 'chatty', ...env}})
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr).toContain('ATTUNE_LOG_LEVEL must be one of debug, info, warn, error')
  }, 120_000)
})
