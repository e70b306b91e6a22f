import {randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

/**
 * The whole process tree of one sensor process, including descendants that left its process
 * group (`setsid`, a daemon's double fork). Node has no prctl (no subreaper, no pdeathsig), so
 * two mechanisms stand in, chosen once per attune process:
 *
 * - `cgroup`: a cgroup v2 per sensor process, under attune's own cgroup, when the cgroup2 file
 *   system is mounted and attune may create cgroups there (root, or a delegated subtree). attune
 *   steps into the new cgroup for the duration of the (synchronous) spawn and back out, so the
 *   sensor is born in it: everything it ever forks is in it, whatever the session or group, and
 *   `cgroup.kill` ends them all at once. A process of the sensor cannot move itself out (the
 *   cgroup files belong to attune).
 * - `environ` (Linux without a usable cgroup): every sensor process gets a per-run marker
 *   `ATTUNE_SENSOR_RUN=<id>` in its environment, inherited by its descendants; ending the tree
 *   scans `/proc/<pid>/environ` for it. attune as root reads every process's environment, as
 *   another user its own processes'. A descendant that starts with an emptied environment
 *   (`env -i`) escapes this scan: the cgroup is the mechanism that holds.
 *
 * Elsewhere only the process group is signalled (`group`).
 *
 * Cost: the marker is one variable; a cgroup is a mkdir, a write and an rmdir per sensor
 * process, and one read of `cgroup.procs` when its sensor exits. `/proc` is scanned only when a
 * tree is being killed (timeout, output cap, stop, shutdown), when a finished sensor visibly left
 * something behind (its process group still has members, or its output pipes stay open after it
 * exited), and, without a cgroup, at most once a minute after runs finished, for leftovers that
 * daemonized completely (`sweepLeftovers`).
 */

export const RUN_MARKER = 'ATTUNE_SENSOR_RUN'

export type TreeMechanism = 'cgroup' | 'environ' | 'group'

const linux = process.platform === 'linux'

/** Identifies this attune process in markers: `<pid>.<random>`; a run is `<instance>.<n>`. */
const instance = `${process.pid}.${randomBytes(4).toString('hex')}`
let sequence = 0

export interface SensorTree {
  /** The marker value in the sensor's environment (empty where markers are not used). */
  marker: string
  pid?: number
  /** This run's cgroup directory, when it has one. */
  cgroup?: string
  /**
   * Processes of this tree may be outside the cgroup (the sensor forked before it was moved,
   * or it has no cgroup): killing it scans `/proc` for the marker too.
   */
  scan: boolean
  /** It was killed on purpose (timeout, cap, stop): its exit clean-up scans unconditionally. */
  terminated: boolean
  /** The spawn happened outside the cgroup: the process is moved in after it started. */
  moveAfterSpawn?: boolean
}

let preference: 'auto' | 'environ' = 'auto'
/** The directory holding this process's per-run cgroups, once created; null: none usable. */
let cgroupParent: string | null | undefined
/** This process's own cgroup, where it returns after each spawn. */
let cgroupHome: string | undefined
/** Some run of this process was tracked by its marker alone: a shutdown scans for all of them. */
let markerRuns = false

/**
 * Which mechanism to use: `auto` (cgroup when usable, else the environment marker) or
 * `environ` (never cgroups; for tests and for hosts where cgroups are managed by others).
 */
export function useTreeTracking(mode: 'auto' | 'environ'): void {
  preference = mode
  if (mode === 'environ') cgroupParent = null
  else if (cgroupParent === null) cgroupParent = undefined
}

/** The mechanism sensor trees of this process get (creates the cgroup parent on first use). */
export function treeMechanism(): TreeMechanism {
  if (!linux) return 'group'
  return ensureCgroupParent() ? 'cgroup' : 'environ'
}

/** The cgroup2 mount point and this process's cgroup path in it, from /proc. */
export function ownCgroupDir(): string | undefined {
  let mountinfo: string
  let membership: string
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')
    membership = readFileSync('/proc/self/cgroup', 'utf8')
  } catch {
    return undefined
  }
  const own = membership
    .split('\n')
    .find((line) => line.startsWith('0::'))
    ?.slice(3)
  if (own === undefined) return undefined
  for (const line of mountinfo.split('\n')) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    const [left, right] = line.split(' - ')
    if (!right?.startsWith('cgroup2 ')) continue
    const fields = left.split(' ')
    const root = unescapeMount(fields[3])
    const mountPoint = unescapeMount(fields[4])
    if (own !== root && !own.startsWith(root === '/' ? '/' : `${root}/`)) continue
    const relative = root === '/' ? own : own.slice(root.length)
    return join(mountPoint, relative)
  }
  return undefined
}

