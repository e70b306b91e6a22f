import type {DatabaseStatus} from './database.js'
import type {Probe} from './health.js'
import type {BrokerStatus} from './publisher.js'

/**
 * The health rules, in one place. Inputs are what the services report; outputs are the
 * bodies and verdicts of /healthz, /livez and /readyz (see `health.ts` for who uses which).
 */
export interface ProbeInputs {
  worker: string
  startedAt: Date
  stopping: boolean
  database: DatabaseStatus
  broker: BrokerStatus
  /** Sensors run by this daemon (polled, long-running, the timer) and the failed ones. */
  sensors: {total: number; failed: string[]; long_running: number}
  /** Polled sensors with no completed poll within 3× their interval while the database answers. */
  stuck: string[]
  /** When the daemon's background tick last ran (ms since the epoch). */
  lastTick: number
  /** The health endpoints (and the API, when one runs) are listening. */
  serving: boolean
}

/** A tick older than this means the daemon's timers no longer run. */
export const LIVENESS_TICK_MS = 30_000

export function healthz(inputs: ProbeInputs): Probe {
  const down = [...(inputs.database.ok ? [] : ['database']), ...(inputs.broker.ok ? [] : ['broker'])]
  // Stuck sensors are judged only while the database answers: an outage pauses every sensor.
  const stuck = down.includes('database') ? [] : inputs.stuck
  const status = inputs.stopping ? 'stopping' : down.length > 0 ? 'unavailable' : stuck.length > 0 ? 'degraded' : 'ok'
  return {
    ok: status === 'ok',
    body: {
      status,
      down,
      stuck,
      worker: inputs.worker,
      uptime_seconds: Math.round((Date.now() - inputs.startedAt.getTime()) / 1000),
      database: inputs.database,
      broker: inputs.broker,
      sensors: {total: inputs.sensors.total, failed: inputs.sensors.failed.length, failed_refs: inputs.sensors.failed, stuck: stuck.length, long_running: inputs.sensors.long_running},
    },
  }
}

export function livez(inputs: ProbeInputs, now = Date.now()): Probe {
  const tickAgeMs = now - inputs.lastTick
  const ok = tickAgeMs <= LIVENESS_TICK_MS
  return {ok, body: {status: ok ? 'ok' : 'unresponsive', tick_age_ms: tickAgeMs, worker: inputs.worker}}
}

export function readyz(inputs: ProbeInputs): Probe {
  const reasons = [
    ...(inputs.stopping ? ['stopping'] : []),
    ...(inputs.database.ok ? [] : [`database: ${inputs.database.error ?? 'unavailable'}`]),
    ...(inputs.serving ? [] : ['endpoints not listening']),
  ]
  return {ok: reasons.length === 0, body: {status: reasons.length === 0 ? 'ready' : 'not ready', reasons, worker: inputs.worker}}
}
