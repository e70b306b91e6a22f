/** Query parameters that carry a secret in connection URLs (libpq's `password`, `sslpassword`, ...). */
const SECRET_PARAMETERS = /^(password|passwd|pwd|sslpassword|secret|token|api_?key)$/i

/**
 * A connection URL without its secrets, safe for messages and logs: the password of the user
 * part and every secret query parameter (`?password=...`) are `***`. `what` names it when the
 * URL cannot be parsed (then nothing of it is shown).
 */
export function redactUrl(url: string, what = 'URL'): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    for (const key of [...parsed.searchParams.keys()]) if (SECRET_PARAMETERS.test(key)) parsed.searchParams.set(key, '***')
    return parsed.toString()
  } catch {
    return `<unparseable ${what}>`
  }
}
