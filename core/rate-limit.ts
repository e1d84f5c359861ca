import { ApiError } from './errors'
import { rateLimited } from './metrics'

/**
 * Token buckets per caller (principal, or client IP before authentication),
 * in the memory of each replica: N replicas allow up to N times the rate.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; updated: number }>()

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    /** The metric label of what this limiter caps. */
    private readonly limit: 'principal' | 'client_ip' = 'principal',
  ) {}

  /** Takes one token for `caller`, or throws 429 with the seconds until one is available. */
  take(caller: string, now = performance.now()): void {
    this.refuseWhenEmpty(caller, now)
    this.charge(caller, now)
  }

  /**
   * Throws 429 while `caller` has no whole token, taking none: consulted before
   * work that costs a token only when it fails (an authentication), so that the
   * work itself is refused once the caller has failed too often.
   */
  refuseWhenEmpty(caller: string, now = performance.now()): void {
    if (this.perSecond <= 0) return
    const tokens = this.tokensOf(caller, now)
    if (tokens < 1) {
      // The bucket is left as it was: refilling it on every refused retry adds up
      // rounding errors that would refuse a client retrying exactly at Retry-After.
      const retryAfter = Math.max(1, Math.ceil((1 - tokens) / this.perSecond))
      rateLimited.inc({ limit: this.limit })
      throw new ApiError('rate_limited', 'Too many requests; slow down', { 'retry-after': String(retryAfter) })
    }
  }

  /**
   * Takes one token, going into debt when none is left: attempts that all passed
   * refuseWhenEmpty at once each still cost one, and the debt is waited off.
   */
  charge(caller: string, now = performance.now()): void {
    if (this.perSecond <= 0) return
    this.buckets.set(caller, { tokens: this.tokensOf(caller, now) - 1, updated: now })
    if (this.buckets.size > 100_000) this.forgetFull(now)
  }

  private tokensOf(caller: string, now: number): number {
    const bucket = this.buckets.get(caller)
    if (bucket === undefined) return this.burst
    return Math.min(this.burst, bucket.tokens + ((now - bucket.updated) / 1000) * this.perSecond)
  }

  /** Buckets that have refilled completely carry no state worth keeping. */
  private forgetFull(now: number): void {
    for (const [caller, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.updated) / 1000) * this.perSecond >= this.burst) this.buckets.delete(caller)
    }
  }
}

/** Caps uploads in flight per tenant; release() when the upload ends, however it ends. */
export class UploadSlots {
  private readonly inFlight = new Map<string, number>()

  constructor(private readonly perTenant: number) {}

  acquire(tenantId: string): () => void {
    const current = this.inFlight.get(tenantId) ?? 0
    if (this.perTenant > 0 && current >= this.perTenant) {
      rateLimited.inc({ limit: 'tenant_uploads' })
      throw new ApiError('rate_limited', `At most ${this.perTenant} uploads may run at once for a tenant`, { 'retry-after': '1' })
    }
    this.inFlight.set(tenantId, current + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const left = (this.inFlight.get(tenantId) ?? 1) - 1
      if (left === 0) this.inFlight.delete(tenantId)
      else this.inFlight.set(tenantId, left)
    }
  }
}
