import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, beforeEach, describe, expect, it} from 'vitest'
import {DEFAULT_CONFIG, type AttuneConfig} from '../../src/engine/config.js'
import {
  DETECTION_CACHE_TTL_MS,
  readDetectionCache,
  readRuntimeRows,
  runtimeDetection,
  type RuntimeDetectionOptions,
} from '../../src/engine/detect/index.js'
import {AbortError} from '../../src/engine/errors.js'
import {registerPacks} from '../../src/engine/packs/index.js'
import {backends, useMigratedStore} from '../store/backends.js'
import {sharedPath} from '../support/shared.js'
import {binDir} from './helpers.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const CORE = join(ROOT, 'packs', 'core')
const ATTUNE_CORE = sharedPath('fixtures/attune-core-pack')
const CORE_NAMES = ['builtin', 'native', 'node', 'python', 'shell']

const bin = binDir()
const dirs: string[] = []
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  dirs.push(dir)
  return dir
}
afterAll(() => {
  bin.cleanup()
  for (const dir of dirs) rmSync(dir, {recursive: true, force: true})
})

/** A pack folder holding runtime YAML files (and nothing else). */
function runtimePack(ref: string, runtimes: Record<string, string>): string {
  const dir = join(tempDir('attune-detect-pack-'), ref)
  mkdirSync(join(dir, 'runtimes'), {recursive: true})
  writeFileSync(join(dir, 'pack.yaml'), `ref: ${ref}\nlabel: ${ref}\n`)
  for (const [name, text] of Object.entries(runtimes)) writeFileSync(join(dir, 'runtimes', `${name}.yaml`), text)
  return dir
}

const RUBY = `ref: extra.sensor.ruby
name: Ruby
aliases: [ruby]
distributions:
  verification:
    commands:
      - {binary: ruby, args: ["--version"], exit_code: 0, pattern: "ruby \\\\d+\\\\.", priority: 1}
  min_version: "3.0"
`

function config(home: string, runtimes?: string[]): AttuneConfig {
  const value = structuredClone({...DEFAULT_CONFIG, home}) as AttuneConfig
  if (runtimes) value.sensor.capabilities.runtimes = runtimes
  return value
}

/** The environment of a test run: no override from the outside, the fakes first on PATH. */
const env: NodeJS.ProcessEnv = {...bin.env(), ATTUNE_SENSOR_RUNTIMES: undefined}

