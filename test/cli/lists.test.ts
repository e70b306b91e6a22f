/**
 * The list commands: paging (--limit, --after, --page) with total/next and the notice under a
 * cut table, --output yaml/csv parsed back, --columns, tables fitted to the width, and
 * --follow against a daemon on the embedded database and against PostgreSQL.
 */
import {parse as parseCsv} from 'csv-parse/sync'
import {execa} from 'execa'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import stringWidth from 'string-width'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse as parseYaml} from 'yaml'
import {openStore, serveEmbeddedDatabase, type EmbeddedServer} from '../../src/engine/store/index.js'
import {attune, BIN, ROOT} from '../support/cli.js'
import {startDaemon, type DaemonProcess} from '../support/daemon.js'
import {postgresSkipReason, startPostgres, type PostgresServer} from '../support/postgres.js'
import {eventually} from '../support/sensors.js'

const home = mkdtempSync(join(tmpdir(), 'attune-cli-lists-'))
const env = {NO_COLOR: '1', NODE_ENV: 'production', ATTUNE_HOME: home}
const run = (args: string[], extra: Record<string, string> = {}) => attune(args, {env: {...env, ...extra}})
const json = async <T>(args: string[]) => {
  const result = await run([...args, '--json'])
  expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0)
  return JSON.parse(result.stdout as string) as T
}

interface Event {
  id: number
  trigger_ref: string
  source_ref: string | null
  payload: Record<string, unknown>
  created: string
}
interface EventsDoc {
  events: Event[]
  total: number
  next: string | null
}

/** A payload CSV has to quote: a comma, double quotes and a line break. */
const AWKWARD = {text: 'a "quoted", comma\nand a second line', wide: '日本語のテキスト'}

/** Stores `count` events at once (one statement) in a database that is not in use. */
async function storeEvents(count: number, options: {databaseUrl?: string} = {}): Promise<void> {
  const store = await openStore({home, databaseUrl: options.databaseUrl, migrate: true})
  try {
    await store.query(
      `INSERT INTO attune.event (trigger_ref, source_ref, payload)
       SELECT CASE WHEN n % 2 = 0 THEN 'demo.even' ELSE 'demo.odd' END, CASE WHEN n % 3 = 0 THEN NULL ELSE 'demo.src' END,
              CASE WHEN n = 7 THEN $2::jsonb ELSE jsonb_build_object('n', n) END
         FROM generate_series(1, $1::int) AS n`,
      [count, JSON.stringify(AWKWARD)],
    )
  } finally {
    await store.close()
  }
}

/** A shell sensor whose one event carries `marker` (for run-once --persist). */
function emitter(marker: string): string {
  const dir = join(home, `sensor-${marker}`)
  mkdirSync(dir, {recursive: true})
  const file = join(dir, 'emit.sh')
  writeFileSync(file, `#!/bin/sh\necho '{"events": [{"marker": "${marker}"}], "count": 1}'\n`, {mode: 0o755})
  return file
}

/** `attune event list --follow ...` running, with what it printed so far. */
function follow(args: string[], extraEnv: Record<string, string> = {}) {
  const child = execa(process.execPath, [BIN, 'event', 'list', '--follow', ...args], {cwd: ROOT, env: {...env, ...extraEnv}, reject: false, buffer: false})
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    lines: () =>
      stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Event),
    async stop() {
      child.kill('SIGTERM')
      await child
    },
  }
}

// The embedded database is served on its socket by this process, as a daemon serves it: each
// command then connects in a moment instead of opening PGlite itself (seconds each).
let served: EmbeddedServer | undefined
beforeAll(async () => {
  await storeEvents(120)
  served = await serveEmbeddedDatabase(home)
})
afterAll(async () => {
  await served?.close()
  rmSync(home, {recursive: true, force: true})
})

