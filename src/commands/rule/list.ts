import {Flags} from '@oclif/core'
import type {RuleRow} from '../../engine/store/index.js'
import type {ListColumn} from '../../ui/list-output.js'
import {databaseFlags} from '../base.js'
import {DEFAULT_LIMIT, ListCommand, listFlags, type ListDocument} from '../list-base.js'

export default class RuleList extends ListCommand<typeof RuleList> {
  static override summary = 'List registered rules: trigger, action, enabled.'
  static override description = 'Columns: ref, trigger, action, enabled, label.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --trigger examples.disk_full --json', '<%= config.bin %> <%= command.id %> --columns ref,enabled --limit 5']
  static override flags = {
    ...databaseFlags,
    ...listFlags(DEFAULT_LIMIT.catalog),
    pack: Flags.string({description: 'Only the rules of this pack.'}),
    trigger: Flags.string({description: 'Only the rules on this trigger ref.'}),
  }

  public async run(): Promise<ListDocument<'rules', RuleRow>> {
    const {pageRules} = await import('../../engine/store/index.js')
    const {enabledColor} = await import('../../ui/table.js')
    const request = this.pageRequest()
    const page = await this.withStore((store) => pageRules(store, {pack: this.flags.pack, trigger: this.flags.trigger}, request))
    const columns: ListColumn<RuleRow>[] = [
      {header: 'REF', value: (rule) => rule.ref, color: (rule) => enabledColor(rule.enabled)},
      {header: 'TRIGGER', value: (rule) => rule.trigger_ref},
      {header: 'ACTION', value: (rule) => rule.action_ref},
      {header: 'ENABLED', value: (rule) => (rule.enabled ? 'yes' : 'no'), data: (rule) => rule.enabled},
      {header: 'LABEL', value: (rule) => rule.label},
    ]
    return this.showList({kind: 'rules', page, columns, empty: 'No rules registered. Register a pack with: attune pack register DIR'})
  }
}
