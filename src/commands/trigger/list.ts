import {Flags} from '@oclif/core'
import type {TriggerRow} from '../../engine/store/index.js'
import type {ListColumn} from '../../ui/list-output.js'
import {databaseFlags} from '../base.js'
import {DEFAULT_LIMIT, ListCommand, listFlags, type ListDocument} from '../list-base.js'

export default class TriggerList extends ListCommand<typeof TriggerList> {
  static override summary = 'List registered triggers with their parameters and payload fields.'
  static override description = 'Columns: ref, parameters, payload, dedup, label, webhook.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --pack core --json', '<%= config.bin %> <%= command.id %> --columns ref,webhook']
  static override flags = {
    ...databaseFlags,
    ...listFlags(DEFAULT_LIMIT.catalog),
    pack: Flags.string({description: 'Only the triggers of this pack.'}),
  }

  public async run(): Promise<ListDocument<'triggers', TriggerRow>> {
    const {pageTriggers} = await import('../../engine/store/index.js')
    const {redactWebhookConfig} = await import('../../engine/webhooks/index.js')
    const {enabledColor} = await import('../../ui/table.js')
    const request = this.pageRequest()
    const found = await this.withStore((store) => pageTriggers(store, {pack: this.flags.pack}, request))
    // The webhook key is shown (it is what `trigger webhook enable` prints); the HMAC secret never is.
    const page = {...found, rows: found.rows.map((trigger) => ({...trigger, webhook_config: redactWebhookConfig(trigger.webhook_config)}))}
    const keys = (schema: Record<string, unknown> | null) => Object.keys((schema?.properties as Record<string, unknown> | undefined) ?? {})
    const columns: ListColumn<TriggerRow>[] = [
      {header: 'REF', value: (trigger) => trigger.ref, color: (trigger) => enabledColor(trigger.enabled)},
      {header: 'PARAMETERS', value: (trigger) => keys(trigger.param_schema).join(', '), data: (trigger) => keys(trigger.param_schema)},
      {header: 'PAYLOAD', value: (trigger) => keys(trigger.out_schema).join(', '), data: (trigger) => keys(trigger.out_schema)},
      {header: 'DEDUP', value: (trigger) => (trigger.dedup ? `${trigger.dedup.key} / ${trigger.dedup.window}` : ''), data: (trigger) => trigger.dedup},
      {header: 'LABEL', value: (trigger) => trigger.label},
      {header: 'WEBHOOK', value: (trigger) => (trigger.webhook_enabled ? 'enabled' : ''), data: (trigger) => trigger.webhook_enabled},
    ]
    return this.showList({kind: 'triggers', page, columns, empty: 'No triggers registered. Register a pack with: attune pack register DIR'})
  }
}
