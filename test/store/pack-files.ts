/**
 * Pack folders for tests: the core pack fixture in Attune's format (test/fixtures, copied so it
 * can be changed), Attune's own core pack from ../shared when present, and small made-up packs.
 */
import {chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {sharedPath} from '../support/shared.js'

export const REPO = fileURLToPath(new URL('../../', import.meta.url))
/** A core pack written for the tests in Attune's layout (3 runtimes, 4 triggers, 1 sensor). */
export const CORE_FIXTURE = join(REPO, 'test', 'fixtures', 'attune-format-pack')
/** How many rows registering CORE_FIXTURE creates (pack, runtimes, triggers, sensor). */
export const CORE_FIXTURE_ITEMS = 9
/** Rules in Attune's YAML form (three documents), written for the tests. */
export const TIMER_RULES_FIXTURE = join(REPO, 'test', 'fixtures', 'attune-timer-rules.yaml')
/** Attune's real core pack and timer examples (../shared): present in CI, maybe not elsewhere. */
export const ATTUNE_CORE_PACK = sharedPath('fixtures/attune-core-pack')
export const ATTUNE_TIMER_RULES = sharedPath('fixtures/attune-timer-rules.yaml')

const made: string[] = []

export function tempDir(prefix = 'attune-pack-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  made.push(dir)
  return dir
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, {recursive: true, force: true})
}

function makeWritable(path: string): void {
  const stat = statSync(path)
  chmodSync(path, stat.mode | 0o200)
  if (stat.isDirectory()) for (const name of readdirSync(path)) makeWritable(join(path, name))
}

/** A writable copy of the fixture core pack, plus extra files (path relative to the pack). */
export function copyOfCoreFixture(extra: Record<string, string> = {}): string {
  const dir = join(tempDir(), 'core')
  cpSync(CORE_FIXTURE, dir, {recursive: true})
  makeWritable(dir)
  writeFiles(dir, extra)
  return dir
}

/** A pack folder made of the given files (`pack.yaml` defaults to `ref: <name>`). */
export function makePack(name: string, files: Record<string, string>): string {
  const dir = join(tempDir(), name)
  writeFiles(dir, {'pack.yaml': `ref: ${name}\nlabel: ${name}\n`, ...files})
  return dir
}

export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), {recursive: true})
    writeFileSync(join(dir, path), content)
  }
}
