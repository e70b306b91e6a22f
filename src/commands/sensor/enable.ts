import {Args} from '@oclif/core'
import type {EnabledChange} from '../../engine/store/index.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class SensorEnable extends AttuneCommand<typeof SensorEnable> {
  static override summary = 'Enable a registered sensor.'
  static override description = `Idempotent: a sensor already enabled is left as it is, with a note (exit 0). A running daemon
needs no restart: it reads the enabled sensors and rules at every tick. An unknown ref exits 2.`
  static override examples = ['<%= config.bin %> <%= command.id %> examples.disk_usage', '<%= config.bin %> <%= command.id %> examples.disk_usage --json']
  static override args = {ref: Args.string({description: 'Sensor ref (pack.name).', required: true})}
  static override flags = {...databaseFlags}

  public async run(): Promise<EnabledChange> {
    const {setEnabled} = await import('../../engine/store/index.js')
    const result = await this.withStore((store) => setEnabled(store, 'sensor', this.args.ref, true))
    if (!this.jsonEnabled()) this.print((await import('../../ui/details.js')).renderEnabledChange(result))
    return result
  }
}
