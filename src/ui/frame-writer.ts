import {EventEmitter} from 'node:events'

/**
 * Puts a full-screen ink frame on a terminal line by line, rewriting only the lines that
 * changed, without ever clearing the scrollback.
 *
 * ink 6 (the last release for Node 20) either erases and rewrites the whole frame on every
 * render, or, with `incrementalRendering`, moves the cursor one line short of the frame's top
 * when the frame ends with a newline, so every render pushes a copy of the first line into the
 * scrollback. So ink renders in its debug mode into a `FrameStream` (each write is the whole
 * frame) and this writer does the terminal part: the cursor rests at the start of the line below
 * the frame; an update moves up to the frame's first line, rewrites the changed lines, and erases
 * what is left of a longer previous frame.
 */

const ESC = '\u001B['
const HIDE_CURSOR = `${ESC}?25l`
const SHOW_CURSOR = `${ESC}?25h`
/** Synchronized output: terminals that know it show the update at once (others ignore it). */
const BEGIN_SYNC = `${ESC}?2026h`
const END_SYNC = `${ESC}?2026l`

/** The escape sequence that turns the frame `shown` (on screen, cursor below it) into `next`; '' when they are equal. */
export function frameUpdate(shown: readonly string[], next: readonly string[]): string {
  if (shown.length === next.length && shown.every((line, index) => line === next[index])) return ''
  let out = BEGIN_SYNC + HIDE_CURSOR
  if (shown.length > 0) out += `${ESC}${shown.length}A`
  for (const [index, line] of next.entries()) {
    // Erase first, then write: an erase after a line as wide as the terminal would remove its last character.
    if (index >= shown.length || shown[index] !== line) out += `\r${ESC}2K${line}`
    out += '\r\n'
  }
  // What a longer previous frame left below.
  if (next.length < shown.length) out += `${ESC}J`
  return out + END_SYNC
}

export class FrameWriter {
  private shown: string[] = []

  constructor(private readonly out: {write(data: string): unknown}) {}

  /**
   * A whole frame (ink's debug output: no trailing newline), cut to `maxLines`: a frame as tall
   * as the terminal would scroll its first line into the scrollback (ink renders once more with
   * the old layout when the terminal shrinks, before the dashboard has re-measured).
   */
  frame(text: string, maxLines = Number.POSITIVE_INFINITY): void {
    const next = text.replace(/\n$/, '').split('\n').slice(0, Math.max(1, maxLines))
    const update = frameUpdate(this.shown, next)
    if (update) this.out.write(update)
    this.shown = next
  }

  /**
   * After a resize the terminal may have re-wrapped the old frame: erase the visible screen (the
   * frame fills it; the scrollback is untouched) and write the next frame whole from its top.
   */
  repaint(): void {
    this.out.write(`${ESC}H${ESC}J`)
    this.shown = []
  }

  /** The frame stays on screen; the cursor is shown again below it. */
  close(): void {
    this.out.write(SHOW_CURSOR)
  }
}

/**
 * The stdout ink renders into: the terminal's size and resizes, each write a whole frame for
 * the writer. On a resize the screen is repainted before ink and the dashboard re-measure.
 */
export class FrameStream extends EventEmitter {
  private readonly writer: FrameWriter
  private readonly resized = () => {
    this.writer.repaint()
    this.emit('resize')
  }

  constructor(private readonly terminal: NodeJS.WriteStream) {
    super()
    this.writer = new FrameWriter(terminal)
    terminal.on('resize', this.resized)
  }

  get columns(): number {
    return this.terminal.columns
  }

  get rows(): number {
    return this.terminal.rows
  }

  write(data: string | Uint8Array): boolean {
    // ink erases nothing (an empty write) when the terminal gets narrower: not a frame.
    if (data.length === 0) return true
    this.writer.frame(typeof data === 'string' ? data : Buffer.from(data).toString(), (this.terminal.rows || 24) - 1)
    return true
  }

  close(): void {
    this.terminal.off('resize', this.resized)
    this.writer.close()
  }
}
