import {execa} from 'execa'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import pg from 'pg'
import {embeddedSocketPath, listPacks, openPgStore, openStore, serveEmbeddedDatabase} from '../../src/engine/store/index.js'
import {attune, ROOT} from '../support/cli.js'
import {eventually} from '../support/sensors.js'

const homes: string[] = []
const newHome = () => {
  const home = mkdtempSync(join(tmpdir(), 'attune-served-'))
  homes.push(home)
  return home
}
afterAll(() => {
  for (const home of homes) rmSync(home, {recursive: true, force: true})
})

describe('sharing the embedded database over a socket', () => {
  it('serves it to other stores while it holds the lock, and hands it back on close', async () => {
    const home = newHome()
    const server = await serveEmbeddedDatabase(home)
    expect(existsSync(server.socketPath)).toBe(true)
    const client = await openStore({home})
    expect(client.kind).toBe('pg')
    await client.query("INSERT INTO attune.pack (ref, label, version) VALUES ('served', 'Served', '1.0.0')")
    await client.close()
    await server.close()
    expect(existsSync(server.socketPath)).toBe(false)
    const direct = await openStore({home})
    expect(direct.kind).toBe('pglite')
    expect((await listPacks(direct)).map((pack) => pack.ref)).toEqual(['served'])
    await direct.close()
  })

  it('lets the CLI read and write while another process serves it', async () => {
    const home = newHome()
    const script = `
      import {serveEmbeddedDatabase} from './src/engine/store/index.ts'
      const server = await serveEmbeddedDatabase(process.env.HOME_DIR)
      process.stdout.write('ready\\n')
      process.on('SIGTERM', async () => { await server.close(); process.exit(0) })
      setInterval(() => {}, 1000)`
    const child = execa(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {cwd: ROOT, env: {HOME_DIR: home}, reject: false})
    let out = ''
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()))
    try {
      expect(await eventually(() => out.includes('ready'), 90_000)).toBe(true)
      const env = {NO_COLOR: '1', NODE_ENV: 'production', ATTUNE_HOME: home}
      const register = await attune(['pack', 'register', 'packs/core', 'packs/examples'], {env})
      expect(register.exitCode, register.stderr as string).toBe(0)
      const sensors = await attune(['sensor', 'list', '--json'], {env})
      expect(JSON.parse(sensors.stdout as string).sensors).toHaveLength(5) // core's timer and the examples' four
    } finally {
      child.kill('SIGTERM')
      await child
    }
    expect(existsSync(embeddedSocketPath(home))).toBe(false)
  })

  it('keeps each client\'s queries and transactions whole while several use the socket at once', async () => {
    const home = newHome()
    const server = await serveEmbeddedDatabase(home)
    const clients = await Promise.all(Array.from({length: 6}, () => openPgStore(server.url, {max: 1, embedded: true})))
    try {
      await Promise.all(
        clients.map(async (store, c) => {
          for (let i = 0; i < 30; i++) {
            // Parameters: pg's extended protocol (Parse, Bind, Execute, Sync), the batch that interleaved.
            const {rows} = await store.query<{n: number; s: string}>('SELECT $1::int AS n, $2::text AS s', [c * 1000 + i, `client ${c}`])
            expect(rows).toEqual([{n: c * 1000 + i, s: `client ${c}`}])
            if (i % 10 === 0) {
              await store.transaction(async (tx) => {
                await tx.query('INSERT INTO attune.identity (login) VALUES ($1)', [`c${c}-${i}`])
                const seen = await tx.query<{n: number}>('SELECT count(*)::int AS n FROM attune.identity WHERE login LIKE $1', [`c${c}-%`])
                expect(seen.rows[0].n).toBe(i / 10 + 1)
              })
            }
          }
        }),
      )
      // A client that goes away inside a transaction: rolled back, and the others carry on.
      const quitter = new pg.Client({connectionString: server.url})
      await quitter.connect()
      quitter.on('error', () => {})
      await quitter.query('BEGIN')
      await quitter.query('INSERT INTO attune.identity (login) VALUES ($1)', ['never'])
      ;(quitter as unknown as {connection: {stream: {destroy(): void}}}).connection.stream.destroy()
      const {rows} = await clients[0].query<{n: number}>('SELECT count(*)::int AS n FROM attune.identity WHERE login = $1', ['never'])
      expect(rows[0].n).toBe(0)
      expect((await clients[1].query<{n: number}>('SELECT count(*)::int AS n FROM attune.identity')).rows[0].n).toBe(18)
    } finally {
      await Promise.all(clients.map((client) => client.close()))
      await server.close()
    }
  })

  it('gives the lock holder error when the holder serves no socket', async () => {
    const home = newHome()
    const holder = await openStore({home})
    await expect(openStore({home})).rejects.toThrow(/is in use by this process/)
    await holder.close()
  })
})
