import {Box, Text, render} from 'ink'
import React, {useEffect, useState} from 'react'
import type {Daemon, DaemonStatus} from '../daemon/daemon.js'
import type {LogRecord} from '../daemon/logger.js'
import type {SensorStatus} from '../daemon/scheduler.js'

/** The daemon's live view on a terminal: sensors, their last and next polls, failures, rates, backlog, recent log. */

const STATE_COLOR: Record<string, string> = {running: 'green', starting: 'cyan', failed: 'red', paused: 'yellow'}

function ago(iso: string | null, now: number): string {
  if (!iso) return '—'
  const seconds = Math.round((now - Date.parse(iso)) / 1000)
  return seconds <= 0 ? 'now' : seconds < 120 ? `${seconds}s ago` : `${Math.round(seconds / 60)}m ago`
}

function until(iso: string | null, now: number): string {
  if (!iso) return '—'
  const seconds = Math.round((Date.parse(iso) - now) / 1000)
  return seconds <= 0 ? 'due' : `in ${seconds}s`
}

/** Events per minute since the previous snapshot, per sensor. */
function rates(previous: Map<string, {events: number; at: number}>, sensors: SensorStatus[], now: number): Map<string, number> {
  const result = new Map<string, number>()
  for (const sensor of sensors) {
    const before = previous.get(sensor.ref)
    if (before && now > before.at) result.set(sensor.ref, ((sensor.events - before.events) * 60_000) / (now - before.at))
  }
  return result
}

function Dashboard({daemon, log}: {daemon: Daemon; log: () => LogRecord[]}): React.ReactElement {
  const [status, setStatus] = useState<DaemonStatus>(daemon.status())
  const [now, setNow] = useState(Date.now())
  const [perMinute, setPerMinute] = useState(new Map<string, number>())
  useEffect(() => {
    let previous = new Map<string, {events: number; at: number}>()
    const timer = setInterval(() => {
      const next = daemon.status()
      const at = Date.now()
      // Rates over the last ~10 s: fast enough to show change, slow enough to be readable.
      if (previous.size === 0 || at - [...previous.values()][0].at > 10_000) {
        setPerMinute(rates(previous, next.sensors, at))
        previous = new Map(next.sensors.map((sensor) => [sensor.ref, {events: sensor.events, at}]))
      }
      setStatus(next)
      setNow(at)
    }, 1000)
    return () => clearInterval(timer)
  }, [daemon])

  const width = Math.max(20, ...status.sensors.map((sensor) => sensor.ref.length))
  const records = log().slice(-8)
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>attune daemon</Text> <Text dimColor>{status.name}</Text> · database{' '}
        {status.database.ok ? <Text color="green">ok</Text> : <Text color="red">down ({status.database.error})</Text>} · broker {status.broker.kind}{' '}
        {status.broker.ok ? <Text color="green">ok</Text> : <Text color="red">down</Text>} · outbox {status.broker.pending} pending, {status.broker.sent} sent
      </Text>
      <Box flexDirection="column" marginTop={1}>
        <Text bold>
          {'SENSOR'.padEnd(width)} {'STATE'.padEnd(9)} {'LAST POLL'.padEnd(10)} {'NEXT'.padEnd(8)} {'POLLS'.padStart(6)} {'FAILS'.padStart(6)} {'EVENTS'.padStart(7)} {'EV/MIN'.padStart(7)}
        </Text>
        {status.sensors.map((sensor) => (
          <Text key={sensor.ref}>
            {sensor.ref.padEnd(width)} <Text color={STATE_COLOR[sensor.state]}>{(sensor.running ? `${sensor.state}*` : sensor.state).padEnd(9)}</Text>{' '}
            {ago(sensor.last_poll, now).padEnd(10)} {until(sensor.next_poll, now).padEnd(8)} {String(sensor.polls).padStart(6)}{' '}
            <Text color={sensor.consecutive_failures > 0 ? 'red' : undefined}>{String(sensor.failures).padStart(6)}</Text> {String(sensor.events).padStart(7)}{' '}
            {(perMinute.has(sensor.ref) ? perMinute.get(sensor.ref)!.toFixed(1) : '—').padStart(7)}
          </Text>
        ))}
        {status.long_running.map((sensor) => (
          <Text key={sensor.ref}>
            {sensor.ref.padEnd(width)} <Text color={sensor.state === 'running' ? 'green' : sensor.state === 'failed' ? 'red' : 'yellow'}>{sensor.state.padEnd(9)}</Text>{' '}
            <Text dimColor>long-running, pid {sensor.pid ?? '—'}, {sensor.triggers} trigger(s), {sensor.restarts} restart(s)</Text> {String(sensor.events).padStart(7)}
          </Text>
        ))}
        {status.timers.map((timer) => (
          <Text key={timer.rule_ref}>
            {timer.rule_ref.padEnd(width)} <Text color={timer.error ? 'red' : 'green'}>{(timer.error ? 'failed' : 'timer').padEnd(9)}</Text>{' '}
            <Text dimColor>
              {timer.kind}, fired {timer.execution_count}×, next {until(timer.next_fire_at, now)}
              {timer.error ? `: ${timer.error}` : ''}
            </Text>
          </Text>
        ))}
        {status.sensors.length + status.long_running.length + status.timers.length === 0 && <Text dimColor>No enabled sensors. Register a pack: attune pack register DIR</Text>}
      </Box>
      {status.sensors.some((sensor) => sensor.last_error) && (
        <Box flexDirection="column" marginTop={1}>
          {status.sensors
            .filter((sensor) => sensor.last_error)
            .map((sensor) => (
              <Text key={sensor.ref} color="red" wrap="truncate-end">
                {sensor.ref}: {sensor.last_error}
              </Text>
            ))}
        </Box>
      )}
      <Box flexDirection="column" marginTop={1}>
        {records.map((record, index) => (
          <Text key={index} dimColor wrap="truncate-end">
            {record.ts.slice(11, 19)} {record.level.padEnd(5)} {record.msg}
            {record.sensor ? ` ${String(record.sensor)}` : ''}
            {record.error ? `: ${String(record.error)}` : (record.err as {message?: string} | undefined)?.message ? `: ${(record.err as {message: string}).message}` : ''}
          </Text>
        ))}
      </Box>
      <Text dimColor>Ctrl-C to stop (twice to stop at once)</Text>
    </Box>
  )
}

export function showDashboard(daemon: Daemon, logger: {records(): LogRecord[]}): {close(): void} {
  // Ctrl-C must reach the daemon's own handler (graceful stop), not ink's.
  const instance = render(<Dashboard daemon={daemon} log={() => logger.records()} />, {exitOnCtrlC: false, patchConsole: false})
  return {close: () => instance.unmount()}
}