describe('paging', () => {
  it('shows the newest 50 and says how many more there are and how to see them', async () => {
    const table = await run(['event', 'list'])
    expect(table.exitCode, table.stderr as string).toBe(0)
    const lines = (table.stdout as string).trimEnd().split('\n')
    expect(lines[0]).toMatch(/^ID\s+CREATED \(UTC\)\s+TRIGGER\s+SOURCE\s+PAYLOAD$/)
    expect(lines).toHaveLength(1 + 50 + 1)
    expect(lines[1]).toMatch(/^120\s/)
    expect(lines[50]).toMatch(/^71\s/)
    expect(lines[51]).toBe('70 more — use --limit or --after 71')
    // A table that is not cut has no notice.
    const all = await run(['event', 'list', '--limit', '500'])
    expect((all.stdout as string).trimEnd().split('\n')).toHaveLength(121)
    expect(all.stdout).not.toContain('more — use')
  })

  it('--json has total and the next cursor; following the cursors walks every row once, also while rows are added', async () => {
    const first = await json<EventsDoc>(['event', 'list'])
    expect(first.events).toHaveLength(50)
    expect(first.total).toBe(120)
    expect(first.next).toBe('71')
    const seen = first.events.map((event) => event.id)
    // A row stored between two pages goes to the top, not into the walk.
    await run(['sensor', 'run-once', emitter('between-pages'), '--persist'])
    let next = first.next
    const totals: number[] = []
    while (next !== null) {
      const page = await json<EventsDoc>(['event', 'list', '--after', next])
      seen.push(...page.events.map((event) => event.id))
      totals.push(page.total)
      next = page.next
    }
    expect(seen).toEqual(Array.from({length: 120}, (_, index) => 120 - index))
    expect(totals).toEqual([121, 121])
    const last = await json<EventsDoc>(['event', 'list', '--after', '21'])
    expect(last).toMatchObject({total: 121, next: null})
    expect(last.events.map((event) => event.id)).toEqual(Array.from({length: 20}, (_, index) => 20 - index))
  })

  it('--page N is --limit rows a page, with filters; past the end it says so', async () => {
    const page = await json<EventsDoc>(['event', 'list', '--trigger', 'demo.odd', '--limit', '10', '--page', '2'])
    expect(page.total).toBe(60)
    expect(page.events.map((event) => event.id)).toEqual([99, 97, 95, 93, 91, 89, 87, 85, 83, 81])
    expect(page.next).toBe('81')
    const table = await run(['event', 'list', '--trigger', 'demo.odd', '--limit', '10', '--page', '2'])
    expect((table.stdout as string).trimEnd().split('\n').at(-1)).toBe('40 more — use --limit or --page 3')
    const beyond = await run(['event', 'list', '--page', '99'])
    expect(beyond.stdout).toContain('No more events (121 in all).')
  })

  it('refuses a bad cursor, --after with --page, and --json with another --output (exit 2)', async () => {
    const bad = await run(['event', 'list', '--after', 'yesterday'])
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr).toContain('--after takes the id of an event')
    expect((await run(['event', 'list', '--after', '5', '--page', '2'])).exitCode).toBe(2)
    const both = await run(['event', 'list', '--json', '--output', 'csv'])
    expect(both.exitCode).toBe(2)
    expect(JSON.parse(both.stdout as string).error.message).toContain('--json and --output csv')
  })
})

