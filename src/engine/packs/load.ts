import {existsSync, readdirSync, realpathSync, statSync} from 'node:fs'
import {extname, isAbsolute, join, relative, resolve} from 'node:path'
import {compileDedupKey, DEDUP_WINDOW_MAX_MS, DEDUP_WINDOW_MIN_MS, DedupKeyError, type DedupSetting} from '../events/dedup.js'
import {inferRuntime} from '../sensor/runtimes.js'
import {didYouMean} from '../suggest.js'
import {parseDuration} from '../time.js'
import {FieldError, formatField, PackError, type FieldPath, type PackProblem} from './errors.js'
import {MAX_LENGTH, NESTED_KEYS, PACK_FILE_KEYS, type PackFileKind} from './keys.js'
import {normalizeRuleDocument, type NormalizedRule} from './rules.js'
import {compileSchema, toJsonSchema, validationProblems, type JsonSchema} from './schema.js'
import {readYamlFile, type YamlDoc} from './yaml.js'
import {readTriggerWebhookSettings, type TriggerWebhookSettings} from '../webhooks/config.js'

export type ExecutionMode = 'poll' | 'persistent' | 'long_running'

/** Where a definition came from, to point at it in later errors. */
export interface ItemSource {
  file: string
  doc: YamlDoc
  /** Where a reference checked later (against the database) was written: ref to field path. */
  fields?: Record<string, FieldPath>
}

export interface PackDefinition {
  ref: string
  label: string
  description: string | null
  /** Semantic version (Attune's database requires one); `0.0.0` when the file has none. */
  version: string
  conf_schema: JsonSchema | null
  config: Record<string, unknown> | null
  meta: Record<string, unknown> | null
  tags: string[]
  runtime_deps: string[]
  dependencies: string[]
  is_standard: boolean
  /** Absolute path of the pack folder (Attune's `pack.storage_path`). */
  storage_path: string
  source: ItemSource
}

export interface RuntimeDefinition {
  ref: string
  pack_ref: string
  name: string
  description: string | null
  aliases: string[]
  distributions: Record<string, unknown>
  installation: unknown
  execution_config: unknown
  source: ItemSource
}

/** `webhook_enabled`/`webhook_config` are set only when the file has them (see readTriggerWebhookSettings). */
export interface TriggerDefinition extends TriggerWebhookSettings {
  ref: string
  pack_ref: string
  label: string
  description: string | null
  enabled: boolean
  param_schema: JsonSchema | null
  out_schema: JsonSchema | null
  /** Event deduplication (`dedup: {key, window}`), stored in attune's `trigger_settings`. */
  dedup: DedupSetting | null
  source: ItemSource
}

export interface SensorDefinition {
  ref: string
  pack_ref: string
  label: string
  description: string | null
  /** As written (Attune stores the file name): resolved against the pack's `sensors/` folder. */
  entrypoint: string
  /** The entry point's absolute path (inside `sensors/`), or null for a builtin sensor. */
  entry_path: string | null
  /** The runtime as written (`runner_type`), or inferred from the entry point's file. */
  runner_type: string
  trigger_types: string[]
  enabled: boolean
  param_schema: JsonSchema | null
  config: Record<string, unknown> | null
  poll_interval: number | null
  execution: ExecutionMode
  env: Record<string, string> | null
  /** Non-fatal findings (entry point file not found, ...). */
  warnings: string[]
  source: ItemSource
}

export interface ActionDefinition {
  ref: string
  pack_ref: string
  label: string
  description: string | null
  /** As written: resolved by the executor against the pack's `actions/` folder. */
  entrypoint: string
  runner_type: string | null
  param_schema: JsonSchema | null
  out_schema: JsonSchema | null
  parameter_delivery: 'stdin' | 'file'
  parameter_format: 'dotenv' | 'json' | 'yaml'
  output_format: 'text' | 'json' | 'yaml' | 'jsonl'
  timeout_seconds: number | null
  source: ItemSource
}

