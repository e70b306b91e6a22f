/** A connection URL without its password, safe for messages and logs; `what` names it when unparseable. */
export function redactUrl(url: string, what = 'URL'): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return `<unparseable ${what}>`
  }
}
