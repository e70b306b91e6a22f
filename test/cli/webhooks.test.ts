import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startApi, type ApiServer} from '../../src/api/server.js'
import {ringLogger} from '../../src/daemon/logger.js'
import {EventPipeline} from '../../src/engine/events/index.js'
import {migrate, openPgStore, openStore, serveEmbeddedDatabase, type EmbeddedServer, type Store} from '../../src/engine/store/index.js'
import {verificationKeys} from '../../src/engine/tokens/index.js'
import {WEBHOOK_KEY} from '../../src/engine/webhooks/index.js'
import {makePack, removeTempDirs} from '../store/pack-files.js'
import {attune} from '../support/cli.js'
import {postgresSkipReason, startPostgres, type PostgresServer} from '../support/postgres.js'

const PACK = {
  'pack.yaml': 'ref: clihook\nlabel: CLI hooks\nversion: 1.0.0\n',
  'triggers/push.yaml': 'ref: clihook.push\nlabel: Push\nwebhook_enabled: true\nwebhook_config:\n  hmac: {enabled: true, secret: cli-pack-secret, algorithm: sha256}\n',
  'triggers/manual.yaml': 'ref: clihook.manual\nlabel: Manual\n',
}

interface Report {
  trigger_ref: string
  webhook_enabled: boolean
  webhook_key: string | null
  webhook_url: string | null
  previous_key_revoked?: boolean
}

/**
 * The CLI against a database the test's API also uses: the embedded one (served on its socket
 * by this process, as the daemon serves it) and PostgreSQL.
 */
const variants = [
  {name: 'the embedded database', skip: undefined as string | undefined},
  {name: 'PostgreSQL', skip: postgresSkipReason()},
]

