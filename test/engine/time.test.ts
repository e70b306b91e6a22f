import {describe, expect, it} from 'vitest'
import {formatDuration, parseDuration, parseSince} from '../../src/engine/time.js'

const NOW = Date.parse('2026-11-24T12:00:00Z')

describe('parseSince', () => {
  it.each([
    ['90s', '2026-11-24T11:58:30.000Z'],
    ['15m', '2026-11-24T11:45:00.000Z'],
    ['2h', '2026-11-24T10:00:00.000Z'],
    ['1h30m', '2026-11-24T10:30:00.000Z'],
    ['7d', '2026-11-17T12:00:00.000Z'],
    ['1w', '2026-11-17T12:00:00.000Z'],
    ['0.5h', '2026-11-24T11:30:00.000Z'],
    ['2026-11-01T08:00:00Z', '2026-11-01T08:00:00.000Z'],
  ])('%s', (value, expected) => {
    expect(parseSince(value, NOW).toISOString()).toBe(expected)
  })

  it.each(['yesterday', '', '15', 'm15', '1h 30m', '1y', '2026-13-45'])('rejects %j naming the flag', (value) => {
    expect(() => parseSince(value, NOW)).toThrow(/--since must be a duration/)
  })
})

describe('parseDuration and formatDuration', () => {
  it.each([
    ['30s', 30_000, '30s'],
    ['10m', 600_000, '10m'],
    ['1h', 3_600_000, '1h'],
    ['1d', 86_400_000, '1d'],
    ['1h30m', 5_400_000, '1h30m'],
    ['90m', 5_400_000, '1h30m'],
    ['0.5h', 1_800_000, '30m'],
    ['1.5s', 1500, '1.5s'],
    ['2w1d', 1_296_000_000, '2w1d'],
  ])('%s is %d ms, written back as %s', (text, ms, written) => {
    expect(parseDuration(text)).toBe(ms)
    expect(formatDuration(ms)).toBe(written)
    expect(parseDuration(formatDuration(ms))).toBe(ms)
  })

  it.each(['', '15', 'm15', '1h 30m', '1y', 'soon', '-5m'])('does not read %j', (text) => {
    expect(parseDuration(text)).toBeUndefined()
  })
})
