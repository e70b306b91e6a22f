import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {PackError, readPack, registerPacks} from '../../src/engine/packs/index.js'
import {getTrigger} from '../../src/engine/store/index.js'
import {enableWebhook, WEBHOOK_KEY} from '../../src/engine/webhooks/index.js'
import {backends, useMigratedStore} from './backends.js'
import {makePack, removeTempDirs, writeFiles} from './pack-files.js'

afterAll(removeTempDirs)

const PUSH = `ref: wh.push
label: Push
webhook_enabled: true
webhook_config:
  hmac: {enabled: true, secret: pack-secret, algorithm: sha256}
  rate_limit: {enabled: true, requests: 10, window_seconds: 60}
  ip_whitelist: {enabled: true, ips: [10.0.0.0/8, "2001:db8::/32", 192.168.0.1]}
  payload_size_limit_kb: 256
  body_as_payload: true
`
const FILES = {
  'pack.yaml': 'ref: wh\nlabel: Webhooks\nversion: 1.0.0\n',
  'triggers/push.yaml': PUSH,
  'triggers/plain.yaml': 'ref: wh.plain\nlabel: Plain\n',
  'triggers/off.yaml': 'ref: wh.off\nlabel: Off\nwebhook_enabled: false\n',
}

describe.each(backends())('webhook settings in trigger pack files on $name', (backend) => {
  const store = useMigratedStore(backend)
  const dir = makePack('wh', FILES)
  const trigger = async (ref: string) => (await getTrigger(store, ref))!

  it.skipIf(backend.skip)('registers webhook_enabled and webhook_config with Attune\'s column names, and a key for an enabled trigger', async () => {
    const report = await registerPacks(store, [dir], {coreWhenEmpty: false})
    expect(report.items.filter((item) => item.kind === 'trigger').map((item) => [item.ref, item.status])).toEqual([
      ['wh.off', 'created'],
      ['wh.plain', 'created'],
      ['wh.push', 'created'],
    ])
    const push = await trigger('wh.push')
    expect(push.webhook_enabled).toBe(true)
    expect(push.webhook_key).toMatch(WEBHOOK_KEY)
    expect(push.webhook_config).toEqual({
      hmac: {enabled: true, secret: 'pack-secret', algorithm: 'sha256'},
      rate_limit: {enabled: true, requests: 10, window_seconds: 60},
      ip_whitelist: {enabled: true, ips: ['10.0.0.0/8', '2001:db8::/32', '192.168.0.1']},
      payload_size_limit_kb: 256,
      body_as_payload: true,
    })
    expect(await trigger('wh.plain')).toMatchObject({webhook_enabled: false, webhook_key: null, webhook_config: {}})
    expect(await trigger('wh.off')).toMatchObject({webhook_enabled: false, webhook_key: null, webhook_config: {}})
    expect(JSON.stringify(report)).not.toContain('pack-secret')
  })

  it.skipIf(backend.skip)('keeps the key when the pack is registered again, changed or not', async () => {
    const key = (await trigger('wh.push')).webhook_key
    const again = await registerPacks(store, [dir], {coreWhenEmpty: false})
    expect(again.summary).toMatchObject({created: 0, updated: 0})
    expect((await trigger('wh.push')).webhook_key).toBe(key)

    writeFiles(dir, {'triggers/push.yaml': PUSH.replace('requests: 10', 'requests: 20')})
    const changed = await registerPacks(store, [dir], {coreWhenEmpty: false})
    expect(changed.items.find((item) => item.ref === 'wh.push')).toMatchObject({status: 'updated', changed: ['webhook_config']})
    expect((await trigger('wh.push')).webhook_key).toBe(key)
    expect((await trigger('wh.push')).webhook_config).toMatchObject({rate_limit: {requests: 20}})
  })

  it.skipIf(backend.skip)('leaves a webhook enabled from the CLI alone when the file has no webhook keys', async () => {
    const {webhook_key: key} = await enableWebhook(store, 'wh.plain')
    await registerPacks(store, [dir], {coreWhenEmpty: false})
    expect(await trigger('wh.plain')).toMatchObject({webhook_enabled: true, webhook_key: key})
  })

  it.skipIf(backend.skip)('removes the key when the file disables the webhook (as Attune\'s disable does); a dry run makes no key', async () => {
    writeFiles(dir, {'triggers/push.yaml': 'ref: wh.push\nlabel: Push\nwebhook_enabled: false\n'})
    const report = await registerPacks(store, [dir], {coreWhenEmpty: false})
    expect(report.items.find((item) => item.ref === 'wh.push')).toMatchObject({status: 'updated', changed: ['webhook_enabled', 'webhook_key', 'webhook_config']})
    expect(await trigger('wh.push')).toMatchObject({webhook_enabled: false, webhook_key: null, webhook_config: {}})

    writeFiles(dir, {'triggers/push.yaml': PUSH})
    await registerPacks(store, [dir], {coreWhenEmpty: false, dryRun: true})
    expect((await trigger('wh.push')).webhook_key).toBeNull()
    await registerPacks(store, [dir], {coreWhenEmpty: false})
    expect((await trigger('wh.push')).webhook_key).toMatch(WEBHOOK_KEY)
  })
})