export interface PackRuleDefinition extends NormalizedRule {
  warnings: string[]
  source: ItemSource
}

/** Pack content attune does not register (the executor's and the API's business). */
export type SkippedKind = 'workflow' | 'permission_set' | 'policy' | 'alias'

export interface SkippedItem {
  kind: SkippedKind
  ref: string | null
  file: string
  reason: string
}

export interface LoadedPack {
  /** Absolute path of the pack folder. */
  dir: string
  pack: PackDefinition
  runtimes: RuntimeDefinition[]
  triggers: TriggerDefinition[]
  sensors: SensorDefinition[]
  actions: ActionDefinition[]
  rules: PackRuleDefinition[]
  skipped: SkippedItem[]
}

/** Attune's pack ref: lowercase, a letter first, at least two characters (its CHECK constraints). */
const PACK_REF = /^[a-z][a-z0-9_-]+$/
/** Attune's refs of triggers, sensors, actions and rules: `pack.name`, one dot, lowercase. */
const ITEM_REF = /^[a-z0-9_-]+\.[a-z0-9_-]+$/
/** Runtime refs may have more dots (`core.sensor.python`); lowercase all the same. */
const RUNTIME_REF = /^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/
/** Attune's version CHECK: semantic versioning. */
const SEMVER = /^\d+\.\d+\.\d+(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/
const EXECUTION_MODES: readonly ExecutionMode[] = ['poll', 'persistent', 'long_running']

const SKIPPED_FOLDERS: Array<{folder: string; kind: SkippedKind; reason: string}> = [
  {folder: 'actions/workflows', kind: 'workflow', reason: 'workflows are run by the executor service, not by attune'},
  {folder: 'workflows', kind: 'workflow', reason: 'workflows are run by the executor service, not by attune'},
  {folder: 'permission_sets', kind: 'permission_set', reason: 'permission sets belong to the API service, not to attune'},
  {folder: 'policies', kind: 'policy', reason: 'policies belong to the executor service, not to attune'},
  {folder: 'aliases', kind: 'alias', reason: 'action aliases are not supported by attune'},
]

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function yamlFiles(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return []
  return readdirSync(dir)
    .filter((name) => ['.yaml', '.yml'].includes(extname(name).toLowerCase()))
    .filter((name) => statSync(join(dir, name)).isFile())
    .sort()
}

/**
 * Reads the fields of one document, recording problems with file, line and field instead
 * of stopping at the first.
 */
class Reader {
  constructor(
    readonly doc: YamlDoc,
    readonly data: Record<string, unknown>,
    private readonly problems: PackProblem[],
  ) {}

  fail(path: FieldPath, message: string): void {
    this.problems.push(this.doc.problem(path, message))
  }

  /**
   * Every key the formats attune reads do not define for this kind of file is a problem
   * (with the closest known key): a typo would otherwise register with the default.
   */
  checkKeys(kind: PackFileKind): void {
    const unknown = (path: FieldPath, data: Record<string, unknown>, known: ReadonlySet<string>) => {
      for (const key of Object.keys(data)) {
        if (known.has(key)) continue
        this.problems.push({
          file: this.doc.file,
          line: this.doc.keyLine(path, key),
          field: formatField([...path, key]),
          message: `unknown key "${key}"${didYouMean(key, known)}`,
        })
      }
    }
    unknown([], this.data, PACK_FILE_KEYS[kind])
    for (const [key, known] of Object.entries(NESTED_KEYS[kind] ?? {})) {
      const value = this.data[key]
      if (isPlainObject(value)) unknown([key], value, known)
    }
  }

  /** A value longer than Attune accepts (its API's length limits) is a problem; false then. */
  withinLimit(key: string, value: string, limit: keyof typeof MAX_LENGTH): boolean {
    const max = MAX_LENGTH[limit]
    if (value.length <= max) return true
    this.fail([key], `is ${value.length} characters long: Attune allows at most ${max} for ${limit === 'entrypoint' ? 'an entry point' : `a ${limit}`}`)
    return false
  }

  /** The first of `keys` that is set, with the key it was found under. */
  pick(...keys: string[]): {key: string; value: unknown} | undefined {
    for (const key of keys) if (this.data[key] !== undefined && this.data[key] !== null) return {key, value: this.data[key]}
    return undefined
  }

  string(...keys: string[]): string | undefined {
    const found = this.pick(...keys)
    if (!found) return undefined
    if (typeof found.value === 'number') return String(found.value)
    if (typeof found.value !== 'string') {
      this.fail([found.key], 'must be a string')
      return undefined
    }
    return found.value
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.data[key]
    if (value === undefined || value === null) return fallback
    if (typeof value !== 'boolean') {
      this.fail([key], 'must be true or false')
      return fallback
    }
    return value
  }

  mapping(...keys: string[]): Record<string, unknown> | undefined {
    const found = this.pick(...keys)
    if (!found) return undefined
    if (!isPlainObject(found.value)) {
      this.fail([found.key], 'must be a mapping')
      return undefined
    }
    return found.value
  }

  stringList(key: string): string[] {
    const value = this.data[key]
    if (value === undefined || value === null) return []
    if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
      this.fail([key], 'must be a list of strings')
      return []
    }
    return value as string[]
  }

  /** A schema in either form, converted and compiled: a schema ajv rejects is a problem. */
  schema(...keys: string[]): {schema: JsonSchema | null; validate?: ReturnType<typeof compileSchema>} {
    const found = this.pick(...keys)
    if (!found) return {schema: null}
    try {
      const schema = toJsonSchema(found.value)
      if (!schema) return {schema: null}
      return {schema, validate: compileSchema(schema, found.value)}
    } catch (error) {
      if (!(error instanceof FieldError)) throw error
      this.fail([found.key, ...error.field], error.message)
      return {schema: null}
    }
  }

  /**
   * The item's ref: `ref`, else `name` prefixed with the pack. It must be `pack.name` and
   * belong to this pack (refs are global; a pack only owns its own).
   */
  ref(packRef: string, nameAsRef: (name: string) => string = (name) => name, pattern: RegExp = ITEM_REF): string | undefined {
    const written = this.string('ref')
    const name = this.string('name')
    let ref = written ?? (name === undefined ? undefined : nameAsRef(name))
    const key = written !== undefined ? 'ref' : 'name'
    if (!ref) {
      this.fail(['ref'], 'is required')
      return undefined
    }
    if (!ref.includes('.')) ref = `${packRef}.${ref}`
    if (!this.withinLimit(key, ref, 'ref')) return undefined
    if (!pattern.test(ref)) {
      this.fail([key], `'${ref}' is not a reference of the form pack.name (lowercase letters, digits, _ and -; Attune's rule)`)
      return undefined
    }
    if (!ref.startsWith(`${packRef}.`)) {
      this.fail([key], `'${ref}' is not in pack '${packRef}' (it must start with '${packRef}.')`)
      return undefined
    }
    const declared = this.string('pack_ref', 'pack')
    if (declared !== undefined && declared !== packRef) {
      this.fail([this.pick('pack_ref', 'pack')!.key], `is '${declared}' but the file is in pack '${packRef}'`)
    }
    return ref
  }
}

