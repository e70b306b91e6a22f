import {Args, Flags} from '@oclif/core'
import type {WebhookReport} from '../../../engine/webhooks/index.js'
import {AttuneCommand, databaseFlags} from '../../base.js'

export const baseUrlFlag = {
  'base-url': Flags.string({description: 'Base URL senders reach the API at (default: from api.host and api.port), e.g. https://hooks.example.com.'}),
}

export default class TriggerWebhookEnable extends AttuneCommand<typeof TriggerWebhookEnable> {
  static override summary = "Enable a trigger's webhook and print its URL and key."
  static override description =
    "POST /api/v1/webhooks/<key> on the daemon's API then creates an event of the trigger (docs/api.md#webhooks). " +
    "A trigger that already has a key keeps it. The checks (HMAC signature, rate limit, IP allow-list) come from the trigger's webhook_config in its pack file."

  static override examples = ['<%= config.bin %> <%= command.id %> github.push', '<%= config.bin %> <%= command.id %> github.push --json']
  static override args = {ref: Args.string({description: 'Trigger ref (pack.name).', required: true})}
  static override flags = {...databaseFlags, ...baseUrlFlag}

  public async run(): Promise<WebhookReport> {
    const {enableWebhook, webhookReport, apiBaseUrl} = await import('../../../engine/webhooks/index.js')
    const {config} = this.loadConfig()
    const state = await this.withStore((store) => store.transaction((tx) => enableWebhook(tx, this.args.ref)))
    const report = webhookReport(state, this.flags['base-url'] ?? apiBaseUrl(config.api))
    this.print(`Webhooks enabled for trigger ${report.trigger_ref}\n  URL: ${report.webhook_url}\n  Key: ${report.webhook_key}`)
    return report
  }
}