describe.each(variants)('attune trigger webhook on $name', ({name, skip}) => {
  const home = mkdtempSync(join(tmpdir(), 'attune-cli-webhooks-'))
  const env: Record<string, string> = {NO_COLOR: '1', NODE_ENV: 'production', ATTUNE_HOME: home, ATTUNE_API_PORT: '19466'}
  let served: EmbeddedServer | undefined
  let postgres: PostgresServer | undefined
  let store: Store
  let api: ApiServer
  const run = (args: string[]) => attune(args, {env})
  const post = (key: string) => fetch(`${api.url}/api/v1/webhooks/${key}`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({payload: {from: 'cli-test'}})})

  beforeAll(async () => {
    if (skip) return
    if (name === 'PostgreSQL') {
      postgres = await startPostgres()
      env.ATTUNE_DATABASE_URL = await postgres.createDatabase('attune_cli_webhooks')
      store = await openStore({databaseUrl: env.ATTUNE_DATABASE_URL})
      await migrate(store)
    } else {
      served = await serveEmbeddedDatabase(home)
      store = await openPgStore(served.url)
    }
    api = await startApi({host: '127.0.0.1', port: 0, bodyLimit: 65536, rateLimit: 1000, store, pipeline: new EventPipeline(store), keys: verificationKeys('cli-webhooks-jwt-secret-0123456789abcdefghij'), logger: ringLogger()})
  }, 120_000)
  afterAll(async () => {
    await api?.close()
    await store?.close()
    await served?.close()
    await postgres?.stop()
    rmSync(home, {recursive: true, force: true})
    removeTempDirs()
  })

  it.skipIf(skip)('registers webhook settings from a pack file; trigger list --json shows the key, never the HMAC secret', async () => {
    const dir = makePack('clihook', PACK)
    const registered = await run(['pack', 'register', dir])
    expect(registered.exitCode, registered.stderr as string).toBe(0)
    const listed = await run(['trigger', 'list', '--pack', 'clihook', '--json'])
    expect(listed.exitCode).toBe(0)
    expect(listed.stdout).not.toContain('cli-pack-secret')
    const triggers = (JSON.parse(listed.stdout as string) as {triggers: Array<{ref: string; webhook_enabled: boolean; webhook_key: string | null; webhook_config: unknown}>}).triggers
    const push = triggers.find((trigger) => trigger.ref === 'clihook.push')!
    expect(push).toMatchObject({webhook_enabled: true, webhook_key: expect.stringMatching(WEBHOOK_KEY), webhook_config: {hmac: {enabled: true, secret: '***', algorithm: 'sha256'}}})
    expect(triggers.find((trigger) => trigger.ref === 'clihook.manual')).toMatchObject({webhook_enabled: false, webhook_key: null})
    const table = await run(['trigger', 'list', '--pack', 'clihook'])
    expect(table.stdout).toMatch(/clihook\.push\s+Push\s+enabled/)

    // Registering again never rotates a key.
    expect((await run(['pack', 'register', dir])).exitCode).toBe(0)
    const again = JSON.parse((await run(['trigger', 'list', '--pack', 'clihook', '--json'])).stdout as string) as {triggers: Array<{ref: string; webhook_key: string}>}
    expect(again.triggers.find((trigger) => trigger.ref === 'clihook.push')!.webhook_key).toBe(push.webhook_key)
  })

  it.skipIf(skip)('enable prints the URL and the key, and the URL takes events; enabling again keeps the key', async () => {
    const enabled = await run(['trigger', 'webhook', 'enable', 'clihook.manual'])
    expect(enabled.exitCode, enabled.stderr as string).toBe(0)
    const key = /Key: (wh_[0-9a-f]{32})/.exec(enabled.stdout as string)?.[1]
    expect(key).toMatch(WEBHOOK_KEY)
    expect(enabled.stdout).toContain(`URL: http://127.0.0.1:19466/api/v1/webhooks/${key}`)
    expect((await post(key!)).status).toBe(200)

    const json = await run(['trigger', 'webhook', 'enable', 'clihook.manual', '--json', '--base-url', 'https://hooks.example.com/'])
    expect(json.exitCode).toBe(0)
    const report = JSON.parse(json.stdout as string) as Report
    expect(report).toEqual({trigger_ref: 'clihook.manual', webhook_enabled: true, webhook_key: key, webhook_url: `https://hooks.example.com/api/v1/webhooks/${key}`})
  })

  it.skipIf(skip)('regenerate replaces the key (the old one answers 404), disable removes it (404)', async () => {
    const before = (JSON.parse((await run(['trigger', 'webhook', 'enable', 'clihook.manual', '--json'])).stdout as string) as Report).webhook_key!
    const regenerated = await run(['trigger', 'webhook', 'regenerate', 'clihook.manual', '--json'])
    expect(regenerated.exitCode, regenerated.stderr as string).toBe(0)
    const report = JSON.parse(regenerated.stdout as string) as Report
    expect(Object.keys(report).sort()).toEqual(['previous_key_revoked', 'trigger_ref', 'webhook_enabled', 'webhook_key', 'webhook_url'])
    expect(report).toMatchObject({trigger_ref: 'clihook.manual', webhook_enabled: true, previous_key_revoked: true, webhook_url: `http://127.0.0.1:19466/api/v1/webhooks/${report.webhook_key}`})
    expect(report.webhook_key).toMatch(WEBHOOK_KEY)
    expect(report.webhook_key).not.toBe(before)
    expect((await post(before)).status).toBe(404)
    expect((await post(report.webhook_key!)).status).toBe(200)

    const disabled = await run(['trigger', 'webhook', 'disable', 'clihook.manual', '--json'])
    expect(disabled.exitCode).toBe(0)
    expect(JSON.parse(disabled.stdout as string)).toEqual({trigger_ref: 'clihook.manual', webhook_enabled: false, webhook_key: null, webhook_url: null})
    expect((await post(report.webhook_key!)).status).toBe(404)
    const human = await run(['trigger', 'webhook', 'disable', 'clihook.manual'])
    expect(human.stdout).toContain('Webhooks disabled for trigger clihook.manual')
  })

  it.skipIf(skip)('exits 2 naming an unknown trigger (with the closest one), a regenerate without webhooks, and a bad key in webhook_config', async () => {
    const unknown = await run(['trigger', 'webhook', 'enable', 'clihook.pushh'])
    expect(unknown.exitCode).toBe(2)
    expect(unknown.stderr).toContain("Unknown trigger 'clihook.pushh' (did you mean 'clihook.push'?)")
    expect(unknown.stdout).toBe('')
    const json = await run(['trigger', 'webhook', 'disable', 'nothing.here', '--json'])
    expect(json.exitCode).toBe(2)
    expect(JSON.parse(json.stdout as string)).toMatchObject({error: {code: 'trigger_not_found', exit_code: 2, message: "Unknown trigger 'nothing.here'"}})

    const notEnabled = await run(['trigger', 'webhook', 'regenerate', 'clihook.manual'])
    expect(notEnabled.exitCode).toBe(2)
    expect(notEnabled.stderr).toContain("Webhooks are not enabled for trigger 'clihook.manual'. Enable webhooks first.")

    const bad = makePack('clihook', {...PACK, 'triggers/push.yaml': PACK['triggers/push.yaml'].replace('secret:', 'secrett:')})
    const refused = await run(['pack', 'register', bad])
    expect(refused.exitCode).toBe(2)
    expect(refused.stderr).toContain(`${join(bad, 'triggers/push.yaml')}:5: webhook_config.hmac.secrett: unknown key "secrett" (did you mean "secret"?)`)
    expect(refused.stderr).not.toContain('cli-pack-secret')
  })
})