function readers(path: string, shownAs: string, problems: PackProblem[]): Reader[] {
  const {docs, problems: yamlProblems} = readYamlFile(path, shownAs)
  problems.push(...yamlProblems)
  const out: Reader[] = []
  for (const doc of docs) {
    if (!isPlainObject(doc.data)) {
      problems.push(doc.problem([], 'must be a mapping of fields'))
      continue
    }
    out.push(new Reader(doc, doc.data, problems))
  }
  return out
}

function lastSegment(ref: string): string {
  return ref.slice(ref.lastIndexOf('.') + 1)
}

function checkConfig(reader: Reader, key: string, validate: ReturnType<typeof compileSchema> | undefined, value: unknown): void {
  if (!validate || value === undefined || value === null) return
  for (const problem of validationProblems(validate, value)) reader.fail([key, ...problem.path], problem.message)
}

function readPackDocument(reader: Reader, dir: string): PackDefinition | undefined {
  const ref = reader.string('ref', 'name')
  if (!ref) {
    reader.fail(['ref'], 'is required')
    return undefined
  }
  if (!reader.withinLimit(reader.pick('ref', 'name')!.key, ref, 'ref')) return undefined
  if (!PACK_REF.test(ref)) {
    reader.fail([reader.pick('ref', 'name')!.key], `'${ref}' must be lowercase letters, digits, _ and -, start with a letter and have two characters or more (Attune's rule)`)
    return undefined
  }
  const version = reader.string('version') ?? '0.0.0'
  if (reader.withinLimit('version', version, 'version') && !SEMVER.test(version)) reader.fail(['version'], `'${version}' is not a semantic version such as 1.0.0 (Attune's database requires one)`)
  const confSchema = reader.schema('conf_schema')
  const config = reader.mapping('config') ?? null
  checkConfig(reader, 'config', confSchema.validate, config)
  const label = reader.string('label') ?? reader.string('name') ?? ref
  reader.withinLimit(reader.pick('label', 'name')?.key ?? 'ref', label, 'label')
  return {
    ref,
    label,
    description: reader.string('description') ?? null,
    version,
    conf_schema: confSchema.schema,
    config,
    meta: reader.mapping('meta') ?? null,
    tags: reader.stringList('tags'),
    runtime_deps: reader.stringList('runtime_deps'),
    dependencies: reader.stringList('dependencies'),
    is_standard: reader.boolean('system', false),
    storage_path: dir,
    source: {file: reader.doc.file, doc: reader.doc},
  }
}

