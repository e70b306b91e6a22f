#!/usr/bin/env -S node --import tsx
// Runs the TypeScript sources directly (no build step) for development.
if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') process.env.FORCE_COLOR = '0'

// Only the entry point: commands load the rest of oclif when (and if) they need it.
const {execute} = await import('@oclif/core/execute')
await execute({development: true, dir: import.meta.url})
