import {mkdtempSync, rmSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {attune} from '../support/cli.js'
import {startDaemon} from '../support/daemon.js'

const home = mkdtempSync(join(tmpdir(), 'attune-daemon-bad-'))
const env = {NO_COLOR: '1', NODE_ENV: 'production', ATTUNE_HOME: home}
afterAll(() => rmSync(home, {recursive: true, force: true}))

describe('attune daemon, bad input', () => {
  it('exits 2 naming a pack folder that does not exist, and leaves nothing running', async () => {
    const run = await attune(['daemon', '--no-ui', '--packs', join(home, 'no-such-pack')], {env})
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toContain('no-such-pack: is not a folder')
    expect(run.stderr).not.toMatch(/\n\s+at /)
  })

  it('exits 2 when the health port is taken', async () => {
    const blocker: Server = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as {port: number}).port
    try {
      const run = await attune(['daemon', '--no-ui', '--health-port', String(port)], {env})
      expect(run.exitCode).toBe(2)
      expect(run.stderr).toMatch(/EADDRINUSE/)
    } finally {
      blocker.close()
    }
  })

  it('exits 2 for a bad flag value', async () => {
    const run = await attune(['daemon', '--health-port', '70000'], {env})
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toMatch(/health-port/)
  })

  it('refuses a second daemon on the same embedded database, naming the first', async () => {
    const first = await startDaemon([], {ATTUNE_HOME: home})
    try {
      const second = await attune(['daemon', '--no-ui'], {env})
      expect(second.exitCode).toBe(2)
      // The holder is the first daemon's database process (a child of the daemon).
      expect(second.stderr).toMatch(/The embedded database .* is in use by process \d+/)
    } finally {
      expect((await first.stop('SIGTERM')).exitCode).toBe(0)
    }
  })
})
