import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {attune} from '../support/cli.js'

// No terminal anywhere here (stdin closed), as in CI: nothing may prompt or wait for input.
const home = mkdtempSync(join(tmpdir(), 'attune-cli-help-'))
const run = (args: string[]) => attune(args, {env: {ATTUNE_HOME: home}, stdin: 'ignore', timeout: 30_000})
afterAll(() => rmSync(home, {recursive: true, force: true}))

describe('help (@oclif/plugin-help, -h)', () => {
  it('attune help and attune -h list the topics', async () => {
    for (const args of [['help'], ['-h'], ['--help']]) {
      const result = await run(args)
      expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0)
      expect(result.stdout).toContain('USAGE')
      expect(result.stdout).toMatch(/^\s+sensor\s+Run, inspect, enable and disable sensors\./m)
      expect(result.stdout).toMatch(/^\s+pack\s+/m)
    }
  })

  it('attune help sensor and attune sensor -h list the sensor commands, show and enable included', async () => {
    for (const args of [['help', 'sensor'], ['sensor', '-h']]) {
      const result = await run(args)
      expect(result.exitCode, result.stderr as string).toBe(0)
      for (const command of ['sensor list', 'sensor show', 'sensor enable', 'sensor disable']) expect(result.stdout).toContain(command)
    }
  })

  it('attune pack remove -h shows the flags and the examples', async () => {
    const result = await run(['pack', 'remove', '-h'])
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toContain('--dry-run')
    expect(result.stdout).toContain('--force')
    expect(result.stdout).toContain('$ attune pack remove examples --dry-run')
  })

  it('attune autocomplete is there (@oclif/plugin-autocomplete)', async () => {
    const result = await run(['autocomplete', '--help'])
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toContain('autocomplete')
  })
})

describe('an unknown command or flag names the closest one (exit 2, no prompt without a terminal)', () => {
  it('attune sensr suggests attune sensor', async () => {
    const result = await run(['sensr'])
    expect(result.timedOut).toBe(false)
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toContain('command sensr not found')
    expect(result.stderr).toContain('Did you mean attune sensor?')
    expect(result.stdout).toBe('')
  })

  it('a mistyped command of a topic suggests that command', async () => {
    const result = await run(['sensor', 'lst'])
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toContain('Did you mean attune sensor list?')
    const typoTopic = await run(['rulle', 'show', 'x.y'])
    expect(typoTopic.exitCode).toBe(2)
    expect(typoTopic.stderr).toContain('attune rule show')
  })

  it('--json makes it one JSON document on stdout', async () => {
    const result = await run(['sensr', '--json'])
    expect(result.exitCode).toBe(2)
    expect(JSON.parse(result.stdout as string)).toEqual({
      error: {message: 'command sensr not found', code: 'command_not_found', hint: 'Did you mean attune sensor? See attune help.', exit_code: 2},
    })
  })

  it('nothing close: points at attune help', async () => {
    const result = await run(['zzzzqqq'])
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toContain('See attune help for the commands.')
  })

  it('an unknown flag suggests the closest flag of the command', async () => {
    const result = await run(['sensor', 'list', '--pak', 'examples'])
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toContain('Nonexistent flag: --pak')
    expect(result.stderr).toContain('Did you mean --pack?')
    const json = await run(['pack', 'remove', 'x', '--dryrun', '--json'])
    expect(json.exitCode).toBe(2)
    expect(JSON.parse(json.stdout as string).error).toMatchObject({code: 'bad_usage', hint: 'Did you mean --dry-run?', exit_code: 2})
    const far = await run(['sensor', 'list', '--zzzzzz'])
    expect(far.exitCode).toBe(2)
    expect(far.stderr).not.toContain('Did you mean')
  })
})

describe('on an interactive terminal (a pseudo-terminal from script(1))', () => {
  /** Runs attune under a pty, answers `answer` to the first question, returns the output and exit code. */
  async function interactive(args: string[], answer: string): Promise<{output: string; exitCode: number | undefined}> {
    const {execa} = await import('execa')
    const {BIN} = await import('../support/cli.js')
    const child = execa('script', ['-qec', [process.execPath, BIN, ...args].join(' '), '/dev/null'], {
      env: {NO_COLOR: '1', NODE_ENV: 'production', ATTUNE_HOME: home},
      reject: false,
      timeout: 45_000,
    })
    let output = ''
    let answered = false
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      if (!answered && output.includes('(Y/n)')) {
        answered = true
        child.stdin?.write(`${answer}\r`)
      }
    })
    const done = await child
    return {output, exitCode: done.exitCode}
  }

  it('@oclif/plugin-not-found asks; "n" ends in exit 2 with the suggestion', async () => {
    const result = await interactive(['sensor', 'lst'], 'n')
    expect(result.output).toContain('sensor lst is not a attune command')
    expect(result.output).toContain('Did you mean sensor list? (Y/n)')
    expect(result.output).toContain('Did you mean attune sensor list?')
    expect(result.exitCode).toBe(2)
  })

  it('a mistyped topic is not asked about (the plugin offers only commands): the suggestion, exit 2', async () => {
    const result = await interactive(['sensr'], 'n')
    expect(result.output).not.toContain('(Y/n)')
    expect(result.output).toContain('Did you mean attune sensor?')
    expect(result.exitCode).toBe(2)
  })

  it('"y" runs the command it suggested', async () => {
    const result = await interactive(['hlp'], 'y')
    expect(result.output).toContain('Did you mean help?')
    expect(result.output).toContain('USAGE')
    expect(result.exitCode).toBe(0)
  })
})
