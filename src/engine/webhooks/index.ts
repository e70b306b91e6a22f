export {checkWebhookConfig, cidrProblem, HMAC_ALGORITHMS, readTriggerWebhookSettings, readWebhookConfig, redactWebhookConfig} from './config.js'
export type {EffectiveWebhookConfig, HmacAlgorithm, TriggerWebhookSettings, WebhookConfig, WebhookConfigProblem} from './config.js'
export {
  apiBaseUrl,
  disableWebhook,
  enableWebhook,
  generateWebhookKey,
  regenerateWebhookKey,
  WEBHOOK_KEY,
  webhookColumns,
  webhookPath,
  webhookReport,
  webhookUrl,
} from './keys.js'
export type {WebhookReport, WebhookState} from './keys.js'
export {maskKey, WebhookReceiver} from './receiver.js'
export type {WebhookLogger, WebhookOutcome, WebhookReceived, WebhookRequest} from './receiver.js'
export {ipAllowed, normalizeIp, signBody, verifySignature} from './security.js'
export type {SignatureCheck} from './security.js'
