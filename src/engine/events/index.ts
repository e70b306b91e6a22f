/**
 * Events, enforcements and their messages: what the daemon (and `attune sensor run-once
 * --persist`) does with the events of a poll. See `pipeline.ts`.
 *
 * ```ts
 * const pipeline = new EventPipeline(store, {onCommitted: () => relay.notify()})
 * await pipeline.persist({trigger: {id, ref}, sensor: {id, ref}, config: snapshot, events: result.events})
 * ```
 */
export {EventPipeline} from './pipeline.js'
export type {
  DuplicateEvent,
  EventPipelineOptions,
  PersistOptions,
  PersistResult,
  PollEvents,
  PreviewDedup,
  PreviewEvent,
  PreviewResult,
  RuleMatch,
  StoredEnforcement,
  StoredEvent,
} from './pipeline.js'
export {compileDedupKey, DedupCache, dedupClaimKey, DedupKeyError, type DedupSetting, type TriggerDedup} from './dedup.js'
export {activateRule, RuleCache, type ActiveRule, type RuleLoad} from './rules.js'
export {configSnapshot, payloadChecker, SECRET_MASK, sensorPollConfig} from './snapshot.js'
export {runSensorOnce, type RunOnceEvent, type RunOnceOptions, type RunOnceResult, type RunOnceRule} from './run-once.js'
export {
  buildTemplateContext,
  plainSecretParams,
  possibleSecretParams,
  redactSecrets,
  renderActionParams,
  secretParamPaths,
  secretRefusalMessage,
  type PlainSecretParam,
  type RenderedParams,
  type TemplateContext,
} from './template/index.js'
