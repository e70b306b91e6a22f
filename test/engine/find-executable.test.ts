import {chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {delimiter, join, relative} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {findExecutable} from '../../src/engine/sensor/interpreters.js'

describe('findExecutable', () => {
  let root: string
  let first: string
  let second: string

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'attune-which-'))
    first = join(root, 'first')
    second = join(root, 'second')
    mkdirSync(first)
    mkdirSync(second)
    // In the first directory: a file without the execute bit and a directory of the same names.
    writeFileSync(join(first, 'tool'), '#!/bin/sh\n', {mode: 0o644})
    mkdirSync(join(first, 'dirtool'))
    for (const name of ['tool', 'dirtool']) {
      writeFileSync(join(second, name), '#!/bin/sh\n')
      chmodSync(join(second, name), 0o755)
    }
  })
  afterAll(() => rmSync(root, {recursive: true, force: true}))

  it('takes the first executable file on PATH, skipping non-executable files and directories', async () => {
    const path = [first, second].join(delimiter)
    expect(await findExecutable('tool', path)).toBe(join(second, 'tool'))
    expect(await findExecutable('dirtool', path)).toBe(join(second, 'dirtool'))
  })

  it('is undefined when nothing is found, and for an empty PATH (never the current directory)', async () => {
    expect(await findExecutable('no-such-tool-here', [first, second].join(delimiter))).toBeUndefined()
    const cwd = process.cwd()
    process.chdir(second)
    try {
      expect(await findExecutable('tool', '')).toBeUndefined()
      expect(await findExecutable('tool', `${delimiter}${delimiter}`)).toBeUndefined()
    } finally {
      process.chdir(cwd)
    }
  })

  it('returns an absolute path for a relative PATH entry', async () => {
    const relativeDir = relative(process.cwd(), second)
    expect(await findExecutable('tool', relativeDir)).toBe(join(second, 'tool'))
  })

  it('checks a name with a slash as a path, whatever PATH says', async () => {
    expect(await findExecutable(join(second, 'tool'), '')).toBe(join(second, 'tool'))
    expect(await findExecutable(join(first, 'tool'), second)).toBeUndefined()
  })
})
