import {Flags} from '@oclif/core'
import type {TriggerRow} from '../../engine/store/index.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class TriggerList extends AttuneCommand<typeof TriggerList> {
  static override summary = 'List registered triggers with their parameters and payload fields.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --pack core --json']
  static override flags = {
    ...databaseFlags,
    pack: Flags.string({description: 'Only the triggers of this pack.'}),
  }

  public async run(): Promise<{triggers: TriggerRow[]}> {
    const {listTriggers} = await import('../../engine/store/index.js')
    const {redactWebhookConfig} = await import('../../engine/webhooks/index.js')
    // The webhook key is shown (it is what `trigger webhook enable` prints); the HMAC secret never is.
    const triggers = (await this.withStore((store) => listTriggers(store, {pack: this.flags.pack}))).map((trigger) => ({...trigger, webhook_config: redactWebhookConfig(trigger.webhook_config)}))
    if (!this.jsonEnabled()) {
      const {renderTable, enabledColor} = await import('../../ui/table.js')
      const keys = (schema: Record<string, unknown> | null) => Object.keys((schema?.properties as Record<string, unknown> | undefined) ?? {}).join(', ')
      this.print(
        renderTable(
          triggers,
          [
            {header: 'REF', value: (trigger) => trigger.ref, color: (trigger) => enabledColor(trigger.enabled)},
            {header: 'PARAMETERS', value: (trigger) => keys(trigger.param_schema)},
            {header: 'PAYLOAD', value: (trigger) => keys(trigger.out_schema)},
            {header: 'DEDUP', value: (trigger) => (trigger.dedup ? `${trigger.dedup.key} / ${trigger.dedup.window}` : '')},
            {header: 'LABEL', value: (trigger) => trigger.label},
            {header: 'WEBHOOK', value: (trigger) => (trigger.webhook_enabled ? 'enabled' : '')},
          ],
          'No triggers registered. Register a pack with: attune pack register DIR',
        ),
      )
    }
    return {triggers}
  }
}