/** The fields every item shares: its ref and pack, a label (else its name, else the ref's last part) and description. */
function itemIdentity(reader: Reader, ref: string, packRef: string): {ref: string; pack_ref: string; label: string; description: string | null} {
  const label = reader.string('label') ?? reader.string('name') ?? lastSegment(ref)
  reader.withinLimit(reader.pick('label', 'name')?.key ?? 'ref', label, 'label')
  return {ref, pack_ref: packRef, label, description: reader.string('description') ?? null}
}

function readRuntime(reader: Reader, packRef: string): RuntimeDefinition | undefined {
  const name = reader.string('name')
  // Runtimes are named for humans ("Node.js"): without a ref, derive one from the name.
  const ref = reader.ref(packRef, (n) => n.toLowerCase().replace(/[^a-z0-9_-]+/g, '_'), RUNTIME_REF)
  const distributions = reader.mapping('distributions') ?? {}
  const verification = distributions.verification
  if (verification !== undefined && !isPlainObject(verification)) {
    reader.fail(['distributions', 'verification'], 'must be a mapping')
  } else if (verification && verification.commands !== undefined) {
    if (!Array.isArray(verification.commands)) {
      reader.fail(['distributions', 'verification', 'commands'], 'must be a list')
    } else {
      verification.commands.forEach((command, index) => {
        const at = ['distributions', 'verification', 'commands', index]
        if (!isPlainObject(command) || typeof command.binary !== 'string' || !command.binary) {
          reader.fail(isPlainObject(command) ? [...at, 'binary'] : at, 'is required (the program to run)')
        } else if (command.args !== undefined && (!Array.isArray(command.args) || command.args.some((a) => typeof a !== 'string'))) {
          reader.fail([...at, 'args'], 'must be a list of strings')
        }
      })
    }
  }
  if (name !== undefined) reader.withinLimit('name', name, 'name')
  if (!ref) return undefined
  return {
    ref,
    pack_ref: packRef,
    name: name ?? lastSegment(ref),
    description: reader.string('description') ?? null,
    aliases: reader.stringList('aliases').map((alias) => alias.toLowerCase()),
    distributions,
    installation: reader.data.installation ?? null,
    execution_config: reader.data.execution_config ?? {},
    source: {file: reader.doc.file, doc: reader.doc},
  }
}

