import {RE2JS} from 're2js'
import type {RuntimeSpec, VerificationCommand} from './types.js'
import {parseVersion} from './version.js'

/** The columns detection reads: a `runtime` row, or a runtime definition loaded from a pack. */
export interface RuntimeRowLike {
  ref: string
  pack_ref?: string | null
  name: string
  runtime_type?: string | null
  aliases?: unknown
  distributions?: unknown
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A string, or a number YAML read from an unquoted scalar (`min_version: 3.8`). */
function asText(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  return undefined
}

/** Compiles a pattern from the database with RE2 (linear time); returns RE2's message when invalid. */
export function patternProblem(pattern: string): string | undefined {
  try {
    RE2JS.compile(pattern)
    return undefined
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
}

function readCommand(raw: unknown, index: number, problems: string[]): VerificationCommand | undefined {
  const where = `verification.commands[${index}]`
  if (!isObject(raw)) {
    problems.push(`${where} is not an object`)
    return undefined
  }
  const binary = raw.binary
  if (typeof binary !== 'string' || binary.trim() === '') {
    problems.push(`${where}.binary is missing or not a string`)
    return undefined
  }
  let args: string[] = []
  if (raw.args !== undefined && raw.args !== null) {
    if (!Array.isArray(raw.args) || raw.args.some((arg) => asText(arg) === undefined)) {
      problems.push(`${where}.args must be a list of strings`)
      return undefined
    }
    args = raw.args.map((arg) => asText(arg)!)
  }
  let exitCode = 0
  if (raw.exit_code !== undefined && raw.exit_code !== null) {
    if (!Number.isInteger(raw.exit_code)) {
      problems.push(`${where}.exit_code must be an integer, got ${JSON.stringify(raw.exit_code)}`)
      return undefined
    }
    exitCode = raw.exit_code as number
  }
  let priority = Number.MAX_SAFE_INTEGER
  if (raw.priority !== undefined && raw.priority !== null) {
    if (typeof raw.priority !== 'number' || !Number.isFinite(raw.priority)) {
      problems.push(`${where}.priority must be a number, got ${JSON.stringify(raw.priority)}`)
      return undefined
    }
    priority = raw.priority
  }
  const command: VerificationCommand = {binary, args, exit_code: exitCode, priority, optional: raw.optional === true}
  if (raw.pattern !== undefined && raw.pattern !== null) {
    if (typeof raw.pattern !== 'string') {
      problems.push(`${where}.pattern must be a string`)
      return undefined
    }
    // An invalid pattern is kept: the check reports it and the next command is tried.
    command.pattern = raw.pattern
  }
  if (raw.timeout !== undefined && raw.timeout !== null) {
    if (typeof raw.timeout !== 'number' || !(raw.timeout > 0)) {
      problems.push(`${where}.timeout must be a positive number of seconds, got ${JSON.stringify(raw.timeout)}`)
      return undefined
    }
    command.timeout = raw.timeout
  }
  if (raw.path_args !== undefined && raw.path_args !== null) {
    if (!Array.isArray(raw.path_args) || raw.path_args.some((arg) => typeof arg !== 'string')) {
      problems.push(`${where}.path_args must be a list of strings`)
      return undefined
    }
    command.path_args = raw.path_args as string[]
  }
  return command
}

/** The capability name of a runtime: its first alias, else its name in lower case. */
export function capabilityName(row: Pick<RuntimeRowLike, 'name' | 'aliases'>): string {
  const aliases = Array.isArray(row.aliases) ? row.aliases.filter((alias): alias is string => typeof alias === 'string' && alias !== '') : []
  return (aliases[0] ?? row.name).trim().toLowerCase()
}

/**
 * Reads what detection needs from a runtime row. Never throws: invalid data becomes a
 * `problems` entry (the runtime is then reported unavailable, naming the problem), because
 * the rows come from the database and one bad row must not hide the others.
 */
export function runtimeSpec(row: RuntimeRowLike): RuntimeSpec {
  const problems: string[] = []
  const aliases = Array.isArray(row.aliases) ? row.aliases.filter((alias): alias is string => typeof alias === 'string') : []
  const distributions = isObject(row.distributions) ? row.distributions : {}
  const verification = distributions.verification
  const commands: VerificationCommand[] = []
  let alwaysAvailable = false
  if (verification !== undefined && verification !== null) {
    if (!isObject(verification)) {
      problems.push('distributions.verification is not an object')
    } else {
      alwaysAvailable = verification.always_available === true
      const rawCommands = verification.commands
      if (rawCommands !== undefined && rawCommands !== null) {
        if (!Array.isArray(rawCommands)) problems.push('verification.commands is not a list')
        else rawCommands.forEach((raw, index) => {
          const command = readCommand(raw, index, problems)
          if (command) commands.push(command)
        })
      }
    }
  }
  // Priority order; commands without a priority keep their order after those with one.
  const ordered = commands.map((command, index) => ({command, index})).sort((a, b) => a.command.priority - b.command.priority || a.index - b.index)

  const rawMin = distributions.min_version ?? (isObject(verification) ? verification.min_version : undefined)
  let minVersion: string | null = null
  if (rawMin !== undefined && rawMin !== null) {
    const text = asText(rawMin)
    if (text === undefined || parseVersion(text) === undefined) problems.push(`min_version ${JSON.stringify(rawMin)} is not a version like "3.8"`)
    else minVersion = text
  }
  return {
    name: capabilityName({name: row.name, aliases}),
    label: row.name,
    ref: row.ref,
    pack_ref: row.pack_ref ?? null,
    runtime_type: row.runtime_type ?? null,
    aliases,
    always_available: alwaysAvailable,
    commands: ordered.map(({command}) => command),
    min_version: minVersion,
    problems,
  }
}
