/**
 * Checks of a webhook request, as Attune's `crates/api/src/webhook_security.rs`: an HMAC over
 * the exact bytes of the body, and the sender's address against an allow-list of addresses
 * and CIDR blocks. Nothing here logs or returns the secret or the signature.
 */
import {createHmac, timingSafeEqual} from 'node:crypto'
import {BlockList, isIP} from 'node:net'
import type {HmacAlgorithm} from './config.js'

export type SignatureCheck = {valid: true} | {valid: false; error?: string}

/**
 * Verifies `signature` (`sha256=<hex>`, GitHub's form, or the bare hex digest) over `body`.
 * A prefix naming another algorithm, or a value that is not hex, is an error (Attune's
 * messages); a well-formed but wrong digest is `{valid: false}`. Compared in constant time.
 */
export function verifySignature(body: Buffer, signature: string, secret: string, algorithm: HmacAlgorithm): SignatureCheck {
  const value = signature.trim()
  const at = value.indexOf('=')
  const prefix = at >= 0 ? value.slice(0, at) : undefined
  const hex = at >= 0 ? value.slice(at + 1) : value
  if (prefix !== undefined && prefix.toLowerCase() !== algorithm) return {valid: false, error: `Algorithm mismatch: expected ${algorithm}, got ${prefix.slice(0, 16)}`}
  if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length % 2 !== 0 || hex.length === 0) return {valid: false, error: 'Invalid hex signature'}
  const expected = createHmac(algorithm, secret).update(body).digest()
  const given = Buffer.from(hex, 'hex')
  if (given.length !== expected.length) return {valid: false}
  return timingSafeEqual(given, expected) ? {valid: true} : {valid: false}
}

/** `sha256=<hex>` of `body`: what a sender puts in `X-Webhook-Signature` (tests, docs). */
export function signBody(body: Buffer | string, secret: string, algorithm: HmacAlgorithm = 'sha256'): string {
  return `${algorithm}=${createHmac(algorithm, secret).update(body).digest('hex')}`
}

/** The address as IPv4 when it is an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`), else as it is. */
export function normalizeIp(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)
  return mapped ? mapped[1] : address
}

/**
 * Whether `address` is one of `entries` (addresses, or CIDR blocks such as `10.0.0.0/8` and
 * `2001:db8::/32`). An entry that is neither is skipped (and counts as not matching).
 */
export function ipAllowed(address: string, entries: readonly string[]): boolean {
  const ip = normalizeIp(address.trim())
  const version = isIP(ip)
  if (version === 0) return false
  const type = version === 4 ? 'ipv4' : 'ipv6'
  const list = new BlockList()
  for (const entry of entries) {
    const [network, prefix] = entry.trim().split('/')
    const entryIp = normalizeIp(network)
    const entryVersion = isIP(entryIp)
    if (entryVersion !== version) continue
    try {
      if (prefix === undefined) list.addAddress(entryIp, type)
      else list.addSubnet(entryIp, Number(prefix), type)
    } catch {
      // An invalid prefix: pack registration refuses it; a config written otherwise matches nothing.
    }
  }
  return list.check(ip, type)
}
