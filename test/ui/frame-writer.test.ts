import {EventEmitter} from 'node:events'
import {describe, expect, it} from 'vitest'
import {FrameStream, FrameWriter, frameUpdate} from '../../src/ui/frame-writer.js'
import {Screen} from '../support/screen.js'

describe('frameUpdate', () => {
  it('writes a first frame whole and leaves the cursor below it', () => {
    expect(frameUpdate([], ['a', 'b'])).toContain('\r\u001B[2Ka\r\n\r\u001B[2Kb\r\n')
    expect(frameUpdate([], ['a'])).not.toMatch(/\u001B\[\d+A/)
  })

  it('rewrites only the lines that changed; nothing for an equal frame', () => {
    const update = frameUpdate(['header', 'one', 'two', 'footer'], ['header', 'ONE', 'two', 'footer'])
    expect(update).toContain('\u001B[4A')
    expect(update).toContain('ONE')
    expect(update).not.toContain('header')
    expect(update).not.toContain('two')
    expect(frameUpdate(['a', 'b'], ['a', 'b'])).toBe('')
  })

  it('erases what a longer previous frame left', () => {
    expect(frameUpdate(['a', 'b', 'c'], ['a'])).toMatch(/\u001B\[J/)
  })
})

describe('FrameWriter on a terminal', () => {
  it('keeps the screen equal to the last frame and never adds to the scrollback', () => {
    const screen = new Screen(20, 6, ['$ earlier output', '$ attune daemon'])
    const writer = new FrameWriter(screen)
    const frames = [
      ['header', 'a 1', 'b 1', '', 'footer'],
      ['header', 'a 2', 'b 1', '', 'footer'],
      ['header', 'a 2', 'b 1', 'c', 'stopping…'],
      ['header', 'stopping…'],
      ['header', 'a 3', 'b 3', 'c', 'stopped'],
    ]
    for (const frame of frames) {
      writer.frame(frame.join('\n'))
      expect(screen.lines.slice(0, frame.length)).toEqual(frame)
      expect(screen.lines.slice(frame.length).every((line) => line === '')).toBe(true)
      expect(screen.row).toBe(frame.length)
    }
    // The first frame scrolled the shell's lines up once; no update added anything since.
    expect(screen.scrollback).toEqual(['$ earlier output', '$ attune daemon'])
  })

  it('cuts a frame to the lines it may use', () => {
    const screen = new Screen(20, 4)
    new FrameWriter(screen).frame('1\n2\n3\n4\n5\n6', 3)
    expect(screen.lines).toEqual(['1', '2', '3', ''])
    expect(screen.scrollback).toEqual([])
  })
})

describe('FrameStream', () => {
  class Terminal extends EventEmitter {
    columns = 80
    rows = 24
    written: string[] = []
    write(data: string) {
      this.written.push(data)
      return true
    }
  }

  it("reports the terminal's size, repaints the screen on a resize, then writes the next frame whole", () => {
    const terminal = new Terminal()
    const stream = new FrameStream(terminal as unknown as NodeJS.WriteStream)
    let resizes = 0
    stream.on('resize', () => resizes++)
    expect([stream.columns, stream.rows]).toEqual([80, 24])
    stream.write('header\nrow')
    stream.write('header\nrow')
    stream.write('')
    expect(terminal.written.length).toBe(1)
    terminal.columns = 60
    terminal.emit('resize')
    expect(resizes).toBe(1)
    expect(terminal.written.at(-1)).toBe('\u001B[H\u001B[J')
    stream.write('header\nrow')
    expect(terminal.written.at(-1)).toContain('header')
    expect(terminal.written.at(-1)).not.toMatch(/\u001B\[\d+A/)
    stream.close()
    expect(terminal.written.at(-1)).toBe('\u001B[?25h')
    expect(terminal.listenerCount('resize')).toBe(0)
  })
})
