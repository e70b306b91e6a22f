/**
 * Runtime detection (SPEC §8): which sensor runtimes this host can run, decided by data in the
 * `runtime` table (verification commands, patterns, `min_version`) or by an override.
 * Every shape here is part of `attune runtime detect --json` (snake_case, like every wire format).
 */

/** One verification command of a runtime, as read (and validated) from `distributions.verification`. */
export interface VerificationCommand {
  /** Program name (looked up on PATH) or path; run without a shell. */
  binary: string
  args: string[]
  /** Expected exit code (default 0). */
  exit_code: number
  /** RE2 pattern the output must match (stdout, else stderr); none: any output passes. */
  pattern?: string
  /** Lower runs first. */
  priority: number
  /** A failing optional command never makes the runtime unavailable. */
  optional: boolean
  /** Per-command timeout in seconds (attune extension; default: the detection timeout). */
  timeout?: number
  /**
   * Arguments that make the interpreter print its own path (attune extension), used to see
   * through shims. Python and Node.js have built-in defaults.
   */
  path_args?: string[]
}

/** A runtime row turned into what detection needs; `problems` lists invalid data found on the way. */
export interface RuntimeSpec {
  /** Capability name: the first alias, else the lowercased name (`python`, `node`, `ruby`). */
  name: string
  /** Display name from the row (`Python`, `Node.js`). */
  label: string
  ref: string
  pack_ref: string | null
  runtime_type: string | null
  aliases: string[]
  always_available: boolean
  commands: VerificationCommand[]
  min_version: string | null
  /** Invalid data in the row (bad command fields, invalid pattern, bad min_version). */
  problems: string[]
}

export type CheckOutcome = 'passed' | 'not_found' | 'failed' | 'timeout' | 'invalid'

/** What one verification command did. */
export interface CommandCheck {
  binary: string
  args: string[]
  priority: number
  optional: boolean
  outcome: CheckOutcome
  /** Where the binary was found on PATH (before resolving shims and links). */
  found_at: string | null
  exit_code: number | null
  version: string | null
  reason: string | null
  duration_ms: number
}

/** Which source decided the list of runtimes (seed 002's priority order). */
export type DetectionSource = 'env' | 'config' | 'detection'

/** One runtime in the report. */
export interface RuntimeResult {
  name: string
  label: string
  /** The runtime row's ref; null when an override named the runtime. */
  ref: string | null
  aliases: string[]
  available: boolean
  /** The binary that decided (or, for always-available runtimes, the first one on PATH). */
  binary: string | null
  /**
   * Path of the interpreter that binary stands for: a shim script (pyenv, asdf) is seen
   * through by asking the interpreter itself; a real binary is kept where PATH found it.
   */
  path: string | null
  version: string | null
  min_version: string | null
  /** Why it is (un)available, in words. */
  reason: string
  checks: CommandCheck[]
}

export interface DetectionReport {
  source: DetectionSource
  /** Where the decision came from, in words (`ATTUNE_SENSOR_RUNTIMES`, a config file, the runtime table). */
  source_detail: string
  runtimes: RuntimeResult[]
  /** Capability names of the available runtimes, deduplicated, in report order. */
  available: string[]
  checked_at: string
  duration_ms: number
  /** True when the report was read from the cache under $ATTUNE_HOME. */
  cached: boolean
  /** Set when detection found no runtime rows and registered the bundled core pack first. */
  registered_core_pack?: boolean
  worker?: WorkerRegistration
  required?: RequiredRuntime[]
}

export interface WorkerRegistration {
  id: number
  name: string
  worker_role: string
  status: string
  capabilities: Record<string, unknown>
  last_heartbeat: string
  /** True when this call created the row, false when it updated it. */
  created: boolean
}

export interface RequiredRuntime {
  name: string
  available: boolean
  /** The runtime that answered the name (null when none did). */
  runtime: string | null
  reason: string
}
