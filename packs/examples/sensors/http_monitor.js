// Polls an HTTP(S) endpoint and emits an event when it is down, slow or unreachable.
//
// Config:
//   url        endpoint to check (http:// or https://; default https://example.com)
//   timeout    milliseconds before the request counts as failed (default 5000)
//   slow_ms    a response slower than this is reported as slow (default 1000)
//
// The seed version only spoke https, never gave up on a hanging endpoint (the `timeout`
// option only emits an event; nothing aborted the request), and never drained the response.
'use strict'

const http = require('node:http')
const https = require('node:https')

async function poll_sensor(config) {
  const url = config.url || 'https://example.com'
  const timeout = Number(config.timeout || 5000)
  const slowMs = Number(config.slow_ms || 1000)
  const client = url.startsWith('https:') ? https : http

  return new Promise((resolve) => {
    const start = Date.now()
    const request = client.get(url, {timeout}, (response) => {
      response.resume() // drain the body so the socket is released
      const duration = Date.now() - start
      if (response.statusCode < 200 || response.statusCode >= 400) {
        resolve([{event_type: 'endpoint_down', url, status_code: response.statusCode, response_time_ms: duration}])
      } else if (duration > slowMs) {
        resolve([{event_type: 'endpoint_slow', url, status_code: response.statusCode, response_time_ms: duration}])
      } else {
        resolve([])
      }
    })
    request.on('timeout', () => request.destroy(new Error(`no response within ${timeout} ms`)))
    request.on('error', (error) => {
      resolve([{event_type: 'endpoint_error', url, error: error.message}])
    })
  })
}

module.exports = {poll_sensor}