function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_match, code: string) => String.fromCharCode(Number.parseInt(code, 8)))
}

function ensureCgroupParent(): string | null {
  if (cgroupParent !== undefined) return cgroupParent
  cgroupParent = null
  if (!linux || preference === 'environ') return null
  const own = ownCgroupDir()
  if (!own || !existsSync(join(own, 'cgroup.procs'))) return null
  removeStaleParents(own)
  const parent = join(own, `attune.${instance}`)
  try {
    mkdirSync(parent)
  } catch {
    return null // read-only, not delegated to this user, or no cgroup2 at all
  }
  cgroupParent = parent
  cgroupHome = own
  return parent
}

/** Empty per-process cgroups left by attune processes that died without cleaning up. */
function removeStaleParents(own: string): void {
  let entries: string[]
  try {
    entries = readdirSync(own)
  } catch {
    return
  }
  for (const entry of entries) {
    const match = /^attune\.(\d+)\.[0-9a-f]+$/.exec(entry)
    if (!match || isProcessAlive(Number(match[1]))) continue
    removeCgroup(join(own, entry), true)
  }
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** rmdir of a cgroup (and, with `children`, its child cgroups first); fails quietly while populated. */
function removeCgroup(dir: string, children = false): boolean {
  if (children) {
    try {
      for (const entry of readdirSync(dir, {withFileTypes: true})) if (entry.isDirectory()) removeCgroup(join(dir, entry.name), true)
    } catch {
      // gone
    }
  }
  try {
    rmdirSync(dir)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT'
  }
}

/** A new tree, before its process is spawned: the marker to put in its environment, its cgroup. */
export function newSensorTree(): SensorTree {
  if (!linux) return {marker: '', scan: false, terminated: false}
  const marker = `${instance}.${++sequence}`
  liveMarkers.add(marker)
  const parent = ensureCgroupParent()
  if (parent) {
    const dir = join(parent, `run.${sequence}`)
    try {
      mkdirSync(dir)
      return {marker, cgroup: dir, scan: false, terminated: false}
    } catch {
      // cgroup limits (max.descendants) or the parent vanished: the marker still works
    }
  }
  markerRuns = true
  return {marker, scan: true, terminated: false}
}

/**
 * Runs `spawn` (synchronous: fork and exec happen inside it) with this process in the tree's
 * cgroup, so the child starts there, and moves this process back home. When this process cannot
 * step in, the child is moved after the spawn (`attachSensorTree`), and whatever it forked
 * before that is found by its marker.
 */
export function spawnInTree<T>(tree: SensorTree, spawn: () => T): T {
  if (!tree.cgroup || !cgroupHome) return spawn()
  try {
    writeFileSync(join(tree.cgroup, 'cgroup.procs'), String(process.pid))
  } catch {
    tree.moveAfterSpawn = true
    return spawn()
  }
  try {
    return spawn()
  } finally {
    returnHome(tree)
  }
}

function returnHome(tree: SensorTree): void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(join(cgroupHome!, 'cgroup.procs'), String(process.pid))
      return
    } catch {
      // retried below
    }
  }
  // Stuck in the sensor's cgroup: it must never be killed now, and no further cgroups are made.
  tree.cgroup = undefined
  tree.scan = true
  markerRuns = true
  cgroupParent = null
}

