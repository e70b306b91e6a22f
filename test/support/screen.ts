/**
 * A minimal terminal: a screen of `rows` lines and a scrollback, for the sequences the writer
 * uses (text, CR, LF, cursor up, erase line, erase below, home; private modes and colours ignored).
 */
export class Screen {
  lines: string[]
  scrollback: string[] = []
  row = 0
  column = 0
  constructor(
    readonly columns: number,
    readonly rows: number,
    above: string[] = [],
  ) {
    this.lines = Array.from({length: rows}, () => '')
    for (const line of above) this.write(`${line}\r\n`)
  }

  write(data: string): void {
    const tokens = data.match(/\u001B\[[?\d;]*[A-Za-z]|\r|\n|[^\u001B\r\n]+/g) ?? []
    for (const token of tokens) {
      if (token === '\r') this.column = 0
      else if (token === '\n') {
        if (this.row === this.rows - 1) {
          this.scrollback.push(this.lines.shift()!)
          this.lines.push('')
        } else this.row++
      } else if (token.startsWith('\u001B[')) {
        const [, argument, command] = /^\u001B\[([?\d;]*)([A-Za-z])$/.exec(token)!
        if (argument.startsWith('?') || command === 'm') continue
        if (command === 'A') this.row = Math.max(0, this.row - Number(argument || 1))
        else if (command === 'K' && argument === '2') this.lines[this.row] = ''
        else if (command === 'J') {
          this.lines[this.row] = this.lines[this.row].slice(0, this.column)
          for (let row = this.row + 1; row < this.rows; row++) this.lines[row] = ''
        } else if (command === 'H') {
          this.row = 0
          this.column = 0
        } else throw new Error(`unexpected sequence ${JSON.stringify(token)}`)
      } else {
        const line = this.lines[this.row].padEnd(this.column)
        this.lines[this.row] = line.slice(0, this.column) + token + line.slice(this.column + token.length)
        this.column = Math.min(this.columns, this.column + token.length)
      }
    }
  }
}
