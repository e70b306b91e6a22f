import {Args} from '@oclif/core'
import type {WebhookReport} from '../../../engine/webhooks/index.js'
import {AttuneCommand, databaseFlags} from '../../base.js'
import {baseUrlFlag} from './enable.js'

export default class TriggerWebhookRegenerate extends AttuneCommand<typeof TriggerWebhookRegenerate> {
  static override summary = "Replace a trigger's webhook key; the old key answers 404 from now on."
  static override examples = ['<%= config.bin %> <%= command.id %> github.push --json']
  static override args = {ref: Args.string({description: 'Trigger ref (pack.name).', required: true})}
  static override flags = {...databaseFlags, ...baseUrlFlag}

  public async run(): Promise<WebhookReport> {
    const {regenerateWebhookKey, webhookReport, apiBaseUrl} = await import('../../../engine/webhooks/index.js')
    const {config} = this.loadConfig()
    const state = await this.withStore((store) => store.transaction((tx) => regenerateWebhookKey(tx, this.args.ref)))
    const report = webhookReport(state, this.flags['base-url'] ?? apiBaseUrl(config.api))
    this.print(`New webhook key for trigger ${report.trigger_ref} (the old key no longer works)\n  URL: ${report.webhook_url}\n  Key: ${report.webhook_key}`)
    return report
  }
}
