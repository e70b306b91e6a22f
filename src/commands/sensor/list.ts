import {Flags} from '@oclif/core'
import type {SensorRow} from '../../engine/store/index.js'
import type {ListColumn} from '../../ui/list-output.js'
import {databaseFlags} from '../base.js'
import {DEFAULT_LIMIT, ListCommand, listFlags, type ListDocument} from '../list-base.js'

export default class SensorList extends ListCommand<typeof SensorList> {
  static override summary = 'List registered sensors: runtime, execution mode, poll interval, triggers.'
  static override description = 'Columns: ref, runtime, execution, interval, triggers, enabled.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --pack examples --json', '<%= config.bin %> <%= command.id %> --columns ref,runtime --output csv']
  static override flags = {
    ...databaseFlags,
    ...listFlags(DEFAULT_LIMIT.catalog),
    pack: Flags.string({description: 'Only the sensors of this pack.'}),
  }

  public async run(): Promise<ListDocument<'sensors', SensorRow>> {
    const {pageSensors} = await import('../../engine/store/index.js')
    const {enabledColor} = await import('../../ui/table.js')
    const request = this.pageRequest()
    const page = await this.withStore((store) => pageSensors(store, {pack: this.flags.pack}, request))
    const columns: ListColumn<SensorRow>[] = [
      {header: 'REF', value: (sensor) => sensor.ref, color: (sensor) => enabledColor(sensor.enabled)},
      {header: 'RUNTIME', value: (sensor) => sensor.runtime_ref},
      {header: 'EXECUTION', value: (sensor) => sensor.execution},
      {header: 'INTERVAL', value: (sensor) => (sensor.poll_interval ? `${sensor.poll_interval}s` : 'default'), data: (sensor) => sensor.poll_interval},
      {header: 'TRIGGERS', value: (sensor) => sensor.trigger_types.join(', '), data: (sensor) => sensor.trigger_types},
      {header: 'ENABLED', value: (sensor) => (sensor.enabled ? 'yes' : 'no'), data: (sensor) => sensor.enabled},
    ]
    return this.showList({kind: 'sensors', page, columns, empty: 'No sensors registered. Register a pack with: attune pack register DIR'})
  }
}
