import type {PGlite} from '@electric-sql/pglite'
import type {PGLiteSocketServer} from '@electric-sql/pglite-socket'

/**
 * The order in which the protocol messages of the socket's clients reach PGlite, which is one
 * Postgres session for all of them. pglite-socket's own queue (0.2.17) takes the messages one
 * at a time from whichever client sent one and keeps to one client only inside an explicit
 * transaction. But a query of `pg` is a batch of messages (Parse, Bind, Describe, Execute,
 * Sync) that shares session state until its Sync is answered (the unnamed statement and
 * portal): two clients querying at once clobbered each other's unnamed statement ("unnamed
 * prepared statement does not exist", or a Bind on the other client's statement), which hit
 * commands run while the daemon was busy starting. And a message that threw inside PGlite
 * left that queue stuck for good.
 *
 * This queue gives a client the session for a whole batch (until its Sync, or a simple Query)
 * and, after that, for as long as the client has a transaction open; other clients' messages
 * wait. When a client goes away in the middle, its batch is ended (a Sync) and its open
 * transaction rolled back before anybody else gets the session. A message that throws fails
 * only that client's message.
 */
export class SessionQueue {
  private readonly queue: Array<{handlerId: number; message: Uint8Array; onData: (data: Uint8Array) => void; resolve: (bytes: number) => void; reject: (error: Error) => void}> = []
  /** The client that has the session (mid-batch or in a transaction), or null. */
  private owner: number | null = null
  private draining = false
  /** Everything that touches the session, one at a time. */
  private serial: Promise<unknown> = Promise.resolve()

  constructor(private readonly db: PGlite) {}

  /** pglite-socket's handler calls this for every message of a client, one message at a time. */
  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({handlerId, message, onData, resolve, reject})
      void this.drain()
    })
  }

  getQueueLength(): number {
    return this.queue.length
  }

  /** The client disconnected: its waiting messages fail. */
  clearQueueForHandler(handlerId: number): void {
    for (let i = this.queue.length - 1; i >= 0; i--) {
      if (this.queue[i].handlerId !== handlerId) continue
      const [item] = this.queue.splice(i, 1)
      item.reject(new Error('client disconnected'))
    }
  }

  /** The client disconnected: if it had the session, end its batch and roll its transaction back. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    await this.exclusive(async () => {
      if (this.owner !== handlerId) return
      this.owner = null
      try {
        await this.db.runExclusive(() => this.db.execProtocolRawStream(SYNC, {onRawData: () => {}}))
        if (this.db.isInTransaction()) await this.db.exec('ROLLBACK')
      } catch {
        // The session is as good as PGlite leaves it; the next client's Sync resets the rest.
      }
    })
    void this.drain()
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.serial.then(fn, fn)
    this.serial = run.catch(() => {})
    return run
  }

  private async drain(): Promise<void> {
    if (this.draining) return
    this.draining = true
    try {
      for (;;) {
        const next = await this.exclusive(async () => {
          const index = this.owner === null ? 0 : this.queue.findIndex((item) => item.handlerId === this.owner)
          // The session's client has not sent its next message yet: everybody else waits.
          if (index < 0 || index >= this.queue.length) return false
          const [item] = this.queue.splice(index, 1)
          let bytes = 0
          try {
            await this.db.runExclusive(() =>
              this.db.execProtocolRawStream(item.message, {
                onRawData: (data) => {
                  bytes += data.length
                  item.onData(data)
                },
              }),
            )
            item.resolve(bytes)
          } catch (error) {
            item.reject(error instanceof Error ? error : new Error(String(error)))
          }
          this.owner = keepsSession(item.message) || this.db.isInTransaction() ? item.handlerId : null
          return true
        })
        if (!next) return
      }
    } finally {
      this.draining = false
    }
  }
}

/** A Sync message: ends an extended-protocol batch (and its error state). */
const SYNC = new Uint8Array([0x53, 0, 0, 0, 4])

/**
 * Whether the client keeps the session after this message regardless of transactions: every
 * extended-protocol message before the Sync does. A Sync, a simple Query, a FunctionCall, a
 * Terminate or the startup message (no type byte: protocol version 3.0 after the length) end
 * what the client was doing.
 */
function keepsSession(message: Uint8Array): boolean {
  if (message.length >= 8 && new DataView(message.buffer, message.byteOffset, message.byteLength).getInt32(4) === 0x00030000) return false
  const type = String.fromCharCode(message[0])
  return !['S', 'Q', 'F', 'X'].includes(type)
}

/**
 * Puts the session queue into a socket server before it starts. pglite-socket creates its own
 * queue in the constructor and hands it to every connection's handler; this replaces it.
 * Checked, so an upgrade that renames the field fails loudly instead of silently interleaving.
 */
export function useSessionQueue(server: PGLiteSocketServer, db: PGlite): void {
  const internals = server as unknown as {queryQueue?: unknown}
  if (typeof internals.queryQueue !== 'object' || internals.queryQueue === null) {
    throw new Error('pglite-socket has no queryQueue to replace: check the pinned @electric-sql/pglite-socket version')
  }
  internals.queryQueue = new SessionQueue(db)
}
