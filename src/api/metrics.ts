import {Counter, Histogram, type Registry} from 'prom-client'

/** The API's series, registered in the daemon's registry (served on /metrics). */
export class ApiMetrics {
  readonly requests: Counter<'route' | 'status'>
  readonly duration: Histogram<'route'>
  readonly refusals: Counter<'route' | 'status'>

  constructor(registry: Registry) {
    this.requests = new Counter({name: 'attune_api_requests_total', help: 'API requests answered, by route and status.', labelNames: ['route', 'status'], registers: [registry]})
    this.refusals = new Counter({
      name: 'attune_api_refusals_total',
      help: 'API requests refused (4xx: auth, scope, bad input, limits), by route and status.',
      labelNames: ['route', 'status'],
      registers: [registry],
    })
    this.duration = new Histogram({
      name: 'attune_api_request_duration_seconds',
      help: 'API request latency, by route.',
      labelNames: ['route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    })
  }
}
