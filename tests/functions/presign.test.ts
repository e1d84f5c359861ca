import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { and, eq } from 'drizzle-orm'
import { SignJWT } from 'jose'
import { blobs, objects } from '../../core/db/schema'
import { adminToken, backends, startServer, type TestServer } from '../support/server'
import { expectError } from '../support/assertions'

const A = 'tenant-a'
const B = 'tenant-b'
const jwtSecret = 'presign-test-hs256-secret-0123456789abcdef'
const maxUploadBytes = 1024 * 1024

let counter = 0
const unique = (prefix: string) => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 8)}`
const asAdmin = { authorization: `Bearer ${adminToken}` }
const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` })
const text = (value: string) => new TextEncoder().encode(value)
const sha256Hex = (bytes: Uint8Array) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')

interface Presigned {
  url: string
  method: string
  expires_at: string
}

async function createKey(server: TestServer, tenant: string, permissions: string[], extra: Record<string, unknown> = {}): Promise<{ id: string; key: string }> {
  const response = await fetch(`${server.url}/v1/api-keys`, {
    method: 'POST',
    headers: { ...asAdmin, 'content-type': 'application/json' },
    body: JSON.stringify({ name: unique('key'), tenant_id: tenant, permissions, ...extra }),
  })
  expect(response.status).toBe(201)
  return response.json()
}

const presign = (server: TestServer, headers: Record<string, string>, body: unknown) =>
  fetch(`${server.url}/v1/presign`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) })

async function signed(server: TestServer, headers: Record<string, string>, body: Record<string, unknown>): Promise<Presigned> {
  const response = await presign(server, headers, body)
  expect(response.status).toBe(200)
  return response.json()
}

/** Stores an object with the admin token; returns its JSON. */
async function store(server: TestServer, namespace: string, tenant: string, key: string, bytes: Uint8Array<ArrayBuffer>): Promise<{ id: string; content_hash: string }> {
  const response = await fetch(`${server.url}/v1/objects/by-key/${namespace}/${tenant}/${encodeURIComponent(key)}`, { method: 'PUT', headers: { ...asAdmin, 'content-type': 'text/plain' }, body: bytes })
  expect(response.status).toBe(201)
  return response.json()
}

const open = (server: TestServer, url: string, init: RequestInit = {}) => fetch(`${server.url}${url}`, init)

/** The URL with one query parameter set to another value (undefined: removed). */
function withParam(url: string, name: string, value: string | undefined): string {
  const parsed = new URL(url, 'http://localhost')
  if (value === undefined) parsed.searchParams.delete(name)
  else parsed.searchParams.set(name, value)
  return `${parsed.pathname}${parsed.search}`
}
const param = (url: string, name: string) => new URL(url, 'http://localhost').searchParams.get(name)!

/** A body sent chunked, without Content-Length. */
function chunked(total: number, chunkSize = 256): ReadableStream<Uint8Array> {
  let sent = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close()
      controller.enqueue(new Uint8Array(Math.min(chunkSize, total - sent)).fill(7))
      sent += chunkSize
    },
  })
}

/** Everything a user could find of a namespace: objects of any status, and what listing shows. */
async function nothingStoredIn(server: TestServer, namespace: string, tenant = A) {
  expect(await server.database.db.select().from(objects).where(and(eq(objects.namespace, namespace), eq(objects.tenantId, tenant)))).toEqual([])
  const listed = await fetch(`${server.url}/v1/objects?namespace=${namespace}&tenant_id=${tenant}`, { headers: asAdmin })
  expect(listed.status).toBe(200)
  expect((await listed.json()).objects).toEqual([])
}

