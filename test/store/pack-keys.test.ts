import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {loadPack, PackError, readPack} from '../../src/engine/packs/index.js'
import {ATTUNE_CORE_PACK, CORE_FIXTURE, makePack, removeTempDirs, REPO} from './pack-files.js'

afterAll(removeTempDirs)

const PACK_YAML = 'ref: demo\nlabel: Demo\nversion: 1.0.0\n'
const SENSOR = 'ref: demo.watch\nrunner_type: python\nentry_point: watch.py\ntrigger_types: [demo.tick]\n'

/** One misspelt key per kind of pack file: the file, its content, and where the typo is. */
const TYPOS: Array<{kind: string; file: string; content: string; line: number; field: string; key: string; suggestion: string}> = [
  {kind: 'pack.yaml', file: 'pack.yaml', content: `${PACK_YAML}runtime_dep: [python3]\n`, line: 4, field: 'runtime_dep', key: 'runtime_dep', suggestion: 'runtime_deps'},
  {kind: 'runtime', file: 'runtimes/python.yaml', content: 'ref: demo.python\nname: Python\nexecution_confg:\n  interpreter: {binary: python3}\n', line: 3, field: 'execution_confg', key: 'execution_confg', suggestion: 'execution_config'},
  {kind: 'trigger', file: 'triggers/tick.yaml', content: 'ref: demo.tick\nlabel: Tick\nparamters:\n  unit: {type: string}\n', line: 3, field: 'paramters', key: 'paramters', suggestion: 'parameters'},
  {kind: 'sensor', file: 'sensors/watch.yaml', content: `${SENSOR}poll_intervall: 5\n`, line: 5, field: 'poll_intervall', key: 'poll_intervall', suggestion: 'poll_interval'},
  {kind: 'action', file: 'actions/echo.yaml', content: 'ref: demo.echo\nentry_point: echo.sh\nrunner_type: shell\ntimout: 5\n', line: 4, field: 'timout', key: 'timout', suggestion: 'timeout'},
  {kind: 'rule', file: 'rules/r.yaml', content: 'ref: demo.r\ntrigger: {type: demo.tick}\naction: {ref: demo.echo}\nenabeld: false\n', line: 4, field: 'enabeld', key: 'enabeld', suggestion: 'enabled'},
  {kind: "rule's action", file: 'rules/r.yaml', content: 'ref: demo.r\ntrigger: {type: demo.tick}\naction:\n  ref: demo.echo\n  paramters: {}\n', line: 5, field: 'action.paramters', key: 'paramters', suggestion: 'parameters'},
]

describe('unknown keys in pack files', () => {
  it.each(TYPOS)('a misspelt key in a $kind file is an error with file, line, key and the closest key', async (typo) => {
    const dir = makePack('demo', {'pack.yaml': PACK_YAML, [typo.file]: typo.content})
    const {problems} = await readPack(dir)
    expect(problems).toEqual([
      {file: join(dir, typo.file), line: typo.line, field: typo.field, message: `unknown key "${typo.key}" (did you mean "${typo.suggestion}"?)`},
    ])
  })

  it('prints the problem the way register shows it, and nothing is loaded', async () => {
    const dir = makePack('demo', {'pack.yaml': PACK_YAML, 'sensors/watch.yaml': `${SENSOR}poll_intervall: 5\n`})
    const error = await loadPack(dir).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(PackError)
    expect((error as PackError).message).toContain(`${join(dir, 'sensors/watch.yaml')}:5: poll_intervall: unknown key "poll_intervall" (did you mean "poll_interval"?)`)
  })

  it('names a key with no near known key without a suggestion', async () => {
    const dir = makePack('demo', {'pack.yaml': PACK_YAML, 'sensors/watch.yaml': `${SENSOR}colour: red\n`})
    const {problems} = await readPack(dir)
    expect(problems.map((p) => p.message)).toEqual(['unknown key "colour"'])
  })

  it("accepts StackStorm's keys and the rules module's quiet keys", async () => {
    const dir = makePack('demo', {
      'pack.yaml': 'name: demo\nref: demo\ndescription: d\nkeywords: [x]\nversion: 1.0.0\npython_versions: ["3"]\nauthor: a\nemail: a@b.c\ncontributors: [b]\n',
      'triggers/tick.yaml': 'name: tick\npack: demo\ndescription: d\npayload_schema: {type: object}\nparameters_schema: {type: object}\ntags: []\n',
      'sensors/watch.yaml': 'class_name: Watch\nname: watch\nentry_point: watch.py\nrunner_type: python\ndescription: d\npoll_interval: 30\nenabled: true\ntrigger_types: [demo.tick]\n',
      'actions/echo.yaml': 'name: echo\npack: demo\nrunner_type: local-shell-cmd\ndescription: d\nenabled: true\nentry_point: echo.sh\nparameters: {}\noutput_schema: {}\nnotify: {}\ntags: []\n',
      'rules/r.yaml': 'name: r\npack: demo\ndescription: d\nenabled: true\ntrigger: {type: demo.tick, parameters: {}}\ncriteria: {}\naction: {ref: demo.echo, parameters: {}}\ntags: []\nuid: rule:demo:r\ntype: {ref: standard}\ncontext: {}\nmetadata_file: rules/r.yaml\n',
    })
    const {problems} = await readPack(dir)
    expect(problems).toEqual([])
  })
})

