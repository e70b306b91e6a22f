// Rule evaluation: compiled rules against json-rules-engine and a hand-written JavaScript
// predicate, on the same rules and the same 100k events, in one process.
// Targets (issue 8): >= 100x faster than json-rules-engine; <= 3x the hand-written predicate.
// All three must agree on every decision, or the run fails.
import {Engine} from 'json-rules-engine'
import {fileURLToPath} from 'node:url'
import {evaluate, parseRules} from '../dist/engine/rules/index.js'
import {formatRatio, median} from './lib.mjs'

const EVENTS = 100_000

// The rules, written once as Attune/StackStorm YAML for us.
const RULES_YAML = `
ref: bench.deploy_on_push
trigger: {type: github.push}
conditions:
  any:
    - {field: payload.branch, operator: equals, value: main}
    - all: [{field: payload.tag, operator: exists}, {field: payload.tag, operator: matches, value: '^v\\d+'}]
action: {ref: core.echo}
---
ref: bench.cpu_alert
trigger: {type: metrics.sample}
conditions:
  - {field: host, operator: starts_with, value: web-}
  - {field: metrics.cpu, operator: greater_than, value: 90}
  - {field: env, operator: in, value: [prod, staging]}
action: {ref: core.echo}
---
name: st2_webhook
pack: bench
trigger: {type: core.st2.webhook}
criteria:
  trigger.body.name: {type: equals, pattern: st2}
  trigger.body.action: {type: inside, pattern: [opened, reopened]}
action: {ref: core.local}
---
ref: bench.error_log
trigger: {type: logs.line}
conditions:
  all:
    - {field: level, operator: in, value: [error, critical]}
    - {field: message, operator: contains, value: timeout}
    - any:
        - {field: service, operator: equals, value: api}
        - {field: service, operator: ends_with, value: -gateway}
action: {ref: core.echo}
---
ref: bench.disk_full
trigger: {type: metrics.disk}
conditions:
  - {field: payload.items.0.name, operator: equals, value: disk}
  - {field: payload.items.0.used, operator: greater_or_equal, value: 80}
action: {ref: core.echo}
`

// The same rules as a careful developer would write them by hand (with the type checks the
// operators imply: no coercion, a missing field is false).
const VERSION = /^v\d+/
const HANDWRITTEN = [
  (p) => p.branch === 'main' || (typeof p.tag === 'string' && VERSION.test(p.tag)),
  (p) =>
    typeof p.host === 'string' &&
    p.host.startsWith('web-') &&
    typeof p.metrics?.cpu === 'number' &&
    p.metrics.cpu > 90 &&
    (p.env === 'prod' || p.env === 'staging'),
  (p) => p.body?.name === 'st2' && (p.body.action === 'opened' || p.body.action === 'reopened'),
  (p) =>
    (p.level === 'error' || p.level === 'critical') &&
    typeof p.message === 'string' &&
    p.message.includes('timeout') &&
    (p.service === 'api' || (typeof p.service === 'string' && p.service.endsWith('-gateway'))),
  (p) => {
    const first = Array.isArray(p.items) ? p.items[0] : undefined
    return first?.name === 'disk' && typeof first.used === 'number' && first.used >= 80
  },
]

// The same rules for json-rules-engine, with the operators it lacks added.
const fact = (path) => ({fact: 'payload', path: `$.${path}`})
const JRE_RULES = [
  {
    conditions: {
      any: [
        {...fact('branch'), operator: 'equal', value: 'main'},
        {all: [{...fact('tag'), operator: 'present', value: true}, {...fact('tag'), operator: 'matches', value: '^v\\d+'}]},
      ],
    },
  },
  {
    conditions: {
      all: [
        {...fact('host'), operator: 'startsWith', value: 'web-'},
        {...fact('metrics.cpu'), operator: 'greaterThanNumber', value: 90},
        {...fact('env'), operator: 'in', value: ['prod', 'staging']},
      ],
    },
  },
  {
    conditions: {
      all: [
        {...fact('body.name'), operator: 'equal', value: 'st2'},
        {...fact('body.action'), operator: 'in', value: ['opened', 'reopened']},
      ],
    },
  },
  {
    conditions: {
      all: [
        {...fact('level'), operator: 'in', value: ['error', 'critical']},
        {...fact('message'), operator: 'stringContains', value: 'timeout'},
        {any: [{...fact('service'), operator: 'equal', value: 'api'}, {...fact('service'), operator: 'endsWith', value: '-gateway'}]},
      ],
    },
  },
  {
    conditions: {
      all: [
        {...fact('items[0].name'), operator: 'equal', value: 'disk'},
        {...fact('items[0].used'), operator: 'greaterThanInclusiveNumber', value: 80},
      ],
    },
  },
]

function jsonRulesEngine() {
  const engine = new Engine([], {allowUndefinedFacts: true})
  const isString = (v) => typeof v === 'string'
  const isNumber = (v) => typeof v === 'number'
  engine.addOperator('present', (v) => v !== undefined && v !== null)
  engine.addOperator('matches', (v, pattern) => isString(v) && new RegExp(pattern).test(v))
  engine.addOperator('startsWith', (v, prefix) => isString(v) && v.startsWith(prefix))
  engine.addOperator('endsWith', (v, suffix) => isString(v) && v.endsWith(suffix))
  engine.addOperator('stringContains', (v, part) => isString(v) && v.includes(part))
  engine.addOperator('greaterThanNumber', (v, n) => isNumber(v) && v > n)
  engine.addOperator('greaterThanInclusiveNumber', (v, n) => isNumber(v) && v >= n)
  JRE_RULES.forEach((rule, i) => engine.addRule({...rule, event: {type: String(i)}}))
  return engine
}

