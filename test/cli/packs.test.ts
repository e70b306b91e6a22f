import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {attune} from '../support/cli.js'
import {postgresSkipReason, startPostgres, type PostgresServer} from '../support/postgres.js'

const home = mkdtempSync(join(tmpdir(), 'attune-cli-packs-'))
const env = {NO_COLOR: '1', NODE_ENV: 'production', ATTUNE_HOME: home}
const skipPostgres = postgresSkipReason()
let server: PostgresServer | undefined
let databaseUrl = ''

beforeAll(async () => {
  if (skipPostgres) return
  server = await startPostgres()
  databaseUrl = await server.createDatabase('attune_cli')
})
afterAll(async () => {
  await server?.stop()
  rmSync(home, {recursive: true, force: true})
})

/** The same command against the embedded database and against PostgreSQL. */
const onPglite = (args: string[]) => attune(args, {env})
const onPostgres = (args: string[]) => attune(args, {env: {...env, ATTUNE_DATABASE_URL: databaseUrl}})

describe('packs and listings on the embedded database', () => {
  it('registers the core and example packs, then nothing changes on a second run', async () => {
    const first = await onPglite(['pack', 'register', 'packs/core', 'packs/examples', '--json'])
    expect(first.exitCode, first.stderr as string).toBe(0)
    const report = JSON.parse(first.stdout as string)
    expect(report.summary).toEqual({created: 30, updated: 0, unchanged: 0, skipped: 0, deleted: 0})
    const second = await onPglite(['pack', 'register', 'packs/core', 'packs/examples'])
    expect(second.exitCode).toBe(0)
    expect(second.stdout).toContain('0 created, 0 updated, 30 unchanged, 0 skipped')
  })

  it('lists sensors, rules, triggers and packs as tables and as JSON', async () => {
    const sensors = await onPglite(['sensor', 'list'])
    expect(sensors.stdout).toMatch(/examples\.http_monitor\s+core\.nodejs\s+persistent\s+30s/)
    expect(sensors.stdout).toMatch(/core\.timer_sensor\s+core\.builtin\s+long_running/)
    const rules = JSON.parse((await onPglite(['rule', 'list', '--trigger', 'examples.endpoint_problem', '--json'])).stdout as string)
    expect(rules.rules.map((rule: {ref: string}) => rule.ref)).toEqual(['examples.log_slow_endpoints', 'examples.page_on_endpoint_down'])
    const triggers = await onPglite(['trigger', 'list', '--pack', 'core'])
    expect(triggers.stdout).toMatch(/core\.intervaltimer\s+unit, interval/)
    const packs = JSON.parse((await onPglite(['pack', 'list', '--json'])).stdout as string)
    expect(packs.packs.map((pack: {ref: string; sensors: number}) => [pack.ref, pack.sensors])).toEqual([
      ['core', 1],
      ['examples', 4],
    ])
  })

  it('lists no events yet, and refuses a bad --since', async () => {
    const events = await onPglite(['event', 'list', '--since', '1h', '--json'])
    expect(JSON.parse(events.stdout as string)).toEqual({events: [], total: 0, next: null})
    const bad = await onPglite(['event', 'list', '--since', 'yesterday'])
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr).toContain('--since must be a duration like 15m')
    const enforcements = await onPglite(['enforcement', 'list'])
    expect(enforcements.stdout).toContain('No enforcements match.')
  })

  it('registers nothing from a broken pack and names file, line and field', async () => {
    const dir = join(home, 'broken-pack')
    mkdirSync(join(dir, 'triggers'), {recursive: true})
    mkdirSync(join(dir, 'sensors'), {recursive: true})
    writeFileSync(join(dir, 'pack.yaml'), 'ref: broken\n')
    writeFileSync(join(dir, 'triggers', 'ok.yaml'), 'ref: broken.ok\nparameters: {}\n')
    writeFileSync(join(dir, 'sensors', 's.yaml'), 'ref: broken.s\nrunner_type: python\nentry_point: s.py\ntrigger_types: [broken.missing]\n')
    const run = await onPglite(['pack', 'register', dir])
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toMatch(/s\.yaml:4: trigger_types\[0\]: trigger 'broken\.missing' does not exist/)
    expect(run.stderr).toContain('Nothing was registered')
    const packs = JSON.parse((await onPglite(['pack', 'list', '--json'])).stdout as string)
    expect(packs.packs.map((pack: {ref: string}) => pack.ref)).not.toContain('broken')
  })

  it('exits 2 for an unknown key in a pack file, suggesting the closest known key', async () => {
    const dir = join(home, 'typo-pack')
    mkdirSync(join(dir, 'triggers'), {recursive: true})
    writeFileSync(join(dir, 'pack.yaml'), 'ref: typo\n')
    writeFileSync(join(dir, 'triggers', 't.yaml'), 'ref: typo.t\nparamters: {}\n')
    const run = await onPglite(['pack', 'register', dir])
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toMatch(/t\.yaml:2: paramters: unknown key "paramters" \(did you mean "parameters"\?\)/)
    const packs = JSON.parse((await onPglite(['pack', 'list', '--json'])).stdout as string)
    expect(packs.packs.map((pack: {ref: string}) => pack.ref)).not.toContain('typo')
  })

  it('reports a dry run without writing', async () => {
    const dir = join(home, 'dry-pack')
    mkdirSync(join(dir, 'triggers'), {recursive: true})
    writeFileSync(join(dir, 'pack.yaml'), 'ref: drypack\n')
    writeFileSync(join(dir, 'triggers', 't.yaml'), 'ref: drypack.t\n')
    const run = await onPglite(['pack', 'register', dir, '--dry-run'])
    expect(run.stdout).toContain('Dry run (nothing written): 2 created')
    const triggers = JSON.parse((await onPglite(['trigger', 'list', '--pack', 'drypack', '--json'])).stdout as string)
    expect(triggers.triggers).toEqual([])
  })

  it('warns about what left the folder, and deletes it with --prune', async () => {
    // A home of its own: the PostgreSQL comparison below expects the listings of the packs above.
    const own = {...env, ATTUNE_HOME: join(home, 'shrink-home')}
    const run = (args: string[]) => attune(args, {env: own})
    const dir = join(home, 'shrinking-pack')
    mkdirSync(join(dir, 'triggers'), {recursive: true})
    writeFileSync(join(dir, 'pack.yaml'), 'ref: shrink\n')
    writeFileSync(join(dir, 'triggers', 'a.yaml'), 'ref: shrink.a\n---\nref: shrink.b\n')
    expect((await run(['pack', 'register', dir])).exitCode).toBe(0)
    writeFileSync(join(dir, 'triggers', 'a.yaml'), 'ref: shrink.a\n')
    const kept = await run(['pack', 'register', dir])
    expect(kept.exitCode).toBe(0)
    expect(kept.stderr).toMatch(/no longer in the pack folder, kept:\n\s+trigger shrink\.b\nRun again with --prune to delete them\./)
    const pruned = JSON.parse((await run(['pack', 'register', dir, '--prune', '--json'])).stdout as string)
    expect(pruned.items.filter((item: {status: string}) => item.status === 'deleted').map((item: {ref: string}) => item.ref)).toEqual(['shrink.b'])
    expect(pruned.stale).toEqual([])
    const triggers = JSON.parse((await run(['trigger', 'list', '--pack', 'shrink', '--json'])).stdout as string)
    expect(triggers.triggers.map((trigger: {ref: string}) => trigger.ref)).toEqual(['shrink.a'])
  })

  it('exits 2 for a folder that does not exist', async () => {
    const run = await onPglite(['pack', 'register', join(home, 'nope')])
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toContain('is not a folder')
  })
})