describe('output formats and columns', () => {
  it('--output json is --json; --output yaml parses back to the same document', async () => {
    const viaJson = await json<EventsDoc>(['event', 'list', '--limit', '30'])
    const viaOutput = await run(['event', 'list', '--limit', '30', '--output', 'json'])
    expect(JSON.parse(viaOutput.stdout as string)).toEqual(viaJson)
    const yaml = await run(['event', 'list', '--limit', '30', '-o', 'yaml'])
    expect(yaml.exitCode, yaml.stderr as string).toBe(0)
    expect(parseYaml(yaml.stdout as string)).toEqual(viaJson)
  })

  it('--output csv quotes what needs quoting and parses back to the same rows, in --columns order', async () => {
    const columns = 'payload,id,created,trigger,source'
    const {events} = await json<{events: Array<Record<string, unknown>>}>(['event', 'list', '--limit', '200', '--columns', columns])
    expect(Object.keys(events[0])).toEqual(['payload', 'id', 'created', 'trigger', 'source'])
    const csv = await run(['event', 'list', '--limit', '200', '--output', 'csv', '--columns', columns])
    expect(csv.exitCode, csv.stderr as string).toBe(0)
    const records = parseCsv(csv.stdout as string, {columns: true}) as Array<Record<string, string>>
    expect(records).toHaveLength(121)
    const asCsv = (value: unknown) => (value === null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value))
    expect(records).toEqual(events.map((event) => Object.fromEntries(Object.entries(event).map(([key, value]) => [key, asCsv(value)]))))
    expect(JSON.parse(records.find((record) => record.id === '7')!.payload)).toEqual(AWKWARD)
    // Cut CSV: the notice goes to stderr, stdout stays CSV.
    const cut = await run(['event', 'list', '--limit', '5', '--output', 'csv', '--columns', 'id'])
    expect(cut.stdout).toBe('id\n121\n120\n119\n118\n117')
    expect(cut.stderr).toContain('116 more — use --limit or --after 117')
  })

  it('--columns chooses and orders the table; an unknown column is exit 2 naming the valid ones', async () => {
    const table = await run(['event', 'list', '--limit', '2', '--columns', 'trigger,id'])
    expect((table.stdout as string).split('\n').slice(0, 3)).toEqual(['TRIGGER           ID', 'local.emit_event  121', 'demo.even         120'])
    const unknown = await run(['event', 'list', '--columns', 'id,colour'])
    expect(unknown.exitCode).toBe(2)
    expect(unknown.stderr).toContain('Unknown column "colour" for --columns. Valid columns: id, created, trigger, source, payload.')
    const workers = await run(['worker', 'list', '--columns', 'nope'])
    expect(workers.exitCode).toBe(2)
    expect(workers.stderr).toContain('Valid columns: name, role, status, sensors, runtimes, last_heartbeat, age.')
  })

  it('fits the table to $COLUMNS (else 120 without a terminal), cutting wide cells with an ellipsis', async () => {
    for (const [width, extra] of [[120, {}], [60, {COLUMNS: '60'}]] as const) {
      const table = await run(['event', 'list', '--limit', '200'], extra)
      const lines = (table.stdout as string).trimEnd().split('\n')
      expect(Math.max(...lines.map((line) => stringWidth(line)))).toBeLessThanOrEqual(width)
      expect(lines.find((line) => line.startsWith('7 '))).toMatch(/…$/)
    }
    // Wide characters count as two columns.
    const narrow = await run(['event', 'list', '--limit', '200', '--columns', 'id,payload'], {COLUMNS: '30'})
    const row = (narrow.stdout as string).split('\n').find((line) => line.startsWith('7 '))!
    expect(stringWidth(row)).toBeLessThanOrEqual(30)
  })
})

describe('catalog lists', () => {
  it('page by ref: --limit, the notice, and --after the last ref', async () => {
    const registered = await run(['pack', 'register', 'packs/core'])
    expect(registered.exitCode, registered.stderr as string).toBe(0)
    const all = await json<{triggers: Array<{ref: string}>; total: number; next: string | null}>(['trigger', 'list'])
    expect(all.next).toBeNull()
    expect(all.total).toBe(all.triggers.length)
    const first = await json<{triggers: Array<{ref: string}>; total: number; next: string | null}>(['trigger', 'list', '--limit', '3'])
    expect(first.next).toBe(all.triggers[2].ref)
    const table = await run(['trigger', 'list', '--limit', '3'])
    expect((table.stdout as string).trimEnd().split('\n').at(-1)).toBe(`${all.total - 3} more — use --limit or --after ${first.next}`)
    const second = await json<{triggers: Array<{ref: string}>}>(['trigger', 'list', '--limit', '3', '--after', first.next!])
    expect(second.triggers.map((trigger) => trigger.ref)).toEqual(all.triggers.slice(3, 6).map((trigger) => trigger.ref))
    for (const args of [['sensor', 'list'], ['rule', 'list'], ['pack', 'list'], ['sensor', 'status'], ['worker', 'list']]) {
      const doc = await json<Record<string, unknown>>([...args, '--limit', '1'])
      expect(Object.keys(doc), args.join(' ')).toEqual([args[0] === 'sensor' ? 'sensors' : `${args[0]}s`, 'total', 'next'])
    }
  })
})

