import type {Hook} from '@oclif/core'

/**
 * An unknown command is bad usage (exit 2) that names the commands it may have meant; under
 * --json it is one JSON document on stdout, as every error is (SPEC §10).
 */
const hook: Hook.CommandNotFound = async function (options) {
  const id = options.id.replaceAll(':', ' ')
  const known = options.config.commands.map((command) => command.id.replaceAll(':', ' '))
  const words = id.split(' ')
  const close = known.filter((name) => words.some((word) => word.length > 2 && name.includes(word))).slice(0, 5)
  const error = {
    message: `command ${id} not found`,
    code: 'command_not_found',
    hint: close.length > 0 ? `Did you mean: ${close.map((name) => `attune ${name}`).join(', ')}? See attune --help.` : 'See attune --help for the commands.',
    exit_code: 2,
  }
  if (options.argv?.includes('--json')) process.stdout.write(`${JSON.stringify({error}, null, 2)}\n`)
  else process.stderr.write(`Error: ${error.message}\n  ${error.hint}\n`)
  process.exit(2)
}

export default hook
