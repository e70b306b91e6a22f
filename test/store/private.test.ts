import {chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {embeddedDataDir, lockPathFor, openPgliteStore, openStore, serveEmbeddedDatabase} from '../../src/engine/store/index.js'
import {ensurePrivateDir, keepTreePrivate, privatizeTree} from '../../src/engine/store/private.js'
import {attune} from '../support/cli.js'

const mode = (path: string) => statSync(path).mode & 0o777
const octal = (value: number) => value.toString(8).padStart(4, '0')

/** Every path under `root` (itself included) whose mode is not 0700 (directories) or 0600 (files). */
function notPrivate(root: string): string[] {
  const wrong: string[] = []
  const walk = (path: string) => {
    const stat = lstatSync(path)
    if (stat.isSymbolicLink()) return
    const want = stat.isDirectory() ? 0o700 : 0o600
    if ((stat.mode & 0o777) !== want) wrong.push(`${path} ${octal(stat.mode & 0o777)}`)
    if (stat.isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry))
  }
  walk(root)
  return wrong
}

/** Files 0666 and directories 0755, as PGlite leaves a data directory it creates. */
function loosen(root: string): void {
  const walk = (path: string) => {
    const stat = lstatSync(path)
    if (stat.isDirectory()) {
      chmodSync(path, 0o755)
      for (const entry of readdirSync(path)) walk(join(path, entry))
    } else if (stat.isFile()) chmodSync(path, 0o666)
  }
  walk(root)
}

function allFiles(root: string): Set<string> {
  const files = new Set<string>()
  const walk = (path: string) => {
    const stat = lstatSync(path)
    if (stat.isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry))
    else files.add(path)
  }
  walk(root)
  return files
}

const posix = process.platform !== 'win32'

describe.runIf(posix)('private by default: the embedded database', () => {
  let root: string
  let home: string

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'attune-private-'))
    home = join(root, 'home')
  })
  afterAll(() => rmSync(root, {recursive: true, force: true}))

  it('creates a fresh home 0700 and pgdata 0700 with every file 0600 after open, migrate and close; the lock file is 0600', async () => {
    const store = await openStore({home})
    try {
      expect(octal(mode(home))).toBe('0700')
      expect(octal(mode(lockPathFor(embeddedDataDir(home))))).toBe('0600')
      // Already private while open (fixed after PGlite created it and after migrate).
      expect(notPrivate(embeddedDataDir(home))).toEqual([])
    } finally {
      await store.close()
    }
    expect(octal(mode(embeddedDataDir(home)))).toBe('0700')
    expect(allFiles(embeddedDataDir(home)).size).toBeGreaterThan(100)
    expect(notPrivate(embeddedDataDir(home))).toEqual([])
  })

  // PGlite dumps a new data directory from memory with files 0666 and directories 0755; later
  // sessions write new files 0600 themselves. Loosening the tree first stands for the former
  // (or a home made before attune fixed modes), so the open's own fix is what is tested.
  it('fixes a loose data directory on open, and what a second open wrote and loosened on close', async () => {
    const dataDir = embeddedDataDir(home)
    loosen(dataDir)
    const before = allFiles(dataDir)
    const store = await openPgliteStore(dataDir)
    try {
      expect(notPrivate(dataDir)).toEqual([]) // fixed on open, before any close
      await store.exec('CREATE TABLE private_test (id int PRIMARY KEY, body text); CREATE INDEX ON private_test (body)')
      await store.exec("INSERT INTO private_test SELECT g, repeat('x', 200) FROM generate_series(1, 2000) g")
      chmodSync(join(dataDir, 'PG_VERSION'), 0o666) // a file written loose during the session
    } finally {
      await store.close()
    }
    const added = [...allFiles(dataDir)].filter((file) => !before.has(file))
    expect(added.length).toBeGreaterThan(0) // the second open wrote new files
    expect(notPrivate(dataDir)).toEqual([])
  })

  it('tightens an existing home that group or other can reach to 0700', async () => {
    chmodSync(home, 0o755)
    chmodSync(embeddedDataDir(home), 0o755)
    const store = await openStore({home})
    await store.close()
    expect(octal(mode(home))).toBe('0700')
    expect(octal(mode(embeddedDataDir(home)))).toBe('0700')
  })

  it('serves the database (the daemon) from a private home: run/ 0700, pgdata private while served and after', async () => {
    const served = join(root, 'served')
    mkdirSync(served, {mode: 0o755})
    chmodSync(served, 0o755)
    const server = await serveEmbeddedDatabase(served)
    try {
      expect(octal(mode(served))).toBe('0700')
      expect(octal(mode(join(served, 'run')))).toBe('0700')
      expect(notPrivate(embeddedDataDir(served))).toEqual([])
    } finally {
      await server.close()
    }
    expect(notPrivate(embeddedDataDir(served))).toEqual([])
  })
})

