import {Args, Flags} from '@oclif/core'
import type {PackRemoveReport} from '../../engine/packs/index.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class PackRemove extends AttuneCommand<typeof PackRemove> {
  static override summary = 'Remove a registered pack: its runtimes, triggers, sensors, actions and rules.'

  static override description = `Deletes everything of the pack in one transaction, with what the schema ties to it (sensor
settings, state and leases, trigger settings and webhook log, rule timer state). Stored events and
enforcements are history and are kept: they keep the trigger, sensor and rule refs as text, and
their links to the deleted rows become empty. Deleted enabled rules are announced as rule.disabled
through the outbox. A running daemon stops the pack's sensors at its next tick.

The core pack cannot be removed (exit 2). When rules of other packs use its triggers or actions,
or sensors of other packs emit its triggers or run on its runtimes, it refuses (exit 2, naming
them) unless --force, which deletes those rules and sensors too (an action of another pack that
runs on one of its runtimes loses the runtime). --dry-run reports all of it and writes nothing.`

  static override examples = [
    {description: 'See what would go', command: '<%= config.bin %> <%= command.id %> examples --dry-run'},
    '<%= config.bin %> <%= command.id %> examples',
    {description: "Also remove other packs' rules that use it", command: '<%= config.bin %> <%= command.id %> examples --force --json'},
  ]

  static override args = {ref: Args.string({description: 'Pack ref.', required: true})}

  static override flags = {
    ...databaseFlags,
    'dry-run': Flags.boolean({description: 'Report what would be removed, then roll back: nothing is written.'}),
    force: Flags.boolean({description: "Also delete other packs' rules and sensors that use this pack."}),
  }

  public async run(): Promise<PackRemoveReport> {
    const {removePack} = await import('../../engine/packs/index.js')
    const report = await this.withStore((store) => removePack(store, this.args.ref, {dryRun: this.flags['dry-run'], force: this.flags.force}))
    if (!this.jsonEnabled()) this.print((await import('../../ui/details.js')).renderPackRemove(report))
    return report
  }
}
