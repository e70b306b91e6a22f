import {describe, expect, it} from 'vitest'
import {
  activityChanged,
  attuneWorkerView,
  defaultSensorWorkerName,
  heartbeatHealth,
  normalizeRuntimeName,
  restartFailureExcerpt,
  sensorProcessTransition,
  sensorRestartBackoffSeconds,
  sensorWorkerActivity,
  sensorWorkerCapabilities,
  sensorWorkerWrite,
  shouldAlertRepeatedFailure,
  stderrExcerpt,
} from '../../src/engine/store/attune-worker.js'

const NOW = new Date('2026-11-24T12:00:00Z')
const later = (s: number) => new Date(NOW.getTime() + s * 1000)

describe('sensorWorkerCapabilities', () => {
  it('writes the keys Attune writes, with defaults', () => {
    expect(sensorWorkerCapabilities({runtimes: ['Shell', 'python', ' '], version: '0.4.0'})).toEqual({
      max_concurrent_sensors: 10,
      sensor_processes_monitored: 0,
      sensor_processes_running: 0,
      active_rules: 0,
      sensor_version: '0.4.0',
      runtimes: ['shell', 'python'],
    })
  })

  it('lowercases runtime names without normalizing them (non-agent mode) and drops duplicates', () => {
    expect(sensorWorkerCapabilities({runtimes: ['Node.js', 'node.js', 'Python3'], version: '1'}).runtimes).toEqual(['node.js', 'python3'])
  })

  it('derives runtimes, runtime_versions and detected_interpreters from interpreters (agent mode)', () => {
    const caps = sensorWorkerCapabilities({
      version: '1',
      runtimes: ['ignored'],
      interpreters: [
        {name: 'python3', path: '/usr/bin/python3', version: '3.12.1'},
        {name: 'python', path: '/usr/local/bin/python', version: '3.11.9'},
        {name: 'nodejs', path: '/usr/bin/node', version: '22.1.0'},
        {name: 'bash', path: '/bin/bash', version: null},
        {name: 'python', path: '/opt/python', version: '3.12.1'},
      ],
    })
    expect(caps.runtimes).toEqual(['node', 'python', 'shell'])
    expect(caps.runtime_versions).toEqual({python: ['3.11.9', '3.12.1'], node: ['22.1.0']})
    expect(caps.detected_interpreters).toEqual([
      {name: 'python3', path: '/usr/bin/python3', version: '3.12.1'},
      {name: 'python', path: '/usr/local/bin/python', version: '3.11.9'},
      {name: 'nodejs', path: '/usr/bin/node', version: '22.1.0'},
      {name: 'bash', path: '/bin/bash', version: null},
      {name: 'python', path: '/opt/python', version: '3.12.1'},
    ])
  })

  it('writes activity counts, labels, taints (effect defaulted) and agent keys', () => {
    const caps = sensorWorkerCapabilities({
      runtimes: [],
      version: '2',
      maxConcurrentSensors: 25,
      monitored: 3,
      running: 2,
      activeRules: 7,
      labels: {zone: 'a', engine: 'attune'},
      taints: [{key: 'dedicated', value: 'attune'}, {key: 'slow', effect: 'prefer_no_schedule'}],
      agent: {mode: true, binaryName: ' attune ', binaryVersion: ''},
    })
    expect(caps).toMatchObject({
      max_concurrent_sensors: 25,
      sensor_processes_monitored: 3,
      sensor_processes_running: 2,
      active_rules: 7,
      labels: {zone: 'a', engine: 'attune'},
      taints: [
        {key: 'dedicated', value: 'attune', effect: 'no_schedule'},
        {key: 'slow', effect: 'prefer_no_schedule'},
      ],
      agent_mode: true,
      agent_binary_name: 'attune',
    })
    expect(caps).not.toHaveProperty('agent_binary_version')
    expect(caps.taints).toEqual([
      {key: 'dedicated', value: 'attune', effect: 'no_schedule'},
      {key: 'slow', effect: 'prefer_no_schedule'},
    ])
  })

  it('omits empty labels and taints', () => {
    const caps = sensorWorkerCapabilities({runtimes: [], version: '1', labels: {}, taints: []})
    expect(caps).not.toHaveProperty('labels')
    expect(caps).not.toHaveProperty('taints')
  })

  it('keeps extra keys but Attune keys win', () => {
    const caps = sensorWorkerCapabilities({runtimes: ['shell'], version: '1', extra: {lease_seconds: 15, max_concurrent_sensors: 'x', runtimes: 'y'}})
    expect(caps.lease_seconds).toBe(15)
    expect(caps.max_concurrent_sensors).toBe(10)
    expect(caps.runtimes).toEqual(['shell'])
  })

  it('rejects values Attune would read as absent or reject', () => {
    expect(() => sensorWorkerCapabilities({runtimes: [], version: '1', running: 1.5})).toThrow(/non-negative integer/)
    expect(() => sensorWorkerCapabilities({runtimes: [], version: '1', maxConcurrentSensors: -1})).toThrow(/non-negative integer/)
    expect(() => sensorWorkerCapabilities({runtimes: [], version: '1', labels: {zone: ' '}})).toThrow(/label 'zone'/)
    expect(() => sensorWorkerCapabilities({runtimes: [], version: '1', taints: [{key: ''}]})).toThrow(/taint keys/)
    expect(() => sensorWorkerCapabilities({runtimes: [], version: '1', taints: [{key: 'k', value: ''}]})).toThrow(/taint 'k'/)
  })
})

