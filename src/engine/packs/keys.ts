/**
 * The keys a pack file may have, per kind of file. A key that none of the three formats
 * attune reads defines for that kind is an error (`unknown key "poll_intervall" (did you
 * mean "poll_interval"?)`): a typo would otherwise register silently with the default.
 *
 * Each list is the union of:
 * - attune: what src/engine/packs/load.ts reads (including the aliases it accepts);
 * - Attune (AndroxxTraxxon/attune, commit 9206d41): what its pack loader reads
 *   (crates/common/src/pack_registry/loader.rs), what its API and CLI read from pack.yaml
 *   (crates/api/src/routes/packs.rs, crates/cli/src/commands/pack.rs and pack_index.rs), and
 *   the keys its core pack writes for documentation (tags, meta, examples, ...);
 * - StackStorm: the API model schemas its register command validates metadata files against
 *   (st2common/st2common/models/api/{pack,sensor,trigger,action,rule}.py), plus `class_name`,
 *   which sensor files carry for the sensor container.
 * Rules: the rules module's lists (src/engine/rules/rule.ts), one source for both.
 */
import {RULE_ACTION_KEYS, RULE_KEYS, RULE_QUIET_KEYS, RULE_TRIGGER_KEYS} from '../rules/rule.js'

export type PackFileKind = 'pack' | 'runtime' | 'trigger' | 'sensor' | 'action' | 'rule'

/** Identity keys most item files share: ref (attune, Attune), name and pack (StackStorm), pack_ref (attune, Attune's DTOs). */
const IDENTITY = ['ref', 'name', 'label', 'description', 'pack', 'pack_ref']
/** StackStorm's bookkeeping keys on every API model (written back by `st2 ... get -j`). */
const ST2_BOOKKEEPING = ['id', 'uid', 'metadata_file']
/** Attune's execution placement and retention keys (loader.rs, actions and sensors). */
const ATTUNE_PLACEMENT = [
  'runtime_version', 'worker_selector', 'worker_tolerations', 'worker_affinity',
  'log_retention_policy', 'log_retention_limit', 'artifact_retention_policy', 'artifact_retention_limit',
]

const PACK_KEYS = [
  // attune (load.ts readPackDocument)
  'ref', 'name', 'label', 'description', 'version', 'conf_schema', 'config', 'meta', 'tags', 'runtime_deps', 'dependencies', 'system',
  // Attune: core pack pack.yaml, API routes/packs.rs (config_schema, metadata, keywords, testing, python, nodejs), CLI pack.rs / pack_index.rs
  'author', 'email', 'enabled', 'testing', 'config_schema', 'metadata', 'keywords', 'python', 'nodejs', 'homepage', 'repository', 'license',
  // StackStorm (models/api/pack.py PackAPI)
  'id', 'uid', 'stackstorm_version', 'python_versions', 'contributors', 'files', 'path',
]

const RUNTIME_KEYS = [
  // attune (load.ts readRuntime) and Attune (loader.rs load_runtimes, load_runtime_versions)
  'ref', 'pack_ref', 'name', 'description', 'aliases', 'distributions', 'installation', 'execution_config', 'versions',
]

const TRIGGER_KEYS = [
  ...IDENTITY,
  // Attune's trigger columns for webhooks, read by attune (engine/webhooks/config.ts checks webhook_config's keys)
  'webhook_enabled', 'webhook_config',
  // attune (load.ts readTrigger) and Attune (loader.rs load_triggers)
  'enabled', 'parameters', 'param_schema', 'parameters_schema', 'output', 'out_schema', 'payload_schema',
  // attune only: event deduplication (stored in attune_sensor.trigger_settings)
  'dedup',
  // Attune's core pack (documentation keys)
  'type', 'tags', 'examples',
  // StackStorm (models/api/trigger.py TriggerTypeAPI)
  ...ST2_BOOKKEEPING,
]

const SENSOR_KEYS = [
  ...IDENTITY,
  // attune (load.ts readSensor)
  'entry_point', 'entrypoint', 'runner_type', 'runtime', 'runtime_ref', 'trigger_types', 'trigger_type', 'trigger',
  'parameters', 'param_schema', 'parameters_schema', 'config', 'poll_interval', 'execution', 'env', 'enabled',
  // Attune (loader.rs load_sensors) and its core pack (documentation keys)
  ...ATTUNE_PLACEMENT, 'tags', 'meta', 'examples',
  // StackStorm (models/api/sensor.py SensorTypeAPI; class_name from sensor metadata files)
  'class_name', 'artifact_uri', ...ST2_BOOKKEEPING,
]

const ACTION_KEYS = [
  ...IDENTITY,
  // attune (load.ts readAction)
  'entry_point', 'entrypoint', 'runner_type', 'runtime', 'parameters', 'param_schema', 'output', 'out_schema', 'output_schema',
  'timeout', 'timeout_seconds', 'parameter_delivery', 'parameter_format', 'output_format',
  // Attune (loader.rs load_actions, load_workflow_for_action)
  'workflow_file', 'required_worker_runtimes', 'accesses_mcp', 'default_execution_permission_set_refs', ...ATTUNE_PLACEMENT, 'tags', 'enabled',
  // StackStorm (models/api/action.py ActionAPI)
  'notify', ...ST2_BOOKKEEPING,
]

/** The keys each kind of pack file may have at its top level. */
export const PACK_FILE_KEYS: Readonly<Record<PackFileKind, ReadonlySet<string>>> = {
  pack: new Set(PACK_KEYS),
  runtime: new Set(RUNTIME_KEYS),
  trigger: new Set(TRIGGER_KEYS),
  sensor: new Set(SENSOR_KEYS),
  action: new Set(ACTION_KEYS),
  rule: new Set([...RULE_KEYS, ...RULE_QUIET_KEYS]),
}

/** The keys of a trigger's `dedup` mapping (load.ts readDedup). */
export const DEDUP_KEYS = ['key', 'window'] as const

/** Keys of mappings nested in a kind of file that are checked too: rules' `trigger` and `action`, triggers' `dedup`. */
export const NESTED_KEYS: Readonly<Partial<Record<PackFileKind, Record<string, ReadonlySet<string>>>>> = {
  rule: {trigger: new Set(RULE_TRIGGER_KEYS), action: new Set(RULE_ACTION_KEYS)},
  trigger: {dedup: new Set(DEDUP_KEYS)},
}

/**
 * Attune's length limits (crates/api/src/dto/*.rs `#[validate(length(min = 1, max = ...))]`):
 * refs, labels and runtime names 255 characters, pack versions 50, entry points 1024.
 */
export const MAX_LENGTH = {ref: 255, label: 255, name: 255, version: 50, entrypoint: 1024} as const