/** Called right after the spawn: records the pid, and moves the process into its cgroup if it was born outside. */
export function attachSensorTree(tree: SensorTree, pid: number): void {
  tree.pid = pid
  if (!tree.cgroup || !tree.moveAfterSpawn) return
  try {
    writeFileSync(join(tree.cgroup, 'cgroup.procs'), String(pid))
  } catch {
    // It exited already (its children, if any, are outside) or the move was refused.
    tree.scan = true
    markerRuns = true
    return
  }
  // Children forked between the spawn and the move stayed outside the cgroup.
  if (hasChildren(pid)) {
    tree.scan = true
    markerRuns = true
  }
}

function hasChildren(pid: number): boolean {
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      if (readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim() !== '') return true
    }
    return false
  } catch {
    return true // cannot tell (no CONFIG_PROC_CHILDREN): assume the worst
  }
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal)
  } catch {
    // gone already
  }
}

function cgroupPids(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(Number)
  } catch {
    return []
  }
}

function signalCgroup(dir: string, signal: NodeJS.Signals): void {
  if (signal === 'SIGKILL') {
    try {
      writeFileSync(join(dir, 'cgroup.kill'), '1')
      return
    } catch {
      // No cgroup.kill before Linux 5.14: signal each member, a few rounds for the forks in between.
    }
    for (let round = 0; round < 5; round++) {
      const pids = cgroupPids(dir)
      if (pids.length === 0) return
      for (const pid of pids) signalPid(pid, signal)
    }
    return
  }
  for (const pid of cgroupPids(dir)) signalPid(pid, signal)
}

/**
 * The processes whose environment holds `ATTUNE_SENSOR_RUN=<value>` exactly, or (with
 * `prefix`) a value starting with it, with the value each holds. Processes whose environment
 * cannot be read are skipped.
 */
export function findMarkedProcesses(value: string, prefix = false): Array<{pid: number; marker: string}> {
  if (!linux || value === '') return []
  const needle = Buffer.from(`${RUN_MARKER}=${value}`)
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return []
  }
  const found: Array<{pid: number; marker: string}> = []
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    const pid = Number(entry)
    if (pid === process.pid) continue
    let environ: Buffer
    try {
      environ = readFileSync(`/proc/${entry}/environ`)
    } catch {
      continue
    }
    for (let at = environ.indexOf(needle); at !== -1; at = environ.indexOf(needle, at + 1)) {
      if (at > 0 && environ[at - 1] !== 0) continue
      const end = at + needle.length
      if (!prefix && end !== environ.length && environ[end] !== 0) continue
      const stop = environ.indexOf(0, at)
      const marker = environ.subarray(at + RUN_MARKER.length + 1, stop === -1 ? environ.length : stop).toString()
      found.push({pid, marker})
      break
    }
  }
  return found
}

/** Signals every process carrying the marker; SIGKILL repeats the scan for processes forked meanwhile. */
function signalMarked(value: string, signal: NodeJS.Signals, prefix = false): void {
  const rounds = signal === 'SIGKILL' ? 4 : 1
  for (let round = 0; round < rounds; round++) {
    const found = findMarkedProcesses(value, prefix)
    if (found.length === 0) return
    for (const {pid} of found) signalPid(pid, signal)
  }
}

/** Markers of the runs whose sensor process has not exited yet. */
const liveMarkers = new Set<string>()
/** How often finished marker-tracked runs are checked for leftovers nothing else revealed. */
export const SWEEP_INTERVAL_MS = 60_000
let sweepTimer: NodeJS.Timeout | undefined

