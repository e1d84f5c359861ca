import { afterAll, afterEach, beforeAll, describe, expect, setSystemTime, test } from 'bun:test'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose'
import { jwtVerifier, looksLikeJwt, type JwtSettings, type JwtVerifier } from '../../core/auth/jwt'
import type { Principal } from '../../core/auth/principal'
import { ApiError } from '../../core/errors'
import { configureLog } from '../../core/log'

const secret = 'jwt-unit-test-secret-0123456789abcdef'
const hmacKey = new TextEncoder().encode(secret)
const now = () => Math.floor(Date.now() / 1000)

function sign(claims: JWTPayload, key: CryptoKey | Uint8Array = hmacKey, header: { alg: string; kid?: string } = { alg: 'HS256' }, exp: number | null = now() + 600) {
  const jwt = new SignJWT(claims).setProtectedHeader(header).setIssuedAt()
  if (exp !== null) jwt.setExpirationTime(exp)
  return jwt.sign(key)
}

function verifierOf(settings: JwtSettings): JwtVerifier {
  const verify = jwtVerifier(settings)
  if (!verify) throw new Error('expected a verifier')
  return verify
}

/** A plain view of a principal, for toEqual. */
const view = (principal: Principal) => ({
  kind: principal.kind,
  id: principal.id,
  tenantId: principal.tenantId,
  permissions: [...principal.permissions].sort(),
  namespaces: principal.namespaces === null ? null : [...principal.namespaces].sort(),
})

/** Rejected as a client sees it: 401 unauthenticated with a Bearer challenge. */
async function expectRejected(promise: Promise<unknown>, why?: RegExp) {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(ApiError)
  const apiError = error as ApiError
  expect({ status: apiError.status, code: apiError.code, challenge: apiError.headers['www-authenticate'] }).toEqual({
    status: 401,
    code: 'unauthenticated',
    challenge: 'Bearer error="invalid_token"',
  })
  if (why) expect(apiError.message).toMatch(why)
}

/** A base64url JSON segment, for hand-made tokens. */
const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

describe('HS256 with JWT_SECRET', () => {
  const verify = verifierOf({ secret })

  test('a valid token is a principal of its tenant with its permissions', async () => {
    const token = await sign({ sub: 'alice', tenant_id: 'acme', permissions: ['objects:read', 'objects:write'] })
    expect(view(await verify(token))).toEqual({ kind: 'jwt', id: 'jwt:acme:alice', tenantId: 'acme', permissions: ['objects:read', 'objects:write'], namespaces: null })
  })

  test('a space-separated scope works like a permissions array; unknown scopes grant nothing', async () => {
    const token = await sign({ tenant_id: 'acme', scope: 'objects:read  keys:manage openid profile' })
    expect(view(await verify(token)).permissions).toEqual(['keys:manage', 'objects:read'])
  })

  test('unknown entries of a permissions array grant nothing', async () => {
    const token = await sign({ tenant_id: 'acme', permissions: ['objects:read', 'objects:*', 42] })
    expect(view(await verify(token)).permissions).toEqual(['objects:read'])
  })

  test('a namespaces claim becomes the allow-list, lowercased like every namespace', async () => {
    const token = await sign({ tenant_id: 'acme', permissions: ['objects:read'], namespaces: ['Models', 'logs'] })
    expect(view(await verify(token)).namespaces).toEqual(['logs', 'models'])
  })

  test('a namespaces claim that is not a list of namespaces → 401', async () => {
    await expectRejected(verify(await sign({ tenant_id: 'acme', permissions: ['objects:read'], namespaces: 'models' })))
    await expectRejected(verify(await sign({ tenant_id: 'acme', permissions: ['objects:read'], namespaces: [1] })))
    await expectRejected(verify(await sign({ tenant_id: 'acme', permissions: ['objects:read'], namespaces: ['not a namespace!'] })))
  })

  test('no tenant_id and no admin → 401; admin without a tenant has none of its own', async () => {
    await expectRejected(verify(await sign({ permissions: ['objects:read'] })), /tenant/)
    expect(view(await verify(await sign({ permissions: ['admin'] })))).toMatchObject({ tenantId: null, permissions: ['admin'] })
  })

  test('a tenant_id that is not a string or not a valid tenant → 401', async () => {
    await expectRejected(verify(await sign({ tenant_id: 7, permissions: ['objects:read'] })))
    await expectRejected(verify(await sign({ tenant_id: '-bad tenant-', permissions: ['objects:read'] })))
  })

  test('an expired token → 401 that says so', async () => {
    await expectRejected(verify(await sign({ tenant_id: 'acme', permissions: ['objects:read'] }, hmacKey, { alg: 'HS256' }, now() - 60)), /expired/)
  })

  test('a token without exp → 401', async () => {
    await expectRejected(verify(await sign({ tenant_id: 'acme', permissions: ['objects:read'] }, hmacKey, { alg: 'HS256' }, null)))
  })

  test('a token not valid yet (nbf in the future) → 401', async () => {
    await expectRejected(verify(await sign({ tenant_id: 'acme', permissions: ['objects:read'], nbf: now() + 600 })))
  })

  test('a token signed with another secret → 401', async () => {
    await expectRejected(verify(await sign({ tenant_id: 'acme', permissions: ['objects:read'] }, new TextEncoder().encode('another-secret-0123456789abcdef'))))
  })

  test('a tampered payload → 401', async () => {
    const token = await sign({ tenant_id: 'acme', permissions: ['objects:read'] })
    const [header, , signature] = token.split('.')
    const forged = `${header}.${segment({ tenant_id: 'acme', permissions: ['admin'], exp: now() + 600 })}.${signature}`
    await expectRejected(verify(forged))
  })

  test('alg none → 401', async () => {
    await expectRejected(verify(`${segment({ alg: 'none', typ: 'JWT' })}.${segment({ tenant_id: 'acme', permissions: ['admin'], exp: now() + 600 })}.`))
  })

  test('an asymmetric token when only a secret is configured → 401', async () => {
    const { privateKey } = await generateKeyPair('ES256')
    await expectRejected(verify(await sign({ tenant_id: 'acme', permissions: ['objects:read'] }, privateKey, { alg: 'ES256' })))
  })

  test('a header that is not JSON → 401', async () => {
    await expectRejected(verify(`not-json.${segment({ tenant_id: 'acme', exp: now() + 600 })}.sig`))
  })
})

