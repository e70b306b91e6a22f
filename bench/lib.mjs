// Small helpers shared by the benchmarks: timing, medians, and ratio lines.
import {execa} from 'execa'

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

export async function timeOnce(fn) {
  const start = performance.now()
  await fn()
  return performance.now() - start
}

/**
 * Runs candidate and baseline alternately `rounds` times (after `warmup` rounds) so that
 * load on a noisy machine hits both alike; returns both medians in ms.
 */
export async function interleaved(candidate, baseline, {rounds = 25, warmup = 3} = {}) {
  const a = []
  const b = []
  for (let i = 0; i < warmup + rounds; i++) {
    const ta = await timeOnce(candidate)
    const tb = await timeOnce(baseline)
    if (i >= warmup) {
      a.push(ta)
      b.push(tb)
    }
  }
  return {candidate: median(a), baseline: median(b)}
}

/** Starts a program and waits for it, as a bare-interpreter baseline. */
export function spawnBare(file, args) {
  return () => execa(file, args, {stdio: 'ignore'})
}

export function formatRatio(name, ratio, target, comparison = '<=') {
  const ok = comparison === '<=' ? ratio <= target : ratio >= target
  return {name, ratio: Number(ratio.toFixed(3)), target: `${comparison} ${target}`, ok}
}
