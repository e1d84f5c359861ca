import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { and, eq } from 'drizzle-orm'
import { createApiKey } from '../../core/auth/api-keys'
import type { Permission } from '../../core/auth/principal'
import { objects } from '../../core/db/schema'
import { ApiError } from '../../core/errors'
import { rateLimited } from '../../core/metrics'
import { RateLimiter, UploadSlots } from '../../core/rate-limit'
import { backends, startServer, type TestServer } from '../support/server'

/** The Retry-After seconds of a refused take, or null when the take succeeded. */
function retryAfterOf(take: () => void): number | null {
  try {
    take()
    return null
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError)
    expect({ status: (error as ApiError).status, code: (error as ApiError).code }).toEqual({ status: 429, code: 'rate_limited' })
    return Number((error as ApiError).headers['retry-after'])
  }
}

describe('RateLimiter', () => {
  test('a full bucket allows `burst` takes at once, then refuses with Retry-After from the rate', () => {
    const limiter = new RateLimiter(2, 3)
    expect([0, 0, 0].map((t) => retryAfterOf(() => limiter.take('alice', t)))).toEqual([null, null, null])
    // One token takes 1/2 s at 2 per second: rounded up to whole seconds, never 0.
    expect(retryAfterOf(() => limiter.take('alice', 0))).toBe(1)
  })

  test('Retry-After is the time until one whole token is back, and honest: a take then succeeds', () => {
    const limiter = new RateLimiter(0.1, 2)
    limiter.take('slow', 0)
    limiter.take('slow', 0)
    expect(retryAfterOf(() => limiter.take('slow', 0))).toBe(10)
    expect(retryAfterOf(() => limiter.take('slow', 5000))).toBe(5)
    expect(retryAfterOf(() => limiter.take('slow', 9000))).toBe(1)
    expect(retryAfterOf(() => limiter.take('slow', 10_000))).toBeNull()
  })

  test('for any rate, waiting the Retry-After it gave is enough', () => {
    for (const [perSecond, burst] of [[1, 1], [3, 2], [5, 5], [7, 20], [0.25, 1]] as const) {
      const limiter = new RateLimiter(perSecond, burst)
      let now = 0
      for (let round = 0; round < 5; round++) {
        // Drain whatever has refilled, then wait as told.
        let retryAfter: number | null = null
        for (let taken = 0; retryAfter === null; taken++) {
          expect(taken).toBeLessThanOrEqual(burst)
          retryAfter = retryAfterOf(() => limiter.take('c', now))
        }
        expect(retryAfter).toBeGreaterThanOrEqual(1)
        expect(retryAfter).toBeLessThanOrEqual(Math.ceil(1 / perSecond))
        now += retryAfter! * 1000
        expect(retryAfterOf(() => limiter.take('c', now))).toBeNull()
      }
    }
  })

  test('refills at the rate over time, never beyond the burst', () => {
    const limiter = new RateLimiter(10, 5)
    for (let i = 0; i < 5; i++) limiter.take('bob', 0)
    expect(retryAfterOf(() => limiter.take('bob', 0))).toBe(1)
    // 300 ms at 10/s is three tokens.
    expect([300, 300, 300, 300].map((t) => retryAfterOf(() => limiter.take('bob', t)))).toEqual([null, null, null, 1])
    // An hour idle refills to the burst of 5, not to 36 000.
    const later = 3600_000
    expect(Array.from({ length: 6 }, () => retryAfterOf(() => limiter.take('bob', later)))).toEqual([null, null, null, null, null, 1])
  })

  test('a refused take costs nothing: the caller is not pushed further back by retrying', () => {
    const limiter = new RateLimiter(1, 1)
    limiter.take('eager', 0)
    for (let t = 0; t < 1000; t += 100) expect(retryAfterOf(() => limiter.take('eager', t))).toBe(1)
    expect(retryAfterOf(() => limiter.take('eager', 1000))).toBeNull()
  })

  test('callers have buckets of their own', () => {
    const limiter = new RateLimiter(1, 2)
    limiter.take('a', 0)
    limiter.take('a', 0)
    expect(retryAfterOf(() => limiter.take('a', 0))).toBe(1)
    expect(retryAfterOf(() => limiter.take('b', 0))).toBeNull()
    expect(retryAfterOf(() => limiter.take('b', 0))).toBeNull()
  })

  test('a rate of 0 turns the limit off', () => {
    const limiter = new RateLimiter(0, 1)
    for (let i = 0; i < 1000; i++) limiter.take('anyone', 0)
    for (let i = 0; i < 1000; i++) limiter.charge('anyone', 0)
    expect(retryAfterOf(() => limiter.refuseWhenEmpty('anyone', 0))).toBeNull()
  })

  test('refuseWhenEmpty takes nothing; charge takes a token, and refuseWhenEmpty refuses once none is left', () => {
    const limiter = new RateLimiter(1, 2)
    for (let i = 0; i < 10; i++) expect(retryAfterOf(() => limiter.refuseWhenEmpty('guesser', 0))).toBeNull()
    limiter.charge('guesser', 0)
    expect(retryAfterOf(() => limiter.refuseWhenEmpty('guesser', 0))).toBeNull()
    limiter.charge('guesser', 0)
    expect(retryAfterOf(() => limiter.refuseWhenEmpty('guesser', 0))).toBe(1)
    expect(retryAfterOf(() => limiter.refuseWhenEmpty('guesser', 1000))).toBeNull()
  })

  test('attempts that passed together are all charged: the debt is waited off before the next one', () => {
    const limiter = new RateLimiter(1, 2)
    // Five attempts were already under way when the bucket ran dry.
    for (let i = 0; i < 5; i++) limiter.charge('burst', 0)
    expect(retryAfterOf(() => limiter.refuseWhenEmpty('burst', 0))).toBe(4)
    expect(retryAfterOf(() => limiter.refuseWhenEmpty('burst', 3000))).toBe(1)
    expect(retryAfterOf(() => limiter.refuseWhenEmpty('burst', 4000))).toBeNull()
  })
})

