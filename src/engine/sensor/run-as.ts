import {execFile, execFileSync} from 'node:child_process'
import {chmodSync, lchownSync, lstatSync, mkdirSync, readFileSync} from 'node:fs'
import {realpath, stat} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {dirname, join, resolve, sep} from 'node:path'
import type {LoadedConfig} from '../config.js'
import {AbortError} from '../errors.js'

/**
 * `sensor.run_as` / `ATTUNE_SENSOR_RUN_AS`: the user (and group) every sensor process runs as,
 * so sensor code cannot read what attune can (its config, its environment in /proc, the
 * embedded database, secret files). docs/security.md.
 *
 * Node switches user with spawn's `uid`/`gid`; libuv then drops every supplementary group
 * (`setgroups(0)`), so a sensor has exactly the primary group named here (or the user's own),
 * never the user's other groups: pack files must be readable through owner, that group, or other.
 */

export interface SensorIdentity {
  /** The setting as written: `user[:group]`. */
  spec: string
  /** Where it came from, for messages: `ATTUNE_SENSOR_RUN_AS`, `sensor.run_as in FILE`. */
  source: string
  /** The user's name, or its number when the passwd database does not know it. */
  user: string
  uid: number
  /** The group's name, or its number. */
  group: string
  gid: number
  /** HOME of the sensor: a directory it owns (0700) under attune's temp directory (`sensorDirsBase()`). */
  home: string
  /** TMPDIR of the sensor: likewise. */
  tmp: string
}

const NAME = /^[A-Za-z0-9_.][A-Za-z0-9_.@-]{0,255}\$?$/
const NUMBER = /^\d{1,10}$/

/** The syntax check alone (no lookup): `user[:group]`, names or numeric ids. */
export function runAsSyntaxError(value: string): string | undefined {
  const [user, group, ...rest] = value.split(':')
  if (rest.length > 0) return 'has more than one ":"'
  if (user === '') return 'names no user'
  if (!NAME.test(user)) return `"${user}" is not a user name or number`
  if (group !== undefined && (group === '' || !NAME.test(group))) return `"${group}" is not a group name or number`
  return undefined
}

function badRunAs(value: string, source: string, problem: string, hint?: string): AbortError {
  return new AbortError(`${source} is "${value}": ${problem}`, {
    code: 'run_as_invalid',
    hint: hint ?? 'Set it to user[:group] (names or numeric ids) of an unprivileged user, e.g. attune-sensor or 990:990; see docs/security.md.',
  })
}

interface Entry {
  name: string
  id: number
  /** passwd: the primary group. */
  gid?: number
}

/** One passwd or group entry by name or number: `getent` (all of NSS), else the /etc file. */
function lookUp(database: 'passwd' | 'group', key: string): Entry | undefined {
  let line: string | undefined
  try {
    line = execFileSync('getent', [database, key], {encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore']}).split('\n')[0]
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & {status?: number}
    if (failure.code !== 'ENOENT') return undefined // getent says: no such entry (exit 2)
    line = fileEntry(database, key)
  }
  if (!line) return undefined
  const fields = line.split(':')
  const entry: Entry = {name: fields[0], id: Number(fields[2])}
  if (database === 'passwd') entry.gid = Number(fields[3])
  return Number.isInteger(entry.id) ? entry : undefined
}

function fileEntry(database: 'passwd' | 'group', key: string): string | undefined {
  let text: string
  try {
    text = readFileSync(`/etc/${database}`, 'utf8')
  } catch {
    return undefined
  }
  const numeric = NUMBER.test(key)
  return text.split('\n').find((line) => {
    const fields = line.split(':')
    return numeric ? fields[2] === key : fields[0] === key
  })
}

/** Whether this process may switch to another uid/gid: root, or CAP_SETUID and CAP_SETGID. */
function maySwitchUser(): boolean {
  if (process.getuid?.() === 0) return true
  try {
    const match = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))
    if (!match) return false
    const caps = BigInt(`0x${match[1]}`)
    return (caps & (1n << 6n)) !== 0n && (caps & (1n << 7n)) !== 0n
  } catch {
    return false
  }
}

const resolved = new Map<string, SensorIdentity>()

