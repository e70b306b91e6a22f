import {Args} from '@oclif/core'
import type {EnabledChange} from '../../engine/store/index.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class RuleDisable extends AttuneCommand<typeof RuleDisable> {
  static override summary = 'Disable a registered rule.'
  static override description = `Idempotent: a rule already disabled is left as it is, with a note (exit 0). A running daemon
needs no restart: it reads the enabled sensors and rules at every tick. The change is announced
as rule.disabled through the outbox, in the same transaction. An unknown ref exits 2.`
  static override examples = ['<%= config.bin %> <%= command.id %> examples.alert_on_full_root', '<%= config.bin %> <%= command.id %> examples.alert_on_full_root --json']
  static override args = {ref: Args.string({description: 'Rule ref (pack.name).', required: true})}
  static override flags = {...databaseFlags}

  public async run(): Promise<EnabledChange> {
    const {setEnabled} = await import('../../engine/store/index.js')
    const result = await this.withStore((store) => setEnabled(store, 'rule', this.args.ref, false))
    if (!this.jsonEnabled()) this.print((await import('../../ui/details.js')).renderEnabledChange(result))
    return result
  }
}
