import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {EventPipeline} from '../../src/engine/events/index.js'
import {registerPacks} from '../../src/engine/packs/index.js'
import {getRule} from '../../src/engine/store/index.js'
import {backends, useMigratedStore} from '../store/backends.js'
import {writePack} from '../support/daemon.js'

const dir = mkdtempSync(join(tmpdir(), 'attune-rule-ids-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))
const pack = writePack(dir, {
  'pack.yaml': 'ref: ri\n',
  'triggers/t.yaml': 'ref: ri.tick\n',
  'actions/echo.yaml': 'ref: ri.echo\nrunner_type: shell\nentry_point: echo.sh\n',
  'rules/r.yaml': 'ref: ri.every_10s\ntrigger: {type: ri.tick, parameters: {interval: 10}}\naction: {ref: ri.echo}\n---\nref: ri.every_60s\ntrigger: {type: ri.tick, parameters: {interval: 60}}\naction: {ref: ri.echo}\n',
})

describe.each(backends())('trigger instances on $name', (backend) => {
  const store = useMigratedStore(backend, {setup: (opened) => registerPacks(opened, [pack]).then(() => {})})

  it.skipIf(backend.skip)('matches only the rules named in rule_ids (a timer fire belongs to one rule)', async () => {
    const pipeline = new EventPipeline(store)
    const tenSeconds = (await getRule(store, 'ri.every_10s'))!
    const restricted = await pipeline.persist({trigger: {ref: 'ri.tick'}, events: [{type: 'interval'}], rule_ids: [tenSeconds.id]})
    expect(restricted.enforcements.map((enforcement) => enforcement.rule_ref)).toEqual(['ri.every_10s'])
    const open = await pipeline.persist({trigger: {ref: 'ri.tick'}, events: [{type: 'interval'}]})
    expect(open.enforcements.map((enforcement) => enforcement.rule_ref).sort()).toEqual(['ri.every_10s', 'ri.every_60s'])
    const preview = await pipeline.preview(store, [{trigger: {ref: 'ri.tick'}, events: [{}], rule_ids: [tenSeconds.id]}])
    expect(preview.events[0].rules.map((rule) => rule.rule_ref)).toEqual(['ri.every_10s'])
  })
})