describe('--follow', () => {
  it('on the served embedded database: the newest rows as a table, then a new event of the trigger', async () => {
    const follower = follow(['--trigger', 'local.emit_event', '--limit', '1'])
    try {
      expect(await eventually(() => follower.stdout().includes('local.emit_event'), 60_000), follower.stderr()).toBe(true)
      expect((await run(['sensor', 'run-once', emitter('tabled'), '--persist'])).exitCode).toBe(0)
      expect(await eventually(() => follower.stdout().includes('"marker":"tabled"'), 30_000), follower.stdout() + follower.stderr()).toBe(true)
      const lines = follower.stdout().trimEnd().split('\n')
      expect(lines[0]).toMatch(/^ID\s+CREATED \(UTC\)\s+TRIGGER\s+SOURCE\s+PAYLOAD$/)
      expect(lines).toHaveLength(3)
      expect(lines.filter((line) => line.includes('demo.'))).toEqual([])
    } finally {
      await follower.stop()
    }
  })

  describe('without a daemon', () => {
    beforeAll(async () => {
      await served?.close()
      served = undefined
    })

    it('shows the newest rows, holds no lock, and waits for a daemon', async () => {
      const follower = follow(['--json', '--limit', '2'])
      try {
        expect(await eventually(() => follower.stderr().includes('No daemon serves the embedded database'), 60_000), follower.stderr()).toBe(true)
        const backlog = follower.lines().map((event) => event.id)
        expect(backlog).toHaveLength(2)
        expect(backlog[1]).toBe(backlog[0] + 1)
        // It does not keep the database: other commands open it meanwhile.
        const other = await run(['event', 'list', '--limit', '1', '--json'])
        expect(other.exitCode, other.stderr as string).toBe(0)
        expect(JSON.parse(other.stdout as string).events[0].id).toBe(backlog[1])
      } finally {
        await follower.stop()
      }
    }, 120_000)
  })

  describe('against a running daemon on the embedded database', () => {
    let daemon: DaemonProcess | undefined
    beforeAll(async () => {
      daemon = await startDaemon([], env)
    })
    afterAll(async () => {
      await daemon?.stop()
    })

    it('prints an event stored after it started, once, as a JSON line', async () => {
      const follower = follow(['--json', '--limit', '1'])
      try {
        expect(await eventually(() => follower.lines().length >= 1, 60_000), follower.stderr()).toBe(true)
        const stored = await run(['sensor', 'run-once', emitter('followed'), '--persist'])
        expect(stored.exitCode, stored.stderr as string).toBe(0)
        expect(await eventually(() => follower.lines().some((event) => event.payload.marker === 'followed'), 30_000), follower.stdout() + follower.stderr()).toBe(true)
        await new Promise((resolve) => setTimeout(resolve, 1500))
        const ids = follower.lines().map((event) => event.id)
        expect(new Set(ids).size).toBe(ids.length)
        expect(follower.lines().filter((event) => event.payload.marker === 'followed')).toHaveLength(1)
      } finally {
        await follower.stop()
      }
    }, 120_000)
  })
})

const skipPostgres = postgresSkipReason()
describe.skipIf(skipPostgres)('--follow on PostgreSQL', () => {
  let server: PostgresServer | undefined
  let databaseUrl = ''
  beforeAll(async () => {
    server = await startPostgres()
    databaseUrl = await server.createDatabase('attune_lists')
    await storeEvents(5, {databaseUrl})
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('prints the newest rows, then an event stored after it started', async () => {
    const pg = {ATTUNE_DATABASE_URL: databaseUrl}
    const follower = follow(['--json', '--limit', '2'], pg)
    try {
      expect(await eventually(() => follower.lines().length >= 2, 60_000), follower.stderr()).toBe(true)
      expect(follower.lines().map((event) => event.id)).toEqual([4, 5])
      const stored = await run(['sensor', 'run-once', emitter('on-postgres'), '--persist'], pg)
      expect(stored.exitCode, stored.stderr as string).toBe(0)
      expect(await eventually(() => follower.lines().some((event) => event.payload.marker === 'on-postgres'), 30_000), follower.stderr()).toBe(true)
      expect(follower.lines().map((event) => event.id)).toEqual([4, 5, 6])
    } finally {
      await follower.stop()
    }
  })
})