// Deterministic events: a mix that matches each rule sometimes, with missing fields and
// wrong types along the way.
function makeEvents(count) {
  let seed = 0x5eed
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const pick = (list) => list[Math.floor(random() * list.length)]
  const events = []
  for (let i = 0; i < count; i++) {
    const kind = i % 5
    if (kind === 0) {
      events.push({branch: pick(['main', 'dev', 'feature/x']), ...(random() < 0.5 ? {tag: pick(['v1.2', 'v10', 'nightly', 7])} : {}), commits: [{id: i}]})
    } else if (kind === 1) {
      events.push({host: pick(['web-1', 'web-2', 'db-1', 42]), metrics: {cpu: pick([10, 95, 99.5, '97']), mem: 50}, env: pick(['prod', 'staging', 'dev'])})
    } else if (kind === 2) {
      events.push({body: random() < 0.9 ? {name: pick(['st2', 'other']), action: pick(['opened', 'closed', 'reopened'])} : 'raw', headers: {'X-Id': String(i)}})
    } else if (kind === 3) {
      events.push({level: pick(['info', 'error', 'critical']), message: pick(['connection timeout after 5s', 'ok', 'read timeout']), service: pick(['api', 'auth-gateway', 'worker', null])})
    } else {
      events.push({items: random() < 0.8 ? [{name: pick(['disk', 'mem']), used: pick([50, 80, 95, '90'])}] : []})
    }
  }
  return events
}

function timed(fn) {
  const start = performance.now()
  const result = fn()
  return {ms: performance.now() - start, result}
}

export async function run({events: count = EVENTS, rounds = 15, warmup = 5} = {}) {
  const events = makeEvents(count)
  const compiled = parseRules(RULES_YAML, 'bench/rules.mjs').map((loaded) => loaded.compiled)
  if (compiled.length !== HANDWRITTEN.length || compiled.length !== JRE_RULES.length) throw new Error('rule sets differ in size')

  // Per rule, how many events matched: the three implementations must agree.
  const oursLoop = () => {
    const counts = new Array(compiled.length).fill(0)
    for (let e = 0; e < events.length; e++) {
      const payload = events[e]
      for (let r = 0; r < compiled.length; r++) if (evaluate(compiled[r], payload)) counts[r]++
    }
    return counts
  }
  const handLoop = () => {
    const counts = new Array(HANDWRITTEN.length).fill(0)
    for (let e = 0; e < events.length; e++) {
      const payload = events[e]
      for (let r = 0; r < HANDWRITTEN.length; r++) if (HANDWRITTEN[r](payload)) counts[r]++
    }
    return counts
  }

  // Interleave ours and hand-written round by round so machine load hits both alike.
  const oursTimes = []
  const handTimes = []
  let oursCounts
  let handCounts
  for (let i = 0; i < warmup + rounds; i++) {
    const a = timed(oursLoop)
    const b = timed(handLoop)
    oursCounts = a.result
    handCounts = b.result
    if (i >= warmup) {
      oursTimes.push(a.ms)
      handTimes.push(b.ms)
    }
  }
  const oursMs = median(oursTimes)
  const handMs = median(handTimes)

  // json-rules-engine is asynchronous and far slower: one full pass after a short warm-up.
  const engine = jsonRulesEngine()
  for (let e = 0; e < 2000; e++) await engine.run({payload: events[e]})
  const jreCounts = new Array(JRE_RULES.length).fill(0)
  const start = performance.now()
  for (let e = 0; e < events.length; e++) {
    const {events: fired} = await engine.run({payload: events[e]})
    for (const event of fired) jreCounts[Number(event.type)]++
  }
  const jreMs = performance.now() - start

  const same = (a, b) => a.length === b.length && a.every((n, i) => n === b[i])
  if (!same(oursCounts, handCounts) || !same(oursCounts, jreCounts)) {
    throw new Error(`implementations disagree: ours ${oursCounts}, hand-written ${handCounts}, json-rules-engine ${jreCounts}`)
  }

  const nsPerEvent = (ms) => Math.round((ms * 1e6) / events.length)
  return {
    name: 'rule evaluation',
    figures: [
      formatRatio('compiled rules / hand-written predicate', oursMs / handMs, 3),
      formatRatio('json-rules-engine / compiled rules', jreMs / oursMs, 100, '>='),
    ],
    details: {
      events: events.length,
      rules: compiled.length,
      matches_per_rule: oursCounts,
      compiled_ns_per_event: nsPerEvent(oursMs),
      handwritten_ns_per_event: nsPerEvent(handMs),
      json_rules_engine_ns_per_event: nsPerEvent(jreMs),
    },
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const report = await run()
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(report, null, 2))
  } else {
    console.log(report.name)
    for (const figure of report.figures) console.log(`  ${figure.ok ? '✓' : '✗'} ${figure.name.padEnd(44)} ${String(figure.ratio).padStart(9)}×  (target ${figure.target})`)
    console.log(`  details: ${JSON.stringify(report.details)}`)
  }
}
