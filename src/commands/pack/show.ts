import {Args} from '@oclif/core'
import type {PackShow} from '../../engine/store/index.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class PackShowCommand extends AttuneCommand<typeof PackShowCommand> {
  static override summary = 'Show one pack: version, folder, its runtimes, triggers, sensors, actions and rules, and the history stored for them.'
  static override description = 'An unknown ref exits 2 and names the closest registered pack.'
  static override examples = ['<%= config.bin %> <%= command.id %> core', '<%= config.bin %> <%= command.id %> examples --json']
  static override args = {ref: Args.string({description: 'Pack ref.', required: true})}
  static override flags = {...databaseFlags}

  public async run(): Promise<PackShow> {
    const {showPack} = await import('../../engine/store/index.js')
    const result = await this.withStore((store) => showPack(store, this.args.ref))
    if (!this.jsonEnabled()) this.print((await import('../../ui/details.js')).renderPackShow(result))
    return result
  }
}