describe('issuer and audience', () => {
  const verify = verifierOf({ secret, issuer: 'https://issuer.test', audience: 'juststorage' })
  const claims = { tenant_id: 'acme', permissions: ['objects:read'] }
  const withIssAud = (iss: string | undefined, aud: string | string[] | undefined) => sign({ ...claims, ...(iss && { iss }), ...(aud && { aud }) })

  test('matching iss and aud pass (aud may be a list holding ours)', async () => {
    expect((await verify(await withIssAud('https://issuer.test', 'juststorage'))).tenantId).toBe('acme')
    expect((await verify(await withIssAud('https://issuer.test', ['other', 'juststorage']))).tenantId).toBe('acme')
  })

  test('a wrong or missing issuer → 401', async () => {
    await expectRejected(verify(await withIssAud('https://elsewhere.test', 'juststorage')))
    await expectRejected(verify(await withIssAud(undefined, 'juststorage')))
  })

  test('a wrong or missing audience → 401', async () => {
    await expectRejected(verify(await withIssAud('https://issuer.test', 'another-service')))
    await expectRejected(verify(await withIssAud('https://issuer.test', undefined)))
  })
})

const asymmetric = [
  { alg: 'RS256', options: {} },
  { alg: 'ES256', options: {} },
  { alg: 'EdDSA', options: { crv: 'Ed25519' } },
] as const

describe.each(asymmetric)('$alg with a PEM public key (JWT_PUBLIC_KEY)', ({ alg, options }) => {
  let keys: { privateKey: CryptoKey; publicKey: CryptoKey }
  let verify: JwtVerifier
  let pem: string
  beforeAll(async () => {
    keys = await generateKeyPair(alg, options)
    pem = await exportSPKI(keys.publicKey)
    verify = verifierOf({ publicKeyPem: pem })
  })

  test('a token signed with the matching private key passes', async () => {
    const token = await sign({ sub: 'svc', tenant_id: 'acme', permissions: ['objects:read'] }, keys.privateKey, { alg })
    expect(view(await verify(token))).toEqual({ kind: 'jwt', id: 'jwt:acme:svc', tenantId: 'acme', permissions: ['objects:read'], namespaces: null })
  })

  test('a token signed by another key pair → 401', async () => {
    const stranger = await generateKeyPair(alg, options)
    await expectRejected(verify(await sign({ tenant_id: 'acme', permissions: ['objects:read'] }, stranger.privateKey, { alg })))
  })

  test('an expired token → 401; a token without exp → 401', async () => {
    await expectRejected(verify(await sign({ tenant_id: 'acme', permissions: ['objects:read'] }, keys.privateKey, { alg }, now() - 5)), /expired/)
    await expectRejected(verify(await sign({ tenant_id: 'acme', permissions: ['objects:read'] }, keys.privateKey, { alg }, null)))
  })

  test('an HS256 token when only a PEM is configured → 401, even one keyed with the PEM text', async () => {
    await expectRejected(verify(await sign({ tenant_id: 'acme', permissions: ['admin'] })))
    // The classic algorithm confusion: the public key used as an HMAC secret.
    await expectRejected(verify(await sign({ tenant_id: 'acme', permissions: ['admin'] }, new TextEncoder().encode(pem))))
  })
})

