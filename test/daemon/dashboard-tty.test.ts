/**
 * `attune daemon` on a real terminal (a pseudo-terminal of 80×24 made by util-linux `script`):
 * the dashboard with 30 sensors of 60-character refs fits the terminal, never scrolls or clears
 * it, scrolls with PgDn, and `q` stops the daemon gracefully (exit 0) with a "stopping…" line.
 */
import {spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import stringWidth from 'string-width'
import {afterAll, describe, expect, it} from 'vitest'
import {BIN, ROOT} from '../support/cli.js'
import {writePack} from '../support/daemon.js'
import {Screen} from '../support/screen.js'
import {eventually} from '../support/sensors.js'

const home = mkdtempSync(join(tmpdir(), 'attune-dashboard-tty-'))
afterAll(() => rmSync(home, {recursive: true, force: true}))

const refOf = (index: number) => `ttylong.s${String(index).padStart(2, '0')}_a_sensor_with_a_long_descriptive_name_here`.padEnd(60, 'x').slice(0, 60)
const files: Record<string, string> = {
  'pack.yaml': 'ref: ttylong\n',
  'triggers/t.yaml': 'ref: ttylong.t\n',
  'sensors/s.sh': '#!/bin/sh\necho \'{"events": [{"n": 1}]}\'\n',
}
for (let index = 1; index <= 30; index++) {
  files[`sensors/s${index}.yaml`] = `ref: ${refOf(index)}\nrunner_type: shell\nentry_point: s.sh\ntrigger_types: [ttylong.t]\npoll_interval: 5\n`
}
const pack = writePack(join(home, 'pack'), files)

const withoutCi = (env: NodeJS.ProcessEnv) => Object.fromEntries(Object.entries(env).filter(([key]) => key !== 'CI' && key !== 'CONTINUOUS_INTEGRATION' && !key.startsWith('CI_')))

describe('the dashboard on an 80×24 terminal', () => {
  it('fits, keeps the scrollback, scrolls to every sensor, and q stops the daemon gracefully', {timeout: 240_000}, async () => {
    const command = `stty cols 80 rows 24 && exec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} daemon --api-port 0 --packs ${JSON.stringify(pack)}`
    const child = spawn('script', ['--quiet', '--flush', '--echo', 'never', '--return', '--command', command, '/dev/null'], {
      cwd: ROOT,
      // A user's terminal, not CI: in CI the daemon writes log lines instead (ink draws nothing there until the end).
      env: {...withoutCi(process.env), NO_COLOR: '1', NODE_ENV: 'production', ATTUNE_HOME: join(home, 'data')},
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    try {
      const shown = await eventually(() => output.includes('daemon started') && output.includes('↓'), 180_000)
      expect(shown, output.slice(-2000)).toBe(true)
      for (let page = 0; page < 3; page++) {
        child.stdin.write('\u001B[6~') // PgDn
        await new Promise((resolve) => setTimeout(resolve, 400))
      }
      expect(await eventually(() => output.includes('↑'), 10_000)).toBe(true)
      child.stdin.write('q')
      expect(await eventually(() => output.includes('stopping…'), 10_000), output.slice(-2000)).toBe(true)
      expect(await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 60_000))])).toBe(0)
    } finally {
      child.kill('SIGKILL')
    }

    // Never cleared: neither the screen (ESC[2J, ESC c) nor the scrollback (ESC[3J).
    expect(output).not.toMatch(/\u001B\[[23]J|\u001Bc/)
    // Replayed on an 80×24 screen: nothing ever scrolled into the scrollback, no line is wider.
    const screen = new Screen(80, 24)
    screen.write(output)
    expect(screen.scrollback).toEqual([])
    for (const line of screen.lines) expect(stringWidth(line), line).toBeLessThanOrEqual(80)
    expect(screen.lines[0], screen.lines.join('\n')).toMatch(/^attune daemon /)
    expect(screen.lines.join('\n')).toMatch(/database ok embedded/)
    expect(screen.lines.findLast((line) => line !== '')).toBe('daemon stopped')
    // Every sensor was on screen at some point, its ref cut at the end.
    for (let index = 1; index <= 30; index++) expect(output).toContain(refOf(index).slice(0, 20))
    expect(output).toMatch(/ttylong\.s01_a_sensor_with_… /)
  })
})
