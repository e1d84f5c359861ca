import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { rmSync, truncateSync } from 'node:fs'
import { backends, startServer, type TestServer } from '../support/server'
import { expectError } from '../support/assertions'

let counter = 0
/** Distinct names per test so tests sharing one server never see each other's objects. */
const unique = (prefix: string) => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 8)}`
const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')
const bytesOf = (text: string) => new TextEncoder().encode(text)
const encodeKeyPath = (key: string) => key.split('/').map(encodeURIComponent).join('/')

/** Random bytes, so an off-by-one in a range shows up as different bytes. */
function randomPayload(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size)
  // getRandomValues fills at most 64 KiB per call.
  for (let offset = 0; offset < size; offset += 65536) crypto.getRandomValues(bytes.subarray(offset, Math.min(offset + 65536, size)))
  return bytes
}

interface Uploaded {
  id: string
  namespace: string
  tenant_id: string
  key: string | null
  content_hash: string
  size_bytes: number
  content_type: string
  created_at: string
}

async function upload(server: TestServer, options: { namespace: string; tenant?: string; key?: string; body: Uint8Array<ArrayBuffer>; contentType?: string }): Promise<Uploaded> {
  const query = new URLSearchParams({ namespace: options.namespace, tenant_id: options.tenant ?? 'acme' })
  if (options.key !== undefined) query.set('key', options.key)
  const headers: Record<string, string> = options.contentType ? { 'content-type': options.contentType } : {}
  const response = await fetch(`${server.url}/v1/objects?${query.toString().replaceAll('+', '%20')}`, { method: 'POST', body: options.body, headers })
  expect(response.status).toBe(201)
  return response.json()
}

const byIdUrl = (server: TestServer, object: Uploaded, extra = '') => `${server.url}/v1/objects/${object.id}?tenant_id=${object.tenant_id}${extra}`
const byKeyUrl = (server: TestServer, object: Uploaded, extra = '') =>
  `${server.url}/v1/objects/by-key/${object.namespace}/${object.tenant_id}/${encodeKeyPath(object.key!)}${extra}`

const get = (url: string, headers: Record<string, string> = {}, method = 'GET') => fetch(url, { method, headers })

const bodyOf = async (response: Response) => new Uint8Array(await response.arrayBuffer())

/** Last-Modified is created_at at second precision, as an HTTP date. */
const lastModifiedOf = (object: Uploaded) => new Date(Math.floor(Date.parse(object.created_at) / 1000) * 1000).toUTCString()

const blobFile = (server: TestServer, object: Uploaded) => {
  const hex = object.content_hash.replace('sha256:', '')
  return `${server.dataDir}/hot/sha256/${hex.slice(0, 2)}/${hex.slice(2, 4)}/${hex}`
}

function expectRepresentationHeaders(response: Response, object: Uploaded) {
  const hex = object.content_hash.replace('sha256:', '')
  expect({
    'content-type': response.headers.get('content-type'),
    'content-length': response.headers.get('content-length'),
    etag: response.headers.get('etag'),
    'x-content-hash': response.headers.get('x-content-hash'),
    'last-modified': response.headers.get('last-modified'),
    'accept-ranges': response.headers.get('accept-ranges'),
  }).toEqual({
    'content-type': object.content_type,
    'content-length': String(object.size_bytes),
    etag: `"sha256:${hex}"`,
    'x-content-hash': `sha256:${hex}`,
    'last-modified': lastModifiedOf(object),
    'accept-ranges': 'bytes',
  })
  expect(response.headers.get('x-request-id')).toBeTruthy()
  // Bun would otherwise name the blob file (its hex name) as the download's file name.
  expect(response.headers.get('content-disposition') ?? '').not.toContain(hex)
}

describe.each(backends)('download on %s', (backend) => {
  let server: TestServer
  // One random payload and one object holding it, shared by the read-only tests below.
  const payload = randomPayload(300 * 1024)
  let object: Uploaded
  const size = payload.length

  beforeAll(async () => {
    server = await startServer(backend)
    object = await upload(server, { namespace: unique('dl'), key: 'shared/payload.bin', body: payload })
  }, 60_000)
  afterAll(() => server.stop())

  describe('whole object', () => {
    test('GET by id → 200 with the exact bytes and every representation header', async () => {
      const text = bytesOf(`hello ${unique('text')} — ünïcödé`)
      const uploaded = await upload(server, { namespace: unique('dl'), key: 'a.txt', body: text, contentType: 'text/plain; charset=utf-8' })
      const response = await get(byIdUrl(server, uploaded))
      expect(response.status).toBe(200)
      expectRepresentationHeaders(response, uploaded)
      expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8')
      expect(response.headers.get('etag')).toBe(`"sha256:${sha256(text)}"`)
      expect(response.headers.get('content-disposition')).toBe('inline')
      expect(await bodyOf(response)).toEqual(text)
    })

    test('GET of a large random payload by id → the same bytes', async () => {
      const response = await get(byIdUrl(server, object))
      expect(response.status).toBe(200)
      expectRepresentationHeaders(response, object)
      expect(response.headers.get('content-type')).toBe('application/octet-stream')
      const body = await bodyOf(response)
      expect(body.length).toBe(size)
      expect(sha256(body)).toBe(sha256(payload))
    })

    test('GET by key with "/", spaces and unicode in the key → 200 with the exact bytes', async () => {
      const key = 'dir one/sub/données ✓/file name (1).json'
      const body = bytesOf(`{"n": "${unique('json')}"}`)
      const uploaded = await upload(server, { namespace: unique('dl'), key, body, contentType: 'application/json' })
      expect(uploaded.key).toBe(key)
      const response = await get(byKeyUrl(server, uploaded))
      expect(response.status).toBe(200)
      expectRepresentationHeaders(response, uploaded)
      expect(await bodyOf(response)).toEqual(body)
    })

    test('Last-Modified is created_at truncated to seconds', async () => {
      const response = await get(byIdUrl(server, object))
      await response.arrayBuffer()
      const lastModified = Date.parse(response.headers.get('last-modified')!)
      expect(lastModified).toBe(Math.floor(Date.parse(object.created_at) / 1000) * 1000)
    })

    test('an empty object → 200 with Content-Length 0; any Range → 416', async () => {
      const empty = await upload(server, { namespace: unique('dl'), key: 'empty', body: new Uint8Array(0) })
      const response = await get(byIdUrl(server, empty))
      expect(response.status).toBe(200)
      expectRepresentationHeaders(response, empty)
      expect(response.headers.get('content-length')).toBe('0')
      expect((await bodyOf(response)).length).toBe(0)

      const ranged = await get(byKeyUrl(server, empty), { range: 'bytes=0-' })
      await expectError(ranged, 416, 'range_not_satisfiable')
      expect(ranged.headers.get('content-range')).toBe('bytes */0')
    })
  })

  describe('request ids', () => {
    test('a valid client id is echoed, on success and on error', async () => {
      const ok = await get(byIdUrl(server, object), { 'x-request-id': 'abc-123' })
      await ok.arrayBuffer()
      expect(ok.headers.get('x-request-id')).toBe('abc-123')

      const missing = await get(`${server.url}/v1/objects/${crypto.randomUUID()}?tenant_id=acme`, { 'x-request-id': 'abc-123' })
      expect(missing.headers.get('x-request-id')).toBe('abc-123')
      expect((await expectError(missing, 404, 'not_found')).request_id).toBe('abc-123')
    })

    test('an invalid client id (too long, or with spaces) is replaced', async () => {
      for (const given of ['a'.repeat(200), 'has spaces in it']) {
        const response = await get(byKeyUrl(server, object), { 'x-request-id': given })
        await response.arrayBuffer()
        const id = response.headers.get('x-request-id')
        expect({ given, differs: id !== given, valid: /^[A-Za-z0-9._:-]{1,128}$/.test(id ?? '') }).toEqual({ given, differs: true, valid: true })
      }
    })
  })

  describe('Content-Disposition', () => {
    test('?download=1 → attachment named after the key\'s last part', async () => {
      const uploaded = await upload(server, { namespace: unique('dl'), key: 'reports/2024/q1 summary.txt', body: bytesOf(unique('q1')) })
      for (const url of [byIdUrl(server, uploaded, '&download=1'), byKeyUrl(server, uploaded, '?download=1')]) {
        const response = await get(url)
        await response.arrayBuffer()
        expect(response.status).toBe(200)
        expect(response.headers.get('content-disposition')).toBe(`attachment; filename="q1 summary.txt"; filename*=UTF-8''q1%20summary.txt`)
      }
    })

    test('a unicode name gets an ASCII fallback and the exact UTF-8 filename*', async () => {
      const uploaded = await upload(server, { namespace: unique('dl'), key: 'docs/résumé ✓.pdf', body: bytesOf(unique('cv')) })
      const response = await get(byKeyUrl(server, uploaded, '?download=1'))
      await response.arrayBuffer()
      const disposition = response.headers.get('content-disposition')!
      expect(disposition).toBe(`attachment; filename="r_sum_ _.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%E2%9C%93.pdf`)
      expect(decodeURIComponent(disposition.split("UTF-8''")[1]!)).toBe('résumé ✓.pdf')
    })

    test("quotes, apostrophes and parentheses are escaped so the header still parses", async () => {
      const uploaded = await upload(server, { namespace: unique('dl'), key: `x/it's "final" (2)*.txt`, body: bytesOf(unique('q')) })
      const response = await get(byKeyUrl(server, uploaded, '?download=1'))
      await response.arrayBuffer()
      const disposition = response.headers.get('content-disposition')!
      expect(disposition).toBe(`attachment; filename="it's _final_ (2)*.txt"; filename*=UTF-8''it%27s%20%22final%22%20%282%29%2A.txt`)
      // RFC 8187 value-chars: no raw ' ( ) * inside the extended value.
      expect(disposition.split("UTF-8''")[1]).toMatch(/^[A-Za-z0-9!#$&+\-.^_`|~%]+$/)
    })
  })

  describe('Range', () => {
    const expectPart = async (response: Response, start: number, endInclusive: number) => {
      expect(response.status).toBe(206)
      expect(response.headers.get('content-range')).toBe(`bytes ${start}-${endInclusive}/${size}`)
      expect(response.headers.get('content-length')).toBe(String(endInclusive - start + 1))
      expect(response.headers.get('etag')).toBe(`"${object.content_hash}"`)
      const body = await bodyOf(response)
      expect(body.length).toBe(endInclusive - start + 1)
      // Compare hashes: a 300 KiB toEqual diff would be unreadable.
      expect(sha256(body)).toBe(sha256(payload.slice(start, endInclusive + 1)))
      if (body.length <= 16) expect(body).toEqual(payload.slice(start, endInclusive + 1))
    }

    test('bytes=0-0 → the first byte', async () => {
      await expectPart(await get(byIdUrl(server, object), { range: 'bytes=0-0' }), 0, 0)
    })

    test('bytes=5-9 → bytes 5 to 9 inclusive', async () => {
      await expectPart(await get(byIdUrl(server, object), { range: 'bytes=5-9' }), 5, 9)
    })

    test('bytes=5- → from 5 to the end', async () => {
      await expectPart(await get(byKeyUrl(server, object), { range: 'bytes=5-' }), 5, size - 1)
    })

    test('bytes=-3 → the last 3 bytes', async () => {
      await expectPart(await get(byKeyUrl(server, object), { range: 'bytes=-3' }), size - 3, size - 1)
    })

    test('a range in the middle crossing 64 KiB boundaries', async () => {
      await expectPart(await get(byIdUrl(server, object), { range: 'bytes=65535-131073' }), 65535, 131073)
    })

    test('the last byte exactly', async () => {
      await expectPart(await get(byIdUrl(server, object), { range: `bytes=${size - 1}-${size - 1}` }), size - 1, size - 1)
    })

    test('a suffix larger than the object → 206 with all of it', async () => {
      const small = bytesOf(`small ${unique('s')}`)
      const uploaded = await upload(server, { namespace: unique('dl'), key: 'small', body: small })
      const response = await get(byIdUrl(server, uploaded), { range: 'bytes=-1000' })
      expect(response.status).toBe(206)
      expect(response.headers.get('content-range')).toBe(`bytes 0-${small.length - 1}/${small.length}`)
      expect(response.headers.get('content-length')).toBe(String(small.length))
      expect(await bodyOf(response)).toEqual(small)
    })

    test('an end beyond the object is clamped to its last byte', async () => {
      await expectPart(await get(byIdUrl(server, object), { range: `bytes=${size - 10}-${size + 5000}` }), size - 10, size - 1)
    })

    test('a start at or past the end → 416 JSON with Content-Range: bytes */size', async () => {
      for (const range of [`bytes=${size}-`, `bytes=${size + 1}-${size + 10}`]) {
        const response = await get(byIdUrl(server, object), { range })
        await expectError(response, 416, 'range_not_satisfiable')
        expect(response.headers.get('content-range')).toBe(`bytes */${size}`)
      }
    })

    test('malformed ranges → 400 invalid_range', async () => {
      for (const range of ['bytes=abc', 'items=0-1', 'bytes=5-2']) {
        const response = await get(byIdUrl(server, object), { range })
        expect({ range, status: response.status }).toEqual({ range, status: 400 })
        await expectError(response, 400, 'invalid_range')
      }
    })

    test('several ranges → 200 with the whole object', async () => {
      const response = await get(byIdUrl(server, object), { range: 'bytes=0-1,5-9' })
      expect(response.status).toBe(200)
      expect(response.headers.get('content-range')).toBeNull()
      expect(response.headers.get('content-length')).toBe(String(size))
      expect(sha256(await bodyOf(response))).toBe(sha256(payload))
    })
  })

  describe('conditional requests', () => {
    const etag = () => `"${object.content_hash}"`
    const lastModified = () => lastModifiedOf(object)
    const shifted = (seconds: number) => new Date(Date.parse(lastModified()) + seconds * 1000).toUTCString()

    const expectNotModified = async (response: Response) => {
      expect(response.status).toBe(304)
      expect(response.headers.get('etag')).toBe(etag())
      expect(await response.text()).toBe('')
    }

    test('If-None-Match matching (exact, in a list, weak, *) → 304 with the ETag and no body', async () => {
      for (const value of [etag(), `"sha256:${'0'.repeat(64)}", ${etag()}`, `W/${etag()}`, '*']) {
        const response = await get(byIdUrl(server, object), { 'if-none-match': value })
        expect({ value, status: response.status }).toEqual({ value, status: 304 })
        await expectNotModified(response)
      }
    })

    test('If-None-Match not matching → 200 with the object', async () => {
      const response = await get(byKeyUrl(server, object), { 'if-none-match': `"sha256:${'0'.repeat(64)}"` })
      expect(response.status).toBe(200)
      expect(sha256(await bodyOf(response))).toBe(sha256(payload))
    })

    test('If-Match not matching → 412 precondition_failed', async () => {
      for (const value of [`"sha256:${'0'.repeat(64)}"`, `W/${etag()}`]) {
        await expectError(await get(byIdUrl(server, object), { 'if-match': value }), 412, 'precondition_failed')
      }
    })

    test('If-Match matching → 200', async () => {
      for (const value of [etag(), '*']) {
        const response = await get(byKeyUrl(server, object), { 'if-match': value })
        expect(response.status).toBe(200)
        expect(sha256(await bodyOf(response))).toBe(sha256(payload))
      }
    })

    test('If-Modified-Since at or after Last-Modified → 304; earlier → 200', async () => {
      await expectNotModified(await get(byIdUrl(server, object), { 'if-modified-since': lastModified() }))
      await expectNotModified(await get(byIdUrl(server, object), { 'if-modified-since': shifted(60) }))
      const earlier = await get(byIdUrl(server, object), { 'if-modified-since': shifted(-1) })
      expect(earlier.status).toBe(200)
      expect((await bodyOf(earlier)).length).toBe(size)
    })

    test('If-Modified-Since that is not an HTTP date is ignored', async () => {
      const response = await get(byIdUrl(server, object), { 'if-modified-since': 'not a date' })
      expect(response.status).toBe(200)
      await response.arrayBuffer()
    })

    test('If-Unmodified-Since earlier than Last-Modified → 412; at it → 200', async () => {
      await expectError(await get(byIdUrl(server, object), { 'if-unmodified-since': shifted(-1) }), 412, 'precondition_failed')
      const at = await get(byIdUrl(server, object), { 'if-unmodified-since': lastModified() })
      expect(at.status).toBe(200)
      await at.arrayBuffer()
    })

    test('If-None-Match beats If-Modified-Since; If-Match beats If-Unmodified-Since', async () => {
      const other = `"sha256:${'0'.repeat(64)}"`
      const full = await get(byIdUrl(server, object), { 'if-none-match': other, 'if-modified-since': shifted(60) })
      expect(full.status).toBe(200)
      await full.arrayBuffer()
      const matched = await get(byIdUrl(server, object), { 'if-match': etag(), 'if-unmodified-since': shifted(-60) })
      expect(matched.status).toBe(200)
      await matched.arrayBuffer()
    })

    test('If-Range with the current ETag + Range → 206', async () => {
      const response = await get(byIdUrl(server, object), { 'if-range': etag(), range: 'bytes=5-9' })
      expect(response.status).toBe(206)
      expect(response.headers.get('content-range')).toBe(`bytes 5-9/${size}`)
      expect(await bodyOf(response)).toEqual(payload.slice(5, 10))
    })

    test('If-Range with another ETag + Range → 200 with the whole object', async () => {
      const response = await get(byIdUrl(server, object), { 'if-range': `"sha256:${'0'.repeat(64)}"`, range: 'bytes=5-9' })
      expect(response.status).toBe(200)
      expect(response.headers.get('content-range')).toBeNull()
      expect(sha256(await bodyOf(response))).toBe(sha256(payload))
    })

    test('If-Range with a date equal to Last-Modified → 206; another date → 200', async () => {
      const equal = await get(byKeyUrl(server, object), { 'if-range': lastModified(), range: 'bytes=-3' })
      expect(equal.status).toBe(206)
      expect(await bodyOf(equal)).toEqual(payload.slice(size - 3))
      const later = await get(byKeyUrl(server, object), { 'if-range': shifted(60), range: 'bytes=-3' })
      expect(later.status).toBe(200)
      expect((await bodyOf(later)).length).toBe(size)
    })
  })

  describe('HEAD', () => {
    test('on both routes: the same headers as GET and no body', async () => {
      for (const url of [byIdUrl(server, object), byKeyUrl(server, object)]) {
        const getResponse = await get(url)
        await getResponse.arrayBuffer()
        const head = await get(url, {}, 'HEAD')
        expect(head.status).toBe(200)
        expectRepresentationHeaders(head, object)
        for (const name of ['content-type', 'content-length', 'etag', 'x-content-hash', 'last-modified', 'accept-ranges', 'content-disposition']) {
          expect({ name, value: head.headers.get(name) }).toEqual({ name, value: getResponse.headers.get(name) })
        }
        expect(await head.text()).toBe('')
      }
    })

    test('ignores Range (200, full length) and honours If-None-Match (304)', async () => {
      const ranged = await get(byIdUrl(server, object), { range: 'bytes=0-0' }, 'HEAD')
      expect(ranged.status).toBe(200)
      expect(ranged.headers.get('content-length')).toBe(String(size))
      expect(await ranged.text()).toBe('')
      const notModified = await get(byKeyUrl(server, object), { 'if-none-match': `"${object.content_hash}"` }, 'HEAD')
      expect(notModified.status).toBe(304)
      expect(notModified.headers.get('etag')).toBe(`"${object.content_hash}"`)
    })

    test('of a missing object (by id or by key) → 404 with no body and the request id', async () => {
      for (const url of [`${server.url}/v1/objects/${crypto.randomUUID()}?tenant_id=acme`, `${server.url}/v1/objects/by-key/${object.namespace}/acme/missing`]) {
        const response = await get(url, { 'x-request-id': 'head-404' }, 'HEAD')
        expect({ url, status: response.status, requestId: response.headers.get('x-request-id') }).toEqual({ url, status: 404, requestId: 'head-404' })
        expect(await response.text()).toBe('')
      }
    })

    test('by key echoes a valid request id', async () => {
      const response = await get(byKeyUrl(server, object), { 'x-request-id': 'abc-123' }, 'HEAD')
      expect(response.status).toBe(200)
      expect(response.headers.get('x-request-id')).toBe('abc-123')
    })
  })

  describe('errors', () => {
    test('unknown id → 404 not_found', async () => {
      await expectError(await get(`${server.url}/v1/objects/${crypto.randomUUID()}?tenant_id=acme`), 404, 'not_found')
    })

    test('unknown key → 404 not_found', async () => {
      await expectError(await get(`${server.url}/v1/objects/by-key/${object.namespace}/acme/no/such/key`), 404, 'not_found')
    })

    test('malformed id → 400 bad_request', async () => {
      await expectError(await get(`${server.url}/v1/objects/not-a-uuid?tenant_id=acme`), 400, 'bad_request')
    })

    test('another tenant\'s object → 404, by id and by key', async () => {
      await expectError(await get(`${server.url}/v1/objects/${object.id}?tenant_id=someone-else`), 404, 'not_found')
      await expectError(await get(`${server.url}/v1/objects/by-key/${object.namespace}/someone-else/${encodeKeyPath(object.key!)}`), 404, 'not_found')
    })

    test('no tenant_id is no error: every request acts as admin, which reaches the object in its own tenant', async () => {
      const response = await get(`${server.url}/v1/objects/${object.id}`)
      expect(response.status).toBe(200)
      expect(sha256(await bodyOf(response))).toBe(sha256(payload))
    })
  })

  describe('routing', () => {
    test('unknown route → 404 JSON', async () => {
      await expectError(await get(`${server.url}/v2/nothing-here`), 404, 'not_found')
      await expectError(await get(`${server.url}/v1/objects/${object.id}/extra`), 404, 'not_found')
    })

    test('PATCH /v1/objects/{id} → 405 JSON with Allow', async () => {
      const response = await get(byIdUrl(server, object), {}, 'PATCH')
      await expectError(response, 405, 'method_not_allowed')
      const allow = response.headers.get('allow')!.split(/,\s*/)
      expect(allow).toEqual(expect.arrayContaining(['GET', 'HEAD', 'DELETE']))
      expect(allow).not.toContain('PATCH')
    })

    test('PUT /v1/objects → 405 JSON with Allow', async () => {
      const response = await fetch(`${server.url}/v1/objects`, { method: 'PUT', body: 'x' })
      await expectError(response, 405, 'method_not_allowed')
      const allow = response.headers.get('allow')!.split(/,\s*/)
      expect(allow).toEqual(expect.arrayContaining(['GET', 'POST']))
      expect(allow).not.toContain('PUT')
    })
  })
})

