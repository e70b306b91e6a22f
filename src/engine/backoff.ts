/**
 * Capped exponential backoff, the one implementation behind every retry delay of attune (the
 * outbox relay's broker and database retries, the daemon's database writes, the restart of a
 * crashed long-running sensor, the retry of a failed polling sensor, the restart delay stored
 * for Attune's sensor processes).
 *
 * The delay before retry number `attempt` (0 for the first retry) is `initialMs × factor^attempt`,
 * never above `maxMs`; with `jitter` (a fraction, e.g. 0.2) it is spread by up to ± that share
 * of itself, still never below 0 nor above `maxMs`, so several daemons that lost the same
 * broker do not all come back at the same instant.
 */
export interface BackoffPolicy {
  /** The first delay. */
  initialMs: number
  /** The cap. */
  maxMs: number
  /** Growth per attempt; 2 unless given. */
  factor?: number
  /** Random spread, a fraction of the delay (0 to 1); none unless given. */
  jitter?: number
}

/** Beyond this exponent every sensible policy is at its cap: keeps `factor ** attempt` finite. */
const MAX_EXPONENT = 30

/**
 * The delay before retry `attempt` (0-based) under `policy`. Pure: `random` (default
 * `Math.random`, a number in [0, 1)) is only asked when the policy has jitter. A negative or
 * fractional attempt counts as its whole part, at least 0.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const {initialMs, maxMs, factor = 2, jitter = 0} = policy
  const exponent = Math.min(Math.max(0, Math.trunc(attempt)), MAX_EXPONENT)
  const base = Math.min(maxMs, initialMs * factor ** exponent)
  if (jitter <= 0) return base
  const spread = base * jitter * (random() * 2 - 1)
  return Math.max(0, Math.min(maxMs, Math.round(base + spread)))
}

/**
 * A backoff with its failure count: `next()` returns the delay before the next attempt and
 * counts one more failure; `reset()` after a success starts again at `initialMs`.
 */
export class Backoff {
  private failures = 0
  private readonly policy: BackoffPolicy

  constructor(
    initialMs = 200,
    maxMs = 15_000,
    jitter = 0.2,
    private readonly random: () => number = Math.random,
  ) {
    this.policy = {initialMs, maxMs, jitter}
  }

  /** The delay before the next attempt; counts one more failure. */
  next(): number {
    return backoffDelay(this.failures++, this.policy, this.random)
  }

  reset(): void {
    this.failures = 0
  }

  /** Failures since the last reset. */
  get attempts(): number {
    return this.failures
  }
}