describe('UploadSlots', () => {
  test('at most `perTenant` at once per tenant; over the cap → 429 rate_limited with Retry-After', () => {
    const slots = new UploadSlots(2)
    slots.acquire('acme')
    slots.acquire('acme')
    expect(retryAfterOf(() => slots.acquire('acme'))).toBeGreaterThanOrEqual(1)
  })

  test('tenants do not share slots', () => {
    const slots = new UploadSlots(1)
    slots.acquire('acme')
    expect(() => slots.acquire('acme')).toThrow(ApiError)
    expect(() => slots.acquire('globex')).not.toThrow()
  })

  test('release frees the slot; releasing twice frees it only once', () => {
    const slots = new UploadSlots(2)
    const first = slots.acquire('acme')
    slots.acquire('acme')
    first()
    first()
    slots.acquire('acme')
    // Two held again: the double release did not make room for a third.
    expect(() => slots.acquire('acme')).toThrow(ApiError)
  })

  test('a cap of 0 means no cap', () => {
    const slots = new UploadSlots(0)
    for (let i = 0; i < 1000; i++) slots.acquire('acme')
  })
})

/** The rate_limited_total counter of one limit, as /metrics reports it. */
async function refusals(limit: string): Promise<number> {
  return (await rateLimited.get()).values.find((sample) => sample.labels.limit === limit)?.value ?? 0
}

/** An upload body the test feeds by hand. */
function controlledBody() {
  let controller!: ReadableStreamDefaultController<Uint8Array>
  const stream = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) })
  return { stream, send: (text: string) => controller.enqueue(new TextEncoder().encode(text)), end: () => controller.close() }
}

