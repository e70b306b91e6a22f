import type {PackSummaryRow} from '../../engine/store/index.js'
import type {ListColumn} from '../../ui/list-output.js'
import {databaseFlags} from '../base.js'
import {DEFAULT_LIMIT, ListCommand, listFlags, type ListDocument} from '../list-base.js'

export default class PackList extends ListCommand<typeof PackList> {
  static override summary = 'List registered packs with their counts of runtimes, triggers, sensors, actions and rules.'
  static override description = 'Columns: ref, version, runtimes, triggers, sensors, actions, rules, description.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json', '<%= config.bin %> <%= command.id %> --columns ref,sensors,rules --output csv']
  static override flags = {...databaseFlags, ...listFlags(DEFAULT_LIMIT.catalog)}

  public async run(): Promise<ListDocument<'packs', PackSummaryRow>> {
    const {pagePacks} = await import('../../engine/store/index.js')
    const request = this.pageRequest()
    const page = await this.withStore((store) => pagePacks(store, request))
    const columns: ListColumn<PackSummaryRow>[] = [
      {header: 'REF', value: (pack) => pack.ref},
      {header: 'VERSION', value: (pack) => pack.version ?? ''},
      {header: 'RUNTIMES', value: (pack) => String(pack.runtimes), data: (pack) => pack.runtimes},
      {header: 'TRIGGERS', value: (pack) => String(pack.triggers), data: (pack) => pack.triggers},
      {header: 'SENSORS', value: (pack) => String(pack.sensors), data: (pack) => pack.sensors},
      {header: 'ACTIONS', value: (pack) => String(pack.actions), data: (pack) => pack.actions},
      {header: 'RULES', value: (pack) => String(pack.rules), data: (pack) => pack.rules},
      {header: 'DESCRIPTION', value: (pack) => pack.description ?? ''},
    ]
    return this.showList({kind: 'packs', page, columns, empty: 'No packs registered. Register some with: attune pack register packs/core packs/examples'})
  }
}
