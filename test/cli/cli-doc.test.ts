import {execa} from 'execa'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {serveEmbeddedDatabase, type EmbeddedServer} from '../../src/engine/store/index.js'
import {BIN, ROOT} from '../support/cli.js'

// docs/cli.md's examples run as written: every line of its ```sh blocks, in order, through
// sh(1) with `attune` on the PATH, in a folder whose packs/ is the repository's. The exit code
// a line expects is the one its comment names ("(exit 2)"), else 0.
const dir = mkdtempSync(join(tmpdir(), 'attune-cli-doc-'))
const home = join(dir, 'home')
const bin = join(dir, 'bin')
let served: EmbeddedServer

beforeAll(async () => {
  mkdirSync(bin)
  writeFileSync(join(bin, 'attune'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`, {mode: 0o755})
  symlinkSync(join(ROOT, 'packs'), join(dir, 'packs'))
  // Served from this process, as a daemon serves it: each command connects instead of loading it.
  served = await serveEmbeddedDatabase(home)
}, 120_000)
afterAll(async () => {
  await served?.close()
  rmSync(dir, {recursive: true, force: true})
})

/** The output the page prints after `$ command`, line by line. */
function printed(command: string): string[] {
  const doc = readFileSync(join(ROOT, 'docs', 'cli.md'), 'utf8')
  const at = doc.indexOf(`$ ${command}\n`)
  expect(at, `"$ ${command}" in docs/cli.md`).toBeGreaterThanOrEqual(0)
  return doc.slice(at).split('```')[0].split('\n').slice(1).filter(Boolean)
}

function docCommands(): Array<{line: string; exitCode: number}> {
  const doc = readFileSync(join(ROOT, 'docs', 'cli.md'), 'utf8')
  const commands: Array<{line: string; exitCode: number}> = []
  for (const block of doc.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const raw of block[1].split('\n')) {
      if (!raw.trim()) continue
      const comment = /\s{2,}#\s(.*)$/.exec(raw)
      const expected = comment ? /\(exit (\d)/.exec(comment[1]) : null
      commands.push({line: comment ? raw.slice(0, comment.index) : raw, exitCode: expected ? Number(expected[1]) : 0})
    }
  }
  return commands
}

describe('docs/cli.md', () => {
  it('every example command runs as written, with the exit code its comment gives', async () => {
    const commands = docCommands()
    expect(commands.length).toBeGreaterThan(20)
    for (const {line, exitCode} of commands) {
      const result = await execa('sh', ['-c', line], {
        cwd: dir,
        env: {PATH: `${bin}:${process.env.PATH}`, ATTUNE_HOME: home, NO_COLOR: '1', NODE_ENV: 'production'},
        reject: false,
        stdin: 'ignore',
        timeout: 60_000,
      })
      expect(result.exitCode, `${line}\n${result.stderr}\n${result.stdout}`).toBe(exitCode)
      if (line.includes('--dry-run --force')) expect(result.stdout.split('\n').filter(Boolean)).toEqual(printed(line.trim()))
    }
  }, 600_000)

  it('shows the sensor and an unknown command as the page prints them', async () => {
    // After the first test: examples is gone, so show what the page shows from a fresh pack.
    const run = (args: string) => execa('sh', ['-c', `attune ${args}`], {cwd: dir, env: {PATH: `${bin}:${process.env.PATH}`, ATTUNE_HOME: home, NO_COLOR: '1', NODE_ENV: 'production'}, reject: false, stdin: 'ignore'})
    expect((await run('pack register packs/examples')).exitCode).toBe(0)
    const sensor = await run('sensor show examples.disk_usage')
    expect(sensor.stdout.split('\n').filter(Boolean)).toEqual(printed('attune sensor show examples.disk_usage'))
    const unknown = await run('sensr')
    expect(unknown.stderr.split('\n').filter(Boolean)).toEqual(printed('attune sensr'))
  }, 180_000)
})
