#!/usr/bin/env node
// NO_COLOR (https://no-color.org) wins over terminal detection for chalk and ink alike.
if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') process.env.FORCE_COLOR = '0'

// A source checkout is built by `npm run build` (installing from npm ships dist/ built):
// say so instead of failing inside oclif.
import {existsSync} from 'node:fs'
if (!existsSync(new URL('../dist/commands', import.meta.url))) {
  process.stderr.write('attune is not built: dist/ is missing. In a source checkout run `npm run build` first (after `npm ci`).\n')
  process.exit(2)
}

// Only the entry point: commands load the rest of oclif when (and if) they need it.
const {execute} = await import('@oclif/core/execute')
await execute({dir: import.meta.url})
