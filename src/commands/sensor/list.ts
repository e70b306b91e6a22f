import {Flags} from '@oclif/core'
import type {SensorRow} from '../../engine/store/index.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class SensorList extends AttuneCommand<typeof SensorList> {
  static override summary = 'List registered sensors: runtime, execution mode, poll interval, triggers.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --pack examples --json']
  static override flags = {
    ...databaseFlags,
    pack: Flags.string({description: 'Only the sensors of this pack.'}),
  }

  public async run(): Promise<{sensors: SensorRow[]}> {
    const {listSensors} = await import('../../engine/store/index.js')
    const sensors = await this.withStore((store) => listSensors(store, {pack: this.flags.pack}))
    if (!this.jsonEnabled()) {
      const {renderTable, enabledColor} = await import('../../ui/table.js')
      this.print(
        renderTable(
          sensors,
          [
            {header: 'REF', value: (sensor) => sensor.ref, color: (sensor) => enabledColor(sensor.enabled)},
            {header: 'RUNTIME', value: (sensor) => sensor.runtime_ref},
            {header: 'EXECUTION', value: (sensor) => sensor.execution},
            {header: 'INTERVAL', value: (sensor) => (sensor.poll_interval ? `${sensor.poll_interval}s` : 'default')},
            {header: 'TRIGGERS', value: (sensor) => sensor.trigger_types.join(', ')},
            {header: 'ENABLED', value: (sensor) => (sensor.enabled ? 'yes' : 'no')},
          ],
          'No sensors registered. Register a pack with: attune pack register DIR',
        ),
      )
    }
    return {sensors}
  }
}