describe.each(backends)('presigned URLs on %s', (backend) => {
  let server: TestServer
  let reader: { id: string; key: string }
  let otherReader: { id: string; key: string }
  let writer: { id: string; key: string }
  beforeAll(async () => {
    server = await startServer(backend, {
      auth: true,
      maxUploadBytes,
      // The service's default: small bodies go inline, larger ones to files; both paths are crossed below.
      inlineMaxBytes: 64 * 1024,
      env: { JWT_SECRET: jwtSecret, UNAUTHENTICATED_RATE_LIMIT_PER_SEC: '0' },
    })
    reader = await createKey(server, A, ['objects:read'])
    otherReader = await createKey(server, A, ['objects:read'])
    writer = await createKey(server, A, ['objects:write'])
  }, 60_000)
  afterAll(() => server.stop())

  describe('downloads', () => {
    test('GET by key: the bytes without a credential, with Range (206), If-None-Match (304) and HEAD', async () => {
      const namespace = unique('docs')
      const key = 'reports/2025 Q1/übersicht.txt'
      const bytes = text('hello presigned world')
      const object = await store(server, namespace, A, key, bytes)
      const before = Date.now()
      const presigned = await signed(server, bearer(reader.key), { method: 'GET', namespace, key })
      expect(presigned.method).toBe('GET')
      expect(presigned.url).toStartWith(`/v1/objects/by-key/${namespace}/${A}/${encodeURIComponent(key)}?`)
      const expiresAt = Date.parse(presigned.expires_at)
      expect(expiresAt).toBeGreaterThanOrEqual(before + 3600_000 - 1000)
      expect(expiresAt).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000)

      const whole = await open(server, presigned.url)
      expect(whole.status).toBe(200)
      expect(whole.headers.get('etag')).toBe(`"${object.content_hash}"`)
      expect(whole.headers.get('content-type')).toBe('text/plain')
      expect(await whole.text()).toBe('hello presigned world')

      const range = await open(server, presigned.url, { headers: { range: 'bytes=0-4' } })
      expect(range.status).toBe(206)
      expect(range.headers.get('content-range')).toBe(`bytes 0-4/${bytes.byteLength}`)
      expect(await range.text()).toBe('hello')

      const notModified = await open(server, presigned.url, { headers: { 'if-none-match': `"${object.content_hash}"` } })
      expect(notModified.status).toBe(304)

      const head = await open(server, presigned.url, { method: 'HEAD' })
      expect(head.status).toBe(200)
      expect(head.headers.get('content-length')).toBe(String(bytes.byteLength))
      expect(await head.text()).toBe('')
    })

    test('GET by id: the bytes, a range, 304 and HEAD; an extra ?download=1 is the route\'s own and still honoured', async () => {
      const namespace = unique('docs')
      const object = await store(server, namespace, A, 'by-id.txt', text('0123456789'))
      const presigned = await signed(server, bearer(reader.key), { method: 'GET', namespace, id: object.id })
      expect(presigned.url).toStartWith(`/v1/objects/${object.id}?`)

      expect(await (await open(server, presigned.url)).text()).toBe('0123456789')
      const range = await open(server, presigned.url, { headers: { range: 'bytes=-3' } })
      expect([range.status, range.headers.get('content-range'), await range.text()]).toEqual([206, 'bytes 7-9/10', '789'])
      expect((await open(server, presigned.url, { headers: { 'if-none-match': `"${object.content_hash}"` } })).status).toBe(304)
      const head = await open(server, presigned.url, { method: 'HEAD' })
      expect([head.status, head.headers.get('content-length'), head.headers.get('etag')]).toEqual([200, '10', `"${object.content_hash}"`])

      const attachment = await open(server, `${presigned.url}&download=1`)
      expect(attachment.status).toBe(200)
      expect(attachment.headers.get('content-disposition')).toStartWith('attachment; filename="by-id.txt"')
    })

    test('the admin token may presign for a tenant it names, and its URL reaches only that tenant\'s objects', async () => {
      const namespace = unique('admin')
      const ofA = await store(server, namespace, A, 'a.txt', text('of tenant a'))
      const ofB = await store(server, namespace, B, 'b.txt', text('of tenant b'))
      await expectError(await presign(server, asAdmin, { method: 'GET', namespace, id: ofA.id }), 400, 'invalid_tenant')

      const forA = await signed(server, asAdmin, { method: 'GET', namespace, tenant_id: A, id: ofA.id })
      expect(await (await open(server, forA.url)).text()).toBe('of tenant a')
      // Signed naming tenant A, an id of tenant B's is as absent as a missing one.
      const crossed = await signed(server, asAdmin, { method: 'GET', namespace, tenant_id: A, id: ofB.id })
      await expectError(await open(server, crossed.url), 404, 'not_found')
      // And its admin rights go no further than that one read.
      await expectError(await open(server, forA.url, { method: 'DELETE' }), 403, 'forbidden')
      expect(await (await fetch(`${server.url}/v1/objects/${ofA.id}?tenant_id=${A}`, { headers: asAdmin })).text()).toBe('of tenant a')
    })

    test('a JWT signer\'s URL expires no later than the token', async () => {
      const namespace = unique('jwt')
      await store(server, namespace, A, 'j.txt', text('via a jwt'))
      const exp = Math.floor(Date.now() / 1000) + 120
      const token = await new SignJWT({ tenant_id: A, permissions: ['objects:read'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime(exp).sign(text(jwtSecret))
      const presigned = await signed(server, bearer(token), { method: 'GET', namespace, key: 'j.txt', expires_in: 3600 })
      expect(presigned.expires_at).toBe(new Date(exp * 1000).toISOString())
      expect(param(presigned.url, 'presign_expires')).toBe(String(exp))
      expect(await (await open(server, presigned.url)).text()).toBe('via a jwt')
    })
  })

  describe('uploads', () => {
    test('PUT creates the object at the key with its Content-Type and metadata; again, it replaces (200) or honours If-None-Match (412)', async () => {
      const namespace = unique('inbox')
      const presigned = await signed(server, bearer(writer.key), { method: 'PUT', namespace, key: 'up/load.txt', max_bytes: 16 })
      expect(presigned.method).toBe('PUT')
      expect(param(presigned.url, 'presign_max_bytes')).toBe('16')

      const created = await open(server, presigned.url, { method: 'PUT', headers: { 'content-type': 'text/csv', 'x-metadata': '{"from":"browser"}' }, body: text('exactly 16 bytes') })
      expect(created.status).toBe(201)
      const object = await created.json()
      expect(object).toMatchObject({ namespace, tenant_id: A, key: 'up/load.txt', size_bytes: 16, content_type: 'text/csv', metadata: { from: 'browser' } })
      const read = await fetch(`${server.url}/v1/objects/by-key/${namespace}/${A}/up%2Fload.txt`, { headers: asAdmin })
      expect(await read.text()).toBe('exactly 16 bytes')

      const replaced = await open(server, presigned.url, { method: 'PUT', body: text('second') })
      expect(replaced.status).toBe(200)
      await expectError(await open(server, presigned.url, { method: 'PUT', headers: { 'if-none-match': '*' }, body: text('third') }), 412, 'precondition_failed')
      expect(await (await fetch(`${server.url}/v1/objects/${(await replaced.json()).id}?tenant_id=${A}`, { headers: asAdmin })).text()).toBe('second')
    })

    test('max_bytes: a Content-Length over it → 413 and nothing stored', async () => {
      const namespace = unique('inbox')
      const presigned = await signed(server, bearer(writer.key), { method: 'PUT', namespace, key: 'k', max_bytes: 16 })
      const body = text('seventeen bytes!!')
      await expectError(await open(server, presigned.url, { method: 'PUT', body }), 413, 'payload_too_large')
      await expectError(await fetch(`${server.url}/v1/objects/by-key/${namespace}/${A}/k`, { headers: asAdmin }), 404, 'not_found')
      await nothingStoredIn(server, namespace)
      expect(await server.database.db.select().from(blobs).where(eq(blobs.contentHash, `sha256:${sha256Hex(body)}`))).toEqual([])
    })

    test('max_bytes: a chunked body growing past it → 413 and nothing stored, whether it would have been kept inline or in a file', async () => {
      for (const [maxBytes, size] of [[16, 16 * 1024], [70 * 1024, 80 * 1024]] as const) {
        const namespace = unique('inbox')
        const presigned = await signed(server, bearer(writer.key), { method: 'PUT', namespace, key: 'k', max_bytes: maxBytes })
        const response = await open(server, presigned.url, { method: 'PUT', body: chunked(size), duplex: 'half' } as RequestInit)
        await expectError(response, 413, 'payload_too_large')
        await nothingStoredIn(server, namespace)
      }
    })

    test('max_bytes above the inline size: a chunked body within it is streamed to a file and stored', async () => {
      const namespace = unique('inbox')
      const presigned = await signed(server, bearer(writer.key), { method: 'PUT', namespace, key: 'big', max_bytes: 80 * 1024 })
      const response = await open(server, presigned.url, { method: 'PUT', body: chunked(80 * 1024), duplex: 'half' } as RequestInit)
      expect(response.status).toBe(201)
      expect((await response.json()).size_bytes).toBe(80 * 1024)
    })

    test('without max_bytes the service\'s MAX_UPLOAD_BYTES applies; max_bytes above it cannot be presigned', async () => {
      const namespace = unique('inbox')
      await expectError(await presign(server, bearer(writer.key), { method: 'PUT', namespace, key: 'k', max_bytes: maxUploadBytes + 1 }), 400, 'bad_request')
      const presigned = await signed(server, bearer(writer.key), { method: 'PUT', namespace, key: 'k' })
      expect(param(presigned.url, 'presign_max_bytes')).toBeNull()
      await expectError(await open(server, presigned.url, { method: 'PUT', body: new Uint8Array(maxUploadBytes + 1) }), 413, 'payload_too_large')
      await nothingStoredIn(server, namespace)
    })
  })

  describe('a changed, forged or expired URL → 403', () => {
    let namespace: string
    let download: Presigned
    let upload: Presigned
    beforeAll(async () => {
      namespace = unique('tamper')
      await store(server, namespace, A, 'a.txt', text('object a'))
      await store(server, namespace, A, 'b.txt', text('object b'))
      download = await signed(server, bearer(reader.key), { method: 'GET', namespace, key: 'a.txt' })
      upload = await signed(server, bearer(writer.key), { method: 'PUT', namespace, key: 'new.txt', max_bytes: 16 })
    })

    const readable = async () => expect(await (await open(server, download.url)).text()).toBe('object a')

    test('the untouched URLs work', async () => {
      await readable()
      expect(download.url).toContain('presign_signature=')
    })

    test('another path: the neighbouring key, or the same parameters on another route', async () => {
      await expectError(await open(server, download.url.replace('/a.txt?', '/b.txt?')), 403, 'forbidden')
      await expectError(await open(server, download.url.replace(/^[^?]*/, `/v1/objects`) + `&namespace=${namespace}`), 403, 'forbidden')
      await expectError(await open(server, upload.url.replace('/new.txt?', '/other.txt?'), { method: 'PUT', body: text('x') }), 403, 'forbidden')
      await expectError(await fetch(`${server.url}/v1/objects/by-key/${namespace}/${A}/other.txt`, { headers: asAdmin }), 404, 'not_found')
    })

    test('another method: DELETE or PUT with a GET URL, GET with a PUT URL', async () => {
      await expectError(await open(server, download.url, { method: 'DELETE' }), 403, 'forbidden')
      await expectError(await open(server, download.url, { method: 'PUT', body: text('overwritten') }), 403, 'forbidden')
      await expectError(await open(server, upload.url), 403, 'forbidden')
      await readable()
    })

    test('another expiry, tenant, namespace or signer id', async () => {
      const later = String(Number(param(download.url, 'presign_expires')) + 86400)
      for (const [name, value] of [
        ['presign_expires', later],
        ['presign_tenant', B],
        ['presign_namespace', `${namespace}x`],
        ['presign_signer', `api-key:${otherReader.id}`],
        ['presign_signer', 'admin-token'],
      ] as const) {
        await expectError(await open(server, withParam(download.url, name, value)), 403, 'forbidden')
      }
    })

    test('another max_bytes, or none, on an upload URL', async () => {
      for (const value of ['1000000', '17', undefined]) {
        await expectError(await open(server, withParam(upload.url, 'presign_max_bytes', value), { method: 'PUT', body: text('seventeen bytes!!') }), 403, 'forbidden')
      }
      await expectError(await fetch(`${server.url}/v1/objects/by-key/${namespace}/${A}/new.txt`, { headers: asAdmin }), 404, 'not_found')
    })

    test('a flipped, truncated, extended or empty signature, one differing only in bits base64url decoding drops, or one taken from a URL another key signed', async () => {
      const signature = param(download.url, 'presign_signature')
      const flip = (at: number) => `${signature.slice(0, at)}${signature[at] === 'A' ? 'B' : 'A'}${signature.slice(at + 1)}`
      // The same bytes once decoded: only the last character's two spare bits differ.
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
      const spareBits = `${signature.slice(0, -1)}${alphabet[alphabet.indexOf(signature.at(-1)!) ^ 1]}`
      const byOther = await signed(server, bearer(otherReader.key), { method: 'GET', namespace, key: 'a.txt' })
      expect(await (await open(server, byOther.url)).text()).toBe('object a')
      for (const forged of [flip(0), flip(20), flip(signature.length - 1), spareBits, signature.slice(0, -1), signature.slice(0, 22), `${signature}A`, '', param(byOther.url, 'presign_signature')]) {
        await expectError(await open(server, withParam(download.url, 'presign_signature', forged)), 403, 'forbidden')
      }
    })

    test('a parameter given twice', async () => {
      await expectError(await open(server, `${download.url}&presign_expires=${param(download.url, 'presign_expires')}`), 403, 'forbidden')
    })

    test('an expired URL', async () => {
      const short = await signed(server, bearer(reader.key), { method: 'GET', namespace, key: 'a.txt', expires_in: 1 })
      expect(Date.parse(short.expires_at)).toBeLessThanOrEqual(Date.now() + 2000)
      await Bun.sleep(Date.parse(short.expires_at) - Date.now() + 100)
      const body = await expectError(await open(server, short.url), 403, 'forbidden')
      expect(body.error).toContain('expired')
    })
  })

  describe('the signer', () => {
    test('a revoked signing key ends its URLs → 401', async () => {
      const namespace = unique('revoke')
      await store(server, namespace, A, 'r.txt', text('revocable'))
      const key = await createKey(server, A, ['objects:read'])
      const presigned = await signed(server, bearer(key.key), { method: 'GET', namespace, key: 'r.txt' })
      expect(await (await open(server, presigned.url)).text()).toBe('revocable')
      expect((await fetch(`${server.url}/v1/api-keys/${key.id}`, { method: 'DELETE', headers: asAdmin })).status).toBe(204)
      const response = await open(server, presigned.url)
      await expectError(response, 401, 'unauthenticated')
      expect(response.headers.get('www-authenticate')).toStartWith('Bearer')
    })

    test('a signing key that expires caps its URLs, which end with it → 401', async () => {
      const namespace = unique('expiring')
      await store(server, namespace, A, 'e.txt', text('short-lived'))
      const keyExpires = new Date(Date.now() + 3000)
      const key = await createKey(server, A, ['objects:read'], { expires_at: keyExpires.toISOString() })
      const presigned = await signed(server, bearer(key.key), { method: 'GET', namespace, key: 'e.txt', expires_in: 3600 })
      expect(Date.parse(presigned.expires_at)).toBeLessThanOrEqual(keyExpires.getTime())
      expect(await (await open(server, presigned.url)).text()).toBe('short-lived')
      await Bun.sleep(keyExpires.getTime() - Date.now() + 200)
      await expectError(await open(server, presigned.url), 401, 'unauthenticated')
    })

    test('needs objects:write to presign a PUT and objects:read to presign a GET', async () => {
      const namespace = unique('perm')
      await expectError(await presign(server, bearer(reader.key), { method: 'PUT', namespace, key: 'k' }), 403, 'forbidden')
      await expectError(await presign(server, bearer(writer.key), { method: 'GET', namespace, key: 'k' }), 403, 'forbidden')
      const deleter = await createKey(server, A, ['objects:delete'])
      await expectError(await presign(server, bearer(deleter.key), { method: 'GET', namespace, key: 'k' }), 403, 'forbidden')
    })

    test('a key limited to namespace A cannot presign in B', async () => {
      const alpha = unique('alpha')
      const beta = unique('beta')
      await store(server, alpha, A, 'x.txt', text('in alpha'))
      await store(server, beta, A, 'x.txt', text('in beta'))
      const limited = await createKey(server, A, ['objects:read', 'objects:write'], { namespaces: [alpha] })
      await expectError(await presign(server, bearer(limited.key), { method: 'GET', namespace: beta, key: 'x.txt' }), 403, 'forbidden')
      await expectError(await presign(server, bearer(limited.key), { method: 'PUT', namespace: beta, key: 'y.txt' }), 403, 'forbidden')
      const inAlpha = await signed(server, bearer(limited.key), { method: 'GET', namespace: alpha, key: 'x.txt' })
      expect(await (await open(server, inAlpha.url)).text()).toBe('in alpha')
    })

    test('another tenant\'s object is out of reach: naming its tenant → 403, its id → 404', async () => {
      const namespace = unique('tenants')
      const ofB = await store(server, namespace, B, 'secret.txt', text('tenant b only'))
      await expectError(await presign(server, bearer(reader.key), { method: 'GET', namespace, tenant_id: B, key: 'secret.txt' }), 403, 'forbidden')
      const byId = await signed(server, bearer(reader.key), { method: 'GET', namespace, id: ofB.id })
      await expectError(await open(server, byId.url), 404, 'not_found')
    })
  })

  describe('the request', () => {
    let readWriter: { id: string; key: string }
    beforeAll(async () => {
      readWriter = await createKey(server, A, ['objects:read', 'objects:write'])
    })

    test.each([
      ['both key and id', { method: 'GET', key: 'k', id: '00000000-0000-4000-8000-000000000000' }, 'bad_request'],
      ['neither key nor id', { method: 'GET' }, 'bad_request'],
      ['a PUT by id', { method: 'PUT', id: '00000000-0000-4000-8000-000000000000' }, 'bad_request'],
      ['max_bytes on a GET', { method: 'GET', key: 'k', max_bytes: 10 }, 'bad_request'],
      ['max_bytes 0', { method: 'PUT', key: 'k', max_bytes: 0 }, 'bad_request'],
      ['expires_in 0', { method: 'GET', key: 'k', expires_in: 0 }, 'bad_request'],
      ['expires_in over 7 days', { method: 'GET', key: 'k', expires_in: 604801 }, 'bad_request'],
      ['expires_in as a string', { method: 'GET', key: 'k', expires_in: '60' }, 'bad_request'],
      ['another method', { method: 'DELETE', key: 'k' }, 'bad_request'],
      ['an unknown field', { method: 'GET', key: 'k', overwrite: true }, 'bad_request'],
      ['a malformed id', { method: 'GET', id: 'not-a-uuid' }, 'bad_request'],
      ['an invalid key', { method: 'GET', key: 'bad\u0001key' }, 'invalid_key'],
      ['a key no URL path can hold', { method: 'GET', key: '..' }, 'invalid_key'],
      ['an invalid namespace', { method: 'GET', key: 'k', namespace: 'no spaces' }, 'invalid_namespace'],
      ['an invalid tenant', { method: 'GET', key: 'k', tenant_id: '-bad' }, 'invalid_tenant'],
    ] as const)('%s → 400', async (_, body, code) => {
      await expectError(await presign(server, bearer(readWriter.key), { namespace: 'docs', ...body }), 400, code)
    })

    test('expires_in 604800 is the longest', async () => {
      const presigned = await signed(server, bearer(reader.key), { method: 'GET', namespace: 'docs', key: 'k', expires_in: 604800 })
      expect(Date.parse(presigned.expires_at)).toBeGreaterThan(Date.now() + 604800_000 - 2000)
    })

    test('a body other than JSON → 415; no credential → 401', async () => {
      const asText = await fetch(`${server.url}/v1/presign`, { method: 'POST', headers: { ...bearer(reader.key), 'content-type': 'text/plain' }, body: '{"method":"GET","namespace":"docs","key":"k"}' })
      await expectError(asText, 415, 'unsupported_media_type')
      await expectError(await presign(server, {}, { method: 'GET', namespace: 'docs', key: 'k' }), 401, 'unauthenticated')
    })

    test('with a credential as well, the credential decides and the URL\'s parameters are ignored', async () => {
      const namespace = unique('both')
      await store(server, namespace, A, 'c.txt', text('credential wins'))
      const presigned = await signed(server, bearer(reader.key), { method: 'GET', namespace, key: 'c.txt' })
      await expectError(await open(server, presigned.url, { headers: bearer(writer.key) }), 403, 'forbidden')
      expect(await (await open(server, withParam(presigned.url, 'presign_signature', 'forged'), { headers: bearer(reader.key) })).text()).toBe('credential wins')
    })
  })
})

describe('presigned URLs across replicas on one database', () => {
  const servers: TestServer[] = []
  afterAll(async () => {
    for (const server of servers.reverse()) await server.stop()
  })

  test('replicas with the generated secret accept each other\'s URLs; one with another PRESIGN_SECRET, or another admin token for admin URLs, does not', async () => {
    const first = await startServer('postgres', { auth: true })
    servers.push(first)
    // Filesystem classes are shared by replicas pointing at the same directories.
    const shared = { HOT_STORAGE_ROOT: first.roots.hot, COLD_STORAGE_ROOT: first.roots.cold }
    const second = await startServer('postgres', { auth: true, databaseUrl: first.databaseUrl, env: shared })
    servers.push(second)
    const otherSecret = await startServer('postgres', { auth: true, databaseUrl: first.databaseUrl, env: { ...shared, PRESIGN_SECRET: 'another-presign-secret-of-32-bytes!!' } })
    servers.push(otherSecret)
    const otherAdmin = await startServer('postgres', { auth: true, databaseUrl: first.databaseUrl, env: { ...shared, ADMIN_TOKEN: 'another-admin-token-of-at-least-32-bytes' } })
    servers.push(otherAdmin)

    const namespace = unique('replicas')
    await store(first, namespace, A, 'shared.txt', text('on every replica'))
    const key = await createKey(first, A, ['objects:read', 'objects:write'])

    const signedByFirst = await signed(first, bearer(key.key), { method: 'GET', namespace, key: 'shared.txt' })
    expect(await (await open(second, signedByFirst.url)).text()).toBe('on every replica')
    expect(await (await open(otherAdmin, signedByFirst.url)).text()).toBe('on every replica')
    await expectError(await open(otherSecret, signedByFirst.url), 403, 'forbidden')

    const uploadBySecond = await signed(second, bearer(key.key), { method: 'PUT', namespace, key: 'from-second.txt', max_bytes: 64 })
    expect((await open(first, uploadBySecond.url, { method: 'PUT', body: text('uploaded on the first') })).status).toBe(201)
    expect(await (await fetch(`${second.url}/v1/objects/by-key/${namespace}/${A}/from-second.txt`, { headers: asAdmin })).text()).toBe('uploaded on the first')

    // The admin token's URLs are bound to the token they were signed with.
    const byAdmin = await signed(first, asAdmin, { method: 'GET', namespace, tenant_id: A, key: 'shared.txt' })
    expect(await (await open(second, byAdmin.url)).text()).toBe('on every replica')
    await expectError(await open(otherAdmin, byAdmin.url), 403, 'forbidden')

    // A revocation on one replica ends the URL on the others at once.
    expect((await fetch(`${second.url}/v1/api-keys/${key.id}`, { method: 'DELETE', headers: asAdmin })).status).toBe(204)
    await expectError(await open(first, signedByFirst.url), 401, 'unauthenticated')
  }, 120_000)
})

describe('guessing signatures', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer('embedded', { auth: true, env: { UNAUTHENTICATED_RATE_LIMIT_PER_SEC: '1' } })
  }, 60_000)
  afterAll(() => server.stop())

  test('each forged URL costs its address a try: once they are spent, even a right URL is refused with 429', async () => {
    const namespace = unique('guess')
    await store(server, namespace, A, 'g.txt', text('guarded'))
    const presigned = await signed(server, asAdmin, { method: 'GET', namespace, tenant_id: A, key: 'g.txt' })
    const forged = withParam(presigned.url, 'presign_signature', 'A'.repeat(43))
    await expectError(await open(server, forged), 403, 'forbidden')
    await expectError(await open(server, forged), 403, 'forbidden')
    const refused = await open(server, presigned.url)
    await expectError(refused, 429, 'rate_limited')
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
  })
})
