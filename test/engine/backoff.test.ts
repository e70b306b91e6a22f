import {describe, expect, it} from 'vitest'
import {Backoff, backoffDelay} from '../../src/engine/backoff.js'

describe('backoffDelay', () => {
  it('doubles from the first delay and stops at the cap', () => {
    const policy = {initialMs: 500, maxMs: 5000}
    expect([0, 1, 2, 3, 4, 5, 50].map((attempt) => backoffDelay(attempt, policy))).toEqual([500, 1000, 2000, 4000, 5000, 5000, 5000])
  })

  it('uses another factor when given one', () => {
    expect([0, 1, 2, 3].map((attempt) => backoffDelay(attempt, {initialMs: 10, maxMs: 1000, factor: 3}))).toEqual([10, 30, 90, 270])
  })

  it('stays finite and at the cap for huge attempt counts', () => {
    expect(backoffDelay(1e9, {initialMs: 1, maxMs: 60_000})).toBe(60_000)
    expect(backoffDelay(Number.MAX_SAFE_INTEGER, {initialMs: 200, maxMs: 15_000, jitter: 0.2}, () => 0.99)).toBeLessThanOrEqual(15_000)
  })

  it('counts a negative or fractional attempt as its whole part, at least 0', () => {
    const policy = {initialMs: 100, maxMs: 10_000}
    expect(backoffDelay(-3, policy)).toBe(100)
    expect(backoffDelay(2.9, policy)).toBe(400)
  })

  it('never asks for a random number without jitter', () => {
    const random = () => {
      throw new Error('random asked')
    }
    expect(backoffDelay(2, {initialMs: 100, maxMs: 1000}, random)).toBe(400)
  })

  it('spreads by at most ± the jitter share, never above the cap nor below 0', () => {
    const policy = {initialMs: 1000, maxMs: 1500, jitter: 0.2}
    expect(backoffDelay(0, policy, () => 0)).toBe(800) // -20 %
    expect(backoffDelay(0, policy, () => 0.5)).toBe(1000) // no spread
    expect(backoffDelay(0, policy, () => 0.999_999)).toBe(1200) // +20 %
    // At the cap: +20 % would pass it, so it stays at the cap; -20 % still goes below.
    expect(backoffDelay(5, policy, () => 0.999_999)).toBe(1500)
    expect(backoffDelay(5, policy, () => 0)).toBe(1200)
    // A jitter above 1 would go negative: clamped at 0.
    expect(backoffDelay(0, {initialMs: 100, maxMs: 1000, jitter: 2}, () => 0)).toBe(0)
  })

  it('with real randomness every delay lies in the band', () => {
    const policy = {initialMs: 200, maxMs: 15_000, jitter: 0.2}
    for (let attempt = 0; attempt < 12; attempt++) {
      const base = Math.min(15_000, 200 * 2 ** attempt)
      for (let i = 0; i < 50; i++) {
        const delay = backoffDelay(attempt, policy)
        expect(delay).toBeGreaterThanOrEqual(Math.floor(base * 0.8))
        expect(delay).toBeLessThanOrEqual(Math.min(15_000, Math.ceil(base * 1.2)))
        expect(Number.isInteger(delay)).toBe(true)
      }
    }
  })
})

describe('Backoff', () => {
  it('counts failures, grows per next() and starts again after reset()', () => {
    const backoff = new Backoff(100, 1000, 0)
    expect([backoff.next(), backoff.next(), backoff.next(), backoff.next(), backoff.next()]).toEqual([100, 200, 400, 800, 1000])
    expect(backoff.attempts).toBe(5)
    backoff.reset()
    expect(backoff.attempts).toBe(0)
    expect(backoff.next()).toBe(100)
  })

  it('defaults to 200 ms up to 15 s with ±20 % jitter', () => {
    const low = new Backoff(undefined, undefined, undefined, () => 0)
    const high = new Backoff(undefined, undefined, undefined, () => 0.999_999)
    expect(low.next()).toBe(160)
    expect(high.next()).toBe(240)
    for (let i = 0; i < 20; i++) high.next()
    expect(high.next()).toBe(15_000)
    for (let i = 0; i < 20; i++) low.next()
    expect(low.next()).toBe(12_000)
  })
})