function readTrigger(reader: Reader, packRef: string): TriggerDefinition | undefined {
  const ref = reader.ref(packRef)
  const webhook = readTriggerWebhookSettings(reader.data, (path, message) => reader.fail(path, message))
  const params = reader.schema('parameters', 'param_schema', 'parameters_schema')
  const output = reader.schema('output', 'out_schema', 'payload_schema')
  const dedup = readDedup(reader)
  if (!ref) return undefined
  return {
    ...webhook,
    ...itemIdentity(reader, ref, packRef),
    enabled: reader.boolean('enabled', true),
    param_schema: params.schema,
    out_schema: output.schema,
    dedup,
    source: {file: reader.doc.file, doc: reader.doc},
  }
}

/**
 * A trigger's `dedup: {key, window}` (see events/dedup.ts): the key must compile (a payload
 * field path or a template over the payload), the window must be a duration from 1s to 366d.
 */
function readDedup(reader: Reader): DedupSetting | null {
  const value = reader.data.dedup
  if (value === undefined || value === null) return null
  if (!isPlainObject(value)) {
    reader.fail(['dedup'], 'must be a mapping: {key: <payload field or template>, window: <duration such as 10m>}')
    return null
  }
  let key: string | undefined
  if (value.key === undefined || value.key === null) reader.fail(['dedup', 'key'], 'is required: the payload field (payload.id) or template that identifies an event')
  else if (typeof value.key !== 'string') reader.fail(['dedup', 'key'], 'must be a string: a payload field such as payload.id, or a template such as "{{ event.payload.id }}"')
  else {
    try {
      compileDedupKey(value.key)
      key = value.key
    } catch (error) {
      if (!(error instanceof DedupKeyError)) throw error
      reader.fail(['dedup', 'key'], error.message)
    }
  }
  let windowMs: number | undefined
  const window = value.window
  const durationHelp = 'a duration such as 30s, 10m, 1h or 1d'
  if (window === undefined || window === null) reader.fail(['dedup', 'window'], `is required: how long a key is remembered, ${durationHelp}`)
  else if (typeof window !== 'string') reader.fail(['dedup', 'window'], `must be ${durationHelp} (with its unit), got ${JSON.stringify(window)}`)
  else {
    const ms = parseDuration(window)
    if (ms === undefined) reader.fail(['dedup', 'window'], `must be ${durationHelp}, got ${JSON.stringify(window)}`)
    else if (ms < DEDUP_WINDOW_MIN_MS || ms > DEDUP_WINDOW_MAX_MS) reader.fail(['dedup', 'window'], `must be from 1s to 366d, got ${JSON.stringify(window)}`)
    else windowMs = Math.round(ms)
  }
  return key !== undefined && windowMs !== undefined ? {key, window_ms: windowMs} : null
}

function readTriggerTypes(reader: Reader, packRef: string, fields: Record<string, FieldPath>): string[] {
  const found = reader.pick('trigger_types', 'trigger_type', 'trigger')
  if (!found) {
    reader.fail(['trigger_types'], 'is required (the triggers this sensor emits)')
    return []
  }
  const list = Array.isArray(found.value) ? found.value : [found.value]
  if (list.length === 0) reader.fail([found.key], 'must name at least one trigger')
  const refs: string[] = []
  list.forEach((item, index) => {
    const at = Array.isArray(found.value) ? [found.key, index] : [found.key]
    const value = isPlainObject(item) ? (item.ref ?? item.type ?? item.name) : item
    if (typeof value !== 'string' || !value) {
      reader.fail(at, 'must be a trigger reference')
      return
    }
    const ref = value.includes('.') ? value : `${packRef}.${value}`
    if (!ITEM_REF.test(ref)) reader.fail(at, `'${value}' is not a trigger reference of the form pack.name`)
    else if (!refs.includes(ref)) {
      refs.push(ref)
      fields[ref] = at
    }
  })
  return refs
}

