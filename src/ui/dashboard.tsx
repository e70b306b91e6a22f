import {Box, Text, render, useInput, useStdin, useStdout} from 'ink'
import React, {useEffect, useMemo, useRef, useState} from 'react'
import type {DaemonStatus, StopProgress} from '../daemon/daemon.js'
import type {LogRecord} from '../daemon/logger.js'
import {FrameStream} from './frame-writer.js'
import {buildFrame, EventRates, handleKey, INITIAL_VIEW, sensorRows, type Line, type ViewState} from './dashboard-model.js'

/**
 * The daemon's live view on a terminal (docs/daemon.md#the-dashboard): a header naming the
 * database and the broker, one line per sensor, recent log, and keys. Everything is computed by
 * dashboard-model.ts for the terminal's size; this component only renders the frame, reads the
 * keys, and follows resizes.
 */

/** What the dashboard reads from the daemon (`Daemon` implements it). */
export interface DashboardSource {
  status(): DaemonStatus
  stopProgress(): StopProgress | null
}

export interface DashboardProps {
  daemon: DashboardSource
  log: () => LogRecord[]
  /** `q` or Ctrl-C: ask for a stop (graceful the first time, at once the second). */
  onStop: () => void
  /** The clock (tests inject one). */
  now?: () => number
  /** How often the status is read (default 1 s). */
  refreshMs?: number
  /** The daemon has stopped: the last frame says so. */
  stopped?: string
}

function terminalSize(stdout: NodeJS.WriteStream): {columns: number; rows: number} {
  return {columns: stdout.columns || 80, rows: stdout.rows || 24}
}

export function Dashboard({daemon, log, onStop, now = Date.now, refreshMs = 1000, stopped}: DashboardProps): React.ReactElement {
  const {stdout} = useStdout()
  const {isRawModeSupported} = useStdin()
  const rates = useMemo(() => new EventRates(), [])
  const sample = () => {
    const status = daemon.status()
    const at = now()
    const rows = sensorRows(status, at)
    for (const row of rows) rates.record(row.ref, row.events, at)
    rates.retain(rows.map((row) => row.ref))
    return {status, rows, at, stopping: daemon.stopProgress()}
  }
  const [snapshot, setSnapshot] = useState(sample)
  const [size, setSize] = useState(() => terminalSize(stdout))
  const [view, setView] = useState<ViewState>(INITIAL_VIEW)
  const current = useRef<ViewState>(INITIAL_VIEW)
  const page = useRef(1)

  useEffect(() => {
    const timer = setInterval(() => setSnapshot(sample()), refreshMs)
    return () => clearInterval(timer)
  }, [daemon, refreshMs])

  useEffect(() => {
    const resized = () => setSize(terminalSize(stdout))
    stdout.on('resize', resized)
    return () => {
      stdout.off('resize', resized)
    }
  }, [stdout])

  useInput(
    (input, key) => {
      const next = handleKey(current.current, input, key, page.current)
      current.current = next.view
      setView(next.view)
      if (next.quit) onStop()
    },
    {isActive: isRawModeSupported},
  )

  const frame = buildFrame({...snapshot, log: log(), rates, view, now: snapshot.at, size, stopped})
  page.current = frame.page
  return (
    <Box flexDirection="column">
      {frame.lines.map((line, index) => (
        <FrameLine key={index} line={line} />
      ))}
    </Box>
  )
}

function FrameLine({line}: {line: Line}): React.ReactElement {
  return (
    <Text wrap="truncate-end">
      {line.map((segment, index) => (
        <Text key={index} color={segment.color} bold={segment.bold} dimColor={segment.dim}>
          {segment.text}
        </Text>
      ))}
    </Text>
  )
}

export function showDashboard(daemon: DashboardSource, logger: {records(): LogRecord[]}, onStop: () => void): {close(stopped?: string): void} {
  // ink renders whole frames (debug mode) into a FrameStream, which rewrites only the changed
  // lines on the terminal; the frame is one line shorter than the terminal, so nothing ever
  // scrolls and the scrollback stays as it was (frame-writer.ts).
  const frames = new FrameStream(process.stdout)
  const showCursor = () => frames.close()
  process.once('exit', showCursor)
  // Keys arrive raw (Ctrl-C included): `q` and Ctrl-C call onStop, the daemon command's own stop.
  const dashboard = (stopped?: string) => <Dashboard daemon={daemon} log={() => logger.records()} onStop={onStop} stopped={stopped} />
  const instance = render(dashboard(), {
    stdout: frames as unknown as NodeJS.WriteStream,
    debug: true,
    exitOnCtrlC: false,
    patchConsole: false,
  })
  return {
    close: (stopped) => {
      if (stopped) instance.rerender(dashboard(stopped))
      instance.unmount()
      process.off('exit', showCursor)
      frames.close()
    },
  }
}
