import {Flags} from '@oclif/core'
import type {RuleRow} from '../../engine/store/index.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class RuleList extends AttuneCommand<typeof RuleList> {
  static override summary = 'List registered rules: trigger, action, enabled.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --trigger examples.disk_full --json']
  static override flags = {
    ...databaseFlags,
    pack: Flags.string({description: 'Only the rules of this pack.'}),
    trigger: Flags.string({description: 'Only the rules on this trigger ref.'}),
  }

  public async run(): Promise<{rules: RuleRow[]}> {
    const {listRules} = await import('../../engine/store/index.js')
    const rules = await this.withStore((store) => listRules(store, {pack: this.flags.pack, trigger: this.flags.trigger}))
    if (!this.jsonEnabled()) {
      const {renderTable, enabledColor} = await import('../../ui/table.js')
      this.print(
        renderTable(
          rules,
          [
            {header: 'REF', value: (rule) => rule.ref, color: (rule) => enabledColor(rule.enabled)},
            {header: 'TRIGGER', value: (rule) => rule.trigger_ref},
            {header: 'ACTION', value: (rule) => rule.action_ref},
            {header: 'ENABLED', value: (rule) => (rule.enabled ? 'yes' : 'no')},
            {header: 'LABEL', value: (rule) => rule.label},
          ],
          'No rules registered. Register a pack with: attune pack register DIR',
        ),
      )
    }
    return {rules}
  }
}
