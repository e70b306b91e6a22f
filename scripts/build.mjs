// Build: compile TypeScript to dist/, copy the non-TypeScript assets the engine
// ships (sensor wrappers), then write the oclif manifest so `attune` starts
// without loading every command module.
import {execFileSync} from 'node:child_process'
import {cpSync, rmSync, readdirSync, statSync} from 'node:fs'
import {dirname, join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const bin = (name) => join(root, 'node_modules', '.bin', name)
const assetExtensions = new Set(['.py', '.cjs', '.mjs', '.sh'])

rmSync(join(root, 'dist'), {recursive: true, force: true})
execFileSync(bin('tsc'), ['-p', join(root, 'tsconfig.json')], {stdio: 'inherit'})

function copyAssets(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) copyAssets(path)
    else if (assetExtensions.has(name.slice(name.lastIndexOf('.')))) {
      cpSync(path, join(root, 'dist', relative(join(root, 'src'), path)))
    }
  }
}
copyAssets(join(root, 'src'))

execFileSync(bin('oclif'), ['manifest'], {cwd: root, stdio: ['ignore', 'ignore', 'inherit']})