describe('webhook_config is checked when the pack is read', () => {
  it('names an unknown key inside webhook_config with its line and the closest key, and every other mistake', async () => {
    const dir = makePack('bad', {
      'triggers/t.yaml': [
        'ref: bad.t',
        'webhook_enabled: yes',
        'webhook_config:',
        '  hmac:',
        '    enabled: true',
        '    secet: x',
        '  rate_limit: {enabled: true, requests: 0}',
        '  ip_whitelist: {enabled: true, ips: [10.0.0.0/33, nope]}',
        '  payload_limit_kb: 5',
        '',
      ].join('\n'),
    })
    const {problems} = await readPack(dir)
    const file = join(dir, 'triggers/t.yaml')
    expect(problems).toEqual(
      expect.arrayContaining([
        {file, line: 2, field: 'webhook_enabled', message: 'must be true or false'},
        {file, line: 6, field: 'webhook_config.hmac.secet', message: 'unknown key "secet" (did you mean "secret"?)'},
        {file, line: 5, field: 'webhook_config.hmac.secret', message: expect.stringMatching(/is required when hmac.enabled is true/)},
        {file, line: 5, field: 'webhook_config.hmac.algorithm', message: 'is required when hmac.enabled is true (sha256, sha512, sha1)'},
        {file, line: 7, field: 'webhook_config.rate_limit.requests', message: 'must be a whole number greater than 0'},
        {file, line: 7, field: 'webhook_config.rate_limit.window_seconds', message: 'is required when rate_limit.enabled is true'},
        {file, line: 8, field: 'webhook_config.ip_whitelist.ips[0]', message: "'10.0.0.0/33' has an invalid prefix length (0 to 32 for IPv4)"},
        {file, line: 8, field: 'webhook_config.ip_whitelist.ips[1]', message: "'nope' is not an IP address or a CIDR block"},
        {file, line: 9, field: 'webhook_config.payload_limit_kb', message: 'unknown key "payload_limit_kb" (did you mean "payload_size_limit_kb"?)'},
      ]),
    )
    expect(problems).toHaveLength(9)
  })

  it('refuses to register such a pack (nothing is written)', async () => {
    const dir = makePack('bad', {'triggers/t.yaml': 'ref: bad.t\nwebhook_enabled: true\nwebhook_config: {hmac: {enabled: true, secret: s, algorithm: md5}}\n'})
    const error = await readPack(dir).then(({problems}) => new PackError(problems))
    expect(error.message).toContain('webhook_config.hmac.algorithm: must be one of sha256, sha512, sha1')
  })
})