describe.runIf(posix)('private by default: the helpers', () => {
  let root: string
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'attune-private-helpers-'))
  })
  afterAll(() => rmSync(root, {recursive: true, force: true}))

  it('ensurePrivateDir creates missing directories 0700 and tightens a loose one', () => {
    const fresh = join(root, 'a', 'b')
    ensurePrivateDir(fresh)
    expect(octal(mode(fresh))).toBe('0700')
    const loose = join(root, 'loose')
    mkdirSync(loose)
    chmodSync(loose, 0o777)
    ensurePrivateDir(loose)
    expect(octal(mode(loose))).toBe('0700')
  })

  it('privatizeTree fixes files and directories but does not follow symbolic links', () => {
    const tree = join(root, 'tree')
    mkdirSync(join(tree, 'sub'), {recursive: true})
    writeFileSync(join(tree, 'sub', 'f'), 'x')
    chmodSync(join(tree, 'sub', 'f'), 0o666)
    chmodSync(join(tree, 'sub'), 0o755)
    const outside = join(root, 'outside')
    writeFileSync(outside, 'x')
    chmodSync(outside, 0o644)
    symlinkSync(outside, join(tree, 'link'))
    privatizeTree(tree)
    expect(notPrivate(tree)).toEqual([])
    expect(octal(mode(outside))).toBe('0644')
  })

  it('keepTreePrivate fixes files written later, until stopped', async () => {
    const tree = join(root, 'kept')
    mkdirSync(tree)
    const stop = keepTreePrivate(tree, 20)
    try {
      writeFileSync(join(tree, 'late'), 'x')
      chmodSync(join(tree, 'late'), 0o666)
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(octal(mode(join(tree, 'late')))).toBe('0600')
    } finally {
      stop()
    }
    chmodSync(join(tree, 'late'), 0o666)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(octal(mode(join(tree, 'late')))).toBe('0666')
  })
})

describe.runIf(posix)('private by default: config files (as ssh does)', () => {
  let root: string
  let home: string
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'attune-private-config-'))
    home = join(root, 'home')
  })
  afterAll(() => rmSync(root, {recursive: true, force: true}))

  function configFile(name: string, text: string, fileMode: number): string {
    const file = join(root, name)
    writeFileSync(file, text)
    chmodSync(file, fileMode)
    return file
  }

  const list = (file: string) => attune(['pack', 'list'], {env: {ATTUNE_HOME: home, ATTUNE_CONFIG: file}})

  it('refuses a config file with a JWT secret that group or other can read (exit 2, names the file and the fix)', async () => {
    const file = configFile('secret-0644.yaml', 'auth:\n  jwt_secret: not-for-others\n', 0o644)
    const run = await list(file)
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toContain(file)
    expect(run.stderr).toContain('0644')
    expect(run.stderr).toContain(`chmod 600 ${file}`)
    expect(run.stderr).not.toContain('not-for-others')
  })

  it('refuses security.jwt_secret or a URL with a password at 0640', async () => {
    for (const [name, text] of [
      ['security.yaml', 'security:\n  jwt_secret: s\n'],
      ['database.yaml', 'database:\n  url: postgresql://attune:hunter2@db.example/attune\n'],
      ['amqp.yaml', 'amqp:\n  url: amqp://guest:guest@mq.example/\n'],
    ] as const) {
      const file = configFile(name, text, 0o640)
      const run = await list(file)
      expect(run.exitCode, name).toBe(2)
      expect(run.stderr, name).toContain(`chmod 600 ${file}`)
    }
  })

  it('refuses a secret-free config file that anyone can write', async () => {
    const file = configFile('world-writable.yaml', 'sensor:\n  timeout: 10\n', 0o646)
    const run = await list(file)
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toContain(file)
    expect(run.stderr).toContain('0646')
  })

  it('accepts a config file with a secret at 0600 and a secret-free one at 0644', async () => {
    const secret = configFile('secret-0600.yaml', 'auth:\n  jwt_secret: not-for-others\n', 0o600)
    const ok = await list(secret)
    expect(ok.stderr).not.toContain('chmod')
    expect(ok.exitCode).toBe(0)
    const plain = configFile('plain-0644.yaml', 'sensor:\n  timeout: 10\n', 0o644)
    const alsoOk = await list(plain)
    expect(alsoOk.stderr).not.toContain('chmod')
    expect(alsoOk.exitCode).toBe(0)
  })
})