describe.skipIf(skipPostgres)('the same commands on a real PostgreSQL', () => {
  it('says to run db migrate, without a stack trace, on a database without attune tables', async () => {
    const empty = await server!.createDatabase('attune_cli_empty')
    for (const args of [['sensor', 'list'], ['event', 'list'], ['pack', 'register', 'packs/core']]) {
      const run = await attune(args, {env: {...env, ATTUNE_DATABASE_URL: empty}})
      expect(run.exitCode, args.join(' ')).toBe(2)
      expect(run.stderr).toMatch(/The database has no attune tables yet \(relation "attune\.\w+" does not exist\)/)
      expect(run.stderr).toContain('Run `attune db migrate` (with the same --database-url) first.')
      expect(run.stderr).not.toMatch(/\n\s+at |looks like a bug/)
    }
    const json = await attune(['sensor', 'list', '--json'], {env: {...env, ATTUNE_DATABASE_URL: empty}})
    expect(JSON.parse(json.stdout as string).error).toMatchObject({code: 'database_not_migrated', exit_code: 2})
  })

  it('migrates once, then reports nothing to apply', async () => {
    const first = JSON.parse((await onPostgres(['db', 'migrate', '--json'])).stdout as string)
    expect(first.applied.map((migration: {version: string}) => migration.version).length).toBeGreaterThan(0)
    expect(first.database).not.toContain('password')
    const second = await onPostgres(['db', 'migrate'])
    expect(second.exitCode).toBe(0)
    expect(second.stdout).toContain('Database is up to date')
  })

  it('gives the same listings as the embedded database', async () => {
    const register = await onPostgres(['pack', 'register', 'packs/core', 'packs/examples'])
    expect(register.exitCode, register.stderr as string).toBe(0)
    for (const args of [['sensor', 'list'], ['rule', 'list'], ['trigger', 'list'], ['pack', 'list']]) {
      const [pg, embedded] = [await onPostgres(args), await onPglite(args)]
      expect(pg.stdout, args.join(' ')).toBe(embedded.stdout)
    }
  })

  it('says clearly when the database cannot be reached', async () => {
    const run = await attune(['sensor', 'list'], {env: {...env, ATTUNE_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none'}})
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toMatch(/127\.0\.0\.1:1/)
  })
})
