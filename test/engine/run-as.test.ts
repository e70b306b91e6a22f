/**
 * sensor.run_as: resolving the setting (bad values name themselves and their origin), the root
 * warning, and, as root, sensors really running as a throwaway user: its uid and group, its own
 * HOME and TMPDIR, no way into attune's secrets, and clear errors for files it cannot read.
 */
import {chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ringLogger} from '../../src/daemon/logger.js'
import {LongRunningSupervisor, type LongRunningEvent} from '../../src/daemon/supervisor.js'
import {loadConfig} from '../../src/engine/config.js'
import {AbortError} from '../../src/engine/errors.js'
import {executeSensor, planLaunch} from '../../src/engine/sensor/execute.js'
import {PersistentRunnerPool} from '../../src/engine/sensor/persistent.js'
import {resolveRunAs, sensorRootWarning, sensorRunAs, type SensorIdentity} from '../../src/engine/sensor/run-as.js'
import {useTreeTracking} from '../../src/engine/sensor/tree.js'
import {openStore} from '../../src/engine/store/index.js'
import {rootSkip, throwawayUser, type ThrowawayUser} from '../support/root.js'
import {eventually, hasEnded, sensorDir} from '../support/sensors.js'

const trigger = {ref: 'runas.trigger'}

function abortOf(fn: () => unknown): AbortError {
  try {
    fn()
  } catch (error) {
    if (error instanceof AbortError) return error
    throw error
  }
  throw new Error('expected an AbortError')
}

