import {Args} from '@oclif/core'
import type {EnforcementShow} from '../../engine/store/index.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class EnforcementShowCommand extends AttuneCommand<typeof EnforcementShowCommand> {
  static override summary = 'Show one enforcement (rule match): its rule, the event that matched, the rendered action parameters.'
  static override description = 'IDs are those `attune enforcement list` prints. An unknown id exits 2.'
  static override examples = ['<%= config.bin %> <%= command.id %> 1', '<%= config.bin %> <%= command.id %> 1 --json']
  static override args = {id: Args.string({description: 'Enforcement id.', required: true})}
  static override flags = {...databaseFlags}

  public async run(): Promise<EnforcementShow> {
    const {showEnforcement, parseId} = await import('../../engine/store/index.js')
    const id = parseId(this.args.id, 'enforcement')
    const result = await this.withStore((store) => showEnforcement(store, id))
    if (!this.jsonEnabled()) this.print((await import('../../ui/details.js')).renderEnforcementShow(result))
    return result
  }
}
