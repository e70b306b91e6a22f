/**
 * A small registered world for CLI tests of the pipeline: a trigger with an output schema, a
 * python sensor with fixed events (one breaks the schema) and a secret parameter, rules in both
 * forms (one disabled), a failing sensor and a long-running one. Registered into a fresh
 * embedded database under a temp ATTUNE_HOME.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {CORE_PACK_DIR} from '../../src/engine/detect/index.js'
import {registerPacks} from '../../src/engine/packs/index.js'
import {openStore, type Store} from '../../src/engine/store/index.js'
import {makePack, removeTempDirs} from '../store/pack-files.js'

export const DEMO_FILES: Record<string, string> = {
  'triggers/disk.yaml': `ref: demo.disk
label: Disk
output:
  path: {type: string, required: true}
  usage: {type: integer, required: true}
`,
  'sensors/disk.yaml': `ref: demo.disk_sensor
label: Disk sensor
runner_type: python
entry_point: disk.py
trigger_types: [demo.disk]
parameters:
  mount: {type: string, default: /}
  token: {type: string, secret: true}
config:
  token: hunter2
`,
  'sensors/disk.py': `def poll_sensor(config):
    print("checked", config["mount"])
    return [
        {"path": config["mount"], "usage": 95},
        {"path": "/tmp", "usage": 10},
        {"path": "/x", "usage": "n/a"},
    ]
`,
  'sensors/broken.yaml': `ref: demo.broken_sensor
label: Broken
runner_type: python
entry_point: broken.py
trigger_types: [demo.disk]
`,
  'sensors/broken.py': `def poll_sensor(config):
    raise RuntimeError("disk API is down")
`,
  'sensors/forever.yaml': `ref: demo.forever
label: Forever
runner_type: python
entry_point: disk.py
execution: long_running
trigger_types: [demo.disk]
`,
  'rules/page.yaml': `ref: demo.page
trigger: {type: demo.disk}
conditions:
  - {field: payload.usage, operator: greater_than, value: 90}
action: {ref: core.echo}
`,
  'rules/log.yaml': `name: log_all
pack: demo
trigger: {type: demo.disk}
criteria:
  trigger.path: {type: startswith, pattern: /}
action: {ref: core.local}
`,
  'rules/off.yaml': `ref: demo.off
trigger: {type: demo.disk}
action: {ref: core.echo}
enabled: false
`,
}

/** A temp ATTUNE_HOME whose embedded database holds the demo pack. */
export async function demoHome(): Promise<{home: string; open(): Promise<Store>; cleanup(): void}> {
  const home = mkdtempSync(join(tmpdir(), 'attune-demo-home-'))
  const store = await openStore({home})
  try {
    // attune's core pack: the runtimes the sensors name and the actions the rules name.
    await registerPacks(store, [CORE_PACK_DIR, makePack('demo', DEMO_FILES)])
  } finally {
    await store.close()
  }
  return {
    home,
    open: () => openStore({home}),
    cleanup() {
      rmSync(home, {recursive: true, force: true})
      removeTempDirs()
    },
  }
}
