import { createLocalJWKSet, createRemoteJWKSet, errors, jwksCache, type ExportedJWKSCache, type JWTVerifyGetKey } from 'jose'
import { ApiError } from '../errors'
import { log } from '../log'

/** How long a fetched key set is used before jose fetches it again (and at once on an unknown key id, at most every 30 s). */
const cacheMaxAgeMs = 10 * 60_000
/** After a failed fetch the last good keys answer alone this long, so requests do not each wait for a provider that is down. */
const retryAfterFailureMs = 30_000

// Failures to fetch or read the key set, as opposed to a token no key of the set verifies.
const keySetFailures = new Set(['ERR_JOSE_GENERIC', 'ERR_JWKS_TIMEOUT', 'ERR_JWKS_INVALID'])
const isFetchFailure = (error: unknown) => !(error instanceof errors.JOSEError) || keySetFailures.has(error.code)

/**
 * The keys published at a JWKS URL. When the identity provider cannot be
 * reached, the last key set fetched keeps verifying tokens for up to
 * maxStaleMs after it was fetched: an outage longer than the cache need not
 * stop every request. With no key set that recent, 503, so clients retry
 * instead of discarding a good token.
 */
export function remoteKeySet(url: URL, maxStaleMs: number): JWTVerifyGetKey {
  // jose writes every key set it fetches, and when, into this object.
  const fetched = {} as ExportedJWKSCache
  const remote = createRemoteJWKSet(url, { cacheMaxAge: cacheMaxAgeMs, [jwksCache]: fetched })
  let failedAt = Number.NEGATIVE_INFINITY
  let lastGood: { fetchedAt: number; keys: JWTVerifyGetKey } | undefined

  const lastGoodKeys = (): JWTVerifyGetKey | undefined => {
    if (fetched.uat === undefined || Date.now() - fetched.uat >= maxStaleMs) return undefined
    if (lastGood?.fetchedAt !== fetched.uat) lastGood = { fetchedAt: fetched.uat, keys: createLocalJWKSet(fetched.jwks) }
    return lastGood.keys
  }

  return async (header, token) => {
    const recentlyFailed = Date.now() - failedAt < retryAfterFailureMs
    const fallback = recentlyFailed ? lastGoodKeys() : undefined
    if (fallback) return fallback(header, token)
    try {
      return await remote(header, token)
    } catch (error) {
      if (!isFetchFailure(error)) throw error
      failedAt = Date.now()
      const keys = lastGoodKeys()
      if (!keys) throw new ApiError('unavailable', 'The key set that verifies tokens cannot be fetched; retry later', { 'retry-after': '1' })
      log.warn({ msg: 'the JWKS cannot be fetched; verifying with the last key set fetched', jwks_url: url.href, fetched_at: new Date(fetched.uat).toISOString(), error: String((error as Error)?.message ?? error) })
      return keys(header, token)
    }
  }
}
