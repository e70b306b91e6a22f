#!/usr/bin/env node
// NO_COLOR (https://no-color.org) wins over terminal detection for chalk and ink alike.
if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') process.env.FORCE_COLOR = '0'

// Only the entry point: commands load the rest of oclif when (and if) they need it.
const {execute} = await import('@oclif/core/execute')
await execute({dir: import.meta.url})
