import {dirname} from 'node:path'
import {sensorEnvironment} from './environment.js'
import {checkArgs, planLaunch, stderrTail, type LaunchPlan} from './execute.js'
import {asErrorDocument} from './output.js'
import {runSensorProcess} from './process.js'
import type {SensorIdentity} from './run-as.js'
import type {InterpreterPaths, SensorSpec} from './types.js'

/**
 * Whether a changed sensor file still loads, before the process running the old one is
 * replaced (the daemon's "edit, save, see it run": docs/daemon.md). Two depths:
 *
 * - `import`: a persistent runner's file (python, node) is imported by attune's wrapper as a
 *   runner would import it, and its `poll_sensor` looked up; nothing is polled. Syntax errors,
 *   failed imports and a missing function are caught. The module's top-level code runs, as it
 *   does at every runner start.
 * - `syntax`: a long-running sensor's file is its whole program, so it is only compiled:
 *   python `compile()`, `node --check`, `sh -n`. A native sensor must still be executable.
 *
 * Either way the file must exist and its interpreter be found (`planLaunch`).
 */
export type CodeCheckDepth = 'import' | 'syntax'

export interface CodeCheckOptions {
  depth: CodeCheckDepth
  interpreters?: InterpreterPaths
  runAs?: SensorIdentity
  /** The sensor's config, for the environment of an import check (default `{}`). */
  config?: unknown
  trigger?: string
  /** Default 15 s: a check that takes longer fails. */
  timeoutMs?: number
}

/** `null` when the file loads; otherwise why not, in one or a few lines. */
export async function checkSensorCode(sensor: SensorSpec, options: CodeCheckOptions): Promise<string | null> {
  const plan = await planLaunch(sensor, options.interpreters, {runAs: options.runAs})
  if ('error' in plan) return plan.error
  const command = checkCommand(plan, options.depth)
  if (!command) return null
  const env = sensorEnvironment({sensorRef: sensor.ref, triggerRef: options.trigger ?? '', config: options.config ?? {}, declared: sensor.env, runAs: plan.runAs})
  const timeoutMs = options.timeoutMs ?? 15_000
  const outcome = await runSensorProcess({
    file: plan.file,
    args: command.args,
    env,
    cwd: dirname(plan.entrypoint),
    resultChannel: command.resultChannel,
    timeoutMs,
    maxOutputBytes: 1024 * 1024,
    killGraceMs: 1000,
    runAs: plan.runAs,
  })
  if (outcome.spawnError) return `could not run ${plan.file}: ${outcome.spawnError.message}`
  if (outcome.timedOut) return `loading it did not finish within ${timeoutMs / 1000} s`
  if (outcome.exitCode === 0) return null
  const stderr = outcome.stderr.toString('utf8')
  if (command.resultChannel) {
    const document = asErrorDocument(parseJson(outcome.result.toString('utf8')))
    if (document) {
      const line = lineOf(document.traceback, plan.entrypoint)
      // Python's SyntaxError says `(file.py, line N)` itself: said once, in front.
      const message = line ? document.message.replace(/ \([^()]*, line \d+\)$/, '') : document.message
      return `${plan.entrypoint}${line ? `:${line}` : ''}: ${document.type}: ${message}`
    }
  }
  return compactError(stderr) || `the check exited with code ${outcome.exitCode ?? outcome.signal}`
}

/** Python: compiles the file and prints `file:line: SyntaxError: message`. */
const PYTHON_SYNTAX = [
  'import sys',
  'p = sys.argv[1]',
  'try:',
  '    compile(open(p, "rb").read(), p, "exec")',
  'except Exception as e:',
  '    where = "%s:%s: " % (getattr(e, "filename", None) or p, e.lineno) if getattr(e, "lineno", None) else ""',
  '    sys.stderr.write("%s%s: %s\\n" % (where, type(e).__name__, getattr(e, "msg", None) or e))',
  '    sys.exit(1)',
].join('\n')

function checkCommand(plan: Extract<LaunchPlan, {file: string}>, depth: CodeCheckDepth): {args: string[]; resultChannel: boolean} | undefined {
  if (depth === 'import' && plan.wrapped) return {args: checkArgs(plan), resultChannel: true}
  switch (plan.runtime) {
    case 'python':
      return {args: ['-c', PYTHON_SYNTAX, plan.entrypoint], resultChannel: false}
    case 'node':
      return {args: ['--check', plan.entrypoint], resultChannel: false}
    case 'shell':
      return {args: ['-n', plan.entrypoint], resultChannel: false}
    case 'native':
      return undefined // planLaunch checked that it is executable
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text.trim().split('\n').at(-1) ?? '')
  } catch {
    return undefined
  }
}

/** The line of the last frame in the sensor file a traceback or stack names (python, node), if any. */
function lineOf(traceback: string | null | undefined, file: string): string | undefined {
  if (!traceback) return undefined
  const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const python = [...traceback.matchAll(new RegExp(`File "${escaped}", line (\\d+)`, 'g'))].at(-1)
  if (python) return python[1]
  const node = new RegExp(`(?:^|[\\s(]|file://)${escaped}:(\\d+)`, 'm').exec(traceback)
  return node?.[1]
}

/** The lines of a failed check that say what is wrong: node's `file:line` and `SyntaxError: ...`, else the tail. */
function compactError(stderr: string): string {
  const lines = stderr.split('\n').map((line) => line.trimEnd()).filter(Boolean)
  const error = lines.find((line) => /^\w*(Error|Exception)\b.*:/.test(line) || /:\s*\w*Error: /.test(line))
  const where = lines.find((line) => /^\/.*:\d+$/.test(line))
  if (error) return where && !error.includes(where) ? `${where}: ${error}` : error
  return stderrTail(stderr, 3, 500)
}