/**
 * Kills the processes of this attune process's finished runs: descendants that daemonized
 * (setsid, closed their output) leave no trace the exit clean-up can see without a scan.
 * Returns how many were killed. Runs by itself at most once a minute, only after marker-tracked
 * runs finished; a cgroup needs none of this.
 */
export function sweepLeftovers(): number {
  let killed = 0
  for (const {pid, marker} of findMarkedProcesses(`${instance}.`, true)) {
    if (liveMarkers.has(marker)) continue
    signalPid(pid, 'SIGKILL')
    killed++
  }
  return killed
}

function scheduleSweep(): void {
  if (sweepTimer) return
  sweepTimer = setTimeout(() => {
    sweepTimer = undefined
    sweepLeftovers()
  }, SWEEP_INTERVAL_MS)
  sweepTimer.unref()
}

function signalProcessGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    // ESRCH: every member has exited already.
  }
}

/** Signals the whole tree: the process group, the cgroup, and (when needed) the marked processes. */
export function signalSensorTree(tree: SensorTree, signal: NodeJS.Signals): void {
  if (tree.pid !== undefined) signalProcessGroup(tree.pid, signal)
  if (tree.cgroup) signalCgroup(tree.cgroup, signal)
  if (tree.scan) signalMarked(tree.marker, signal)
}

/**
 * After the sensor process exited: ends whatever it left behind, then removes its cgroup.
 * `pipesHeld` says its output pipes are still open (some descendant holds them).
 */
export function settleSensorTree(tree: SensorTree, options: {pipesHeld?: boolean} = {}): void {
  const pid = tree.pid
  let leftovers = Boolean(options.pipesHeld) || tree.terminated
  if (pid !== undefined) {
    try {
      process.kill(-pid, 0)
      leftovers = true
    } catch {
      // the group is empty
    }
    signalProcessGroup(pid, 'SIGKILL')
  }
  if (tree.cgroup) {
    if (cgroupPids(tree.cgroup).length > 0) signalCgroup(tree.cgroup, 'SIGKILL')
    scheduleCgroupRemoval(tree.cgroup)
  }
  liveMarkers.delete(tree.marker)
  if (tree.scan) {
    if (leftovers) signalMarked(tree.marker, 'SIGKILL')
    scheduleSweep()
  }
}

/** Killed processes take a moment to leave the cgroup: rmdir is retried for a few seconds. */
function scheduleCgroupRemoval(dir: string, attempt = 0): void {
  if (removeCgroup(dir) || attempt >= 60) return
  const timer = setTimeout(() => scheduleCgroupRemoval(dir, attempt + 1), 50)
  timer.unref()
}

/**
 * Kills every tree given and, when any run of this process was tracked by its marker alone,
 * every process carrying a marker of this process (leftovers of finished runs included).
 * Synchronous: it runs in the process's `exit` handler.
 */
export function killSensorTrees(trees: Iterable<SensorTree>): void {
  for (const tree of trees) {
    if (tree.pid !== undefined) signalProcessGroup(tree.pid, 'SIGKILL')
    if (tree.cgroup) signalCgroup(tree.cgroup, 'SIGKILL')
  }
  if (markerRuns) signalMarked(`${instance}.`, 'SIGKILL', true)
  if (cgroupParent) {
    for (const tree of trees) if (tree.cgroup) removeCgroup(tree.cgroup)
  }
}

/**
 * Removes this process's cgroups (at exit). Processes killed a moment ago may still be leaving
 * them: waits up to `waitMs` for that (synchronously: this runs in the `exit` handler). What is
 * still populated then stays, and the next attune start removes it.
 */
export function removeCgroupParent(waitMs = 250): void {
  if (!cgroupParent) return
  const deadline = Date.now() + waitMs
  const pause = new Int32Array(new SharedArrayBuffer(4))
  while (!removeCgroup(cgroupParent, true) && Date.now() < deadline) Atomics.wait(pause, 0, 0, 10)
}