describe('normalizeRuntimeName', () => {
  it.each([
    ['Node.js', 'node'],
    ['nodejs', 'node'],
    ['python3', 'python'],
    ['bash', 'shell'],
    ['builtin', 'native'],
    ['golang', 'go'],
    ['OpenJDK', 'java'],
    ['perl5', 'perl'],
    ['Rscript', 'r'],
    [' Deno ', 'deno'],
  ])('%s -> %s', (name, expected) => {
    expect(normalizeRuntimeName(name)).toBe(expected)
  })
})

describe('sensor worker activity', () => {
  it('maps counts to capability keys and detects changes', () => {
    const activity = sensorWorkerActivity({monitored: 2, running: 1, activeRules: 4})
    expect(activity).toEqual({sensor_processes_monitored: 2, sensor_processes_running: 1, active_rules: 4})
    const caps = sensorWorkerCapabilities({runtimes: [], version: '1', monitored: 2, running: 1, activeRules: 4})
    expect(activityChanged(caps, activity)).toBe(false)
    expect(activityChanged(caps, sensorWorkerActivity({monitored: 2, running: 2, activeRules: 4}))).toBe(true)
  })
})

describe('sensorWorkerWrite', () => {
  const caps = {runtimes: ['shell']}
  it('insert: local sensor worker, active, heartbeat now', () => {
    expect(sensorWorkerWrite('insert', {name: 'attune-h1', host: 'h1', capabilities: caps, now: NOW})).toEqual({
      name: 'attune-h1',
      worker_type: 'local',
      worker_role: 'sensor',
      host: 'h1',
      status: 'active',
      capabilities: caps,
      last_heartbeat: NOW,
    })
  })
  it('reregister, heartbeat, capabilities, deregister', () => {
    expect(sensorWorkerWrite('reregister', {host: null, capabilities: caps, now: NOW})).toEqual({
      status: 'active',
      capabilities: caps,
      last_heartbeat: NOW,
      updated: NOW,
      host: null,
    })
    expect(sensorWorkerWrite('heartbeat', {now: NOW})).toEqual({last_heartbeat: NOW, status: 'active', updated: NOW})
    expect(sensorWorkerWrite('capabilities', {capabilities: caps, now: NOW})).toEqual({capabilities: caps, updated: NOW})
    const down = sensorWorkerWrite('deregister', {now: NOW})
    expect(down).toEqual({status: 'inactive', updated: NOW})
    expect(down).not.toHaveProperty('last_heartbeat')
  })
  it('needs name and capabilities where Attune writes them', () => {
    expect(() => sensorWorkerWrite('insert', {capabilities: caps, now: NOW})).toThrow(/needs name/)
    expect(() => sensorWorkerWrite('capabilities', {now: NOW})).toThrow(/needs capabilities/)
  })
  it('default name', () => {
    expect(defaultSensorWorkerName('box')).toBe('sensor-box')
  })
})

