import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {attune} from '../support/cli.js'
import {attuneJson, startDaemon, writePack, type DaemonProcess} from '../support/daemon.js'
import {eventually} from '../support/sensors.js'

// `attune sensor disable` while a daemon runs: no restart, no signal; the daemon's reconciler
// reads the enabled sensors every tick and stops polling the disabled one.
const home = mkdtempSync(join(tmpdir(), 'attune-cli-disable-'))
const env = {ATTUNE_HOME: home, ATTUNE_JWT_SECRET: 'disable-test-secret-0123456789-0123456789'}
const packDir = writePack(join(home, 'pack'), {
  'pack.yaml': 'ref: dd\n',
  'triggers/tick.yaml': 'ref: dd.tick\n',
  'sensors/ticker.sh': '#!/bin/sh\necho \'{"events": [{"n": 1}]}\'\n',
  'sensors/ticker.yaml': 'ref: dd.ticker\nrunner_type: shell\nentry_point: ticker.sh\ntrigger_types: [dd.tick]\npoll_interval: 1\n',
})

let daemon: DaemonProcess
beforeAll(async () => {
  daemon = await startDaemon(['--packs', packDir], env)
}, 180_000)
afterAll(async () => {
  if (daemon?.process.exitCode === null) await daemon.stop()
  rmSync(home, {recursive: true, force: true})
})

const polls = async () => (await attuneJson<{status: {polls: number} | null}>(['sensor', 'show', 'dd.ticker'], env)).status?.polls ?? 0
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return true
    await sleep(500)
  }
  return check()
}

describe('a running daemon and sensor disable/enable', () => {
  it('stops polling a disabled sensor at its next tick, and polls it again once enabled', async () => {
    expect(await until(async () => (await polls()) >= 2, 60_000)).toBe(true)

    const disabled = await attune(['sensor', 'disable', 'dd.ticker'], {env})
    expect(disabled.exitCode, disabled.stderr as string).toBe(0)
    expect(await eventually(() => daemon.logs.some((log) => log.msg === 'sensor removed or disabled' && log.sensor === 'dd.ticker'), 30_000)).toBe(true)
    const shown = await attuneJson<{sensor: {enabled: boolean}; status: {state: string}}>(['sensor', 'show', 'dd.ticker'], env)
    expect(shown.sensor.enabled).toBe(false)
    expect(shown.status.state).toBe('disabled')
    // A poll under way when the tick came may still finish; after that the count stays.
    await sleep(1500)
    const stopped = await polls()
    await sleep(3000)
    expect(await polls()).toBe(stopped)

    expect((await attune(['sensor', 'enable', 'dd.ticker'], {env})).exitCode).toBe(0)
    expect(await until(async () => (await polls()) > stopped, 60_000)).toBe(true)
  }, 240_000)
})
