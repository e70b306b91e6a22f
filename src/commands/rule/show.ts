import {Args} from '@oclif/core'
import type {RuleShow} from '../../engine/store/index.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class RuleShowCommand extends AttuneCommand<typeof RuleShowCommand> {
  static override summary = 'Show one rule: trigger, action, criteria, parameters and whether it is enabled.'
  static override description = 'An unknown ref exits 2 and names the closest registered rule.'
  static override examples = ['<%= config.bin %> <%= command.id %> examples.alert_on_full_root', '<%= config.bin %> <%= command.id %> examples.alert_on_full_root --json']
  static override args = {ref: Args.string({description: 'Rule ref (pack.name).', required: true})}
  static override flags = {...databaseFlags}

  public async run(): Promise<RuleShow> {
    const {showRule} = await import('../../engine/store/index.js')
    const result = await this.withStore((store) => showRule(store, this.args.ref))
    if (!this.jsonEnabled()) this.print((await import('../../ui/details.js')).renderRuleShow(result))
    return result
  }
}
