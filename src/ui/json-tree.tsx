import {Box, Text} from 'ink'
import React from 'react'

/** A JSON value as an indented, coloured tree: keys cyan, strings green, numbers yellow. */
export function JsonTree({value, name}: {value: unknown; name?: string}): React.ReactElement {
  const label = name === undefined ? null : <Text color="cyan">{name}: </Text>
  if (value !== null && typeof value === 'object') {
    const entries = Array.isArray(value) ? value.map((item, index) => [String(index), item] as const) : Object.entries(value)
    if (entries.length === 0) {
      return (
        <Text>
          {label}
          <Text dimColor>{Array.isArray(value) ? '[]' : '{}'}</Text>
        </Text>
      )
    }
    return (
      <Box flexDirection="column">
        {name !== undefined && <Text color="cyan">{name}:</Text>}
        <Box flexDirection="column" paddingLeft={name === undefined ? 0 : 2}>
          {entries.map(([key, item]) => (
            <JsonTree key={key} name={Array.isArray(value) ? `[${key}]` : key} value={item} />
          ))}
        </Box>
      </Box>
    )
  }
  return (
    <Text>
      {label}
      <Scalar value={value} />
    </Text>
  )
}

/**
 * Cuts text a terminal cannot usefully show: ink lays out every character, so a single
 * 10 MB line would hold the process for minutes. `--json` always has the whole text.
 */
export function clip(text: string, max = 1000): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters; --json shows all)`
}

function Scalar({value}: {value: unknown}): React.ReactElement {
  if (typeof value === 'string') return <Text color="green">{clip(JSON.stringify(value))}</Text>
  if (typeof value === 'number') return <Text color="yellow">{String(value)}</Text>
  if (typeof value === 'boolean') return <Text color="magenta">{String(value)}</Text>
  return <Text dimColor>null</Text>
}

type Row = Record<string, unknown>

/** Events whose values are all scalars, with a handful of keys, read best as a table. */
export function isTabular(rows: Row[], maxColumns = 6): boolean {
  if (rows.length === 0) return false
  const keys = new Set(rows.flatMap((row) => Object.keys(row)))
  return keys.size <= maxColumns && rows.every((row) => Object.values(row).every((value) => value === null || typeof value !== 'object'))
}

function cell(value: unknown): string {
  if (value === undefined) return ''
  return typeof value === 'string' ? value : JSON.stringify(value)
}

/** A plain table with a header row; long cells are cut with an ellipsis. */
export function Table({rows, maxCellWidth = 40}: {rows: Row[]; maxCellWidth?: number}): React.ReactElement {
  const columns = ['#', ...new Set(rows.flatMap((row) => Object.keys(row)))]
  const cells = rows.map((row, index) =>
    columns.map((column) => {
      const text = column === '#' ? String(index) : cell(row[column])
      return text.length > maxCellWidth ? `${text.slice(0, maxCellWidth - 1)}…` : text
    }),
  )
  const widths = columns.map((column, index) => Math.max(column.length, ...cells.map((row) => row[index].length)))
  const line = (values: string[]) => values.map((value, index) => value.padEnd(widths[index])).join('  ')
  return (
    <Box flexDirection="column">
      <Text bold>{line(columns)}</Text>
      {cells.map((row, index) => (
        <Text key={index}>{line(row)}</Text>
      ))}
    </Box>
  )
}
