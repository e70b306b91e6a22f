import {describe, expect, it} from 'vitest'
import {redactUrl} from '../../src/engine/redact.js'
import {attune} from '../support/cli.js'

describe('secrets in connection URLs', () => {
  it('masks the user password and every secret query parameter', () => {
    expect(redactUrl('postgres://attune:hunter2@db.internal:5432/attune')).toBe('postgres://attune:***@db.internal:5432/attune')
    const shown = redactUrl('postgres://attune@db.internal/attune?sslmode=require&password=hunter2&sslpassword=k3y&PWD=x')
    expect(shown).not.toMatch(/hunter2|k3y|PWD=x/)
    expect(shown).toContain('sslmode=require')
    expect(shown).toContain('password=***')
    expect(redactUrl('not a url ?password=hunter2', 'database URL')).toBe('<unparseable database URL>')
  })

  it('never prints a ?password= of the database URL in a connection error', async () => {
    const run = await attune(['event', 'list'], {env: {ATTUNE_DATABASE_URL: 'postgres://attune@127.0.0.1:1/attune?password=hunter2&connect_timeout=2'}})
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toContain('password=***')
    expect(`${run.stdout}${run.stderr}`).not.toContain('hunter2')
  })
})