/** The filesystem driver: a blob is a file, which can be removed or cut short behind the service's back. */
describe.each(backends)('download of a damaged blob file on the filesystem of %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend)
  }, 60_000)
  afterAll(() => server.stop())

  test('a blob file removed from disk → 500 corrupt_object, not wrong bytes', async () => {
    const uploaded = await upload(server, { namespace: unique('dl'), key: 'gone', body: randomPayload(4096) })
    rmSync(blobFile(server, uploaded))
    for (const url of [byIdUrl(server, uploaded), byKeyUrl(server, uploaded)]) await expectError(await get(url), 500, 'corrupt_object')
    await expectError(await get(byIdUrl(server, uploaded), { range: 'bytes=0-9' }), 500, 'corrupt_object')
  })

  test('a blob file truncated on disk → 500 corrupt_object', async () => {
    const uploaded = await upload(server, { namespace: unique('dl'), key: 'short', body: randomPayload(4096) })
    truncateSync(blobFile(server, uploaded), 1000)
    await expectError(await get(byIdUrl(server, uploaded)), 500, 'corrupt_object')
    // A range inside the surviving bytes must still not be served from a damaged blob.
    await expectError(await get(byKeyUrl(server, uploaded), { range: 'bytes=0-9' }), 500, 'corrupt_object')
  })
})