describe('JWKS_URL served over HTTP', () => {
  let jwksServer: ReturnType<typeof Bun.serve>
  let fetches = 0
  const signers: Record<string, { privateKey: CryptoKey; alg: string }> = {}
  let verify: JwtVerifier

  beforeAll(async () => {
    const jwks: object[] = []
    for (const { alg, options } of asymmetric) {
      const { privateKey, publicKey } = await generateKeyPair(alg, options)
      const kid = `key-${alg}`
      signers[alg] = { privateKey, alg }
      jwks.push({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' })
    }
    jwksServer = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch() {
        fetches++
        return Response.json({ keys: jwks })
      },
    })
    verify = verifierOf({ jwksUrl: `http://127.0.0.1:${jwksServer.port}/.well-known/jwks.json` })
  })
  afterAll(() => jwksServer.stop(true))

  test.each(asymmetric.map(({ alg }) => alg))('a %s token whose kid is in the key set passes', async (alg) => {
    const { privateKey } = signers[alg]!
    const token = await sign({ sub: `svc-${alg}`, tenant_id: 'acme', permissions: ['objects:write'] }, privateKey, { alg, kid: `key-${alg}` })
    expect(view(await verify(token))).toEqual({ kind: 'jwt', id: `jwt:acme:svc-${alg}`, tenantId: 'acme', permissions: ['objects:write'], namespaces: null })
  })

  test('the key set is fetched once and then cached', async () => {
    const { privateKey } = signers.ES256!
    for (let i = 0; i < 5; i++) await verify(await sign({ tenant_id: 'acme', permissions: ['objects:read'] }, privateKey, { alg: 'ES256', kid: 'key-ES256' }))
    expect(fetches).toBe(1)
  })

  test('a token from a key outside the set → 401', async () => {
    const stranger = await generateKeyPair('RS256')
    await expectRejected(verify(await sign({ tenant_id: 'acme', permissions: ['objects:read'] }, stranger.privateKey, { alg: 'RS256', kid: 'key-RS256' })))
    await expectRejected(verify(await sign({ tenant_id: 'acme', permissions: ['objects:read'] }, stranger.privateKey, { alg: 'RS256', kid: 'unknown-kid' })))
  })

  test('an expired token → 401; an HS256 token → 401', async () => {
    const { privateKey } = signers.RS256!
    await expectRejected(verify(await sign({ tenant_id: 'acme', permissions: ['objects:read'] }, privateKey, { alg: 'RS256', kid: 'key-RS256' }, now() - 5)), /expired/)
    await expectRejected(verify(await sign({ tenant_id: 'acme', permissions: ['objects:read'] })))
  })

  test('an unreachable key set → 503 unavailable with Retry-After, not a 401 that blames the token', async () => {
    // A port nothing listens on: bind one, then close it.
    const closed = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response() })
    const port = closed.port
    closed.stop(true)
    const unreachable = verifierOf({ jwksUrl: `http://127.0.0.1:${port}/jwks.json` })
    const { privateKey } = signers.RS256!
    const error = await unreachable(await sign({ tenant_id: 'acme', permissions: ['objects:read'] }, privateKey, { alg: 'RS256', kid: 'key-RS256' })).catch((caught) => caught)
    expect(error).toBeInstanceOf(ApiError)
    expect({ status: (error as ApiError).status, code: (error as ApiError).code, retryAfter: (error as ApiError).headers['retry-after'] }).toEqual({ status: 503, code: 'unavailable', retryAfter: '1' })
  })

  test.each([
    ['a 500', () => new Response('down', { status: 500 })],
    ['a body that is not JSON', () => new Response('<html>', { headers: { 'content-type': 'text/html' } })],
    ['JSON that is not a key set', () => Response.json({ keys: 'none' })],
  ])('a key set server answering %s → 503 unavailable', async (_, answer) => {
    const broken = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: answer })
    try {
      const failing = verifierOf({ jwksUrl: `http://127.0.0.1:${broken.port}/jwks.json` })
      const { privateKey } = signers.ES256!
      const error = await failing(await sign({ tenant_id: 'acme', permissions: ['objects:read'] }, privateKey, { alg: 'ES256', kid: 'key-ES256' })).catch((caught) => caught)
      expect({ status: (error as ApiError).status, code: (error as ApiError).code }).toEqual({ status: 503, code: 'unavailable' })
    } finally {
      broken.stop(true)
    }
  })
})

