import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {attune, ROOT} from '../support/cli.js'

const home = mkdtempSync(join(tmpdir(), 'attune-cli-dedup-'))
const env = {ATTUNE_HOME: home}
afterAll(() => rmSync(home, {recursive: true, force: true}))

/** The first fenced block of `lang` after `heading` in a doc. */
function docBlock(doc: string, heading: string, lang: string): string {
  const text = readFileSync(join(ROOT, 'docs', doc), 'utf8')
  const at = text.indexOf(heading)
  expect(at, `${heading} in docs/${doc}`).toBeGreaterThanOrEqual(0)
  return new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(text.slice(at))![1]
}

function pack(name: string, files: Record<string, string>): string {
  const dir = join(home, name)
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), {recursive: true})
    writeFileSync(join(dir, path), content)
  }
  return dir
}

describe('event deduplication from the command line (the examples of docs/packs.md and docs/pipeline.md)', () => {
  it('registers the documented trigger and shows its dedup setting', async () => {
    const trigger = docBlock('packs.md', '### Deduplication: `dedup`', 'yaml')
    const dir = pack('github', {'pack.yaml': 'ref: github\nlabel: GitHub\n', 'triggers/push.yaml': trigger})
    const registered = await attune(['pack', 'register', dir], {env})
    expect(registered.exitCode, registered.stderr as string).toBe(0)

    const json = JSON.parse((await attune(['trigger', 'list', '--pack', 'github', '--json'], {env})).stdout as string)
    expect(json.triggers.map((t: {ref: string; dedup: unknown}) => [t.ref, t.dedup])).toEqual([['github.push', {key: 'delivery', window: '10m', window_ms: 600_000}]])
    const table = await attune(['trigger', 'list', '--pack', 'github'], {env})
    // As docs/packs.md shows it.
    const packsDoc = readFileSync(join(ROOT, 'docs', 'packs.md'), 'utf8')
    const shown = packsDoc.slice(packsDoc.indexOf('$ attune trigger list --pack github\n')).split('\n').slice(1, 3)
    expect(shown[0]).toMatch(/^REF\s+PARAMETERS\s+PAYLOAD\s+DEDUP\s+LABEL\s+WEBHOOK$/)
    expect((table.stdout as string).split('\n').map((line) => line.trimEnd())).toEqual(expect.arrayContaining(shown))
  })

  it('stores a repeated delivery once, and says so (run-once --persist, then a dry run)', async () => {
    const sh = docBlock('pipeline.md', '## Deduplication', 'sh')
    const script = /<<'EOF'\n([\s\S]*?)\nEOF/.exec(sh)![1]
    const file = join(home, 'push.sh')
    writeFileSync(file, `${script}\n`)
    chmodSync(file, 0o755)

    const persisted = await attune(['sensor', 'run-once', file, '--trigger-ref', 'github.push', '--persist'], {env})
    expect(persisted.exitCode, persisted.stderr as string).toBe(0)
    // The output block that follows the commands in the doc, line by line.
    const pipelineDoc = readFileSync(join(ROOT, 'docs', 'pipeline.md'), 'utf8')
    const after = pipelineDoc.slice(pipelineDoc.indexOf('attune sensor run-once ./push.sh --trigger-ref github.push --persist'))
    const documented = /\n```\n\n```\n([\s\S]*?)\n```/.exec(after)![1].split('\n').filter(Boolean)
    expect(documented).toHaveLength(5)
    for (const line of documented) expect(persisted.stdout).toContain(line)

    const dry = await attune(['sensor', 'run-once', file, '--trigger-ref', 'github.push', '--json'], {env})
    const doc = JSON.parse(dry.stdout as string)
    expect(doc.events.map((e: {dedup: unknown; event_id?: number}) => [e.dedup, e.event_id])).toEqual([
      [{key: 'd-1', duplicate: true, event_id: 1}, 1],
      [{key: 'd-1', duplicate: true, event_id: 1}, 1],
    ])
    const human = await attune(['sensor', 'run-once', file, '--trigger-ref', 'github.push'], {env})
    expect(human.stdout).toContain('event 0 would be deduplicated: duplicate of event #1 (dedup key "d-1")')
    expect(human.stdout).toContain('Dry run: nothing stored. 2 event(s) (2 would be dropped as duplicates), 0 enforcements would be created')

    const again = await attune(['sensor', 'run-once', file, '--trigger-ref', 'github.push', '--persist', '--json'], {env})
    expect(JSON.parse(again.stdout as string).stored).toEqual({events: 0, enforcements: 0, messages: 0, deduplicated: 2})
    const events = JSON.parse((await attune(['event', 'list', '--trigger', 'github.push', '--json'], {env})).stdout as string).events
    expect(events.map((e: {id: number}) => e.id)).toEqual([1])
  })

  it('exits 2 for a bad dedup, naming the file, the line and the key, and registers nothing', async () => {
    const dir = pack('badhooks', {
      'pack.yaml': 'ref: badhooks\n',
      'triggers/push.yaml': 'ref: badhooks.push\ndedup:\n  key: delivery\n  window: 600\n',
      'triggers/pull.yaml': 'ref: badhooks.pull\ndedup:\n  key: "{{ event.payload.id }}"\n  windw: 10m\n',
    })
    const run = await attune(['pack', 'register', dir], {env})
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toContain(`${join(dir, 'triggers', 'push.yaml')}:4: dedup.window: must be a duration such as 30s, 10m, 1h or 1d (with its unit), got 600`)
    expect(run.stderr).toContain(`${join(dir, 'triggers', 'pull.yaml')}:4: dedup.windw: unknown key "windw" (did you mean "window"?)`)
    expect(run.stderr).toContain('Nothing was registered')
    expect(run.stderr).not.toMatch(/\n\s+at /)
    const json = await attune(['pack', 'register', dir, '--json'], {env})
    expect(JSON.parse(json.stdout as string).error).toMatchObject({code: 'pack_invalid', exit_code: 2})
    const triggers = JSON.parse((await attune(['trigger', 'list', '--pack', 'badhooks', '--json'], {env})).stdout as string)
    expect(triggers.triggers).toEqual([])
  })
})
