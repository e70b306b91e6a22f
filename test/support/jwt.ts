import {createHmac} from 'node:crypto'

/** An independent HS256 implementation (node:crypto only), to check interoperability. */
export function base64url(input: Buffer | string): string {
  return Buffer.from(input).toString('base64url')
}

export function signHs256(header: object, payload: object, secret: string, algorithm = 'sha256'): string {
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`
  const signature = createHmac(algorithm, secret).update(signingInput).digest('base64url')
  return `${signingInput}.${signature}`
}

export function checkHs256(token: string, secret: string): {valid: boolean; header: Record<string, unknown>; payload: Record<string, unknown>} {
  const [header, payload, signature] = token.split('.')
  const expected = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url')
  return {
    valid: expected === signature,
    header: JSON.parse(Buffer.from(header, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(payload, 'base64url').toString()),
  }
}
