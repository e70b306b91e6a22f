/**
 * Capped exponential backoff with jitter: `initialMs`, doubling per failure, never above
 * `maxMs`; ±`jitter` spreads several daemons that lost the same broker.
 */
export class Backoff {
  private failures = 0

  constructor(
    private readonly initialMs = 200,
    private readonly maxMs = 15_000,
    private readonly jitter = 0.2,
  ) {}

  /** The delay before the next attempt; counts one more failure. */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.failures, 30))
    this.failures++
    const spread = base * this.jitter * (Math.random() * 2 - 1)
    return Math.max(0, Math.min(this.maxMs, Math.round(base + spread)))
  }

  reset(): void {
    this.failures = 0
  }

  get attempts(): number {
    return this.failures
  }
}
