import type {EventPipeline} from '../engine/events/index.js'
import type {Store} from '../engine/store/index.js'
import type {VerificationKeys} from '../engine/tokens/index.js'
import type {Authenticator} from './auth.js'

/** What the API's log needs (the daemon's logger fits). Nothing about a token or a secret is ever passed to it. */
export interface ApiLogger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
}

/** What the routes share: the database, the one event pipeline, token keys and the log. */
export interface ApiContext {
  store: Store
  pipeline: EventPipeline
  auth: Authenticator
  keys: VerificationKeys
  logger: ApiLogger
  onSensorEvents?: (sensorRef: string, events: number) => void
}
