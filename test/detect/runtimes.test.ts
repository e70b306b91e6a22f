import {execFileSync} from 'node:child_process'
import {readFileSync, realpathSync, symlinkSync, writeFileSync} from 'node:fs'
import {delimiter, dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {RE2JS} from 're2js'
import {afterAll, describe, expect, it} from 'vitest'
import {
  compareVersions,
  detectRuntimes,
  detectedInterpreterPaths,
  extractVersion,
  parseVersion,
  runtimeSpec,
} from '../../src/engine/detect/index.js'
import {loadPack} from '../../src/engine/packs/index.js'
import {executeSensor} from '../../src/engine/sensor/execute.js'
import {detectedInterpreters, resolveInterpreter, useDetectedInterpreters} from '../../src/engine/sensor/interpreters.js'
import {sharedPath} from '../support/shared.js'
import {binDir} from './helpers.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

const ATTUNE_CORE = sharedPath('fixtures/attune-core-pack')
const bin = binDir()
afterAll(() => bin.cleanup())

describe('version parsing', () => {
  const cases: Array<[string, string | undefined, string | null]> = [
    ['Python 3.11.7\n', 'Python 3\\.', '3.11.7'],
    ['v20.20.2\n', '^v\\d+\\.', '20.20.2'],
    ['openjdk version "21" 2023-09-19\nOpenJDK Runtime Environment (build 21+35-2513)\n', 'version "\\d+', '21'],
    ['\nThis is perl 5, version 36, subversion 0 (v5.36.0) built for x86_64-linux-gnu-thread-multi\n', 'perl.*v\\d+\\.', '5.36.0'],
    ['ruby 3.2.2 (2023-03-30 revision e51014f9c0) [x86_64-linux]\n', 'ruby \\d+\\.', '3.2.2'],
    ['go version go1.22.1 linux/amd64\n', 'go\\d+\\.', '1.22.1'],
    ['Rscript (R) version 4.1.2 (2021-11-01)\n', '\\d+\\.\\d+\\.\\d+', '4.1.2'],
    ['GNU bash, version 5.2.15(1)-release (x86_64-pc-linux-gnu)\n', 'bash', '5.2.15'],
    ['PHP 8.3.6 (cli) (built: Apr 15 2024 19:21:47) (NTS)\n', 'PHP (\\d+\\.\\d+)', '8.3'],
    ['tool 1.2.3\n', undefined, '1.2.3'],
    ['no digits here\n', undefined, null],
  ]
  it.each(cases)('%j with %s -> %s', (output, pattern, version) => {
    expect(extractVersion(output, pattern === undefined ? undefined : RE2JS.compile(pattern))).toBe(version)
  })

  it('compares versions part by part', () => {
    expect(compareVersions('3.10.1', '3.8')).toBeGreaterThan(0)
    expect(compareVersions('3.8', '3.8.0')).toBe(0)
    expect(compareVersions('1.17.5', '1.18')).toBeLessThan(0)
    expect(compareVersions('v20.1.0', '18.0.0')).toBeGreaterThan(0)
  })

  it('compares leniently, as runtimes print versions (semver)', () => {
    expect(compareVersions('3.08', '3.8')).toBe(0) // leading zero
    expect(compareVersions('3.12.0rc1', '3.12')).toBe(0) // a suffix is no prerelease here
    expect(compareVersions('1.8.0_392', '1.8')).toBe(0)
    expect(compareVersions('21', '17.0.9')).toBeGreaterThan(0)
    expect(compareVersions('3.9', '3.10')).toBeLessThan(0) // numeric, not text
    expect(parseVersion('v5.34.0')?.version).toBe('5.34.0')
    expect(parseVersion('version 3.8')).toBeUndefined() // must start with the number
    expect(parseVersion('')).toBeUndefined()
  })
})

describe('the core pack on this machine', () => {
  it('finds python, node, shell, native and builtin with versions and real paths', async () => {
    const pack = await loadPack(join(ROOT, 'packs', 'core'))
    const results = await detectRuntimes(pack.runtimes.map(runtimeSpec))
    const byName = Object.fromEntries(results.map((result) => [result.name, result]))
    expect(Object.keys(byName).sort()).toEqual(['builtin', 'native', 'node', 'python', 'shell'])
    for (const result of results) expect(result.available, `${result.name}: ${result.reason}`).toBe(true)

    const python = JSON.parse(
      execFileSync('python3', ['-c', 'import json, platform, sys; print(json.dumps([sys.executable, platform.python_version()]))'], {encoding: 'utf8'}),
    )
    expect(byName.python).toMatchObject({binary: 'python3', version: python[1]})
    // The same interpreter (a symlink such as /usr/bin/python3 may stand for it).
    expect(realpathSync(byName.python.path!)).toBe(realpathSync(python[0]))
    expect(byName.python.path).not.toMatch(/shims/)
    const node = JSON.parse(execFileSync('node', ['-p', 'JSON.stringify([process.execPath, process.versions.node])'], {encoding: 'utf8'}))
    expect(byName.node).toMatchObject({binary: 'node', version: node[1]})
    expect(realpathSync(byName.node.path!)).toBe(realpathSync(node[0]))
    expect(byName.shell).toMatchObject({binary: 'bash', reason: 'always available'})
    expect(byName.builtin.reason).toBe('always available')
  })
})

describe('interpreters handed to the executors', () => {
  it('resolves python3 through a shim to the real binary, and polls never start the shim again', async () => {
    const real = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], {encoding: 'utf8'}).trim()
    const log = join(bin.dir, 'shim.log')
    const shims = binDir('attune-detect-shims-')
    shims.fake('python3', `echo "$*" >> ${log}\nexec "${real}" "$@"`)
    const savedPath = process.env.PATH
    process.env.PATH = [shims.dir, savedPath].join(delimiter)
    try {
      const pack = await loadPack(join(ROOT, 'packs', 'core'))
      const specs = pack.runtimes.map(runtimeSpec).filter((spec) => spec.name === 'python')
      const [python] = await detectRuntimes(specs)
      expect(python.checks[0].found_at).toBe(join(shims.dir, 'python3'))
      expect(python.path).toBe(real)
      const shimCalls = () => readFileSync(log, 'utf8').trim().split('\n')
      // Only the self-path question went through the shim; the check ran the real interpreter.
      expect(shimCalls()).toEqual(['-S -c import sys; print(sys.executable)'])
      expect(python.version).toBe(execFileSync(real, ['-c', 'import platform; print(platform.python_version())'], {encoding: 'utf8'}).trim())

      useDetectedInterpreters(detectedInterpreterPaths([python]))
      expect(detectedInterpreters().python).toBe(real)
      expect(await resolveInterpreter('python')).toEqual({path: real})
      const sensor = join(bin.dir, 'poll.py')
      writeFileSync(sensor, 'import sys\ndef poll_sensor(config):\n    return {"exe": sys.executable}\n')
      for (let poll = 0; poll < 2; poll++) {
        const result = await executeSensor({ref: 'test.shim', entrypoint: sensor}, {ref: 'test.trigger'}, {})
        expect(result.error, result.stderr).toBeNull()
        expect(result.events).toEqual([{exe: real}])
      }
      expect(shimCalls()).toHaveLength(1)
    } finally {
      process.env.PATH = savedPath
      useDetectedInterpreters({})
      shims.cleanup()
    }
  })

  it("keeps a symlinked interpreter where PATH found it: a venv's python stays in the venv", async () => {
    const real = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], {encoding: 'utf8'}).trim()
    const venv = binDir('attune-detect-venv-')
    try {
      symlinkSync(real, join(venv.dir, 'python3'))
      const pack = await loadPack(join(ROOT, 'packs', 'core'))
      const [python] = await detectRuntimes(pack.runtimes.map(runtimeSpec).filter((spec) => spec.name === 'python'), {
        env: {...process.env, PATH: [venv.dir, process.env.PATH].join(delimiter)},
      })
      expect(python).toMatchObject({available: true, path: join(venv.dir, 'python3')})
    } finally {
      venv.cleanup()
    }
  })

  it('hands over only runtimes whose check passed (not always-available guesses)', async () => {
    const pack = await loadPack(join(ROOT, 'packs', 'core'))
    const paths = detectedInterpreterPaths(await detectRuntimes(pack.runtimes.map(runtimeSpec)))
    expect(Object.keys(paths).sort()).toEqual(['node', 'python'])
  })
})

