import {Args} from '@oclif/core'
import type {WebhookReport} from '../../../engine/webhooks/index.js'
import {AttuneCommand, databaseFlags} from '../../base.js'

export default class TriggerWebhookDisable extends AttuneCommand<typeof TriggerWebhookDisable> {
  static override summary = "Disable a trigger's webhook; its key is removed (its URL answers 404)."
  static override examples = ['<%= config.bin %> <%= command.id %> github.push']
  static override args = {ref: Args.string({description: 'Trigger ref (pack.name).', required: true})}
  static override flags = {...databaseFlags}

  public async run(): Promise<WebhookReport> {
    const {disableWebhook, webhookReport} = await import('../../../engine/webhooks/index.js')
    const state = await this.withStore((store) => store.transaction((tx) => disableWebhook(tx, this.args.ref)))
    const report = webhookReport(state, '')
    this.print(`Webhooks disabled for trigger ${report.trigger_ref}; its key was removed.`)
    return report
  }
}