/**
 * Resolves `user[:group]` to ids, checks that this process can switch to them, and prepares the
 * sensor's HOME and TMPDIR. A bad or unknown user or group is an `AbortError` (exit 2) naming
 * the value and `source`. Remembered per value: the daemon asks once per poll.
 */
export function resolveRunAs(value: string, source: string): SensorIdentity {
  const known = resolved.get(value)
  if (known) return known
  const syntax = runAsSyntaxError(value)
  if (syntax) throw badRunAs(value, source, syntax)
  if (process.platform === 'win32') throw badRunAs(value, source, 'running sensors as another user needs a POSIX system', '')
  const [userKey, groupKey] = value.split(':')
  const user = lookUp('passwd', userKey)
  let uid: number
  let userName: string
  let primaryGid: number | undefined
  if (user) {
    uid = user.id
    userName = user.name
    primaryGid = user.gid
  } else if (NUMBER.test(userKey)) {
    uid = Number(userKey)
    userName = userKey
  } else {
    throw badRunAs(value, source, `no user "${userKey}" on this system`, `Create it (e.g. useradd --system --no-create-home --shell /usr/sbin/nologin ${userKey}) or name an existing user; see docs/security.md.`)
  }
  let gid: number
  let groupName: string
  if (groupKey === undefined) {
    if (primaryGid === undefined) {
      throw badRunAs(value, source, `uid ${uid} has no passwd entry, so no primary group`, `Name the group too, e.g. ${uid}:${uid}.`)
    }
    gid = primaryGid
    groupName = lookUp('group', String(gid))?.name ?? String(gid)
  } else {
    const group = lookUp('group', groupKey)
    if (group) {
      gid = group.id
      groupName = group.name
    } else if (NUMBER.test(groupKey)) {
      gid = Number(groupKey)
      groupName = groupKey
    } else {
      throw badRunAs(value, source, `no group "${groupKey}" on this system`)
    }
  }
  const me = {uid: process.getuid?.(), gid: process.getgid?.()}
  if ((uid !== me.uid || gid !== me.gid) && !maySwitchUser()) {
    throw new AbortError(`${source} is "${value}", but attune runs as uid ${me.uid} and cannot start processes as another user (uid ${uid}, gid ${gid}).`, {
      code: 'run_as_not_permitted',
      hint: 'Run the daemon as root (it drops to the sensor user for every sensor process), or unset it; see docs/security.md.',
    })
  }
  const base = sensorDirsBase()
  const identity: SensorIdentity = {spec: value, source, user: userName, uid, group: groupName, gid, home: join(base, `home-${uid}`), tmp: join(base, `tmp-${uid}`)}
  const problem = ensureSensorDirs(identity)
  if (problem) throw new AbortError(`Cannot prepare the directories of the sensor user (${source} "${value}"): ${problem}`, {code: 'run_as_dirs'})
  resolved.set(value, identity)
  return identity
}

/** `sensor.run_as` of a loaded configuration, resolved; undefined when it is not set. */
export function sensorRunAs(loaded: Pick<LoadedConfig, 'config' | 'origins'>): SensorIdentity | undefined {
  const value = loaded.config.sensor.run_as
  if (!value) return undefined
  return resolveRunAs(value, loaded.origins?.['sensor.run_as'] ?? 'sensor.run_as')
}

/** `nobody (uid 65534, gid 65534)`: how messages name the sensor user. */
export function describeIdentity(identity: SensorIdentity): string {
  return `${identity.user} (uid ${identity.uid}, gid ${identity.gid})`
}

/**
 * The warning for a process that runs sensors as root: undefined unless this process is root
 * and sensors would run as root too (no run_as, or a run_as of uid 0).
 */
export function sensorRootWarning(runAs: SensorIdentity | undefined, uid: number | undefined = process.getuid?.()): string | undefined {
  if (uid !== 0) return undefined
  if (runAs && runAs.uid !== 0) return undefined
  const why = runAs ? `${runAs.source} is "${runAs.spec}", which is root` : 'sensor.run_as is not set'
  return (
    `attune runs as root and ${why}: every sensor runs arbitrary code as root and can read attune's secrets. ` +
    'Set sensor.run_as (or ATTUNE_SENSOR_RUN_AS) to an unprivileged user; see docs/security.md.'
  )
}

