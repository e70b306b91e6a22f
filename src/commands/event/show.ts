import {Args} from '@oclif/core'
import type {EventShow} from '../../engine/store/index.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class EventShowCommand extends AttuneCommand<typeof EventShowCommand> {
  static override summary = 'Show one stored event: trigger, source sensor, payload, and the enforcements it created.'
  static override description = 'IDs are those `attune event list` prints. An unknown id exits 2.'
  static override examples = ['<%= config.bin %> <%= command.id %> 1', '<%= config.bin %> <%= command.id %> 1 --json']
  static override args = {id: Args.string({description: 'Event id.', required: true})}
  static override flags = {...databaseFlags}

  public async run(): Promise<EventShow> {
    const {showEvent, parseId} = await import('../../engine/store/index.js')
    const id = parseId(this.args.id, 'event')
    const result = await this.withStore((store) => showEvent(store, id))
    if (!this.jsonEnabled()) this.print((await import('../../ui/details.js')).renderEventShow(result))
    return result
  }
}
