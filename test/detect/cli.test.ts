import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ROOT, attune} from '../support/cli.js'
import {postgresSkipReason, startPostgres, type PostgresServer} from '../support/postgres.js'
import {binDir} from './helpers.js'

const home = mkdtempSync(join(tmpdir(), 'attune-cli-detect-'))
const bin = binDir()
const env = {ATTUNE_HOME: home, ATTUNE_SENSOR_RUNTIMES: ''}
const detect = (args: string[], extra: Record<string, string> = {}) => attune(['runtime', 'detect', ...args], {env: {...env, ...extra}})
const json = (result: {stdout: unknown}) => JSON.parse(result.stdout as string)

afterAll(() => {
  rmSync(home, {recursive: true, force: true})
  bin.cleanup()
})

// The embedded database costs a few seconds per command (PGlite starts in each process): the
// behaviours that need many commands run on PostgreSQL below, the engine tests cover both.
describe('attune runtime detect on the embedded database', () => {
  it('on a fresh home registers the core pack and shows python, node, shell, native and builtin', async () => {
    const run = await detect([])
    expect(run.exitCode, run.stderr as string).toBe(0)
    expect(run.stderr).toContain('No sensor runtimes in the database: registering the bundled core pack')
    const out = run.stdout as string
    expect(out).toMatch(/^NAME\s+REF\s+AVAILABLE\s+BINARY\s+PATH\s+VERSION\s+REASON$/m)
    expect(out).toMatch(/^python\s+core\.python\s+✓\s+python3\s+\S+\s+3\.\d+\.\d+\s+python3 --version passed$/m)
    expect(out).toMatch(/^node\s+core\.nodejs\s+✓\s+node\s+\S+\s+\d+\.\d+\.\d+\s+node --version passed$/m)
    expect(out).toMatch(/^shell\s+core\.shell\s+✓\s+bash\s+\S+\s+always available$/m)
    expect(out).toMatch(/^Source: +runtime table \(5 runtimes\); checked in \d+ ms$/m)
    expect(out).toContain('Available: builtin, native, node, python, shell')
  })

  it('--json is one document with the real python path, from the cache the second time', async () => {
    const run = await detect(['--json'])
    expect(run.exitCode).toBe(0)
    const report = json(run)
    expect(report).toMatchObject({source: 'detection', cached: true, available: ['builtin', 'native', 'node', 'python', 'shell']})
    const python = report.runtimes.find((runtime: {name: string}) => runtime.name === 'python')
    const real = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], {encoding: 'utf8'}).trim()
    expect(realpathSync(python.path)).toBe(realpathSync(real))
    expect(existsSync(join(home, 'cache', 'runtime-detect.json'))).toBe(true)
  })

  it('a bad flag value exits 2 before the database is opened', async () => {
    const timeout = await detect(['--timeout', 'soon', '--json'])
    expect(timeout.exitCode).toBe(2)
    expect(json(timeout).error).toMatchObject({message: '--timeout must be a number of seconds between 0 and 600, got "soon"', code: 'flag_invalid'})
    const orphan = await detect(['--worker-name', 'x'])
    expect(orphan.exitCode).toBe(2)
    expect(orphan.stderr).toContain('--register')
  })
})

describe('overrides skip the database', () => {
  const other = mkdtempSync(join(tmpdir(), 'attune-cli-override-'))
  afterAll(() => rmSync(other, {recursive: true, force: true}))

  it('ATTUNE_SENSOR_RUNTIMES decides, and says so', async () => {
    const run = await detect([], {ATTUNE_HOME: other, ATTUNE_SENSOR_RUNTIMES: 'python,shell'})
    expect(run.exitCode, run.stderr as string).toBe(0)
    expect(run.stdout).toMatch(/^python\s+-\s+✓\s+listed in ATTUNE_SENSOR_RUNTIMES \(not checked\)$/m)
    expect(run.stdout).toContain('Source:    ATTUNE_SENSOR_RUNTIMES; nothing checked')
    expect(run.stdout).toContain('Available: python, shell')
    expect(existsSync(join(other, 'pgdata'))).toBe(false)
    const bad = await detect([], {ATTUNE_HOME: other, ATTUNE_SENSOR_RUNTIMES: 'python,py thon'})
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr).toContain('Error: ATTUNE_SENSOR_RUNTIMES has an invalid runtime name "py thon"')
  })

  it('sensor.capabilities.runtimes in the config file decides when the variable is unset', async () => {
    const file = join(other, 'attune.yaml')
    writeFileSync(file, 'sensor:\n  capabilities:\n    runtimes: [node, shell]\n')
    const run = await detect(['--json', '--config-file', file], {ATTUNE_HOME: other})
    expect(run.exitCode, run.stderr as string).toBe(0)
    expect(json(run)).toMatchObject({source: 'config', source_detail: `sensor.capabilities.runtimes in ${file}`, available: ['node', 'shell']})
    expect(existsSync(join(other, 'pgdata'))).toBe(false)
  })
})