describe('heartbeat staleness and the API view', () => {
  it('is stale only after more than 90 s, or without a heartbeat', () => {
    expect(heartbeatHealth(null, NOW)).toEqual({ageSeconds: null, stale: true})
    expect(heartbeatHealth(NOW, later(90.9))).toEqual({ageSeconds: 90, stale: false})
    expect(heartbeatHealth(NOW, later(91))).toEqual({ageSeconds: 91, stale: true})
    expect(heartbeatHealth(later(5), NOW)).toEqual({ageSeconds: 0, stale: false})
  })

  const view = (over: Partial<Parameters<typeof attuneWorkerView>[0]>) =>
    attuneWorkerView({status: 'active', cordoned: false, last_heartbeat: NOW, capabilities: {}, now: later(10), ...over})

  it('derives status and health as the API does', () => {
    expect(view({})).toMatchObject({status: 'active', healthState: 'active', heartbeatAgeSeconds: 10, utilizationPercent: null})
    expect(view({capabilities: {sensor_processes_running: 1, max_concurrent_sensors: 3}})).toMatchObject({
      status: 'busy',
      healthState: 'busy',
      utilizationPercent: 33,
    })
    expect(view({capabilities: {active_rules: 2}})).toMatchObject({status: 'busy', healthState: 'busy'})
    expect(view({now: later(120)})).toMatchObject({status: 'active', healthState: 'offline', heartbeatStale: true})
    expect(view({status: 'inactive'})).toMatchObject({status: 'inactive', healthState: 'offline'})
    expect(view({status: 'error'})).toMatchObject({healthState: 'error'})
    expect(view({cordoned: true, status: 'inactive'})).toMatchObject({healthState: 'cordoned'})
    expect(view({status: null})).toMatchObject({healthState: 'inactive'})
    // Non-integer counts read as absent.
    expect(view({capabilities: {sensor_processes_running: 1.5, active_rules: '3'}})).toMatchObject({healthState: 'active'})
  })
})

describe('restart backoff, stderr excerpt, alerts', () => {
  it('doubles from 5 s to a 300 s cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 20].map(sensorRestartBackoffSeconds)).toEqual([5, 5, 10, 20, 40, 80, 160, 300, 300])
  })

  it('keeps the last 80 lines, marks truncation, drops blank output', () => {
    const lines = Array.from({length: 100}, (_, i) => `line ${i}`)
    expect(stderrExcerpt(lines.join('\n') + '\n', false)).toBe(lines.slice(20).join('\n'))
    expect(stderrExcerpt('boom\n', true)).toBe('…\nboom')
    expect(stderrExcerpt(' \n\n', false)).toBeNull()
    expect(restartFailureExcerpt('spawn ENOENT')).toBe('restart failed: spawn ENOENT')
  })

  it('alerts from the third failure, once per new failure count, only with active rules', () => {
    expect(shouldAlertRepeatedFailure({active_rule_count: 1, consecutive_failures: 2, last_alerted_failure_count: 0})).toBe(false)
    expect(shouldAlertRepeatedFailure({active_rule_count: 1, consecutive_failures: 3, last_alerted_failure_count: 0})).toBe(true)
    expect(shouldAlertRepeatedFailure({active_rule_count: 1, consecutive_failures: 3, last_alerted_failure_count: 3})).toBe(false)
    expect(shouldAlertRepeatedFailure({active_rule_count: 0, consecutive_failures: 5, last_alerted_failure_count: 0})).toBe(false)
  })
})