describe.each(backends)('rate limits over HTTP on %s', (backend) => {
  let server: TestServer
  const keyFor = async (tenantId: string, permissions: Permission[]) =>
    (await createApiKey(server.database.db, { name: 'rate', tenantId, permissions, namespaces: null, expiresAt: null, createdBy: 'test' })).key
  const list = (key: string) => fetch(`${server.url}/v1/objects?namespace=rates`, { headers: { authorization: `Bearer ${key}` } })
  const upload = (key: string, namespace: string, body: BodyInit, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/v1/objects?namespace=${namespace}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, ...headers }, body, duplex: 'half' } as RequestInit)

  beforeAll(async () => {
    server = await startServer(backend, {
      auth: true,
      env: { RATE_LIMIT_PER_SEC: '5', RATE_LIMIT_BURST: '5', UNAUTHENTICATED_RATE_LIMIT_PER_SEC: '2', MAX_CONCURRENT_UPLOADS_PER_TENANT: '1' },
    })
  }, 60_000)
  afterAll(() => server.stop())

  test('per principal: the 6th quick request → 429 with Retry-After; others are unaffected; after waiting it works again', async () => {
    const key = await keyFor('acme', ['objects:read'])
    const refusedBefore = await refusals('principal')
    const statuses: number[] = []
    let refused: Response | undefined
    for (let i = 0; i < 6; i++) {
      const response = await list(key)
      statuses.push(response.status)
      if (response.status === 429) refused = response
      else await response.arrayBuffer()
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429])
    expect((await refusals('principal')) - refusedBefore).toBe(1)
    const body = await refused!.json()
    expect(body).toEqual({ error: expect.any(String), code: 'rate_limited', request_id: refused!.headers.get('x-request-id') })
    const retryAfter = Number(refused!.headers.get('retry-after'))
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    expect(retryAfter).toBeLessThanOrEqual(1)

    // Another principal of the same tenant has a bucket of its own.
    expect((await list(await keyFor('acme', ['objects:read']))).status).toBe(200)

    await Bun.sleep(retryAfter * 1000)
    expect((await list(key)).status).toBe(200)
  })

  test('failed authentication per client address: after the burst → 429 before any credential is checked, a valid one too; recovers', async () => {
    const bad = () => fetch(`${server.url}/v1/objects?namespace=rates`, { headers: { authorization: 'Bearer not-a-credential' } })
    // 2 per second with a burst of twice that.
    const refusedBefore = await refusals('client_ip')
    const statuses: number[] = []
    let refused: Response | undefined
    for (let i = 0; i < 5; i++) {
      const response = await bad()
      statuses.push(response.status)
      if (response.status === 429) refused = response
      else await response.arrayBuffer()
    }
    expect(statuses).toEqual([401, 401, 401, 401, 429])
    expect((await refusals('client_ip')) - refusedBefore).toBe(1)
    expect((await refused!.json()).code).toBe('rate_limited')
    const retryAfter = Number(refused!.headers.get('retry-after'))
    expect(retryAfter).toBeGreaterThanOrEqual(1)

    // While the address is refused, no credential is checked at all: a right guess
    // would otherwise succeed, so even a working key waits like a wrong one.
    const working = await keyFor('acme', ['objects:read'])
    const meanwhile = await list(working)
    expect(meanwhile.status).toBe(429)
    expect((await meanwhile.json()).code).toBe('rate_limited')

    await Bun.sleep(retryAfter * 1000)
    expect((await list(working)).status).toBe(200)
    expect((await bad()).status).toBe(401)
  })

  test('concurrent uploads per tenant: a second while one is open → 429; another tenant uploads; the slot frees when it ends', async () => {
    const namespace = `slots-${backend}`
    const [holder, second, third] = [await keyFor('acme', ['objects:write']), await keyFor('acme', ['objects:write']), await keyFor('acme', ['objects:write'])]
    const body = controlledBody()
    body.send('first half, ')
    const held = upload(holder, namespace, body.stream)

    // The reservation row appears only once the upload holds its slot.
    const writing = () => server.database.db.select().from(objects).where(and(eq(objects.namespace, namespace), eq(objects.status, 'WRITING')))
    for (let i = 0; (await writing()).length === 0; i++) {
      if (i > 2000) throw new Error('the held upload never started')
      await Bun.sleep(5)
    }

    const refusedBefore = await refusals('tenant_uploads')
    const refused = await upload(second, namespace, 'second')
    expect(refused.status).toBe(429)
    expect((await refusals('tenant_uploads')) - refusedBefore).toBe(1)
    expect(refused.headers.get('retry-after')).toMatch(/^[1-9]\d*$/)
    expect((await refused.json()).code).toBe('rate_limited')

    const otherTenant = await upload(await keyFor('globex', ['objects:write']), namespace, 'other tenant')
    expect(otherTenant.status).toBe(201)
    expect((await otherTenant.json()).tenant_id).toBe('globex')

    body.send('second half')
    body.end()
    const finished = await held
    expect(finished.status).toBe(201)
    expect((await finished.json()).size_bytes).toBe('first half, second half'.length)

    // A failed upload gives its slot back too.
    const mismatch = await upload(second, namespace, 'bytes', { 'x-content-sha256': '0'.repeat(64) })
    expect(mismatch.status).toBe(400)
    expect((await upload(third, namespace, 'after')).status).toBe(201)
  })
})
