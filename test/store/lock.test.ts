import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {AbortError} from '../../src/engine/errors.js'
import {registerPacks} from '../../src/engine/packs/index.js'
import {
  acquireDataDirLock,
  embeddedDataDir,
  listSensors,
  lockPathFor,
  openStore,
  resolveAttuneHome,
  type Store,
} from '../../src/engine/store/index.js'
import {CORE_FIXTURE, CORE_FIXTURE_ITEMS, REPO} from './pack-files.js'

const CHILD = join(REPO, 'test/store/helpers/open-store-child.ts')

function runChild(home: string, mode: 'try' | 'hold'): ChildProcess & {output: Promise<{code: number | null; stdout: string; stderr: string}>} {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, home, mode], {cwd: REPO, stdio: ['pipe', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stderr.on('data', (chunk) => (stderr += chunk))
  const output = new Promise<{code: number | null; stdout: string; stderr: string}>((resolve) =>
    child.on('close', (code) => resolve({code, stdout, stderr})),
  )
  return Object.assign(child, {output})
}

async function waitFor(child: ChildProcess, text: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let seen = ''
    child.stdout!.on('data', (chunk) => {
      seen += chunk
      if (seen.includes(text)) resolve()
    })
    child.on('close', (code) => reject(new Error(`child exited (${code}) before "${text}"`)))
  })
}

/** A pid that is certainly not running: a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''])
  await new Promise((resolve) => child.on('close', resolve))
  return child.pid!
}

describe('embedded database lock (PGlite)', () => {
  const home = mkdtempSync(join(tmpdir(), 'attune-lock-'))
  const lockFile = lockPathFor(embeddedDataDir(home))
  let store: Store | undefined
  const lockPid = () => Number(readFileSync(lockFile, 'utf8').split('\n')[0])

  beforeAll(async () => {
    store = await openStore({home})
    await registerPacks(store, [CORE_FIXTURE])
  })
  afterAll(async () => {
    await store?.close()
    rmSync(home, {recursive: true, force: true})
  })

  it('openStore without a URL uses $ATTUNE_HOME/pgdata, migrated on first use, and holds a lock file with our pid', async () => {
    expect(store!.kind).toBe('pglite')
    expect(store!.location).toBe(join(home, 'pgdata'))
    expect(lockPid()).toBe(process.pid)
    expect(resolveAttuneHome({ATTUNE_HOME: home})).toBe(home)
    expect(resolveAttuneHome({HOME: '/nowhere'})).toMatch(/\.attune$/)
  })

  it('a second process fails cleanly, naming the holder, and the data stays intact', async () => {
    const child = runChild(home, 'try')
    const {code, stderr} = await child.output
    expect(code).toBe(2)
    expect(stderr).toContain('AbortError: The embedded database')
    expect(stderr).toContain(`in use by process ${process.pid}`)
    expect(stderr).not.toMatch(/\n\s+at /) // a message, not a stack trace
    expect(lockPid()).toBe(process.pid)
    // Still ours, still working; and the data survives a close and reopen.
    expect((await listSensors(store!)).map((s) => s.ref)).toEqual(['core.timer_sensor'])
    await store!.close()
    expect(existsSync(lockFile)).toBe(false)
    store = await openStore({home})
    const again = await registerPacks(store, [CORE_FIXTURE])
    expect(again.summary).toEqual({created: 0, updated: 0, unchanged: CORE_FIXTURE_ITEMS, skipped: 0, deleted: 0})
  })

  it('a second open in the same process is refused too', async () => {
    await expect(openStore({home})).rejects.toThrow(AbortError)
    await expect(openStore({home})).rejects.toThrow(/in use by this process/)
  })

  it('a lock left by a dead process is taken over; a killed holder loses nothing it committed', async () => {
    await store!.close()
    store = undefined
    writeFileSync(lockFile, `${await deadPid()}\n`)
    const child = runChild(home, 'hold')
    await waitFor(child, 'ready')
    expect(lockPid()).toBe(child.pid)
    await expect(openStore({home})).rejects.toThrow(`in use by process ${child.pid}`)
    child.kill('SIGKILL') // no cleanup: the lock file stays behind, stale
    await child.output
    expect(existsSync(lockFile)).toBe(true)
    store = await openStore({home})
    expect(lockPid()).toBe(process.pid)
    const {rows} = await store.query<{login: string}>('SELECT login FROM attune.identity')
    expect(rows).toEqual([{login: 'sensor:child'}])
    expect((await listSensors(store)).map((s) => s.ref)).toEqual(['core.timer_sensor'])
  })
})

describe('who holds the lock: pid, host and process start time', () => {
  const dir = mkdtempSync(join(tmpdir(), 'attune-lock-holder-'))
  const path = join(dir, 'pgdata.lock')
  afterAll(() => rmSync(dir, {recursive: true, force: true}))
  const startTime = (pid: number) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  }

  it('writes its pid, host and start time, and removes the file on release', () => {
    const lock = acquireDataDirLock(path)
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid}\n${hostname()}\n${startTime(process.pid)}\n`)
    lock.release()
    expect(existsSync(path)).toBe(false)
  })

  it('takes over a lock whose pid now belongs to another process (pid reuse), but not one its holder still has', async () => {
    const other = spawn('sleep', ['30'])
    try {
      await new Promise((resolve) => other.once('spawn', resolve))
      writeFileSync(path, `${other.pid}\n${hostname()}\n${Number(startTime(other.pid!)) - 1}\n`) // a different process had this pid
      const lock = acquireDataDirLock(path)
      expect(Number(readFileSync(path, 'utf8').split('\n')[0])).toBe(process.pid)
      lock.release()

      writeFileSync(path, `${other.pid}\n${hostname()}\n${startTime(other.pid!)}\n`) // the holder itself
      expect(() => acquireDataDirLock(path, 'here')).toThrow(`The embedded database here is in use by process ${other.pid} (lock file ${path}).`)
      writeFileSync(path, `${other.pid}\n`) // an older lock file: the pid alone decides
      expect(() => acquireDataDirLock(path)).toThrow(`in use by process ${other.pid}`)
    } finally {
      other.kill('SIGKILL')
      rmSync(path, {force: true})
    }
  })

  it('never takes over a lock written on another host, and says how to clear it', () => {
    writeFileSync(path, `${process.pid}\nsome-other-host\n12345\n`)
    try {
      acquireDataDirLock(path)
      expect.unreachable('the lock was taken')
    } catch (error) {
      expect(error).toBeInstanceOf(AbortError)
      expect((error as AbortError).message).toContain(`in use by process ${process.pid} on host some-other-host`)
      expect((error as AbortError).hint).toContain(`if that process is gone, delete ${path}`)
    } finally {
      rmSync(path, {force: true})
    }
  })
})

describe('openStore with a database URL', () => {
  it('reports an unreachable PostgreSQL as a clear AbortError without the password', async () => {
    const error = await openStore({databaseUrl: 'postgresql://u:secret@127.0.0.1:1/nodb'}).catch((e) => e)
    expect(error).toBeInstanceOf(AbortError)
    expect(error.message).toMatch(/^Cannot connect to PostgreSQL at postgresql:\/\/u:\*\*\*@127\.0\.0\.1:1\/nodb/)
    expect(error.message).not.toContain('secret')
  })
})
