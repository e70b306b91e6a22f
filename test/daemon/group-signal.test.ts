/**
 * SIGTERM to the daemon's whole process group, as systemd's default KillMode (control-group)
 * and `kill -TERM -<pgid>` send it: the embedded database child must outlive the daemon's
 * shutdown, so polls in flight are stored and the outbox is flushed.
 */
import {spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {BIN, ROOT} from '../support/cli.js'
import {writePack} from '../support/daemon.js'
import {eventually} from '../support/sensors.js'

const home = mkdtempSync(join(tmpdir(), 'attune-group-signal-'))
afterAll(() => rmSync(home, {recursive: true, force: true}))

const pack = writePack(join(home, 'pack'), {
  'pack.yaml': 'ref: gg\n',
  'triggers/t.yaml': 'ref: gg.t\n',
  'sensors/s.sh': '#!/bin/sh\necho \'{"events": [{"n": 1}]}\'\n',
  'sensors/s.yaml': 'ref: gg.s\nrunner_type: shell\nentry_point: s.sh\ntrigger_types: [gg.t]\npoll_interval: 1\n',
  'rules/r.yaml': 'ref: gg.r\ntrigger: {type: gg.t}\naction: {ref: core.echo}\n',
})
const slowPack = writePack(join(home, 'slow-pack'), {
  'pack.yaml': 'ref: gs\n',
  'triggers/t.yaml': 'ref: gs.t\n',
  'sensors/slow.sh': '#!/bin/sh\nsleep 25\necho \'{"events": []}\'\n',
  'sensors/slow.yaml': 'ref: gs.slow\nrunner_type: shell\nentry_point: slow.sh\ntrigger_types: [gs.t]\npoll_interval: 1\n',
})

/** The daemon in a process group of its own, and its JSON log lines. */
async function startInOwnGroup(packDir: string, dataHome: string) {
  const daemon = spawn(process.execPath, [BIN, 'daemon', '--no-ui', '--api-port', '0', '--packs', packDir], {
    cwd: ROOT,
    env: {...process.env, NO_COLOR: '1', NODE_ENV: 'production', ATTUNE_HOME: dataHome},
    detached: true, // its own process group, with the embedded database child in it
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: Array<Record<string, unknown>> = []
  let partial = ''
  daemon.stdout.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n')
    partial = parts.pop() ?? ''
    for (const line of parts) lines.push(JSON.parse(line) as Record<string, unknown>)
  })
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) => daemon.once('exit', (code, signal) => resolve({code, signal})))
  expect(await eventually(() => lines.some((line) => line.msg === 'daemon started'), 60_000)).toBe(true)
  return {daemon, lines, exited}
}

describe('attune daemon and a SIGTERM to its whole process group', () => {
  it('finishes its shutdown on the embedded database and exits 0 promptly', async () => {
    const {daemon, lines, exited} = await startInOwnGroup(pack, join(home, 'one'))
    expect(await eventually(() => lines.some((line) => line.msg === 'sensor ownership changed'), 10_000)).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 2500)) // a few polls
    const signalledAt = Date.now()
    process.kill(-daemon.pid!, 'SIGTERM')
    expect((await exited).code).toBe(0)
    expect(Date.now() - signalledAt).toBeLessThan(15_000) // not stuck retrying a vanished database
    const stopped = lines.find((line) => line.msg === 'daemon stopped')
    expect(stopped).toMatchObject({clean: true, unpublished: 0})
    expect(lines.filter((line) => line.msg === 'publishing is delayed')).toEqual([])
  }, 120_000)
  it('counts a signal delivered twice at once as one, and a later second one as "stop now"', async () => {
    const {daemon, lines, exited} = await startInOwnGroup(slowPack, join(home, 'two'))
    await new Promise((resolve) => setTimeout(resolve, 3000)) // the slow poll is in flight
    process.kill(-daemon.pid!, 'SIGTERM') // as `timeout` does: to the daemon...
    process.kill(daemon.pid!, 'SIGTERM') // ...and again, at once
    await new Promise((resolve) => setTimeout(resolve, 1500))
    expect(daemon.exitCode).toBeNull() // still finishing the poll in flight, gracefully
    expect(lines.some((line) => line.msg === 'second signal: stopping at once')).toBe(false)
    process.kill(daemon.pid!, 'SIGTERM') // somebody asks again
    expect((await exited).code).toBe(143)
    expect(lines.some((line) => line.msg === 'second signal: stopping at once')).toBe(true)
  }, 120_000)
})