describe('an identity provider outage longer than the key set cache', () => {
  const minute = 60_000
  let provider: ReturnType<typeof Bun.serve>
  let down = false
  let fetches = 0
  let keys: { privateKey: CryptoKey; publicKey: CryptoKey }
  const started = Date.now()
  // Valid across every moment the test moves the clock to.
  const token = (kid = 'k1') => sign({ tenant_id: 'acme', permissions: ['objects:read'] }, keys.privateKey, { alg: 'ES256', kid }, now() + 3 * 86400)
  const at = (offsetMs: number) => setSystemTime(new Date(started + offsetMs))
  const statusOf = (error: unknown) => (error instanceof ApiError ? error.status : error)

  beforeAll(async () => {
    // The fallback warns on every failed fetch; the test need not print it.
    configureLog('silent')
    keys = await generateKeyPair('ES256')
    const jwks = { keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }
    provider = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch() {
        fetches++
        return down ? new Response('unavailable', { status: 503 }) : Response.json(jwks)
      },
    })
  })
  afterEach(() => {
    setSystemTime()
    down = false
  })
  afterAll(() => provider.stop(true))

  test('the last good keys verify tokens for JWKS_MAX_STALE_SECS after their fetch, then 503', async () => {
    const verify = verifierOf({ jwksUrl: `http://127.0.0.1:${provider.port}/jwks.json`, jwksMaxStaleSecs: 3600 })
    const signed = await token()
    expect((await verify(signed)).tenantId).toBe('acme')
    down = true
    // Past the 10 minutes the set is cached: jose refetches, the provider fails, the last good keys answer.
    at(11 * minute)
    expect((await verify(signed)).tenantId).toBe('acme')
    // A token from a key the last good set lacks is still refused.
    await expectRejected(verify(await token('k2')))
    // An hour after the fetch the keys are too old to trust.
    at(61 * minute)
    expect(statusOf(await verify(signed).catch((error) => error))).toBe(503)
    // The provider is back: its keys are fetched and used again.
    down = false
    at(62 * minute)
    expect((await verify(signed)).tenantId).toBe('acme')
  })

  test('while the provider fails, requests are answered from the last good keys without each waiting for another fetch', async () => {
    const verify = verifierOf({ jwksUrl: `http://127.0.0.1:${provider.port}/jwks.json`, jwksMaxStaleSecs: 3600 })
    const signed = await token()
    await verify(signed)
    down = true
    at(11 * minute)
    const before = fetches
    for (let i = 0; i < 5; i++) expect((await verify(signed)).tenantId).toBe('acme')
    expect(fetches - before).toBe(1)
    // Half a minute later it tries the provider again.
    at(11 * minute + 31_000)
    await verify(signed)
    expect(fetches - before).toBe(2)
  })

  test('with JWKS_MAX_STALE_SECS 0, an expired cache and a failing provider → 503', async () => {
    const verify = verifierOf({ jwksUrl: `http://127.0.0.1:${provider.port}/jwks.json`, jwksMaxStaleSecs: 0 })
    const signed = await token()
    await verify(signed)
    down = true
    at(11 * minute)
    expect(statusOf(await verify(signed).catch((error) => error))).toBe(503)
  })
})

describe('configuration', () => {
  test('nothing configured → no verifier (JWTs are then not accepted at all)', () => {
    expect(jwtVerifier({})).toBeNull()
  })

  test('a secret and a PEM together accept both HS256 and the asymmetric algorithm', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256')
    const verify = verifierOf({ secret, publicKeyPem: await exportSPKI(publicKey) })
    expect((await verify(await sign({ tenant_id: 'acme', permissions: ['objects:read'] }))).tenantId).toBe('acme')
    expect((await verify(await sign({ tenant_id: 'beta', permissions: ['objects:read'] }, privateKey, { alg: 'ES256' }))).tenantId).toBe('beta')
  })

  test('looksLikeJwt tells three base64url segments from API keys and admin tokens', () => {
    expect(looksLikeJwt('eyJhbGciOiJIUzI1NiJ9.eyJ0ZW5hbnRfaWQiOiJhIn0.c2ln')).toBe(true)
    expect(looksLikeJwt('eyJhbGciOiJub25lIn0.eyJ0ZW5hbnRfaWQiOiJhIn0.')).toBe(true)
    expect(looksLikeJwt(`jsk_${'0'.repeat(32)}_${'A'.repeat(43)}`)).toBe(false)
    expect(looksLikeJwt('test-admin-token')).toBe(false)
    expect(looksLikeJwt('a.b')).toBe(false)
  })
})
