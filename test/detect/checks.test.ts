import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {checkRuntime, detectRuntimes} from '../../src/engine/detect/index.js'
import {binDir, command, isRunning, spec} from './helpers.js'

const bin = binDir()
afterAll(() => bin.cleanup())

describe('verification commands', () => {
  it('falls back to the next command in priority order when the first binary is missing', async () => {
    bin.fake('thing2', 'echo "Thing 2.5.1"')
    const result = await checkRuntime(
      spec({
        distributions: {
          verification: {
            commands: [command('thing2', {pattern: 'Thing \\d', priority: 2}), command('attune-no-such-binary', {priority: 1})],
          },
        },
      }),
      {env: bin.env()},
    )
    expect(result.available).toBe(true)
    expect(result.binary).toBe('thing2')
    expect(result.version).toBe('2.5.1')
    expect(result.path).toBe(join(bin.dir, 'thing2'))
    expect(result.checks.map((check) => [check.binary, check.outcome])).toEqual([
      ['attune-no-such-binary', 'not_found'],
      ['thing2', 'passed'],
    ])
    expect(result.checks[0].reason).toBe('not found on PATH')
  })

  it('stops at the first passing command: a later one never runs', async () => {
    const marker = join(bin.dir, 'second-ran')
    bin.fake('first', 'echo "Thing 1.0"')
    bin.fake('second', `touch ${marker}; echo "Thing 2.0"`)
    const result = await checkRuntime(
      spec({distributions: {verification: {commands: [command('second', {priority: 5}), command('first', {priority: 1})]}}}),
      {env: bin.env()},
    )
    expect(result.binary).toBe('first')
    expect(result.version).toBe('1.0')
    expect(existsSync(marker)).toBe(false)
  })

  it('checks the exit code: a wrong one makes the runtime unavailable with the code and stderr', async () => {
    bin.fake('exits3', 'echo "Thing 1.0"; echo "boom: broken install" >&2; exit 3')
    const wrong = await checkRuntime(spec({distributions: {verification: {commands: [command('exits3')]}}}), {env: bin.env()})
    expect(wrong.available).toBe(false)
    expect(wrong.reason).toBe('exits3: exit code 3 (expected 0): boom: broken install')
    expect(wrong.checks[0]).toMatchObject({outcome: 'failed', exit_code: 3})
    // The expected code is data: a runtime whose check exits 3 on success is available.
    const expected = await checkRuntime(spec({distributions: {verification: {commands: [command('exits3', {exit_code: 3})]}}}), {env: bin.env()})
    expect(expected.available).toBe(true)
  })

  it('checks the pattern: output that does not match is unavailable, quoting the output', async () => {
    bin.fake('other', 'echo "Other 9.9"')
    const result = await checkRuntime(spec({distributions: {verification: {commands: [command('other', {pattern: '^Thing \\d+\\.'})]}}}), {
      env: bin.env(),
    })
    expect(result.available).toBe(false)
    expect(result.reason).toBe('other: output does not match "^Thing \\\\d+\\\\.": "Other 9.9"')
  })

  it('reports an invalid pattern (RE2) without running the command or throwing, and tries the next', async () => {
    const marker = join(bin.dir, 'bad-pattern-ran')
    bin.fake('badpat', `touch ${marker}; echo "Thing 1.0"`)
    bin.fake('goodpat', 'echo "Thing 3.1"')
    const invalid = spec({
      distributions: {verification: {commands: [command('badpat', {pattern: '(unclosed'}), command('goodpat', {priority: 2, pattern: 'Thing'})]}},
    })
    const result = await checkRuntime(invalid, {env: bin.env()})
    expect(result.available).toBe(true)
    expect(result.binary).toBe('goodpat')
    expect(result.checks[0].outcome).toBe('invalid')
    expect(result.checks[0].reason).toMatch(/^invalid pattern "\(unclosed": .*missing closing \)/)
    expect(existsSync(marker)).toBe(false)
    // Lookbehind is not RE2: reported the same way.
    const only = await checkRuntime(spec({distributions: {verification: {commands: [command('goodpat', {pattern: '(?<=x)y'})]}}}), {env: bin.env()})
    expect(only.available).toBe(false)
    expect(only.reason).toMatch(/^goodpat: invalid pattern "\(\?<=x\)y"/)
  })

  it('compares the version with min_version numerically, and falls back to a newer binary', async () => {
    bin.fake('old', 'echo "Thing 2.9.12"')
    bin.fake('new', 'echo "Thing 2.10.0"')
    const tooOld = await checkRuntime(spec({distributions: {verification: {commands: [command('old', {pattern: 'Thing'})]}, min_version: '2.10'}}), {
      env: bin.env(),
    })
    expect(tooOld.available).toBe(false)
    expect(tooOld.reason).toBe('old: version 2.9.12 is older than min_version 2.10')
    const fallback = await checkRuntime(
      spec({distributions: {verification: {commands: [command('old'), command('new', {priority: 2})]}, min_version: '2.10'}}),
      {env: bin.env()},
    )
    expect(fallback).toMatchObject({available: true, binary: 'new', version: '2.10.0', min_version: '2.10'})
    // An unquoted YAML number is read as the version it spells.
    const numeric = await checkRuntime(spec({distributions: {verification: {commands: [command('old')]}, min_version: 2.5}}), {env: bin.env()})
    expect(numeric.available).toBe(true)
  })

  it('reads the version from stderr when the banner goes there (java -version)', async () => {
    bin.fake('fakejava', 'echo \'openjdk version "17.0.15" 2025-04-15\' >&2; echo "OpenJDK Runtime Environment (build 17.0.15+6)" >&2')
    const result = await checkRuntime(
      spec({distributions: {verification: {commands: [command('fakejava', {args: ['-version'], pattern: 'version "\\d+'})]}, min_version: '11'}}),
      {env: bin.env()},
    )
    expect(result).toMatchObject({available: true, version: '17.0.15'})
  })

  it('kills a hanging command (and its children) at the timeout; detection still finishes promptly', async () => {
    const childPid = join(bin.dir, 'hang-child.pid')
    bin.fake('hangs', `sleep 30 & echo $! > ${childPid}; wait`)
    bin.fake('quick', 'echo "Thing 1.0"')
    const started = performance.now()
    const [hung, quick] = await detectRuntimes(
      [
        spec({ref: 'test.hang', distributions: {verification: {commands: [command('hangs')]}}}),
        spec({ref: 'test.quick', distributions: {verification: {commands: [command('quick')]}}}),
      ],
      {env: bin.env(), timeoutMs: 400},
    )
    const elapsed = performance.now() - started
    expect(hung.available).toBe(false)
    expect(hung.checks[0].outcome).toBe('timeout')
    expect(hung.reason).toBe('hangs: timed out after 0.4 s (killed)')
    expect(quick.available).toBe(true)
    expect(elapsed).toBeLessThan(1500)
    const pid = Number(readFileSync(childPid, 'utf8'))
    const deadline = Date.now() + 2000
    while (isRunning(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    expect(isRunning(pid)).toBe(false)
  })

  it('a hanging interpreter shim costs one timeout, not two', async () => {
    const shims = binDir('attune-detect-hangshim-')
    try {
      const log = join(shims.dir, 'calls.log')
      shims.fake('python3', `echo "$*" >> ${log}; sleep 30`)
      const started = performance.now()
      const result = await checkRuntime(
        spec({ref: 'core.sensor.python', name: 'Python', aliases: ['python'], distributions: {verification: {commands: [command('python3')]}}}),
        {env: shims.env({only: true}), timeoutMs: 300},
      )
      expect(result.reason).toBe('python3: timed out after 0.3 s (killed) when asked for its own path')
      // The check is not started after a probe that timed out: one process, one timeout.
      expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual(['-S -c import sys; print(sys.executable)'])
      expect(performance.now() - started).toBeLessThan(600)
    } finally {
      shims.cleanup()
    }
  })

  it('uses a command\'s own timeout over the default', async () => {
    bin.fake('slowish', 'sleep 5')
    const result = await checkRuntime(spec({distributions: {verification: {commands: [command('slowish', {timeout: 0.2})]}}}), {env: bin.env()})
    expect(result.reason).toBe('slowish: timed out after 0.2 s (killed)')
  })

  it("runs checks without attune's own secrets in their environment", async () => {
    bin.fake('envcheck', 'if [ -n "$ATTUNE_JWT_SECRET$ATTUNE_DATABASE_URL$DATABASE_URL" ]; then echo "leaked" >&2; exit 9; fi; echo "envcheck 1.0 $HOME"')
    const result = await checkRuntime(spec({distributions: {verification: {commands: [command('envcheck', {pattern: 'envcheck'})]}}}), {
      env: {...bin.env(), ATTUNE_JWT_SECRET: 'x'.repeat(32), ATTUNE_DATABASE_URL: 'postgres://secret@db/attune', DATABASE_URL: 'postgres://secret@db/x'},
    })
    expect(result).toMatchObject({available: true, version: '1.0'})
  })

  it('runs all runtimes in parallel', async () => {
    for (const name of ['p1', 'p2', 'p3', 'p4']) bin.fake(name, `sleep 0.4; echo "${name} 1.0"`)
    const started = performance.now()
    const results = await detectRuntimes(
      ['p1', 'p2', 'p3', 'p4'].map((name) => spec({ref: `test.${name}`, distributions: {verification: {commands: [command(name)]}}})),
      {env: bin.env()},
    )
    const elapsed = performance.now() - started
    expect(results.every((result) => result.available)).toBe(true)
    // Sequential would be 1.6 s.
    expect(elapsed).toBeLessThan(1200)
  })
})

describe('always_available, optional commands and bad data', () => {
  it('always_available wins without running anything; the binary is only looked up', async () => {
    const marker = join(bin.dir, 'always-ran')
    bin.fake('alwaysbin', `touch ${marker}; exit 1`)
    const result = await checkRuntime(
      spec({distributions: {verification: {always_available: true, commands: [command('attune-no-such-binary'), command('alwaysbin', {priority: 2})]}}}),
      {env: bin.env()},
    )
    expect(result).toMatchObject({available: true, binary: 'alwaysbin', path: join(bin.dir, 'alwaysbin'), version: null, reason: 'always available'})
    expect(existsSync(marker)).toBe(false)
    const bare = await checkRuntime(spec({distributions: {verification: {always_available: true}}}), {env: bin.env()})
    expect(bare).toMatchObject({available: true, binary: null, path: null})
  })

  it('optional commands do not make a runtime unavailable; required ones do', async () => {
    bin.fake('fails', 'exit 1')
    const optional = await checkRuntime(
      spec({distributions: {verification: {commands: [command('fails', {optional: true}), command('attune-no-such-binary', {optional: true, priority: 2})]}}}),
      {env: bin.env()},
    )
    expect(optional.available).toBe(true)
    expect(optional.reason).toBe('optional checks failed (fails: exit code 1 (expected 0); attune-no-such-binary: not found on PATH)')
    const mixed = await checkRuntime(
      spec({distributions: {verification: {commands: [command('fails'), command('attune-no-such-binary', {optional: true, priority: 2})]}}}),
      {env: bin.env()},
    )
    expect(mixed.available).toBe(false)
  })

  it('reports invalid runtime data instead of throwing', async () => {
    const results = await detectRuntimes(
      [
        spec({ref: 'bad.commands', distributions: {verification: {commands: 'python3 --version'}}}),
        spec({ref: 'bad.binary', distributions: {verification: {commands: [{args: ['--version']}]}}}),
        spec({ref: 'bad.min', distributions: {verification: {commands: [command('sh')]}, min_version: 'latest'}}),
        spec({ref: 'bad.args', distributions: {verification: {commands: [{binary: 'sh', args: [{x: 1}]}]}}}),
        spec({ref: 'no.commands', distributions: {}}),
      ],
      {env: bin.env()},
    )
    expect(results.map((result) => [result.ref, result.available, result.reason])).toEqual([
      ['bad.commands', false, 'invalid runtime data: verification.commands is not a list'],
      ['bad.binary', false, 'invalid runtime data: verification.commands[0].binary is missing or not a string'],
      ['bad.min', false, 'invalid runtime data: min_version "latest" is not a version like "3.8"'],
      ['bad.args', false, 'invalid runtime data: verification.commands[0].args must be a list of strings'],
      ['no.commands', false, 'no verification commands and not always_available'],
    ])
  })
})
