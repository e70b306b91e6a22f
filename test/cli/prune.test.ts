/**
 * `attune db prune` as a user runs it (the built CLI on an embedded home): bad durations are
 * usage errors naming the flag, a dry run reports the counts and changes nothing, a real run
 * deletes them, and without flags the retention.* settings of the config file apply.
 */
import {chmodSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {openStore} from '../../src/engine/store/index.js'
import {attune} from '../support/cli.js'

const home = mkdtempSync(join(tmpdir(), 'attune-prune-'))
const env = {ATTUNE_HOME: home, NO_COLOR: '1', NODE_ENV: 'production'}
afterAll(() => rmSync(home, {recursive: true, force: true}))

async function seed(): Promise<void> {
  const store = await openStore({home})
  try {
    await store.query('TRUNCATE attune.event, attune.enforcement, attune_sensor.outbox RESTART IDENTITY')
    // Three events of two hours ago (one with an enforcement), two fresh ones.
    for (const age of [7200, 7200, 7200, 5, 5]) {
      await store.query(`INSERT INTO attune.event (trigger_ref, payload, created) VALUES ('p.t', '{}'::jsonb, now() - make_interval(secs => $1))`, [age])
    }
    await store.query(`INSERT INTO attune.enforcement (rule_ref, trigger_ref, event, payload, created) VALUES ('p.r', 'p.t', 1, '{}'::jsonb, now() - interval '2 hours')`)
  } finally {
    await store.close()
  }
}

async function prune(args: string[]) {
  const run = await attune(['db', 'prune', ...args, '--json'], {env})
  expect(run.exitCode, `${run.stderr}`).toBe(0)
  return JSON.parse(String(run.stdout)) as {dry_run: boolean; pruned: Record<string, number>; database: string}
}

describe('attune db prune', () => {
  beforeAll(seed, 120_000)

  it('refuses a bad duration with exit 2, naming the flag and the value', async () => {
    for (const bad of ['3x', '0s']) {
      const run = await attune(['db', 'prune', '--older-than', bad], {env})
      expect(run.exitCode).toBe(2)
      expect(run.stderr).toContain('--older-than')
      expect(run.stderr).toContain(`"${bad}"`)
      expect(run.stderr).not.toContain('    at ') // no stack trace
    }
    const json = await attune(['db', 'prune', '--older-than', '3x', '--json'], {env})
    expect(json.exitCode).toBe(2)
    expect(JSON.parse(String(json.stdout)).error).toMatchObject({code: 'flag_invalid', exit_code: 2})
  }, 120_000)

  it('--dry-run reports the counts and changes nothing; the real run deletes them', async () => {
    const dry = await prune(['--older-than', '1h', '--dry-run'])
    expect(dry).toMatchObject({dry_run: true, pruned: {events: 3, enforcements: 1, outbox: 0}})
    expect(dry.database).toContain(home)
    // Nothing changed: the same counts again.
    expect((await prune(['--older-than', '1h', '--dry-run'])).pruned).toEqual(dry.pruned)

    const human = await attune(['db', 'prune', '--older-than', '1h'], {env})
    expect(human.exitCode).toBe(0)
    expect(human.stdout).toMatch(/events\s+3\s+\(older than 1h\)/)
    expect(human.stdout).toMatch(/enforcements\s+1\s/)

    const events = await attune(['event', 'list', '--json'], {env})
    expect(JSON.parse(String(events.stdout)).events).toHaveLength(2)
    expect((await prune(['--older-than', '1h'])).pruned).toMatchObject({events: 0, enforcements: 0})
  }, 180_000)

  it('without flags applies retention.* from the config file; --max-rows keeps the newest N', async () => {
    await seed()
    const config = join(home, 'retention.yaml')
    writeFileSync(config, 'retention:\n  events: {max_age_seconds: null, max_rows: 4}\n  enforcements: {max_age_seconds: 60}\n')
    chmodSync(config, 0o600)
    const byConfig = await prune(['--config-file', config])
    expect(byConfig.pruned).toMatchObject({events: 1, enforcements: 1})
    const byFlag = await prune(['--max-rows', '2'])
    expect(byFlag.pruned).toMatchObject({events: 2})
  }, 180_000)
})
