// `npm run bench`: runs every benchmark in bench/ and prints its ratios against baselines
// measured in the same run (never absolute times: these machines are noisy).
// `--json` prints one JSON document instead of the table.
import {existsSync} from 'node:fs'

const SUITES = ['./sensor.mjs', './rules.mjs', './timers.mjs', './daemon.mjs', './detect.mjs', './pipeline.mjs', './api.mjs', './scaleout.mjs']
const json = process.argv.includes('--json')
const reports = []
for (const suite of SUITES) {
  if (!existsSync(new URL(suite, import.meta.url))) continue
  const module = await import(suite)
  if (!json) process.stderr.write(`running ${suite}…\n`)
  reports.push(await module.run())
}

if (json) {
  console.log(JSON.stringify(reports, null, 2))
} else {
  for (const report of reports) {
    console.log(`\n${report.name}`)
    for (const figure of report.figures) {
      console.log(`  ${figure.ok ? '✓' : '✗'} ${figure.name.padEnd(48)} ${String(figure.ratio).padStart(9)}×  (target ${figure.target})`)
    }
    if (report.details) console.log(`  details: ${JSON.stringify(report.details)}`)
  }
}
