/**
 * Tables measure display width (wide characters take two columns, colour codes none) and fit
 * the width they are given, cutting the widest columns first with an ellipsis.
 */
import chalk from 'chalk'
import stringWidth from 'string-width'
import {afterEach, describe, expect, it} from 'vitest'
import {fitWidths, renderTable, streamTable} from '../../src/ui/table.js'

const level = chalk.level
afterEach(() => {
  chalk.level = level
})

interface Row {
  name: string
  note: string
}
const rows: Row[] = [
  {name: 'ascii', note: 'a fairly long note that will not fit into a narrow terminal at all'},
  {name: '日本語', note: '全角の文字は二桁を占めるので幅の計算に注意が必要です'},
]
const columns = [
  {header: 'NAME', value: (row: Row) => row.name, color: () => 'green'},
  {header: 'NOTE', value: (row: Row) => row.note},
]

describe('tables', () => {
  it('pads by display width, so wide characters line up', () => {
    const lines = renderTable(rows, columns, 'none', {width: 200}).split('\n')
    // NAME is as wide as 日本語 (6 columns), plus the gap of 2: NOTE starts at column 8 on every line.
    const noteStart = (line: string, marker: string) => stringWidth(line.slice(0, line.indexOf(marker)))
    expect([noteStart(lines[0], 'NOTE'), noteStart(lines[1], 'a fairly'), noteStart(lines[2], '全')]).toEqual([8, 8, 8])
  })

  it('fits the width with colours on, cutting the wide column with an ellipsis', () => {
    chalk.level = 1
    for (const width of [40, 25]) {
      const lines = renderTable(rows, columns, 'none', {width}).split('\n')
      expect(lines[1]).toContain('\u001B[32m')
      for (const line of lines) expect(stringWidth(line)).toBeLessThanOrEqual(width)
      expect(lines[1]).toMatch(/…$/)
      expect(lines[2]).toMatch(/…$/)
    }
  })

  it('narrows the widest columns first, never below the header', () => {
    expect(fitWidths([10, 50, 30], [4, 4, 4], 100)).toEqual([10, 50, 30])
    expect(fitWidths([10, 50, 30], [4, 4, 4], 60)).toEqual([10, 23, 23])
    expect(fitWidths([10, 50, 30], [4, 12, 4], 20)).toEqual([6, 12, 6])
  })

  it('a streamed table keeps its widths and gives the last column the rest of the line', () => {
    const table = streamTable([{...columns[0], width: 12}, columns[1]], [], {width: 30})
    expect(table.header).toBe('NAME          NOTE')
    const [line] = table.rows([rows[0]])
    expect(stringWidth(line)).toBe(30)
    expect(line.startsWith('ascii')).toBe(true)
  })
})
