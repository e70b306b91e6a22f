/**
 * Tests that need root (switching a sensor to another user, creating throwaway users). They run
 * whenever the test process is root (as here and in CI), fail under `CI=true` when it is not,
 * and are otherwise skipped with one line saying why.
 */
import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'

export const isRoot = process.getuid?.() === 0

const announced = new Set<string>()

/** The one-line reason `what` is skipped here, or undefined when the process is root (throws under CI). */
export function rootSkip(what: string): string | undefined {
  if (isRoot) return undefined
  if (process.env.CI === 'true') throw new Error(`${what} need root: CI runs the tests as root`)
  const skip = `${what} need root (this test process runs as uid ${process.getuid?.()}): skipped (they run in CI)`
  if (!announced.has(what)) {
    announced.add(what)
    console.warn(`skipped: ${skip}`)
  }
  return skip
}

export interface ThrowawayUser {
  name: string
  uid: number
  gid: number
  group: string
  /** Removes the user (and its group) again; nothing when it was `nobody`. */
  remove(): void
}

/**
 * A system user of its own (useradd -r, no home, no shell), removed by `remove()`; `nobody`
 * where useradd is missing.
 */
export function throwawayUser(): ThrowawayUser {
  const name = `attune-t${randomBytes(3).toString('hex')}`
  try {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group', name], {stdio: 'ignore'})
  } catch {
    const id = (flag: string) => execFileSync('id', [flag, 'nobody'], {encoding: 'utf8'}).trim()
    return {name: 'nobody', uid: Number(id('-u')), gid: Number(id('-g')), group: id('-gn'), remove() {}}
  }
  const uid = Number(execFileSync('id', ['-u', name], {encoding: 'utf8'}).trim())
  const gid = Number(execFileSync('id', ['-g', name], {encoding: 'utf8'}).trim())
  return {
    name,
    uid,
    gid,
    group: name,
    remove() {
      try {
        execFileSync('userdel', [name], {stdio: 'ignore'})
      } catch {
        // already gone
      }
      try {
        execFileSync('groupdel', [name], {stdio: 'ignore'})
      } catch {
        // removed with the user (USERGROUPS_ENAB), or never created
      }
    },
  }
}
