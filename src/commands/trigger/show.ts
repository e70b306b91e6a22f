import {Args} from '@oclif/core'
import type {TriggerShow} from '../../engine/store/index.js'
import {AttuneCommand, databaseFlags} from '../base.js'
import {baseUrlFlag} from './webhook/enable.js'

export default class TriggerShowCommand extends AttuneCommand<typeof TriggerShowCommand> {
  static override summary = 'Show one trigger: parameters, payload fields, the sensors that emit it, its rules and its webhook.'
  static override description = 'An unknown ref exits 2 and names the closest registered trigger. The HMAC secret of its webhook is never shown.'
  static override examples = ['<%= config.bin %> <%= command.id %> examples.disk_full', '<%= config.bin %> <%= command.id %> examples.disk_full --json']
  static override args = {ref: Args.string({description: 'Trigger ref (pack.name).', required: true})}
  static override flags = {...databaseFlags, ...baseUrlFlag}

  public async run(): Promise<TriggerShow> {
    const {showTrigger} = await import('../../engine/store/index.js')
    const {redactWebhookConfig, apiBaseUrl} = await import('../../engine/webhooks/index.js')
    const shown = await this.withStore((store) => showTrigger(store, this.args.ref))
    const result = {...shown, trigger: {...shown.trigger, webhook_config: redactWebhookConfig(shown.trigger.webhook_config)}}
    if (!this.jsonEnabled()) {
      const base = this.flags['base-url'] ?? apiBaseUrl(this.loadConfig().config.api)
      this.print((await import('../../ui/details.js')).renderTriggerShow(result, base))
    }
    return result
  }
}