describe.each(backends())('runtime detection on $name', (backend) => {
  const store = useMigratedStore(backend, {resetEach: true})
  let home: string
  const detect = (options: Partial<RuntimeDetectionOptions> = {}) => runtimeDetection({config: config(home), env, store, useCache: false, ...options})

  beforeEach(() => {
    home = tempDir('attune-detect-home-')
  })

  it.skipIf(backend.skip)('reads every runtime row of every pack (Attune’s table has no sensor/action type)', async () => {
    const other = runtimePack('other', {
      action: 'ref: other.action.python\nname: Python actions\ndistributions: {verification: {always_available: true}}\n',
      any: 'ref: other.anything\nname: Anything\ndistributions: {verification: {always_available: true}}\n',
    })
    await registerPacks(store, [CORE, other])
    expect((await readRuntimeRows(store)).map((row) => row.ref)).toEqual([
      'core.builtin',
      'core.native',
      'core.nodejs',
      'core.python',
      'core.shell',
      'other.action.python',
      'other.anything',
    ])
  })

  it.skipIf(backend.skip)('registers the bundled core pack when the table is empty, and says so', async () => {
    const notices: string[] = []
    const first = await detect({notice: (message) => notices.push(message)})
    expect(first.registered_core_pack).toBe(true)
    expect(notices[0]).toMatch(/^No sensor runtimes in the database: registering the bundled core pack/)
    expect(first.runtimes.map((runtime) => runtime.name).sort()).toEqual(CORE_NAMES)
    expect(first.available.sort()).toEqual(CORE_NAMES)
    expect(first).toMatchObject({source: 'detection', source_detail: 'runtime table (5 runtimes)', cached: false})
    const second = await detect()
    expect(second.registered_core_pack).toBeUndefined()
  })

  it.skipIf(backend.skip)('with registerCore off, an empty table is an error that names the fix', async () => {
    const error = await detect({registerCore: false}).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(AbortError)
    expect(error).toMatchObject({code: 'no_runtimes', hint: 'Register the core pack first: attune pack register packs/core'})
    expect((await readRuntimeRows(store)).length).toBe(0)
  })

  it.skipIf(backend.skip || ATTUNE_CORE.skip)('detects the Attune fixture runtimes from the database', async () => {
    await registerPacks(store, [ATTUNE_CORE.path])
    bin.fake('ruby', 'echo "ruby 3.3.0 (2023-12-25 revision 5124f9ac75) [x86_64-linux]"')
    // Only the fakes on PATH: go is missing whatever this machine has installed.
    const report = await detect({env: {...env, PATH: bin.dir}})
    expect(report.runtimes.map((runtime) => runtime.ref)).toEqual([
      'core.go',
      'core.java',
      'core.native',
      'core.nodejs',
      'core.perl',
      'core.python',
      'core.r',
      'core.ruby',
      'core.shell',
    ])
    const ruby = report.runtimes.find((runtime) => runtime.name === 'ruby')!
    expect(ruby).toMatchObject({available: true, version: '3.3.0', path: join(bin.dir, 'ruby')})
    expect(report.runtimes.find((runtime) => runtime.name === 'go')).toMatchObject({available: false, reason: 'go: not found on PATH'})
    expect(report.available).toContain('ruby')
  })

  it.skipIf(backend.skip)('--register twice keeps one worker row and moves its heartbeat on', async () => {
    await registerPacks(store, [CORE])
    const first = await detect({register: {name: 'host-a'}})
    expect(first.worker).toMatchObject({name: 'host-a', worker_role: 'sensor', status: 'active', created: true})
    expect((first.worker!.capabilities as {runtimes: string[]}).runtimes.sort()).toEqual(CORE_NAMES)
    await new Promise((resolve) => setTimeout(resolve, 20))
    const second = await detect({register: {name: 'host-a'}})
    expect(second.worker).toMatchObject({id: first.worker!.id, created: false})
    expect(Date.parse(second.worker!.last_heartbeat)).toBeGreaterThan(Date.parse(first.worker!.last_heartbeat))
    const {rows} = await store.query<{name: string; worker_role: string; worker_type: string; host: string; capabilities: {runtimes: string[]; runtime_versions: Record<string, string>; sensor_version: string}}>(
      'SELECT name, worker_role::text, worker_type::text, host, capabilities FROM attune.worker',
    )
    expect(rows).toHaveLength(1)
    // As Attune's sensor service registers itself: its keys, and attune's marker.
    expect(rows[0]).toMatchObject({name: 'host-a', worker_role: 'sensor', worker_type: 'local', host: expect.any(String)})
    expect(rows[0].capabilities).toMatchObject({engine: 'attune', sensor_version: expect.any(String), max_concurrent_sensors: 16})
    expect(Object.keys(rows[0].capabilities.runtime_versions).sort()).toEqual(['node', 'python'])
  })

  it.skipIf(backend.skip)('ATTUNE_SENSOR_RUNTIMES wins over the config, and neither touches the database', async () => {
    const openStore = () => Promise.reject(new Error('the database must not be opened'))
    const fromEnv = await runtimeDetection({
      config: config(home, ['node']),
      configFile: '/etc/attune.yaml',
      env: {...env, ATTUNE_SENSOR_RUNTIMES: 'Python, shell,python'},
      openStore,
    })
    expect(fromEnv).toMatchObject({source: 'env', source_detail: 'ATTUNE_SENSOR_RUNTIMES', available: ['python', 'shell']})
    expect(fromEnv.runtimes[0]).toMatchObject({name: 'python', available: true, ref: null, reason: 'listed in ATTUNE_SENSOR_RUNTIMES (not checked)'})
    const fromConfig = await runtimeDetection({config: config(home, ['node', 'ruby']), configFile: '/etc/attune.yaml', env, openStore})
    expect(fromConfig).toMatchObject({source: 'config', source_detail: 'sensor.capabilities.runtimes in /etc/attune.yaml', available: ['node', 'ruby']})
    // --register with an override records the listed runtimes.
    const registered = await runtimeDetection({config: config(home, ['shell']), env, store, register: {name: 'host-b'}})
    expect(registered.worker!.capabilities).toMatchObject({runtimes: ['shell'], source: 'config'})
  })

  it.skipIf(backend.skip)('rejects bad override values, naming where they came from', async () => {
    const bad = (runtimes: string | undefined, list?: string[]) =>
      runtimeDetection({config: config(home, list), env: {...env, ATTUNE_SENSOR_RUNTIMES: runtimes}, store}).catch((caught: unknown) => caught)
    expect(await bad(' , ')).toMatchObject({message: 'ATTUNE_SENSOR_RUNTIMES lists no runtimes', code: 'runtimes_invalid'})
    expect(await bad('python,ru by')).toMatchObject({message: 'ATTUNE_SENSOR_RUNTIMES has an invalid runtime name "ru by"'})
    expect(await bad(undefined, [])).toMatchObject({message: 'sensor.capabilities.runtimes lists no runtimes'})
  })

  it.skipIf(backend.skip)('caches the result under $ATTUNE_HOME; a changed runtime table or --no-cache checks again', async () => {
    await registerPacks(store, [CORE])
    const first = await detect({useCache: true})
    expect(first.cached).toBe(false)
    const second = await detect({useCache: true})
    expect(second).toMatchObject({cached: true, checked_at: first.checked_at, available: first.available})
    expect((await detect({useCache: false})).cached).toBe(false)
    // A new runtime row misses the cache: no stale answer after `attune pack register`.
    bin.fake('ruby', 'echo "ruby 3.3.0 (2023-12-25 revision 5124f9ac75) [x86_64-linux]"')
    await registerPacks(store, [runtimePack('extra', {ruby: RUBY})])
    const third = await detect({useCache: true})
    expect(third.cached).toBe(false)
    expect(third.available).toContain('ruby')
    // And an old entry is not used at all.
    const later = Date.parse(third.checked_at) + DETECTION_CACHE_TTL_MS + 1000
    expect(readDetectionCache(home, 'any-key', later)).toBeUndefined()
  })

  it.skipIf(backend.skip)('--require: unknown names fail before any check, others report availability', async () => {
    await registerPacks(store, [CORE, runtimePack('extra', {ruby: RUBY})])
    const started = performance.now()
    const unknown = await detect({require: ['cobol']}).catch((caught: unknown) => caught)
    expect(unknown).toBeInstanceOf(AbortError)
    expect(unknown).toMatchObject({message: '--require cobol: no runtime of that name in the runtime table', code: 'runtime_unknown'})
    expect((unknown as AbortError).hint).toContain('Known runtimes: builtin, native, node, python, shell, ruby')
    expect(performance.now() - started).toBeLessThan(1000)
    const only = binDir('attune-detect-require-')
    dirs.push(only.dir)
    only.fake('python3', 'echo "Python 3.12.0"')
    const report = await detect({require: ['python3', 'ruby'], env: {...env, PATH: only.dir}})
    expect(report.required).toEqual([
      {name: 'python3', available: true, runtime: 'core.python', reason: 'python3 --version passed'},
      {name: 'ruby', available: false, runtime: 'extra.sensor.ruby', reason: 'ruby: not found on PATH'},
    ])
  })
})
