import {execa, type Options} from 'execa'
import {existsSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const BIN = join(ROOT, 'bin', 'run.js')

if (!existsSync(join(ROOT, 'dist', 'commands'))) {
  throw new Error('dist/ is missing: CLI tests run the built command. Run `npm run build` (npm test does it first).')
}

/** Runs the built `attune` CLI; never rejects, so tests can assert on exit codes. */
export function attune(args: string[], options: Options = {}) {
  return execa(process.execPath, [BIN, ...args], {
    reject: false,
    cwd: ROOT,
    // NODE_ENV=test (set by vitest) would make oclif print development warnings.
    env: {NO_COLOR: '1', NODE_ENV: 'production', ...options.env},
    timeout: 60_000,
    ...options,
  })
}