/** The parent of every sensor user's HOME and TMPDIR: `<tmp>/attune-sensor-homes-<uid of attune>`. */
export function sensorDirsBase(): string {
  return join(tmpdir(), `attune-sensor-homes-${process.getuid?.() ?? 'user'}`)
}

/**
 * Creates (or repairs) the sensor user's HOME and TMPDIR: 0700, owned by that user, inside a
 * directory of attune's own (0711: the sensor user can reach its directories, not list or
 * replace them; attune never touches anything inside them). Returns what went wrong, if anything.
 */
export function ensureSensorDirs(identity: SensorIdentity): string | undefined {
  const me = process.getuid?.()
  try {
    const base = dirname(identity.home)
    ensureDir(base, 0o711, me)
    ensureDir(identity.home, 0o700, me, identity)
    ensureDir(identity.tmp, 0o700, me, identity)
    return undefined
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
}

function ensureDir(path: string, mode: number, me: number | undefined, owner?: {uid: number; gid: number}): void {
  try {
    mkdirSync(path, {mode})
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }
  const info = lstatSync(path)
  if (!info.isDirectory()) throw new Error(`${path} is not a directory: remove it`)
  if (!owner && info.uid !== me) {
    // In a shared /tmp, someone else may have made it first to get at the sensors' files.
    throw new Error(`${path} belongs to uid ${info.uid}, not to attune (uid ${me}): remove it`)
  }
  // The mode first, while attune may still own it (after the chown only root could change it).
  if ((info.mode & 0o7777) !== mode) chmodSync(path, mode)
  if (owner && (info.uid !== owner.uid || info.gid !== owner.gid)) lchownSync(path, owner.uid, owner.gid)
}

/**
 * Why `identity` cannot read (`read`) or execute (`execute`) `path`, or undefined when it can.
 * Every directory on the way must be searchable. Decided from the modes (owner, the one group a
 * sensor has, other); when the modes say no, a process of that user is asked (ACLs may say yes).
 */
export async function accessProblem(identity: SensorIdentity, given: string, need: 'read' | 'execute'): Promise<string | undefined> {
  const path = resolve(given)
  let real: string
  try {
    real = await realpath(path)
  } catch {
    return `${path} does not exist`
  }
  // The path as given (the directories holding a symlink must be searchable too) and the real one.
  const problem = (await walkProblem(identity, path, need)) ?? (real === path ? undefined : await walkProblem(identity, real, need))
  if (!problem) return undefined
  return (await probe(identity, path, need)) ? undefined : problem
}

/** The first component of `path` the modes keep `identity` from: directories need search, the file `need`. */
async function walkProblem(identity: SensorIdentity, path: string, need: 'read' | 'execute'): Promise<string | undefined> {
  const parts = path.split(sep).filter(Boolean)
  for (let index = 0; index <= parts.length; index++) {
    const current = sep + parts.slice(0, index).join(sep)
    const last = index === parts.length
    let info
    try {
      info = await stat(current)
    } catch {
      return `${current} does not exist`
    }
    const bit = last ? (need === 'read' ? 4 : 1) : 1
    if (!permits(identity, info, bit)) {
      const what = last ? (need === 'read' ? 'readable' : 'executable') : 'searchable'
      return `${current} is not ${what} by it (mode ${(info.mode & 0o777).toString(8).padStart(4, '0')}, owner ${info.uid}, group ${info.gid})`
    }
  }
  return undefined
}

function permits(identity: {uid: number; gid: number}, info: {mode: number; uid: number; gid: number; isDirectory(): boolean}, bit: number): boolean {
  if (identity.uid === 0) return bit !== 1 || info.isDirectory() || (info.mode & 0o111) !== 0
  if (info.uid === identity.uid) return ((info.mode >> 6) & bit) !== 0
  if (info.gid === identity.gid) return ((info.mode >> 3) & bit) !== 0
  return (info.mode & bit) !== 0
}

/** `test -r` / `test -x` in a shell started as the sensor user: the kernel's own answer. */
function probe(identity: SensorIdentity, path: string, need: 'read' | 'execute'): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(
      '/bin/sh',
      ['-c', `test -${need === 'read' ? 'r' : 'x'} "$1"`, 'attune-probe', path],
      {uid: identity.uid, gid: identity.gid, cwd: '/', env: {PATH: '/usr/bin:/bin'}, timeout: 10_000},
      (error) => resolve(!error),
    )
  })
}
