import {Args} from '@oclif/core'
import type {SensorShow} from '../../engine/store/index.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class SensorShowCommand extends AttuneCommand<typeof SensorShowCommand> {
  static override summary = 'Show one sensor: runtime, execution, its triggers, the rules of its triggers, and its state.'
  static override description = 'An unknown ref exits 2 and names the closest registered sensor.'
  static override examples = ['<%= config.bin %> <%= command.id %> examples.disk_usage', '<%= config.bin %> <%= command.id %> examples.disk_usage --json']
  static override args = {ref: Args.string({description: 'Sensor ref (pack.name).', required: true})}
  static override flags = {...databaseFlags}

  public async run(): Promise<SensorShow> {
    const {showSensor} = await import('../../engine/store/index.js')
    const result = await this.withStore((store) => showSensor(store, this.args.ref))
    if (!this.jsonEnabled()) this.print((await import('../../ui/details.js')).renderSensorShow(result))
    return result
  }
}