describe.skipIf(ATTUNE_CORE.skip)("the Attune project's core pack runtimes (no runtime_type)", () => {
  it('detects each from its own verification data, with fakes for the binaries', async () => {
    const fakes = binDir('attune-detect-fixture-')
    try {
      fakes.fake('python3', 'echo "Python 3.12.1"')
      fakes.fake('node', 'echo "v22.1.0"')
      fakes.fake('ruby', 'echo "ruby 3.2.2 (2023-03-30 revision e51014f9c0) [x86_64-linux]"')
      fakes.fake('go', 'echo "go version go1.17.5 linux/amd64"')
      fakes.fake('perl', 'echo; echo "This is perl 5, version 36, subversion 0 (v5.36.0) built for x86_64-linux-gnu-thread-multi"')
      fakes.fake('java', 'echo \'openjdk version "17.0.15" 2025-04-15\' >&2')
      const pack = await loadPack(ATTUNE_CORE.path)
      // Only the fakes are on PATH: the result does not depend on what this machine has installed.
      const results = await detectRuntimes(pack.runtimes.map(runtimeSpec), {env: {...process.env, PATH: fakes.dir}})
      const summary = Object.fromEntries(results.map((result) => [result.name, [result.available, result.version, result.reason]]))
      expect(summary).toEqual({
        go: [false, null, 'go: version 1.17.5 is older than min_version 1.18'],
        java: [true, '17.0.15', 'java -version passed'],
        native: [true, null, 'always available'],
        node: [true, '22.1.0', 'node --version passed'],
        perl: [true, '5.36.0', 'perl --version passed'],
        python: [true, '3.12.1', 'python3 --version passed'],
        r: [false, null, 'Rscript: not found on PATH'],
        ruby: [true, '3.2.2', 'ruby --version passed'],
        shell: [true, null, 'always available'],
      })
      // A fake that cannot say where it lives keeps the path it was found at.
      expect(results.find((result) => result.name === 'python')!.path).toBe(join(fakes.dir, 'python3'))
    } finally {
      fakes.cleanup()
    }
  })
})
