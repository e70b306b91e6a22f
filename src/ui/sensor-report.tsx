import {Box, Text, renderToString} from 'ink'
import React from 'react'
import type {SensorExecutionResult} from '../engine/sensor/types.js'
import {JsonTree, Table, clip, isTabular} from './json-tree.js'

function Section({title, children}: {title: string; children: React.ReactNode}): React.ReactElement {
  return (
    <Box flexDirection="column" marginTop={1}>
      <Text bold underline>
        {title}
      </Text>
      <Box flexDirection="column" paddingLeft={2}>
        {children}
      </Box>
    </Box>
  )
}

function LogLines({stream, text}: {stream: 'stdout' | 'stderr'; text: string}): React.ReactElement | null {
  const lines = text.replace(/\n$/, '').split('\n')
  if (text === '') return null
  return (
    <Box flexDirection="column">
      {lines.map((line, index) => (
        <Text key={index}>
          <Text dimColor>{stream} │ </Text>
          {clip(line)}
        </Text>
      ))}
    </Box>
  )
}

/**
 * The last `maxLines` lines of a log, and how many came before them (a terminal gets the
 * tail, `--json` everything). Walks back from the end: megabytes of output are never split.
 */
function tail(text: string, maxLines = 200): {text: string; hidden: number} {
  let index = text.endsWith('\n') ? text.length - 1 : text.length
  for (let lines = 0; lines < maxLines; lines++) {
    const previous = index > 0 ? text.lastIndexOf('\n', index - 1) : -1
    if (previous === -1) return {text, hidden: 0}
    index = previous
  }
  let hidden = 1
  for (let at = text.indexOf('\n'); at !== -1 && at < index; at = text.indexOf('\n', at + 1)) hidden++
  return {text: text.slice(index + 1), hidden}
}

/** A terminal gets the first events of a very large poll; `--json` has them all. */
const MAX_EVENTS_SHOWN = 100

/** One poll of one sensor: what happened, the events, the logs, warnings and the error. */
export function SensorReport({result, showStdoutAsLogs}: {result: SensorExecutionResult; showStdoutAsLogs: boolean}): React.ReactElement {
  const ok = result.error === null
  const stdout = tail(showStdoutAsLogs ? result.stdout : '')
  const stderr = tail(result.stderr)
  const shownEvents = result.events.slice(0, MAX_EVENTS_SHOWN)
  return (
    <Box flexDirection="column">
      <Text>
        {ok ? <Text color="green">✓</Text> : <Text color="red">✗</Text>} <Text bold>{result.sensor_ref}</Text>
        <Text dimColor> ({result.runtime}) → {result.trigger_ref}</Text>
        {'  '}
        {ok ? `${result.count} event${result.count === 1 ? '' : 's'}` : <Text color="red">failed</Text>}
        <Text dimColor>
          {' '}
          in {result.duration_ms} ms
          {result.exit_code !== null ? `, exit ${result.exit_code}` : ''}
          {result.signal ? `, ${result.signal}` : ''}
        </Text>
      </Text>
      {result.events.length > 0 && (
        <Section title={`Events (${result.events.length})`}>
          {isTabular(shownEvents) ? <Table rows={shownEvents} /> : shownEvents.map((event, index) => <JsonTree key={index} name={`#${index}`} value={event} />)}
          {result.events.length > shownEvents.length && <Text dimColor>… {result.events.length - shownEvents.length} more events (see --json)</Text>}
        </Section>
      )}
      {(stdout.text !== '' || stderr.text !== '') && (
        <Section title="Logs">
          {stdout.hidden + stderr.hidden > 0 && <Text dimColor>… {stdout.hidden + stderr.hidden} earlier lines not shown (see --json)</Text>}
          <LogLines stream="stdout" text={stdout.text} />
          <LogLines stream="stderr" text={stderr.text} />
        </Section>
      )}
      {result.warnings.length > 0 && (
        <Section title="Warnings">
          {result.warnings.map((warning, index) => (
            <Text key={index} color="yellow">
              ⚠ {warning}
            </Text>
          ))}
        </Section>
      )}
      {!ok && (
        <Section title="Error">
          <Text color="red">
            <Text bold>{result.error_type}</Text>: {clip(result.error ?? '', 2000)}
          </Text>
          {result.truncated && <Text color="yellow">Output was truncated at the cap.</Text>}
          {result.traceback && <Text dimColor>{clip(withoutHeadline(result.traceback, result), 5000)}</Text>}
        </Section>
      )}
    </Box>
  )
}

/** A Node.js stack starts with the `Type: message` line already shown above it. */
function withoutHeadline(traceback: string, result: SensorExecutionResult): string {
  const text = traceback.replace(/\n$/, '')
  const headline = `${result.error_type}: ${result.error}`
  return text.startsWith(headline) ? text.slice(headline.length).replace(/^\n/, '') : text
}

/** One line per poll, for `--repeat`. */
export function PollLine({result, index}: {result: SensorExecutionResult; index: number}): React.ReactElement {
  return (
    <Text>
      <Text dimColor>poll {index + 1}</Text> {result.error === null ? <Text color="green">✓</Text> : <Text color="red">✗</Text>}{' '}
      {result.error === null ? `${result.count} event${result.count === 1 ? '' : 's'}` : <Text color="red">{result.error_type}</Text>}
      <Text dimColor> {result.duration_ms} ms</Text>
    </Text>
  )
}

function columns(): number {
  return process.stdout.columns && process.stdout.columns > 40 ? process.stdout.columns : 100
}

/** Static renders, for output that is printed once (no live terminal needed). */
export function renderSensorReport(result: SensorExecutionResult): string {
  // Shell and native sensors print their result on stdout: showing it again as logs only repeats it.
  const showStdoutAsLogs = result.runtime === 'python' || result.runtime === 'node' || result.error !== null
  return renderToString(<SensorReport result={result} showStdoutAsLogs={showStdoutAsLogs} />, {columns: columns()})
}

export function renderPollLine(result: SensorExecutionResult, index: number): string {
  return renderToString(<PollLine result={result} index={index} />, {columns: columns()})
}
