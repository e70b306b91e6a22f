import {Flags} from '@oclif/core'
import {
  withJwtSecret,
  DEFAULT_TOKEN_TTL_SECONDS,
  MAX_TOKEN_TTL_SECONDS,
  MIN_TOKEN_TTL_SECONDS,
  issueSensorToken,
  jwtSecretKey,
  validateTokenRequest,
  type IssuedSensorToken,
} from '../../engine/tokens/index.js'
import {AttuneCommand, databaseFlags} from '../base.js'

export default class TokenIssue extends AttuneCommand<typeof TokenIssue> {
  static override summary = 'Issue a sensor token (an HS256 JWT) for a long-running sensor.'

  static override description = `The token's subject is the identity "sensor:<ref>", created on first issue and reused after.
Prints the token alone on stdout, so $(attune token issue ...) works; --json adds the identity
and expiry. The signing secret comes from ATTUNE_JWT_SECRET or auth.jwt_secret (32 bytes or more).`

  static override examples = [
    {description: 'Issue a token for the timer sensor', command: '<%= config.bin %> <%= command.id %> --sensor-ref core.timer --trigger-types core.intervaltimer,core.crontimer'},
    {description: 'Check a fresh token', command: '<%= config.bin %> token verify "$(<%= config.bin %> <%= command.id %> --sensor-ref core.timer --trigger-types core.intervaltimer)"'},
  ]

  static override flags = {
    ...databaseFlags,
    'sensor-ref': Flags.string({description: 'Ref of the sensor the token is for, e.g. core.timer.', required: true}),
    'trigger-types': Flags.string({description: 'Comma-separated trigger refs the sensor may emit.', required: true}),
    ttl: Flags.integer({
      description: `Lifetime in seconds (${MIN_TOKEN_TTL_SECONDS}..${MAX_TOKEN_TTL_SECONDS}).`,
      default: DEFAULT_TOKEN_TTL_SECONDS,
    }),
  }

  public async run(): Promise<IssuedSensorToken> {
    const {flags} = this
    const loaded = this.loadConfig({database: {url: flags['database-url']}}).config
    const request = {sensorRef: flags['sensor-ref'], triggerTypes: flags['trigger-types'].split(','), ttlSeconds: flags.ttl}
    // Bad input is reported before the database is opened (and possibly created).
    validateTokenRequest(request)
    const config = withJwtSecret(loaded, {generate: true, notice: (message) => process.stderr.write(`${message}\n`)})
    jwtSecretKey(config.auth.jwt_secret)
    const store = await this.openStore(config)
    try {
      const issued = await issueSensorToken(store, request, config.auth.jwt_secret)
      if (!this.jsonEnabled()) {
        process.stdout.write(`${issued.token}\n`)
        if (process.stderr.isTTY) process.stderr.write(`Issued for sensor:${issued.sensor_ref} (identity ${issued.identity_id}), expires ${issued.expires_at}\n`)
      }
      return issued
    } finally {
      await store.close()
    }
  }
}
