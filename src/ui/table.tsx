import {Box, Text, renderToString} from 'ink'
import React from 'react'

/** A column of a table: its header and how to turn a row into the cell's text. */
export interface Column<T> {
  header: string
  value: (row: T) => string
  /** Colour for a cell, e.g. green for "enabled". */
  color?: (row: T) => string | undefined
  /** Cells longer than this are cut with an ellipsis (default 60). */
  maxWidth?: number
}

function fit(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ')
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine
}

export function TableView<T>({rows, columns}: {rows: T[]; columns: Column<T>[]}): React.ReactElement {
  const cells = rows.map((row) => columns.map((column) => fit(column.value(row), column.maxWidth ?? 60)))
  const widths = columns.map((column, index) => Math.max(column.header.length, ...cells.map((row) => row[index].length)))
  return (
    <Box flexDirection="column">
      <Text bold>{columns.map((column, index) => column.header.padEnd(widths[index])).join('  ').trimEnd()}</Text>
      {cells.map((row, rowIndex) => (
        <Text key={rowIndex}>
          {row.map((cell, index) => (
            <Text key={index} color={columns[index].color?.(rows[rowIndex])}>
              {(index === row.length - 1 ? cell : cell.padEnd(widths[index])) + (index === row.length - 1 ? '' : '  ')}
            </Text>
          ))}
        </Text>
      ))}
    </Box>
  )
}

/** Renders rows as a table, or `empty` when there are none. */
export function renderTable<T>(rows: T[], columns: Column<T>[], empty: string): string {
  if (rows.length === 0) return empty
  // A terminal wraps at its width; piped output is not wrapped at all (one row, one line, for grep).
  const width = process.stdout.isTTY && process.stdout.columns > 40 ? process.stdout.columns : 10_000
  return renderToString(<TableView rows={rows} columns={columns} />, {columns: width})
}

export const enabledColor = (enabled: boolean): string => (enabled ? 'green' : 'gray')
export const yesNo = (value: boolean): string => (value ? 'yes' : 'no')

/** A timestamp as `YYYY-MM-DD HH:MM:SS` in UTC, compact enough for a table. */
export function shortTime(value: Date | string): string {
  return new Date(value).toISOString().replace('T', ' ').slice(0, 19)
}

/** A JSON value on one line, for a table cell. */
export function compactJson(value: unknown): string {
  return value === undefined ? '' : JSON.stringify(value)
}