async function readSensor(reader: Reader, packRef: string, sensorsDir: string): Promise<SensorDefinition | undefined> {
  const ref = reader.ref(packRef)
  const warnings: string[] = []
  const entry = reader.string('entry_point', 'entrypoint')
  if (!entry) reader.fail(['entry_point'], 'is required (the sensor code, relative to the sensors folder)')
  else reader.withinLimit(reader.pick('entry_point', 'entrypoint')!.key, entry, 'entrypoint')
  // Builtin sensors (the timer) are implemented inside attune: their entry point is a name, not a file.
  const builtin = /^(core\.(sensor\.)?)?builtin$/.test(reader.string('runner_type', 'runtime', 'runtime_ref') ?? '')
  const entryPath = entry && !builtin ? containedEntryPoint(reader, entry, sensorsDir) : null
  if (entryPath && !existsSync(entryPath)) warnings.push(`entry point ${entry} not found in ${sensorsDir}`)

  let runnerType = reader.string('runner_type', 'runtime', 'runtime_ref')
  if (!runnerType && entryPath && existsSync(entryPath)) runnerType = await inferRuntime(entryPath)
  if (!runnerType) reader.fail(['runner_type'], 'is required (python, node, shell, native or a runtime ref)')

  const fields: Record<string, FieldPath> = {}
  const triggerTypes = readTriggerTypes(reader, packRef, fields)
  const runnerField = reader.pick('runner_type', 'runtime', 'runtime_ref')?.key
  if (runnerField) fields[`runtime:${runnerType}`] = [runnerField]
  const params = reader.schema('parameters', 'param_schema', 'parameters_schema')
  const config = reader.mapping('config') ?? null
  checkConfig(reader, 'config', params.validate, config)

  let pollInterval: number | null = null
  if (reader.data.poll_interval !== undefined && reader.data.poll_interval !== null) {
    const value = reader.data.poll_interval
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      reader.fail(['poll_interval'], 'must be a whole number of seconds greater than 0')
    } else {
      pollInterval = value
    }
  }

  const written = reader.string('execution')
  let execution: ExecutionMode = runnerType === 'standalone' ? 'long_running' : 'poll'
  if (written !== undefined) {
    if ((EXECUTION_MODES as readonly string[]).includes(written)) execution = written as ExecutionMode
    else reader.fail(['execution'], `must be one of ${EXECUTION_MODES.join(', ')}`)
  }

  let env: Record<string, string> | null = null
  const rawEnv = reader.mapping('env')
  if (rawEnv) {
    env = {}
    for (const [key, value] of Object.entries(rawEnv)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) reader.fail(['env', key], 'is not a valid environment variable name')
      else if (['string', 'number', 'boolean'].includes(typeof value)) env[key] = String(value)
      else reader.fail(['env', key], 'must be a string')
    }
  }

  if (!ref || !entry || !runnerType || (!builtin && !entryPath)) return undefined
  return {
    ...itemIdentity(reader, ref, packRef),
    entrypoint: entry,
    entry_path: entryPath,
    runner_type: runnerType,
    trigger_types: triggerTypes,
    enabled: reader.boolean('enabled', true),
    param_schema: params.schema,
    config,
    poll_interval: pollInterval,
    execution,
    env,
    warnings,
    source: {file: reader.doc.file, doc: reader.doc, fields},
  }
}

/**
 * The absolute path of a sensor's entry point, which must stay inside the pack's `sensors/`
 * folder (through symlinks too): `../../etc/passwd`, an absolute path or a symlink out of the
 * pack is a problem naming the field. Null when it escapes.
 */
