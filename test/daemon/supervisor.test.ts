import {afterAll, afterEach, describe, expect, it} from 'vitest'
import {ringLogger} from '../../src/daemon/logger.js'
import {LongRunningSupervisor, type LongRunningEvent, type TriggerInstance} from '../../src/daemon/supervisor.js'
import {planLaunch} from '../../src/engine/sensor/execute.js'
import {jwtSecretKey, signSensorToken, verifySensorToken} from '../../src/engine/tokens/index.js'
import {eventually, isAlive, sensorDir} from '../support/sensors.js'

const files = sensorDir()
afterAll(() => files.cleanup())
const supervisors: LongRunningSupervisor[] = []
afterEach(async () => {
  for (const supervisor of supervisors.splice(0)) await supervisor.stop()
})

const key = jwtSecretKey('supervisor-test-secret-0123456789-abcdef')
const issueToken = async () => {
  const {token, claims} = await signSensorToken({identityId: 9, sensorRef: 'lr.sensor', triggerTypes: ['lr.tick'], ttlSeconds: 3600}, key)
  return {token, expiresAt: new Date(claims.exp * 1000)}
}

// Emits one event per trigger instance it was given, then a malformed line, then waits.
const EMITTER = `import json, os, sys, time
triggers = json.loads(os.environ["ATTUNE_SENSOR_TRIGGERS"])
print("starting with", len(triggers), "triggers", file=sys.stderr)
print("this is not json")
for t in triggers:
    print(json.dumps({"trigger_ref": t["trigger_ref"], "trigger_instance_id": t["id"], "payload": {"rule": t["ref"], "token": os.environ["ATTUNE_API_TOKEN"], "sensor_id": os.environ["ATTUNE_SENSOR_ID"], "pid": os.getpid()}}))
if os.environ.get("CRASH_AFTER_EMIT"):
    sys.exit(3)
time.sleep(300)
`

async function supervise(code: string, triggers: TriggerInstance[], env: Record<string, string> = {}, token: typeof issueToken = issueToken) {
  const file = files.write(`lr_${supervisors.length}_${Date.now()}.py`, code)
  const plan = await planLaunch({ref: 'lr.sensor', entrypoint: file})
  if ('error' in plan) throw new Error(plan.error)
  const events: LongRunningEvent[] = []
  const logger = ringLogger()
  const supervisor = new LongRunningSupervisor({
    sensor: {id: 42, ref: 'lr.sensor', triggerTypes: ['lr.tick'], config: {}, env},
    plan,
    triggers,
    issueToken: token,
    onEvent: async (event) => {
      events.push(event)
    },
    logger,
    backoffMs: 100,
    maxBackoffMs: 400,
    killGraceMs: 300,
  })
  supervisors.push(supervisor)
  await supervisor.start()
  return {supervisor, events, logger}
}

const rule = (id: number): TriggerInstance => ({id, ref: `lr.rule${id}`, trigger_ref: 'lr.tick', config: {interval: id}})

