import { ApiError } from '../errors'

// RFC 3339 with a time zone, as the contract asks; Date.parse alone accepts far more.
const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i
/** A century: any longer is a typo, and keeps the instant within what PostgreSQL stores. */
export const maxExpiresInSecs = 100 * 365 * 86_400

/**
 * The instant an upload, session or copy asks its object to expire at, from
 * X-Expires-At (RFC 3339) or X-Expires-In (seconds from now); null when it
 * asks none. Both, a malformed one or a past instant → 400.
 */
export function parseExpiry(headers: Headers, now = Date.now()): string | null {
  const at = headers.get('x-expires-at')
  const within = headers.get('x-expires-in')
  if (at !== null && within !== null) throw new ApiError('bad_request', 'Send X-Expires-At or X-Expires-In, not both')
  if (within !== null) return new Date(now + parseExpiresIn(within, 'X-Expires-In') * 1000).toISOString()
  if (at === null) return null
  const instant = rfc3339.test(at.trim()) ? Date.parse(at.trim()) : Number.NaN
  if (Number.isNaN(instant)) throw new ApiError('bad_request', 'X-Expires-At must be an RFC 3339 instant, e.g. 2030-01-01T00:00:00Z')
  if (instant <= now) throw new ApiError('bad_request', 'X-Expires-At is in the past')
  if (instant > now + maxExpiresInSecs * 1000) throw new ApiError('bad_request', 'X-Expires-At is more than a century away')
  return new Date(instant).toISOString()
}

/** A whole number of seconds in 1..a century, as X-Expires-In and default_expires_in take it. */
export function parseExpiresIn(raw: string, name: string): number {
  const trimmed = raw.trim()
  const secs = /^\d{1,12}$/.test(trimmed) ? Number(trimmed) : Number.NaN
  if (!(secs >= 1 && secs <= maxExpiresInSecs)) throw new ApiError('bad_request', `${name} must be a whole number of seconds from 1 to ${maxExpiresInSecs}`)
  return secs
}
