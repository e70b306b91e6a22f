import type {PackSummaryRow} from '../../engine/store/index.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class PackList extends AttuneCommand<typeof PackList> {
  static override summary = 'List registered packs with their counts of runtimes, triggers, sensors, actions and rules.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']
  static override flags = {...databaseFlags}

  public async run(): Promise<{packs: PackSummaryRow[]}> {
    const {listPacks} = await import('../../engine/store/index.js')
    const packs = await this.withStore((store) => listPacks(store))
    if (!this.jsonEnabled()) {
      const {renderTable} = await import('../../ui/table.js')
      this.print(
        renderTable(
          packs,
          [
            {header: 'REF', value: (pack) => pack.ref},
            {header: 'VERSION', value: (pack) => pack.version ?? ''},
            {header: 'RUNTIMES', value: (pack) => String(pack.runtimes)},
            {header: 'TRIGGERS', value: (pack) => String(pack.triggers)},
            {header: 'SENSORS', value: (pack) => String(pack.sensors)},
            {header: 'ACTIONS', value: (pack) => String(pack.actions)},
            {header: 'RULES', value: (pack) => String(pack.rules)},
            {header: 'DESCRIPTION', value: (pack) => pack.description ?? ''},
          ],
          'No packs registered. Register some with: attune pack register packs/core packs/examples',
        ),
      )
    }
    return {packs}
  }
}