describe('LongRunningSupervisor', () => {
  it('starts with the current trigger list and a valid sensor token (the bootstrap)', async () => {
    const {events, supervisor, logger} = await supervise(EMITTER, [rule(1), rule(2)])
    expect(await eventually(() => events.length === 2, 10_000)).toBe(true)
    expect(events.map((event) => event.trigger_instance_id)).toEqual([1, 2])
    expect(events[0]).toMatchObject({trigger_ref: 'lr.tick', payload: {rule: 'lr.rule1', sensor_id: '42'}})
    const verified = await verifySensorToken(events[0].payload.token as string, key)
    expect(verified.valid).toBe(true)
    const status = supervisor.snapshot()
    expect(status).toMatchObject({state: 'running', events: 2, malformed_lines: 1, triggers: 2})
    expect(logger.records().some((record) => record.msg === 'skipped a line that is not JSON')).toBe(true)
    expect(await eventually(() => logger.records().some((record) => record.msg === 'sensor log' && String(record.line).includes('starting with 2')))).toBe(true)
  })

  it('restarts the sensor with the new list when the rules change', async () => {
    const {events, supervisor} = await supervise(EMITTER, [rule(1)])
    expect(await eventually(() => events.length === 1, 10_000)).toBe(true)
    const firstPid = events[0].payload.pid as number
    await supervisor.updateTriggers([rule(1), rule(3)])
    expect(await eventually(() => events.length === 3, 10_000)).toBe(true)
    expect(events.slice(1).map((event) => event.trigger_instance_id)).toEqual([1, 3])
    expect(await eventually(() => !isAlive(firstPid))).toBe(true)
    // The same list again changes nothing.
    await supervisor.updateTriggers([rule(1), rule(3)])
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(events).toHaveLength(3)
  })

  it('restarts a crashing sensor with growing delays, and counts the restarts', async () => {
    const {events, supervisor} = await supervise(EMITTER, [rule(1)], {CRASH_AFTER_EMIT: '1'})
    expect(await eventually(() => events.length >= 4, 10_000)).toBe(true)
    const status = supervisor.snapshot()
    expect(status.restarts).toBeGreaterThanOrEqual(3)
    expect(status.last_exit).toBe('exit code 3')
    expect(new Set(events.map((event) => event.payload.pid)).size).toBe(events.length)
  })

  it('marks a sensor that keeps crashing failed after 3 crashes in a row, and keeps restarting it', async () => {
    const {events, supervisor} = await supervise(EMITTER, [rule(1)], {CRASH_AFTER_EMIT: '1'})
    expect(await eventually(() => events.length >= 1, 10_000)).toBe(true)
    expect(['running', 'backoff']).toContain(supervisor.snapshot().state) // one crash is not a failure
    expect(await eventually(() => supervisor.snapshot().consecutive_crashes >= 3, 10_000)).toBe(true)
    expect(supervisor.snapshot().state).toBe('failed')
    const seen = events.length
    expect(await eventually(() => events.length > seen, 10_000)).toBe(true) // still retried
    expect(supervisor.snapshot().state).toBe('failed') // up for less than a minute: still failing
  })

  it('says why a sensor could not start when its token cannot be issued', async () => {
    const noSecret = async (): Promise<never> => {
      throw new Error('No JWT secret is configured')
    }
    const {supervisor, events} = await supervise(EMITTER, [rule(1)], {}, noSecret)
    expect(await eventually(() => supervisor.snapshot().state === 'failed', 10_000)).toBe(true)
    expect(supervisor.snapshot()).toMatchObject({pid: null, last_exit: 'could not start: no token: No JWT secret is configured'})
    expect(events).toEqual([])
  })

  it('skips events for triggers the sensor does not declare', async () => {
    const code = 'import json, time\nprint(json.dumps({"trigger_ref": "other.trigger", "payload": {}}))\nprint(json.dumps({"payload": {"ok": 1}}))\nprint(json.dumps({"trigger_ref": "lr.tick", "payload": [1]}))\ntime.sleep(300)\n'
    const {events, supervisor} = await supervise(code, [])
    expect(await eventually(() => supervisor.snapshot().malformed_lines === 2 && events.length === 1, 10_000)).toBe(true)
    expect(events[0]).toEqual({trigger_ref: 'lr.tick', trigger_instance_id: null, payload: {ok: 1}})
  })

  it('kills the sensor and its children on stop', async () => {
    const code = 'import json, os, subprocess, time\nchild = subprocess.Popen(["sleep", "300"])\nprint(json.dumps({"payload": {"pid": os.getpid(), "child": child.pid}}))\ntime.sleep(300)\n'
    const {events, supervisor} = await supervise(code, [])
    expect(await eventually(() => events.length === 1, 10_000)).toBe(true)
    await supervisor.stop()
    for (const pid of [events[0].payload.pid as number, events[0].payload.child as number]) {
      expect(await eventually(() => !isAlive(pid))).toBe(true)
    }
    expect(supervisor.snapshot().state).toBe('stopped')
  })
  it('starts no process when stopped while its token is being issued', async () => {
    let issuing!: () => void
    const slowToken = () =>
      new Promise<Awaited<ReturnType<typeof issueToken>>>((resolve) => {
        issuing = () => void issueToken().then(resolve)
      })
    const file = files.write(`lr_slow_${Date.now()}.py`, EMITTER)
    const plan = await planLaunch({ref: 'lr.sensor', entrypoint: file})
    if ('error' in plan) throw new Error(plan.error)
    const logger = ringLogger()
    const supervisor = new LongRunningSupervisor({sensor: {id: 42, ref: 'lr.sensor', triggerTypes: ['lr.tick'], config: {}}, plan, triggers: [rule(1)], issueToken: slowToken, onEvent: async () => {}, logger})
    supervisors.push(supervisor)
    const started = supervisor.start()
    await supervisor.stop()
    issuing()
    await started
    expect(supervisor.snapshot()).toMatchObject({state: 'stopped', pid: null})
    expect(logger.records().some((record) => record.msg === 'long-running sensor started')).toBe(false)
  })
})
