import type {Hook} from '@oclif/core'
import {closestName, editDistance} from '../engine/suggest.js'

/**
 * An unknown command is bad usage: exit 2, naming the closest command (SPEC §10).
 *
 * On an interactive terminal (stdin a TTY, no --json), when the closest is a command,
 * @oclif/plugin-not-found asks "Did you mean ...?" and runs it on a yes; a no (or no answer
 * within its 10 s) ends here in exit 2 with the suggestion. Without a terminal (CI, pipes, scripts) nothing is asked: the
 * suggestion is printed and the exit code is 2, as under --json (one JSON document on stdout).
 *
 * The plugin is called from here rather than listed in `oclif.plugins`: oclif runs every
 * plugin's hook at once, and the plugin's own non-interactive path (exit 127, no suggestion)
 * would race this one.
 */
const hook: Hook.CommandNotFound = async function (options) {
  const id = options.id.replaceAll(':', ' ')
  const visible = options.config.commands.filter((command) => !command.hidden)
  const known = visible.map((command) => command.id.replaceAll(':', ' '))
  const suggestions = suggest(id, known)
  const error = {
    message: `command ${id} not found`,
    code: 'command_not_found',
    hint:
      suggestions.length > 0
        ? `Did you mean ${suggestions.map((name) => `attune ${name}`).join(', ')}? See attune help.`
        : 'See attune help for the commands.',
    exit_code: 2,
  }
  const json = options.argv?.includes('--json') ?? false
  if (process.stdin.isTTY && !json && pluginWouldAsk(options.id, options.config.commandIDs, suggestions[0])) {
    const {default: prompt} = await import('@oclif/plugin-not-found')
    try {
      return await prompt.call(this, options)
    } catch (thrown) {
      if ((thrown as {oclif?: {exit?: number}}).oclif?.exit !== 127) throw thrown
    }
  }
  if (json) process.stdout.write(`${JSON.stringify({error}, null, 2)}\n`)
  else process.stderr.write(`Error: ${error.message}\n  ${error.hint}\n`)
  process.exit(2)
}

/**
 * Whether @oclif/plugin-not-found would ask about the command this hook suggests: it offers the
 * command id nearest to what was typed (a topic such as `sensor` it cannot offer), so it asks
 * only when that is the same command; otherwise the suggestion is printed, as without a terminal.
 */
function pluginWouldAsk(id: string, commandIds: readonly string[], suggestion: string | undefined): boolean {
  if (suggestion === undefined || !commandIds.includes(suggestion.replaceAll(' ', ':'))) return false
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of commandIds) {
    const distance = editDistance(id, candidate)
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance]
  }
  return best === suggestion.replaceAll(' ', ':')
}

/**
 * The closest command by edit distance over the whole id (`sensr` → `sensor ...`, `sensor lst`
 * → `sensor list`), else those that share a word with what was typed.
 */
function suggest(id: string, known: string[]): string[] {
  const out: string[] = []
  const words = id.split(' ')
  const topics = new Set(known.map((name) => name.split(' ')[0]))
  const close = closestName(id, known)
  if (close) out.push(close)
  // A mistyped topic: `sensr list` → `sensor list`, `sensr` → `sensor`.
  const topic = closestName(words[0], topics)
  if (topic && topic !== words[0]) {
    const rest = words.slice(1).join(' ')
    const fixed = rest ? `${topic} ${rest}` : undefined
    if (fixed && known.includes(fixed)) out.push(fixed)
    else if (!fixed) out.push(topic)
  }
  // A known topic with a mistyped command: `sensor lst` → `sensor list`.
  if (topics.has(words[0]) && words.length > 1) {
    const sub = closestName(words.slice(1).join(' '), known.filter((name) => name.startsWith(`${words[0]} `)).map((name) => name.slice(words[0].length + 1)))
    if (sub) out.push(`${words[0]} ${sub}`)
  }
  if (out.length === 0) out.push(...known.filter((name) => words.some((word) => word.length > 2 && name.split(' ').includes(word))))
  return [...new Set(out)].slice(0, 5)
}

export default hook
