/**
 * The commands' side of docs/security.md: sensor.run_as given by environment or config file
 * (bad values exit 2 naming them), the root warning, `*_FILE` secrets, and, as root, a sensor
 * started by `attune sensor test` / `sensor run-once` running as the sensor user, unable to read
 * the CLI process's environment (which holds a secret), its config file or its database.
 */
import {chmodSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {sensorDirsBase} from '../../src/engine/sensor/run-as.js'
import {attune} from '../support/cli.js'
import {attuneJson, startDaemon, writePack} from '../support/daemon.js'
import {signHs256} from '../support/jwt.js'
import {rootSkip, throwawayUser, type ThrowawayUser} from '../support/root.js'
import {sensorDir} from '../support/sensors.js'

const files = sensorDir()
chmodSync(files.dir, 0o755)
const home = mkdtempSync(join(tmpdir(), 'attune-security-home-'))
afterAll(() => {
  files.cleanup()
  rmSync(home, {recursive: true, force: true})
})
const baseEnv = {NO_COLOR: '1', NODE_ENV: 'production', ATTUNE_HOME: home, PATH: process.env.PATH ?? '/usr/bin:/bin'}
const shellSensor = files.write('plain.sh', '#!/bin/bash\necho \'{"events": [{"ok": true}]}\'\n', 0o644)

describe('sensor.run_as from the command line', () => {
  it('exits 2 naming ATTUNE_SENSOR_RUN_AS and its value when the user does not exist', async () => {
    const run = await attune(['sensor', 'test', shellSensor], {env: {...baseEnv, ATTUNE_SENSOR_RUN_AS: 'attune-no-such-user'}})
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toContain('Error: ATTUNE_SENSOR_RUN_AS is "attune-no-such-user": no user "attune-no-such-user" on this system')
    const json = await attune(['sensor', 'test', shellSensor, '--json'], {env: {...baseEnv, ATTUNE_SENSOR_RUN_AS: 'nobody:attune-no-such-group'}})
    expect(json.exitCode).toBe(2)
    expect(JSON.parse(json.stdout as string).error).toMatchObject({code: 'run_as_invalid', message: 'ATTUNE_SENSOR_RUN_AS is "nobody:attune-no-such-group": no group "attune-no-such-group" on this system'})
  })

  it('exits 2 naming the config file for a bad sensor.run_as, in the daemon and run-once too', async () => {
    const config = join(files.dir, 'bad-run-as.yaml')
    writeFileSync(config, 'sensor:\n  run_as: attune-no-such-user\n', {mode: 0o600})
    for (const args of [['daemon', '--no-ui'], ['sensor', 'run-once', shellSensor], ['sensor', 'test', shellSensor]]) {
      const run = await attune([...args, '--config-file', config], {env: baseEnv})
      expect(run.exitCode, `${args.join(' ')}: ${run.stderr}`).toBe(2)
      expect(run.stderr).toContain(`Error: sensor.run_as in ${config} is "attune-no-such-user": no user "attune-no-such-user" on this system`)
    }
    const malformed = await attune(['sensor', 'test', shellSensor], {env: {...baseEnv, ATTUNE_SENSOR_RUN_AS: 'root:root:root'}})
    expect(malformed.exitCode).toBe(2)
    expect(malformed.stderr).toContain('ATTUNE_SENSOR_RUN_AS must be user[:group] (names or numeric ids), got "root:root:root"')
  })
})

describe('secrets from *_FILE on the command line', () => {
  const SECRET = 'file-secret-0123456789-0123456789-abcdef'
  const now = Math.floor(Date.now() / 1000)
  const token = signHs256({alg: 'HS256', typ: 'JWT'}, {sub: '1', login: 'x.y', iat: now, exp: now + 3600, token_type: 'sensor', scope: 'sensor', metadata: {trigger_types: ['x.t']}}, SECRET)

  it('verifies a token with the secret read from ATTUNE_JWT_SECRET_FILE', async () => {
    const path = files.write('jwt_secret', `${SECRET}\n`, 0o600)
    const run = await attune(['token', 'verify', token, '--json'], {env: {...baseEnv, ATTUNE_JWT_SECRET_FILE: path}})
    expect(run.exitCode, run.stderr as string).toBe(0)
    expect(JSON.parse(run.stdout as string)).toMatchObject({valid: true})
  })

  it('exits 2 when both the variable and its _FILE are set, or the file is readable by others', async () => {
    const path = files.write('jwt_secret_both', `${SECRET}\n`, 0o600)
    const both = await attune(['token', 'verify', token], {env: {...baseEnv, ATTUNE_JWT_SECRET: SECRET, ATTUNE_JWT_SECRET_FILE: path}})
    expect(both.exitCode).toBe(2)
    expect(both.stderr).toContain('Both ATTUNE_JWT_SECRET and ATTUNE_JWT_SECRET_FILE are set')
    const open = files.write('jwt_secret_open', `${SECRET}\n`, 0o644)
    const loose = await attune(['token', 'verify', token], {env: {...baseEnv, ATTUNE_JWT_SECRET_FILE: open}})
    expect(loose.exitCode).toBe(2)
    expect(loose.stderr).toContain(`ATTUNE_JWT_SECRET_FILE names ${open}, whose mode is 0644`)
    expect(`${both.stderr}${loose.stderr}`).not.toContain(SECRET)
  })
})

const skip = rootSkip('the run_as command-line tests')

describe.skipIf(skip)('sensor.run_as from the command line (root)', () => {
  let user: ThrowawayUser
  beforeAll(() => {
    user = throwawayUser()
  })
  afterAll(() => {
    // The uid may be handed out again: its directories go with the user.
    if (user.name !== 'nobody') for (const dir of ['home', 'tmp']) rmSync(join(sensorDirsBase(), `${dir}-${user.uid}`), {recursive: true, force: true})
    user.remove()
  })

  it('warns that sensors run as root without run_as, and not with it', async () => {
    const asRoot = await attune(['sensor', 'test', shellSensor], {env: baseEnv})
    expect(asRoot.exitCode).toBe(0)
    expect(asRoot.stderr).toContain('Warning: attune runs as root and sensor.run_as is not set: every sensor runs arbitrary code as root')
    const asUser = await attune(['sensor', 'test', shellSensor], {env: {...baseEnv, ATTUNE_SENSOR_RUN_AS: user.name}})
    expect(asUser.exitCode, asUser.stderr as string).toBe(0)
    expect(asUser.stderr).not.toContain('Warning')
  })

  it('runs the daemon\'s poll and long-running sensors as that user', async () => {
    const daemonHome = mkdtempSync(join(tmpdir(), 'attune-security-daemon-'))
    const pack = join(daemonHome, 'pack')
    writePack(pack, {
      'pack.yaml': 'ref: ra\n',
      'triggers/t.yaml': 'ref: ra.t\n',
      'sensors/poll.sh': '#!/bin/bash\necho "{\\"events\\": [{\\"uid\\": $(id -u), \\"kind\\": \\"poll\\"}]}"\n',
      'sensors/poll.yaml': 'ref: ra.poll\nrunner_type: shell\nentry_point: poll.sh\ntrigger_types: [ra.t]\npoll_interval: 1\n',
      'sensors/long.sh': '#!/bin/bash\nwhile true; do echo "{\\"payload\\": {\\"uid\\": $(id -u), \\"kind\\": \\"long\\"}}"; sleep 1; done\n',
      'sensors/long.yaml': 'ref: ra.long\nrunner_type: shell\nentry_point: long.sh\nexecution: long_running\ntrigger_types: [ra.t]\n',
    })
    chmodSync(daemonHome, 0o755)
    const daemon = await startDaemon(['--packs', pack], {...baseEnv, ATTUNE_HOME: join(daemonHome, 'home'), ATTUNE_SENSOR_RUN_AS: user.name})
    try {
      expect(daemon.logs.some((log) => String(log.msg).includes('runs as root'))).toBe(false)
      const uids = async () => {
        const {events} = await attuneJson<{events: Array<{payload: {uid: number; kind: string}}>}>(['event', 'list', '--trigger', 'ra.t'], {...baseEnv, ATTUNE_HOME: join(daemonHome, 'home')})
        return new Map(events.map((event) => [event.payload.kind, event.payload.uid]))
      }
      let seen = new Map<string, number>()
      for (let i = 0; i < 60 && seen.size < 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 500))
        seen = await uids()
      }
      expect(Object.fromEntries(seen)).toEqual({poll: user.uid, long: user.uid})
    } finally {
      await daemon.stop('SIGTERM')
      rmSync(daemonHome, {recursive: true, force: true})
    }
  }, 150_000)

  it('runs `sensor test` and `sensor run-once` sensors as that user (id -u)', async () => {
    const whoami = files.write('whoami.sh', '#!/bin/bash\necho "{\\"events\\": [{\\"uid\\": $(id -u), \\"gid\\": $(id -g)}]}"\n', 0o644)
    const env = {...baseEnv, ATTUNE_SENSOR_RUN_AS: `${user.uid}:${user.gid}`}
    const tested = await attune(['sensor', 'test', whoami, '--json'], {env})
    expect(tested.exitCode, tested.stderr as string).toBe(0)
    expect(JSON.parse(tested.stdout as string).events).toEqual([{uid: user.uid, gid: user.gid}])
    const once = await attune(['sensor', 'run-once', whoami, '--json'], {env})
    expect(once.exitCode, once.stderr as string).toBe(0)
    expect(JSON.parse(once.stdout as string).poll.events).toEqual([{uid: user.uid, gid: user.gid}])
  })

  it("keeps the sensor out of the CLI's environment, config file, database and secret file while it still emits events", async () => {
    const secretFile = join(home, '..', `${home.split('/').pop()}-jwt`)
    writeFileSync(secretFile, 'file-secret-0123456789-0123456789\n', {mode: 0o600})
    writeFileSync(join(home, 'config.yaml'), 'auth:\n  jwt_secret: config-secret-0123456789-0123456789\n', {mode: 0o600})
    const snoop = files.write(
      'snoop.cjs',
      `const fs = require('node:fs')
exports.poll_sensor = (config) => [...config.paths, '/proc/' + process.ppid + '/environ'].map((path) => {
  try { fs.readFileSync(path); return {path, read: true, ppid: process.ppid} } catch (error) {
    if (error.code !== 'EISDIR') return {path, read: false, code: error.code, ppid: process.ppid}
    try { fs.readdirSync(path); return {path, read: true, ppid: process.ppid} } catch (inner) { return {path, read: false, code: inner.code, ppid: process.ppid} }
  }
})
`,
      0o644,
    )
    const paths = [home, join(home, 'config.yaml'), join(home, 'pgdata'), join(home, 'pgdata', 'PG_VERSION'), secretFile]
    try {
      // run-once holds the embedded database open while the sensor runs; its environment holds secrets.
      const cli = attune(['sensor', 'run-once', snoop, '--config', JSON.stringify({paths}), '--json'], {
        env: {...baseEnv, ATTUNE_SENSOR_RUN_AS: user.name, ATTUNE_AMQP_URL: 'amqp://attune:env-secret-pw@localhost:5672', ATTUNE__SECURITY__JWT_SECRET_FILE: secretFile},
      })
      const run = await cli
      expect(run.exitCode, run.stderr as string).toBe(0)
      const events = JSON.parse(run.stdout as string).poll.events as Array<{path: string; read: boolean; code?: string; ppid: number}>
      expect(events).toHaveLength(paths.length + 1)
      expect(events[0].ppid).toBe(cli.pid)
      for (const event of events) expect(event, JSON.stringify(event)).toMatchObject({read: false, code: 'EACCES'})
    } finally {
      rmSync(secretFile, {force: true})
      rmSync(join(home, 'config.yaml'), {force: true})
    }
  })

  it('exits 2 naming a sensor file the user cannot read', async () => {
    const hiddenDir = mkdtempSync(join(tmpdir(), 'attune-hidden-pack-'))
    try {
      const hidden = join(hiddenDir, 'hidden.sh')
      writeFileSync(hidden, '#!/bin/bash\necho \'{"events": []}\'\n', {mode: 0o644})
      const run = await attune(['sensor', 'test', hidden], {env: {...baseEnv, ATTUNE_SENSOR_RUN_AS: user.name}})
      expect(run.exitCode).toBe(2)
      expect(run.stderr).toContain(`Error: Sensor file ${hidden} is not readable by the sensor user ${user.name} (uid ${user.uid}, gid ${user.gid}) (ATTUNE_SENSOR_RUN_AS): ${hiddenDir} is not searchable by it (mode 0700`)
      expect(run.stderr).toContain('docs/security.md')
    } finally {
      rmSync(hiddenDir, {recursive: true, force: true})
    }
  })
})