function containedEntryPoint(reader: Reader, entry: string, sensorsDir: string): string | null {
  const key = reader.pick('entry_point', 'entrypoint')?.key ?? 'entry_point'
  const inside = (base: string, path: string) => {
    const rel = relative(base, path)
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)
  }
  if (isAbsolute(entry)) {
    reader.fail([key], `'${entry}' is an absolute path: an entry point is a file inside the pack's sensors/ folder`)
    return null
  }
  const path = resolve(sensorsDir, entry)
  if (!inside(sensorsDir, path)) {
    reader.fail([key], `'${entry}' leaves the pack's sensors/ folder: an entry point is a file inside it`)
    return null
  }
  if (existsSync(path)) {
    let real: string
    try {
      real = realpathSync(path)
    } catch {
      return path
    }
    const base = existsSync(sensorsDir) ? realpathSync(sensorsDir) : sensorsDir
    if (!inside(base, real)) {
      reader.fail([key], `'${entry}' is a link to ${real}, outside the pack's sensors/ folder`)
      return null
    }
  }
  return path
}

const PARAMETER_DELIVERY = ['stdin', 'file'] as const
const PARAMETER_FORMATS = ['dotenv', 'json', 'yaml'] as const
const OUTPUT_FORMATS = ['text', 'json', 'yaml', 'jsonl'] as const

function oneOf<T extends string>(reader: Reader, key: string, allowed: readonly T[], fallback: T): T {
  const value = reader.string(key)
  if (value === undefined) return fallback
  if ((allowed as readonly string[]).includes(value)) return value as T
  reader.fail([key], `must be one of ${allowed.join(', ')}`)
  return fallback
}

/** An action, registered as Attune's loader registers it (the executor runs it, not attune). */
function readAction(reader: Reader, packRef: string): ActionDefinition | undefined {
  const ref = reader.ref(packRef)
  const entry = reader.string('entry_point', 'entrypoint')
  if (!entry) reader.fail(['entry_point'], 'is required (the action code, relative to the actions folder)')
  else reader.withinLimit(reader.pick('entry_point', 'entrypoint')!.key, entry, 'entrypoint')
  const params = reader.schema('parameters', 'param_schema')
  const output = reader.schema('output', 'out_schema', 'output_schema')
  let timeout: number | null = null
  const rawTimeout = reader.data.timeout ?? reader.data.timeout_seconds
  if (rawTimeout !== undefined && rawTimeout !== null) {
    if (typeof rawTimeout !== 'number' || !Number.isInteger(rawTimeout) || rawTimeout <= 0) reader.fail([reader.data.timeout !== undefined ? 'timeout' : 'timeout_seconds'], 'must be a whole number of seconds greater than 0')
    else timeout = rawTimeout
  }
  const delivery = oneOf(reader, 'parameter_delivery', PARAMETER_DELIVERY, 'stdin')
  const format = oneOf(reader, 'parameter_format', PARAMETER_FORMATS, 'json')
  const outputFormat = oneOf(reader, 'output_format', OUTPUT_FORMATS, 'text')
  if (!ref || !entry) return undefined
  return {
    ...itemIdentity(reader, ref, packRef),
    entrypoint: entry,
    runner_type: reader.string('runner_type', 'runtime') ?? null,
    param_schema: params.schema,
    out_schema: output.schema,
    parameter_delivery: delivery,
    parameter_format: format,
    output_format: outputFormat,
    timeout_seconds: timeout,
    source: {file: reader.doc.file, doc: reader.doc},
  }
}