const skipPostgres = postgresSkipReason()
describe.skipIf(skipPostgres)('attune runtime detect on PostgreSQL', () => {
  let server: PostgresServer | undefined
  let pg: Record<string, string> = {}
  beforeAll(async () => {
    server = await startPostgres()
    pg = {ATTUNE_DATABASE_URL: await server.createDatabase('attune_cli_detect')}
    const migrated = await attune(['db', 'migrate'], {env: {...env, ...pg}})
    expect(migrated.exitCode, migrated.stderr as string).toBe(0)
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('--register twice keeps one worker row and moves its heartbeat on; --no-cache checks again', async () => {
    const first = json(await detect(['--register', '--worker-name', 'cli-host', '--json', '--no-cache'], pg))
    expect(first).toMatchObject({source: 'detection', cached: false, registered_core_pack: true, available: ['builtin', 'native', 'node', 'python', 'shell']})
    expect(first.worker).toMatchObject({name: 'cli-host', worker_role: 'sensor', status: 'active', created: true})
    const second = json(await detect(['--register', '--worker-name', 'cli-host', '--json', '--no-cache'], pg))
    expect(second.cached).toBe(false)
    expect(second.checked_at > first.checked_at).toBe(true)
    expect(second.worker).toMatchObject({id: first.worker.id, created: false})
    expect(Date.parse(second.worker.last_heartbeat)).toBeGreaterThan(Date.parse(first.worker.last_heartbeat))
    const workers = json(await attune(['worker', 'list', '--json'], {env: {...env, ...pg}})).workers
    expect(workers).toHaveLength(1)
    expect(workers[0]).toMatchObject({name: 'cli-host', worker_role: 'sensor', status: 'active', last_heartbeat: second.worker.last_heartbeat})
    expect(workers[0].capabilities.runtimes).toEqual(['builtin', 'native', 'node', 'python', 'shell'])
  })

  it("adds a runtime with only data: docs/runtimes.md's Ruby YAML + pack register", async () => {
    const docs = readFileSync(join(ROOT, 'docs', 'runtimes.md'), 'utf8')
    const section = docs.slice(docs.indexOf('## Add a runtime with only data'))
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)![1]
    const pack = join(home, 'my-runtimes')
    mkdirSync(join(pack, 'runtimes'), {recursive: true})
    writeFileSync(join(pack, 'pack.yaml'), 'ref: my-runtimes\nlabel: My runtimes\n')
    writeFileSync(join(pack, 'runtimes', 'ruby.yaml'), yaml)
    bin.fake('ruby', 'echo "ruby 3.2.3 (2024-01-18 revision 52bb2ac0a6) [x86_64-linux]"')
    const registered = await attune(['pack', 'register', pack], {env: {...env, ...pg}})
    expect(registered.exitCode, registered.stderr as string).toBe(0)

    const run = await detect(['--json', '--require', 'ruby'], {...pg, PATH: bin.path()})
    expect(run.exitCode, run.stderr as string).toBe(0)
    const report = json(run)
    // The rows changed: the cache missed without --no-cache.
    expect(report.cached).toBe(false)
    expect(report.runtimes.find((runtime: {name: string}) => runtime.name === 'ruby')).toMatchObject({
      ref: 'my-runtimes.sensor.ruby',
      available: true,
      binary: 'ruby',
      path: join(bin.dir, 'ruby'),
      version: '3.2.3',
    })
    expect(report.required).toEqual([{name: 'ruby', available: true, runtime: 'my-runtimes.sensor.ruby', reason: 'ruby --version passed'}])
  })

  it('--require exits 1 when the runtime is missing, and says why', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'attune-empty-path-'))
    try {
      const run = await detect(['--require', 'ruby,shell'], {...pg, PATH: empty})
      expect(run.exitCode).toBe(1)
      expect(run.stderr).toContain('Required runtime ruby is not available: ruby: not found on PATH; ruby3.2: not found on PATH')
      expect(run.stdout).toContain('Required:  shell is available')
    } finally {
      rmSync(empty, {recursive: true, force: true})
    }
  })

  it('--require with a name no runtime answers to exits 2 and lists the known ones', async () => {
    const unknown = await detect(['--require', 'cobol'], pg)
    expect(unknown.exitCode).toBe(2)
    expect(unknown.stderr).toContain('Error: --require cobol: no runtime of that name in the runtime table')
    expect(unknown.stderr).toContain('Known runtimes: builtin, native, node, python, shell, ruby')
    expect(unknown.stderr).not.toMatch(/\n\s+at /)
  })
})
