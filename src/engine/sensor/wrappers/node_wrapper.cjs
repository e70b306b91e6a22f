'use strict'
// attune's Node.js sensor wrapper.
//
// Usage: node node_wrapper.cjs SENSOR_FILE               (one poll, config in SENSOR_CONFIG)
//        node node_wrapper.cjs --persistent SENSOR_FILE  (a runner: one request per stdin line)
//        node node_wrapper.cjs --check SENSOR_FILE       (load it as a runner would, poll nothing)
//
// The result goes to fd 3, a channel of its own, so the sensor's console.log() and
// stderr stay logs and can never corrupt the result. Written as CommonJS so that CommonJS
// sensors load with a plain require(); ES modules load through import().

const fs = require('node:fs')
const path = require('node:path')
const {pathToFileURL} = require('node:url')

const RESULT_FD = 3

function writeResult(text) {
  const buffer = Buffer.from(text + '\n', 'utf8')
  let offset = 0
  while (offset < buffer.length) offset += fs.writeSync(RESULT_FD, buffer, offset)
}

async function loadModule(file) {
  const absolute = path.resolve(file)
  if (absolute.endsWith('.mjs')) return import(pathToFileURL(absolute).href)
  try {
    return require(absolute)
  } catch (error) {
    const esm = error && (error.code === 'ERR_REQUIRE_ESM' || error.code === 'ERR_REQUIRE_ASYNC_MODULE' || error instanceof SyntaxError)
    if (!esm) throw error
    try {
      return await import(pathToFileURL(absolute).href)
    } catch {
      throw error
    }
  }
}

/** The poll function: a named export, module.exports.poll_sensor, or a default export function. */
function pickPollFunction(mod, file) {
  const candidates = [mod && mod.poll_sensor, mod && mod.default && mod.default.poll_sensor, mod && mod.default, mod]
  const found = candidates.find((candidate) => typeof candidate === 'function')
  if (!found) {
    const error = new TypeError(`${file} does not export a poll_sensor(config) function (named export, module.exports.poll_sensor or default export)`)
    throw error
  }
  return found
}

async function asEventList(result) {
  if (result === undefined || result === null) return []
  if (Array.isArray(result)) return result
  if (typeof result === 'object' && typeof result.next === 'function') {
    const events = []
    if (typeof result[Symbol.asyncIterator] === 'function') for await (const event of result) events.push(event)
    else if (typeof result[Symbol.iterator] === 'function') for (const event of result) events.push(event)
    else return [result]
    return events
  }
  return [result]
}

function errorDocument(error) {
  if (error instanceof Error) {
    // Drop the wrapper's own frames: the author wants the frames of their code.
    const stack = typeof error.stack === 'string' ? error.stack.split('\n').filter((line) => !line.includes(__filename)).join('\n') : null
    return {error: error.message || error.name, error_type: error.name || 'Error', stack}
  }
  return {error: String(error), error_type: typeof error, stack: null}
}

async function poll(pollFunction, config) {
  try {
    const events = await asEventList(await pollFunction(config))
    return {document: JSON.stringify({events}), ok: true}
  } catch (error) {
    return {document: JSON.stringify(errorDocument(error)), ok: false}
  }
}

/** Exits once stdout and stderr are drained: process.exit() drops writes still queued on a pipe. */
function drainAndExit(code) {
  const pending = [process.stdout, process.stderr].filter((stream) => stream.writableLength > 0)
  if (pending.length === 0) process.exit(code)
  let waiting = pending.length
  for (const stream of pending) {
    stream.once('drain', () => {
      if (--waiting === 0) process.exit(code)
    })
  }
}

async function runOnce(file) {
  // A promise that never settles (nothing left that could settle it) lets the event loop
  // empty: say so, rather than leaving the parent to wonder where the result went.
  process.once('beforeExit', () => {
    writeResult(JSON.stringify({error: 'poll_sensor returned a promise that never settled: nothing was left to run that could settle it', error_type: 'UnsettledPromise', stack: null}))
    drainAndExit(1)
  })
  let outcome
  try {
    const config = JSON.parse(process.env.SENSOR_CONFIG || '{}')
    outcome = await poll(pickPollFunction(await loadModule(file), file), config)
  } catch (error) {
    outcome = {document: JSON.stringify(errorDocument(error)), ok: false}
  }
  writeResult(outcome.document)
  // Exit now: open sockets or timers of the sensor must not keep a finished poll alive.
  drainAndExit(outcome.ok ? 0 : 1)
}

async function runPersistent(file) {
  let pollFunction
  let loadError
  try {
    pollFunction = pickPollFunction(await loadModule(file), file)
  } catch (error) {
    loadError = JSON.stringify(errorDocument(error))
  }
  const readline = require('node:readline')
  const lines = readline.createInterface({input: process.stdin, crlfDelay: Infinity})
  for await (const line of lines) {
    if (!line.trim()) continue
    const request = JSON.parse(line)
    const outcome = pollFunction ? await poll(pollFunction, request.config || {}) : {document: loadError, ok: false}
    // "fatal": this runner exits after the reply (the import failed), so the parent retires it.
    const fatal = pollFunction ? '' : ',"fatal":true'
    writeResult(`{"id":${JSON.stringify(request.id)},"ok":${outcome.ok}${fatal},"result":${outcome.document}}`)
    // Report an import failure and exit, so the next poll imports the file afresh.
    if (!pollFunction) drainAndExit(1)
  }
  drainAndExit(0)
}

/** Loads the sensor and finds its poll function, as a runner starts: the changed file loads or not. */
async function runCheck(file) {
  let outcome
  try {
    pickPollFunction(await loadModule(file), file)
    outcome = {document: JSON.stringify({events: []}), ok: true}
  } catch (error) {
    outcome = {document: JSON.stringify(errorDocument(error)), ok: false}
  }
  writeResult(outcome.document)
  drainAndExit(outcome.ok ? 0 : 1)
}

const args = process.argv.slice(2)
const persistent = args[0] === '--persistent'

process.on('uncaughtException', (error) => {
  // An error thrown later from the sensor's own callbacks. One poll: it is the poll's failure.
  // A runner: it cannot be tied to a request, so the runner crashes and is restarted.
  try {
    if (persistent) process.stderr.write(`${(error && error.stack) || error}\n`)
    else writeResult(JSON.stringify(errorDocument(error)))
  } finally {
    drainAndExit(1)
  }
})

if (args.length === 2 && persistent) runPersistent(args[1])
else if (args.length === 2 && args[0] === '--check') runCheck(args[1])
else if (args.length === 1) runOnce(args[0])
else {
  process.stderr.write('usage: node node_wrapper.cjs [--persistent|--check] SENSOR_FILE\n')
  process.exit(2)
}