function readRule(reader: Reader, packRef: string): PackRuleDefinition | undefined {
  try {
    const describe = (path: FieldPath) => {
      const problem = reader.doc.problem(path, '')
      return `${problem.file}:${problem.line ?? '?'}: ${problem.field ?? '(document)'}`
    }
    const {rule, warnings} = normalizeRuleDocument(reader.data, {pack_ref: packRef, describe})
    const refKey = reader.data.ref !== undefined ? 'ref' : 'name'
    const ok = reader.withinLimit(refKey, rule.ref, 'ref')
    if (!reader.withinLimit(reader.pick('label', 'name')?.key ?? refKey, rule.label, 'label') || !ok) return undefined
    return {...rule, warnings, source: {file: reader.doc.file, doc: reader.doc}}
  } catch (error) {
    if (!(error instanceof FieldError)) throw error
    reader.fail(error.field, error.message)
    return undefined
  }
}

function readSkipped(dir: string, shownDir: string): SkippedItem[] {
  const items: SkippedItem[] = []
  for (const {folder, kind, reason} of SKIPPED_FOLDERS) {
    for (const name of yamlFiles(join(dir, folder))) {
      const file = join(shownDir, folder, name)
      // The ref only makes the line friendlier: a file we skip is never an error.
      const {docs} = readYamlFile(join(dir, folder, name), file)
      const data = docs[0]?.data
      const ref = isPlainObject(data) && typeof (data.ref ?? data.name) === 'string' ? String(data.ref ?? data.name) : null
      items.push({kind, ref, file, reason})
    }
  }
  return items
}

/** Loads one pack folder; problems are collected, not thrown (see `loadPack`). */
export async function readPack(dir: string): Promise<{pack?: LoadedPack; problems: PackProblem[]}> {
  const problems: PackProblem[] = []
  const absolute = resolve(dir)
  const shown = dir.replace(/[/\\]+$/, '') || dir
  if (!existsSync(absolute) || !statSync(absolute).isDirectory()) {
    return {problems: [{file: shown, message: 'is not a folder'}]}
  }
  const packFile = ['pack.yaml', 'pack.yml'].find((name) => existsSync(join(absolute, name)))
  if (!packFile) return {problems: [{file: shown, message: 'has no pack.yaml: not a pack folder'}]}

  const packReaders = readers(join(absolute, packFile), join(shown, packFile), problems)
  if (packReaders.length > 1) problems.push(packReaders[1].doc.problem([], 'pack.yaml must hold one document'))
  packReaders[0]?.checkKeys('pack')
  const pack = packReaders[0] ? readPackDocument(packReaders[0], absolute) : undefined
  if (!pack) {
    if (problems.length === 0) problems.push({file: join(shown, packFile), message: 'is empty'})
    return {problems}
  }

  const loaded: LoadedPack = {dir: absolute, pack, runtimes: [], triggers: [], sensors: [], actions: [], rules: [], skipped: []}
  const each = async (folder: string, kind: PackFileKind, read: (reader: Reader) => Promise<void> | void) => {
    for (const name of yamlFiles(join(absolute, folder))) {
      for (const reader of readers(join(absolute, folder, name), join(shown, folder, name), problems)) {
        reader.checkKeys(kind)
        await read(reader)
      }
    }
  }
  await each('runtimes', 'runtime', (r) => void push(loaded.runtimes, readRuntime(r, pack.ref)))
  await each('triggers', 'trigger', (r) => void push(loaded.triggers, readTrigger(r, pack.ref)))
  const sensorsDir = join(absolute, 'sensors')
  await each('sensors', 'sensor', async (r) => void push(loaded.sensors, await readSensor(r, pack.ref, sensorsDir)))
  await each('actions', 'action', (r) => void push(loaded.actions, readAction(r, pack.ref)))
  await each('rules', 'rule', (r) => void push(loaded.rules, readRule(r, pack.ref)))
  loaded.skipped = readSkipped(absolute, shown)
  return {pack: loaded, problems}
}

function push<T>(list: T[], item: T | undefined): void {
  if (item) list.push(item)
}

/** Loads and validates one pack folder without touching a database; throws a `PackError`. */
export async function loadPack(dir: string): Promise<LoadedPack> {
  const {pack, problems} = await readPack(dir)
  if (problems.length > 0 || !pack) throw new PackError(problems)
  return pack
}
