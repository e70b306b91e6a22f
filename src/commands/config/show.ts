import type {ConfigReport} from '../../engine/config-report.js'
import {AttuneCommand} from '../base.js'
import {daemonFlags, daemonOverrides} from '../daemon.js'

export default class ConfigShow extends AttuneCommand<typeof ConfigShow> {
  static override summary = "Show the effective configuration: every setting, its value and where it came from."

  static override description = `Resolves the configuration as every command does (flags > ATTUNE_* environment > config
file > defaults) and prints each setting with its source: default, file:PATH, env:NAME or
flag:--name. Secrets are shown as *** and URLs without their password. ATTUNE_* variables that
are no setting (a typo?) are named in a warning on stderr. It takes the daemon's
flags, so it shows what \`attune daemon\` with the same flags and environment would use.

A bad value in the environment or the config file is an error naming it (exit 2).
Every setting: docs/configuration.md.`

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    {description: 'What a daemon started like this would use', command: 'ATTUNE_LEASE_SECONDS=30 <%= config.bin %> <%= command.id %> --health-port 9464 --json'},
  ]

  static override flags = daemonFlags

  public async run(): Promise<ConfigReport> {
    const {describeConfig} = await import('../../engine/config-report.js')
    const report = describeConfig(this.loadConfig(daemonOverrides(this.flags)))
    if (report.ignored_env.length > 0) {
      process.stderr.write(`Warning: ignored ${report.ignored_env.join(', ')}: not an attune setting (see docs/configuration.md).\n`)
    }
    if (!this.jsonEnabled()) {
      const {renderTable} = await import('../../ui/table.js')
      this.print(`Config file: ${report.file ?? 'none (./attune.yaml and $ATTUNE_HOME/config.yaml do not exist)'}\n`)
      this.print(
        renderTable(
          report.settings,
          [
            {header: 'SETTING', value: (setting) => setting.key},
            {header: 'VALUE', value: (setting) => (setting.value === null ? '' : typeof setting.value === 'string' ? setting.value : JSON.stringify(setting.value)), maxWidth: 70},
            {header: 'SOURCE', value: (setting) => setting.source, color: (setting) => (setting.source === 'default' ? 'gray' : undefined), maxWidth: 90},
          ],
          'No settings.',
        ),
      )
    }
    return report
  }
}
