import {Args} from '@oclif/core'
import type {EventShow} from '../../engine/store/index.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class EventShowCommand extends AttuneCommand<typeof EventShowCommand> {
  static override summary = 'Show one stored event: trigger, source sensor, payload, and the enforcements it created.'
  static override description = 'IDs are those `attune event list` prints. An unknown id exits 2.'
  static override examples = ['<%= config.bin %> <%= command.id %> 1', '<%= config.bin %> <%= command.id %> 1 --json']
  static override args = {id: Args.integer({description: 'Event id.', required: true, min: 1})}
  static override flags = {...databaseFlags}

  public async run(): Promise<EventShow> {
    const {showEvent} = await import('../../engine/store/index.js')
    const result = await this.withStore((store) => showEvent(store, this.args.id))
    if (!this.jsonEnabled()) this.print((await import('../../ui/details.js')).renderEventShow(result))
    return result
  }
}
