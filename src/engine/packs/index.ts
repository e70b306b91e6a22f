export {FieldError, PackError, formatField, formatProblem} from './errors.js'
export type {FieldPath, PackProblem} from './errors.js'
export {loadPack, readPack} from './load.js'
export type {
  ExecutionMode,
  ItemSource,
  LoadedPack,
  PackDefinition,
  PackRuleDefinition,
  RuntimeDefinition,
  SensorDefinition,
  SkippedItem,
  SkippedKind,
  TriggerDefinition,
} from './load.js'
export {registerPacks} from './register.js'
export type {RegisterItem, RegisterItemKind, RegisterOptions, RegisterReport, RegisterStatus} from './register.js'
export {normalizeRuleDocument} from './rules.js'
export type {NormalizedRule, NormalizedRuleResult, RuleContext} from './rules.js'
export {compileSchema, isFlatSchema, toJsonSchema, validationProblems} from './schema.js'
export type {JsonSchema} from './schema.js'
export {PROTECTED_PACKS, removePack} from './remove.js'
export type {PackDependent, PackRemoveOptions, PackRemoveReport} from './remove.js'
