// A manual clock for the timer tests: time moves only when a test says so, and each timer
// runs at its due time (optionally early or late, to play a real event loop).
import type {TimerClock} from '../../src/engine/timers/index.js'

interface Pending {
  id: number
  runAt: number
  callback: () => void
}

export class ManualClock implements TimerClock {
  time: number
  /** Every delay passed to setTimeout, to check chunking and re-arming. */
  readonly delays: number[] = []
  /** Added to each timer's due time when it runs: negative wakes early, positive late. */
  wakeOffset: (delay: number) => number = () => 0
  private readonly timers = new Map<number, Pending>()
  private nextId = 1

  constructor(start: number | string) {
    this.time = typeof start === 'string' ? Date.parse(start) : start
  }

  now(): number {
    return this.time
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.nextId++
    this.delays.push(ms)
    this.timers.set(id, {id, runAt: this.time + ms + this.wakeOffset(ms), callback})
    return id
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number)
  }

  /** How many timers are armed. */
  get pending(): number {
    return this.timers.size
  }

  /** Runs the timers due up to `target` in order, each at its own time, then sets the time. */
  advanceTo(target: number | string): void {
    const end = typeof target === 'string' ? Date.parse(target) : target
    for (;;) {
      let first: Pending | undefined
      for (const timer of this.timers.values()) {
        if (timer.runAt <= end && (!first || timer.runAt < first.runAt || (timer.runAt === first.runAt && timer.id < first.id))) first = timer
      }
      if (!first) break
      this.timers.delete(first.id)
      this.time = Math.max(this.time, first.runAt)
      first.callback()
    }
    this.time = Math.max(this.time, end)
  }

  advance(ms: number): void {
    this.advanceTo(this.time + ms)
  }

  /** Moves the time without running any timer: a blocked event loop or a host asleep. */
  jump(ms: number): void {
    this.time += ms
  }
}
