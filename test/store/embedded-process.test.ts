import {execa} from 'execa'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {ROOT} from '../support/cli.js'

const home = mkdtempSync(join(tmpdir(), 'attune-dbproc-'))
afterAll(() => rmSync(home, {recursive: true, force: true}))

describe('the embedded database in a child process', () => {
  it('starts once from a `node -e` parent (whose execArgv holds its script), serves, and stops with it', async () => {
    // Regression: forwarding execArgv made the child run the parent's -e script again, recursively.
    const script = `
      const {startEmbeddedDatabaseProcess} = await import('./dist/engine/store/embedded-process.js')
      const {openPgStore} = await import('./dist/engine/store/index.js')
      console.log('PARENT RAN')
      const server = await startEmbeddedDatabaseProcess(process.env.HOME_DIR)
      const store = await openPgStore(server.url, {max: 1})
      const {rows} = await store.query("SELECT count(*)::int AS n FROM attune_sensor.schema_migrations")
      console.log('MIGRATIONS', rows[0].n)
      await store.close()
      await server.close()`
    const run = await execa(process.execPath, ['--input-type=module', '-e', script], {cwd: ROOT, env: {HOME_DIR: home}, reject: false, timeout: 120_000})
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.stdout.match(/PARENT RAN/g)).toHaveLength(1)
    expect(run.stdout).toMatch(/MIGRATIONS [1-9]/)
    expect(existsSync(join(home, 'run', '.s.PGSQL.5432'))).toBe(false)
    expect(existsSync(join(home, 'pgdata.lock'))).toBe(false)
  })
})