describe('sensorProcessTransition', () => {
  const key = {sensor: 7, worker: 3}
  const start = {
    ...key,
    sensorRef: 'core.interval_timer_sensor',
    workerName: 'attune-h1',
    pid: 4242,
    now: NOW,
    activeRuleCount: 2,
  }

  it('running (fresh start): upsert clearing the last run and the failure count', () => {
    const w = sensorProcessTransition('running', {
      ...start,
      resetFailureCount: true,
      previous: {consecutive_failures: 4, last_alerted_failure_count: 3, last_alerted_at: NOW},
    })
    expect(w).toEqual({
      op: 'upsert',
      key,
      columns: {
        sensor_ref: 'core.interval_timer_sensor',
        worker_name: 'attune-h1',
        status: 'running',
        pid: 4242,
        consecutive_failures: 0,
        last_alerted_failure_count: 0,
        last_alerted_at: null,
        last_exit_code: null,
        last_signal: null,
        last_started_at: NOW,
        last_stopped_at: null,
        next_restart_at: null,
        stderr_excerpt: null,
        log_artifact_ref: 'sensor.core.interval_timer_sensor.stderr',
        active_rule_count: 2,
        meta: {manager: 'attune-sensor', reset_failure_count: true},
        updated: NOW,
      },
    })
  })

  it('running (restart after backoff): keeps failure and alert counts', () => {
    const alertedAt = later(-60)
    const w = sensorProcessTransition('running', {
      ...start,
      resetFailureCount: false,
      previous: {consecutive_failures: 4, last_alerted_failure_count: 3, last_alerted_at: alertedAt},
      meta: {manager: 'attune'},
      logArtifactRef: null,
    })
    expect(w.columns).toMatchObject({
      consecutive_failures: 4,
      last_alerted_failure_count: 3,
      last_alerted_at: alertedAt,
      meta: {manager: 'attune'},
      log_artifact_ref: null,
    })
    // No row yet: an insert starts from zero whatever the flag.
    const first = sensorProcessTransition('running', {...start, resetFailureCount: false, previous: null})
    expect(first.columns).toMatchObject({consecutive_failures: 0, last_alerted_failure_count: 0, last_alerted_at: null})
  })

  it('starting: same columns with status starting; pids that do not fit are stored as null', () => {
    const w = sensorProcessTransition('starting', {...start, pid: null, resetFailureCount: true, previous: null})
    expect(w.columns).toMatchObject({status: 'starting', pid: null})
    expect(sensorProcessTransition('running', {...start, pid: 2 ** 31, resetFailureCount: true, previous: null}).columns.pid).toBeNull()
    expect(sensorProcessTransition('running', {...start, activeRuleCount: -3, resetFailureCount: true, previous: null}).columns.active_rule_count).toBe(0)
  })

  it('stopped: clears pid and next restart, leaves failures and last exit alone', () => {
    const w = sensorProcessTransition('stopped', {...key, now: NOW, activeRuleCount: 0})
    expect(w).toEqual({
      op: 'update',
      key,
      columns: {status: 'stopped', pid: null, last_stopped_at: NOW, next_restart_at: null, active_rule_count: 0, updated: NOW},
    })
    const unknownCount = sensorProcessTransition('stopped', {...key, now: NOW})
    expect(unknownCount.columns).not.toHaveProperty('active_rule_count')
    for (const col of ['consecutive_failures', 'last_exit_code', 'last_signal', 'stderr_excerpt', 'last_started_at']) {
      expect(w.columns).not.toHaveProperty(col)
    }
  })

  it('backoff: counts the failure and schedules the restart by the new count', () => {
    const w = sensorProcessTransition('backoff', {
      ...key,
      now: NOW,
      activeRuleCount: 1,
      exitCode: 1,
      signal: null,
      stderrExcerpt: 'Traceback …',
      previous: {consecutive_failures: 2, last_alerted_failure_count: 0, last_alerted_at: null},
    })
    expect(w).toEqual({
      op: 'update',
      key,
      columns: {
        status: 'backoff',
        pid: null,
        consecutive_failures: 3,
        last_exit_code: 1,
        last_signal: null,
        last_stopped_at: NOW,
        stderr_excerpt: 'Traceback …',
        active_rule_count: 1,
        next_restart_at: later(20),
        updated: NOW,
      },
    })
    const first = sensorProcessTransition('backoff', {...key, now: NOW, activeRuleCount: 1, exitCode: null, signal: 9, stderrExcerpt: null, previous: null})
    expect(first.columns).toMatchObject({consecutive_failures: 1, last_signal: 9, next_restart_at: later(5)})
    const explicit = sensorProcessTransition('backoff', {...first.key, now: NOW, activeRuleCount: 1, exitCode: 0, signal: null, stderrExcerpt: null, previous: null, nextRestartAt: later(1)})
    expect(explicit.columns.next_restart_at).toEqual(later(1))
  })

  it('failed: terminal, no restart time unless given', () => {
    const w = sensorProcessTransition('failed', {...key, now: NOW, activeRuleCount: 1, exitCode: 2, signal: null, stderrExcerpt: null, previous: {consecutive_failures: 9, last_alerted_failure_count: 9, last_alerted_at: null}})
    expect(w.columns).toMatchObject({status: 'failed', consecutive_failures: 10, next_restart_at: null, pid: null})
  })

  it('alerted: records the failure count alerted on', () => {
    expect(sensorProcessTransition('alerted', {...key, now: NOW, failureCount: 3})).toEqual({
      op: 'update',
      key,
      columns: {last_alerted_failure_count: 3, last_alerted_at: NOW, updated: NOW},
    })
  })
})
