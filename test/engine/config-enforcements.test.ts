import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {loadConfig} from '../../src/engine/config.js'
import {attune} from '../support/cli.js'

const home = mkdtempSync(join(tmpdir(), 'attune-config-'))
afterAll(() => rmSync(home, {recursive: true, force: true}))

describe('pipeline.enforcements and Attune’s secret setting', () => {
  it('reads attune (default), executor, and Attune’s security.jwt_secret as a fallback only', () => {
    expect(loadConfig({env: {ATTUNE_HOME: home}, cwd: home}).config.pipeline.enforcements).toBe('attune')
    expect(loadConfig({env: {ATTUNE_HOME: home, ATTUNE_ENFORCEMENTS: 'executor'}, cwd: home}).config.pipeline.enforcements).toBe('executor')
    const fallback = loadConfig({env: {ATTUNE_HOME: home, ATTUNE__SECURITY__JWT_SECRET: 'a'.repeat(32)}, cwd: home}).config
    expect(fallback.auth.jwt_secret).toBe('a'.repeat(32))
    const ours = loadConfig({env: {ATTUNE_HOME: home, ATTUNE__SECURITY__JWT_SECRET: 'a'.repeat(32), ATTUNE_JWT_SECRET: 'b'.repeat(32)}, cwd: home}).config
    expect(ours.auth.jwt_secret).toBe('b'.repeat(32))
  })

  it('a bad ATTUNE_ENFORCEMENTS is exit 2 naming the variable, before anything is written', async () => {
    const run = await attune(['pack', 'register', 'packs/core'], {env: {ATTUNE_HOME: home, ATTUNE_ENFORCEMENTS: 'both'}})
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toContain('ATTUNE_ENFORCEMENTS must be attune or executor, got "both"')
  })

  it('a bad pipeline.enforcements in the config file is exit 2 naming the key', async () => {
    const file = join(home, 'attune.yaml')
    writeFileSync(file, 'pipeline:\n  enforcements: sometimes\n', {mode: 0o600})
    const run = await attune(['pack', 'list'], {env: {ATTUNE_HOME: home, ATTUNE_CONFIG: file}})
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toMatch(/pipeline\.enforcements/)
  })
})
