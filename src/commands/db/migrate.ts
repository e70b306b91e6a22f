import type {MigrateResult} from '../../engine/store/index.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export type DbMigrateResult = MigrateResult & {database: string}

export default class DbMigrate extends AttuneCommand<typeof DbMigrate> {
  static override summary = 'Apply pending database migrations (each once, in order).'

  static override description = `Creates or upgrades the schema in PostgreSQL (--database-url, ATTUNE_DATABASE_URL or
DATABASE_URL) or in the embedded database under $ATTUNE_HOME. Running it again applies nothing.
On an empty database it builds Attune's tables (schema attune) and attune's own (schema
attune_sensor). On an Attune deployment's database it adds only attune_sensor and changes nothing
of Attune's; if a column attune needs is missing there, it names it and exits 2.
Other commands migrate the embedded database on first use by themselves; PostgreSQL is only ever
migrated by this command, so an operator decides when the schema changes.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --database-url postgres://attune@db.internal/attune --json',
  ]

  static override flags = {...databaseFlags}

  public async run(): Promise<DbMigrateResult> {
    const {migrate} = await import('../../engine/store/index.js')
    return this.withStore(
      async (store) => {
        const result = {...(await migrate(store)), database: store.location}
        if (result.applied.length === 0) {
          this.print(`Database is up to date (${result.already_applied} migration(s) applied before): ${store.location}`)
        } else {
          const list = result.applied
            .map((migration) => `  ✓ ${migration.version} (${migration.adopted ? "adopted: Attune's tables are already there, nothing changed" : `${migration.duration_ms} ms`})`)
            .join('\n')
          this.print(`Applied ${result.applied.length} migration(s) to ${store.location}:\n${list}`)
        }
        return result
      },
      {migrate: false},
    )
  }
}