describe('resolving sensor.run_as', () => {
  it('refuses a malformed ATTUNE_SENSOR_RUN_AS, naming the variable and the value', () => {
    const error = abortOf(() => loadConfig({env: {ATTUNE_SENSOR_RUN_AS: 'a:b:c', ATTUNE_HOME: tmpdir()}, cwd: tmpdir()}))
    expect(error.message).toContain('ATTUNE_SENSOR_RUN_AS')
    expect(error.message).toContain('"a:b:c"')
  })

  it('refuses a malformed sensor.run_as in a config file, naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'attune-runas-config-'))
    try {
      const file = join(dir, 'attune.yaml')
      writeFileSync(file, 'sensor:\n  run_as: "bad user"\n', {mode: 0o600})
      const error = abortOf(() => loadConfig({file, env: {}, cwd: dir}))
      expect(error.message).toContain(file)
      expect(error.message).toContain('sensor.run_as')
      expect(error.message).toContain('bad user')
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('names an unknown user or group with the value and where it came from', () => {
    const user = abortOf(() => resolveRunAs('attune-no-such-user', 'ATTUNE_SENSOR_RUN_AS'))
    expect(user.message).toBe('ATTUNE_SENSOR_RUN_AS is "attune-no-such-user": no user "attune-no-such-user" on this system')
    expect(user.code).toBe('run_as_invalid')
    const group = abortOf(() => resolveRunAs('nobody:attune-no-such-group', 'sensor.run_as in /etc/attune.yaml'))
    expect(group.message).toBe('sensor.run_as in /etc/attune.yaml is "nobody:attune-no-such-group": no group "attune-no-such-group" on this system')
  })

  it('asks for the group of a numeric uid the passwd database does not know', () => {
    const error = abortOf(() => resolveRunAs('4000123', 'ATTUNE_SENSOR_RUN_AS'))
    expect(error.message).toContain('uid 4000123 has no passwd entry')
    expect(error.hint).toContain('4000123:4000123')
  })

  it('says where the setting came from: the environment over the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'attune-runas-origin-'))
    try {
      const file = join(dir, 'attune.yaml')
      writeFileSync(file, 'sensor:\n  run_as: nobody\n', {mode: 0o600})
      expect(loadConfig({file, env: {}, cwd: dir}).origins['sensor.run_as']).toBe(`sensor.run_as in ${file}`)
      const fromEnv = loadConfig({file, env: {ATTUNE_SENSOR_RUN_AS: 'attune-no-such-user'}, cwd: dir})
      expect(fromEnv.origins['sensor.run_as']).toBe('ATTUNE_SENSOR_RUN_AS')
      expect(abortOf(() => sensorRunAs(fromEnv)).message).toMatch(/^ATTUNE_SENSOR_RUN_AS is "attune-no-such-user"/)
      expect(sensorRunAs(loadConfig({env: {}, cwd: tmpdir(), overrides: {home: dir}}))).toBeUndefined()
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})

describe('the root warning', () => {
  const identity = (uid: number): SensorIdentity => ({spec: 'x', source: 'ATTUNE_SENSOR_RUN_AS', user: 'x', uid, group: 'x', gid: uid, home: '/h', tmp: '/t'})

  it('warns a root process without run_as that sensors run as root', () => {
    const warning = sensorRootWarning(undefined, 0)
    expect(warning).toContain('attune runs as root and sensor.run_as is not set')
    expect(warning).toContain('docs/security.md')
    expect(sensorRootWarning(identity(0), 0)).toContain('ATTUNE_SENSOR_RUN_AS is "x", which is root')
  })

  it('says nothing with run_as set to another user, or when attune is not root', () => {
    expect(sensorRootWarning(identity(65534), 0)).toBeUndefined()
    expect(sensorRootWarning(undefined, 1000)).toBeUndefined()
  })
})

const skip = rootSkip('the sensor.run_as tests')

describe.skipIf(skip)('sensors run as sensor.run_as (root)', () => {
  let user: ThrowawayUser
  let runAs: SensorIdentity
  let files: ReturnType<typeof sensorDir>
  let secrets: string

  beforeAll(() => {
    files = sensorDir()
    user = throwawayUser()
    runAs = resolveRunAs(user.name, 'ATTUNE_SENSOR_RUN_AS')
    chmodSync(files.dir, 0o755) // packs must be readable by the sensor user
    // Open, like /etc or /var/lib: only attune's own modes may keep the sensor out.
    secrets = mkdtempSync(join(tmpdir(), 'attune-runas-secrets-'))
    chmodSync(secrets, 0o755)
  })
  afterAll(() => {
    files.cleanup()
    rmSync(secrets, {recursive: true, force: true})
    // The uid may be handed out again: its directories go with the user.
    if (user.name !== 'nobody') for (const dir of [runAs.home, runAs.tmp]) rmSync(dir, {recursive: true, force: true})
    user.remove()
  })

  const readable = (name: string, content: string, mode = 0o644) => files.write(name, content, mode)

  it('resolves the user and its primary group, and prepares its HOME and TMPDIR', () => {
    expect(runAs).toMatchObject({user: user.name, uid: user.uid, gid: user.gid, group: user.group})
    for (const dir of [runAs.home, runAs.tmp]) {
      const info = statSync(dir)
      expect(info.uid).toBe(user.uid)
      expect(info.mode & 0o777).toBe(0o700)
    }
  })

  it('runs a poll as that user and group, without supplementary groups, in its own HOME and TMPDIR', async () => {
    const sensor = readable(
      'whoami.sh',
      '#!/bin/bash\necho written > "$TMPDIR/probe" && echo written > "$HOME/probe"\n' +
        'echo "{\\"events\\": [{\\"uid\\": $(id -u), \\"gid\\": $(id -g), \\"groups\\": \\"$(id -G)\\", \\"home\\": \\"$HOME\\", \\"tmp\\": \\"$TMPDIR\\", \\"wrote\\": \\"$(cat "$TMPDIR/probe")\\"}]}"\n',
    )
    const asRoot = await executeSensor({ref: 'runas.whoami', entrypoint: sensor}, trigger, {})
    expect(asRoot.events[0]).toMatchObject({uid: 0})
    const result = await executeSensor({ref: 'runas.whoami', entrypoint: sensor}, trigger, {}, {runAs})
    expect(result.error, result.stderr).toBeNull()
    expect(result.events).toEqual([{uid: user.uid, gid: user.gid, groups: String(user.gid), home: runAs.home, tmp: runAs.tmp, wrote: 'written'}])
  })

  it('runs Node.js polls and a persistent runner as that user', async () => {
    const sensor = readable('whoami.cjs', 'exports.poll_sensor = () => ({uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), pid: process.pid})\n')
    const once = await executeSensor({ref: 'runas.node', entrypoint: sensor}, trigger, {}, {runAs})
    expect(once.error, once.stderr).toBeNull()
    expect(once.events[0]).toMatchObject({uid: user.uid, gid: user.gid, groups: [user.gid]})
    const runners = new PersistentRunnerPool()
    try {
      const spec = {ref: 'runas.runner', entrypoint: sensor, execution: 'persistent' as const}
      const first = await executeSensor(spec, trigger, {}, {runAs, runners})
      const second = await executeSensor(spec, trigger, {}, {runAs, runners})
      expect(first.error, first.stderr).toBeNull()
      expect(second.events[0]).toMatchObject({uid: user.uid, gid: user.gid, pid: first.events[0].pid})
    } finally {
      runners.closeAll()
    }
  })

  it('runs a long-running sensor as that user', async () => {
    const sensor = readable('long.sh', '#!/bin/bash\necho "{\\"payload\\": {\\"uid\\": $(id -u), \\"home\\": \\"$HOME\\"}}"\nsleep 300\n')
    const plan = await planLaunch({ref: 'runas.long', entrypoint: sensor}, undefined, {runAs})
    if ('error' in plan) throw new Error(plan.error)
    const events: LongRunningEvent[] = []
    const supervisor = new LongRunningSupervisor({
      sensor: {id: 1, ref: 'runas.long', triggerTypes: ['runas.trigger'], config: {}},
      plan,
      triggers: [],
      issueToken: async () => ({token: 'unused', expiresAt: new Date(Date.now() + 3_600_000)}),
      onEvent: async (event) => {
        events.push(event)
      },
      logger: ringLogger(),
      killGraceMs: 300,
    })
    await supervisor.start()
    try {
      expect(await eventually(() => events.length > 0, 10_000)).toBe(true)
    } finally {
      await supervisor.stop()
    }
    expect(events[0].payload).toEqual({uid: user.uid, home: runAs.home})
  })

  it("cannot read attune's secrets: its parent's environment, the config file, pgdata, a *_FILE secret", async () => {
    const home = join(secrets, 'home')
    const store = await openStore({home}) // the embedded database, as the daemon keeps it
    await store.close()
    const config = join(home, 'config.yaml')
    writeFileSync(config, 'auth:\n  jwt_secret: config-secret-0123456789-0123456789\n', {mode: 0o600})
    const secretFile = join(secrets, 'jwt_secret')
    writeFileSync(secretFile, 'file-secret-0123456789-0123456789\n', {mode: 0o600})
    const sensor = readable(
      'snoop.cjs',
      `const fs = require('node:fs')
exports.poll_sensor = (config) => [...config.paths, '/proc/' + process.ppid + '/environ', '/proc/' + process.ppid + '/fd'].map((path) => {
  try { fs.readFileSync(path); return {path, read: true} } catch (error) {
    if (error.code !== 'EISDIR') return {path, read: false, code: error.code}
    try { fs.readdirSync(path); return {path, read: true} } catch (inner) { return {path, read: false, code: inner.code} }
  }
})
`,
    )
    const paths = [home, config, join(home, 'pgdata'), join(home, 'pgdata', 'PG_VERSION'), join(home, 'pgdata', 'global'), secretFile]
    const asRoot = await executeSensor({ref: 'runas.snoop', entrypoint: sensor}, trigger, {paths})
    expect(asRoot.events.every((event) => event.read === true), JSON.stringify(asRoot.events)).toBe(true)
    const result = await executeSensor({ref: 'runas.snoop', entrypoint: sensor}, trigger, {paths}, {runAs})
    expect(result.error, result.stderr).toBeNull()
    expect(result.count).toBe(paths.length + 2)
    for (const event of result.events) expect(event, JSON.stringify(event)).toMatchObject({read: false, code: 'EACCES'})
    // Each file keeps its own secret too, not only $ATTUNE_HOME's 0700.
    chmodSync(home, 0o711)
    const inside = await executeSensor({ref: 'runas.snoop', entrypoint: sensor}, trigger, {paths: paths.slice(1)}, {runAs})
    expect(inside.count).toBe(paths.length + 1)
    for (const event of inside.events) expect(event, JSON.stringify(event)).toMatchObject({read: false, code: 'EACCES'})
  })

  it('ends a setsid grandchild of that user at the timeout, by cgroup and by marker', async () => {
    for (const mode of ['auto', 'environ'] as const) {
      useTreeTracking(mode)
      const pidFile = join(runAs.tmp, `grandchild-${mode}.pid`)
      const sensor = readable(`escape-${mode}.sh`, `#!/bin/bash\nsetsid bash -c 'echo $$ > ${pidFile}; exec sleep 300' > /dev/null 2>&1 < /dev/null &\nwhile [ ! -s ${pidFile} ]; do sleep 0.05; done\nsleep 300\n`)
      const result = await executeSensor({ref: 'runas.escape', entrypoint: sensor}, trigger, {}, {runAs, timeoutMs: 1500, killGraceMs: 300})
      expect(result.error_type, result.stderr).toBe('Timeout')
      const pid = Number((await import('node:fs')).readFileSync(pidFile, 'utf8'))
      expect(await eventually(() => hasEnded(pid), 5000), `${mode}: pid ${pid} survived`).toBe(true)
    }
    useTreeTracking('auto')
  })

  it('names a sensor file the user cannot read, and an interpreter it cannot run', async () => {
    const privateDir = join(secrets, 'private-pack')
    mkdirSync(privateDir, {mode: 0o700})
    const hidden = join(privateDir, 'hidden.sh')
    writeFileSync(hidden, '#!/bin/bash\necho \'{"events": []}\'\n', {mode: 0o644})
    const result = await executeSensor({ref: 'runas.hidden', entrypoint: hidden}, trigger, {}, {runAs})
    expect(result.error_type).toBe('SensorNotReadable')
    expect(result.error).toContain(`Sensor file ${hidden} is not readable by the sensor user ${user.name} (uid ${user.uid}, gid ${user.gid})`)
    expect(result.error).toContain(`${privateDir} is not searchable`)

    symlinkSync('/bin/bash', join(privateDir, 'bash'))
    const shell = join(privateDir, 'bash')
    const sensor = readable('plain.sh', '#!/bin/bash\necho \'{"events": []}\'\n')
    const interpreter = await executeSensor({ref: 'runas.plain', entrypoint: sensor}, trigger, {}, {runAs, interpreters: {shell}})
    expect(interpreter.error_type).toBe('InterpreterNotAccessible')
    expect(interpreter.error).toContain(`The shell interpreter ${shell} cannot be run by the sensor user`)
  })
})