describe('real packs keep loading', () => {
  const packs = [
    ['packs/core', join(REPO, 'packs', 'core')],
    ['packs/examples', join(REPO, 'packs', 'examples')],
    ['test/fixtures/attune-format-pack', CORE_FIXTURE],
    ['test/fixtures/attune-demo-pack', join(REPO, 'test', 'fixtures', 'attune-demo-pack')],
  ]
  it.each(packs)('%s loads with no problem', async (_, dir) => {
    const {pack, problems} = await readPack(dir)
    expect(problems).toEqual([])
    expect(pack).toBeDefined()
  })

  it.skipIf(ATTUNE_CORE_PACK.skip)("Attune's core pack (../shared/fixtures/attune-core-pack) loads with no problem", async () => {
    const {pack, problems} = await readPack(ATTUNE_CORE_PACK.path)
    expect(problems).toEqual([])
    expect(pack?.sensors.length).toBeGreaterThan(0)
  })
})

describe("Attune's length limits", () => {
  const long = (n: number) => 'x'.repeat(n)

  it('a ref of 256 characters is an error naming the field; 255 loads', async () => {
    const at = (name: string) => makePack('demo', {'pack.yaml': PACK_YAML, 'triggers/t.yaml': `ref: demo.${name}\n`})
    const tooLong = await readPack(at(long(256 - 'demo.'.length)))
    expect(tooLong.problems).toEqual([expect.objectContaining({line: 1, field: 'ref', message: 'is 256 characters long: Attune allows at most 255 for a ref'})])
    expect((await readPack(at(long(255 - 'demo.'.length)))).problems).toEqual([])
  })

  it('an over-long pack ref, label, rule ref and pack version are errors too', async () => {
    const dir = makePack('demo', {
      'pack.yaml': `ref: demo\nlabel: ${long(256)}\nversion: 1.0.0-${long(50)}\n`,
      'rules/r.yaml': `name: ${long(260)}\ntrigger: {type: demo.tick}\naction: {ref: demo.echo}\n`,
    })
    const {problems} = await readPack(dir)
    expect(problems.map((p) => `${p.field}: ${p.message}`)).toEqual([
      'version: is 56 characters long: Attune allows at most 50 for a version',
      'label: is 256 characters long: Attune allows at most 255 for a label',
      'name: is 265 characters long: Attune allows at most 255 for a ref',
      'name: is 260 characters long: Attune allows at most 255 for a label',
    ])
    const pack = await readPack(makePack('x', {'pack.yaml': `ref: x${long(255)}\n`}))
    expect(pack.problems.map((p) => p.message)).toEqual(['is 256 characters long: Attune allows at most 255 for a ref'])
  })
})
