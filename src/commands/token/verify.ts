import {Args} from '@oclif/core'
import {readFileSync} from 'node:fs'
import {AbortError} from '../../engine/errors.js'
import {resolveJwtSecret, verificationKeys, verifySensorTokenRotating, type TokenVerification} from '../../engine/tokens/index.js'
import {AttuneCommand} from '../base.js'

export default class TokenVerify extends AttuneCommand<typeof TokenVerify> {
  static override summary = 'Check a sensor token: signature (HS256 only), expiry and type.'

  static override description = `Prints the claims of a valid token. Exit codes: 0 valid, 1 invalid (the reason is printed:
malformed, bad_signature, algorithm, expired, not_yet_valid, wrong_type), 2 bad usage.
Pass - to read the token from stdin (keeps it out of your shell history).`

  static override examples = [
    {description: 'Verify a token', command: '<%= config.bin %> <%= command.id %> eyJhbGciOiJIUzI1NiIs...'},
    {description: 'From stdin', command: 'echo "$TOKEN" | <%= config.bin %> <%= command.id %> -'},
  ]

  static override args = {
    token: Args.string({description: 'The token, or - to read it from stdin.', required: true}),
  }

  public async run(): Promise<TokenVerification> {
    const {config} = this.loadConfig()
    const {secret, previous} = resolveJwtSecret(config)
    const keys = verificationKeys(secret, previous)
    const token = this.args.token === '-' ? readFileSync(0, 'utf8') : this.args.token
    if (token.trim() === '') {
      throw new AbortError(this.args.token === '-' ? 'No token given (stdin was empty).' : 'No token given (the argument is empty).', {code: 'token_missing'})
    }
    const verification = await verifySensorTokenRotating(token, keys)
    if (!this.jsonEnabled()) {
      if (verification.valid) {
        const {claims} = verification
        const lines = [
          '✓ valid sensor token',
          `  sub            ${claims.sub}`,
          `  login          ${claims.login}`,
          `  trigger_types  ${claims.metadata.trigger_types.join(', ')}`,
          `  issued         ${new Date(claims.iat * 1000).toISOString()}`,
          `  expires        ${verification.expires_at}`,
        ]
        process.stdout.write(`${lines.join('\n')}\n`)
      } else {
        process.stdout.write(`✗ invalid token (${verification.reason}): ${verification.message}\n`)
      }
    }
    this.setFailed(!verification.valid)
    return verification
  }
}
