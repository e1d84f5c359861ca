import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { uploadSessions, type StorageClass } from '../../core/db/schema'
import { adminToken, bucketEnvironment, startServer, storageBackends, type TestServer } from '../support/server'
import { blobRow, expectBytes, expectError } from '../support/assertions'
import { holdAt } from '../../core/barriers'

/** Resumable upload sessions over a real server, on every backend. */

const MiB = 2 ** 20
let counter = 0
const unique = (prefix: string) => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 8)}`
const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')
const random = (size: number) => new Uint8Array(randomBytes(size))
const asAdmin = { authorization: `Bearer ${adminToken}` }

interface SessionJson {
  id: string
  namespace: string
  tenant_id: string
  key: string | null
  storage_class: string
  offset: number
  length: number | null
  expires_at: string
  created_at: string
}

async function create(server: TestServer, query = '', headers: Record<string, string> = {}) {
  return fetch(`${server.url}/v1/uploads?namespace=models&tenant_id=acme${query}`, { method: 'POST', headers: { ...asAdmin, ...headers } })
}

async function open(server: TestServer, query = '', headers: Record<string, string> = {}): Promise<SessionJson> {
  const response = await create(server, query, headers)
  expect(response.status).toBe(201)
  const session = (await response.json()) as SessionJson
  expect(response.headers.get('location')).toBe(`/v1/uploads/${session.id}`)
  expect(response.headers.get('upload-offset')).toBe('0')
  return session
}

const patch = (server: TestServer, id: string, offset: number, body: BodyInit, headers: Record<string, string> = {}) =>
  fetch(`${server.url}/v1/uploads/${id}?tenant_id=acme`, { method: 'PATCH', body, headers: { ...asAdmin, 'upload-offset': String(offset), ...headers } })

async function append(server: TestServer, id: string, offset: number, bytes: Uint8Array<ArrayBuffer>): Promise<number> {
  const response = await patch(server, id, offset, bytes)
  expect(response.status).toBe(204)
  const reached = Number(response.headers.get('upload-offset'))
  expect(reached).toBe(offset + bytes.byteLength)
  return reached
}

const head = (server: TestServer, id: string) => fetch(`${server.url}/v1/uploads/${id}?tenant_id=acme`, { method: 'HEAD', headers: asAdmin })
const complete = (server: TestServer, id: string, headers: Record<string, string> = {}) =>
  fetch(`${server.url}/v1/uploads/${id}/complete?tenant_id=acme`, { method: 'POST', headers: { ...asAdmin, ...headers } })
const cancel = (server: TestServer, id: string) => fetch(`${server.url}/v1/uploads/${id}?tenant_id=acme`, { method: 'DELETE', headers: asAdmin })
const download = (server: TestServer, id: string) => fetch(`${server.url}/v1/objects/${id}?tenant_id=acme`, { headers: asAdmin })

/** The upload ids whose staged bytes a class's store holds (a session's bytes are staged under its id). */
async function staged(server: TestServer, storageClass: StorageClass = 'hot'): Promise<string[]> {
  const found: string[] = []
  for await (const leftover of server.store.blobs[storageClass].leftovers()) if (leftover.kind === 'staged' && leftover.uploadId) found.push(leftover.uploadId)
  return found
}

/** Sends chunks of `bytes` of the given sizes, then completes; returns the object. */
async function sendInChunks(server: TestServer, id: string, bytes: Uint8Array<ArrayBuffer>, sizes: number[]) {
  let offset = 0
  for (const size of sizes) offset = await append(server, id, offset, bytes.slice(offset, offset + size))
  expect(offset).toBe(bytes.byteLength)
  const response = await complete(server, id)
  expect(response.status).toBe(201)
  return (await response.json()) as { id: string; content_hash: string; size_bytes: number; key: string | null; content_type: string; metadata: unknown }
}

for (const backend of storageBackends) {
  describe(`upload sessions (${backend})`, () => {
    let server: TestServer
    beforeAll(async () => {
      server = await startServer(backend, { maxUploadBytes: 64 * MiB })
    })
    afterAll(() => server.stop())

    test('chunks of any size across parts become one object, exact, completed once', async () => {
      const key = unique('weights')
      // Sizes that leave parts unfilled, fill them exactly and cross them (a bucket's parts are 8 MiB).
      const bytes = random(3 * MiB + 7 * MiB + 6 * MiB + 5)
      const session = await open(server, `&key=${key}`, { 'x-upload-content-type': 'application/x-weights', 'x-metadata': '{"v":1}', 'x-upload-content-length': String(bytes.byteLength) })
      expect(session).toMatchObject({ namespace: 'models', tenant_id: 'acme', key, storage_class: 'hot', offset: 0, length: bytes.byteLength })
      const object = await sendInChunks(server, session.id, bytes, [3 * MiB, 7 * MiB, 6 * MiB, 5])
      expect(object).toMatchObject({ key, content_hash: `sha256:${sha256(bytes)}`, size_bytes: bytes.byteLength, content_type: 'application/x-weights', metadata: { v: 1 } })
      await expectBytes(await download(server, object.id), bytes)
      // A client that lost the answer asks again and gets the same object.
      const again = await complete(server, session.id)
      expect(again.status).toBe(200)
      expect(((await again.json()) as { id: string }).id).toBe(object.id)
      expect(await staged(server)).not.toContain(session.id)
      const listed = await fetch(`${server.url}/v1/uploads?namespace=models&tenant_id=acme`, { headers: asAdmin })
      expect(((await listed.json()) as { uploads: SessionJson[] }).uploads.map((s) => s.id)).not.toContain(session.id)
    })

    test('HEAD and GET tell the offset; the list pages through open sessions', async () => {
      const namespace = unique('ns')
      const ids: string[] = []
      for (let i = 0; i < 3; i++) {
        const response = await fetch(`${server.url}/v1/uploads?namespace=${namespace}&tenant_id=acme`, { method: 'POST', headers: { ...asAdmin, 'x-upload-content-length': '10' } })
        ids.push(((await response.json()) as SessionJson).id)
      }
      await append(server, ids[0]!, 0, random(4))
      const status = await head(server, ids[0]!)
      expect(status.status).toBe(200)
      expect(status.headers.get('upload-offset')).toBe('4')
      expect(status.headers.get('upload-length')).toBe('10')
      expect(status.headers.get('cache-control')).toBe('no-store')
      const json = (await (await fetch(`${server.url}/v1/uploads/${ids[0]}?tenant_id=acme`, { headers: asAdmin })).json()) as SessionJson
      expect(json).toMatchObject({ id: ids[0], offset: 4, length: 10 })
      const seen: string[] = []
      let cursor: string | null = null
      do {
        const page = (await (await fetch(`${server.url}/v1/uploads?namespace=${namespace}&tenant_id=acme&limit=2${cursor ? `&cursor=${cursor}` : ''}`, { headers: asAdmin })).json()) as { uploads: SessionJson[]; next_cursor: string | null }
        seen.push(...page.uploads.map((s) => s.id))
        cursor = page.next_cursor
      } while (cursor)
      expect(seen.sort()).toEqual([...ids].sort())
    })

    test('a wrong offset is 409 with the current one, and nothing is appended', async () => {
      const session = await open(server)
      await append(server, session.id, 0, random(100))
      for (const offset of [0, 50, 101]) {
        const response = await patch(server, session.id, offset, random(10))
        await expectError(response, 409, 'offset_mismatch')
        expect(response.headers.get('upload-offset')).toBe('100')
      }
      expect((await head(server, session.id)).headers.get('upload-offset')).toBe('100')
      await expectError(await patch(server, session.id, 0, random(1), { 'upload-offset': 'x' }), 400, 'bad_request')
      const noOffset = await fetch(`${server.url}/v1/uploads/${session.id}?tenant_id=acme`, { method: 'PATCH', body: 'x', headers: asAdmin })
      await expectError(noOffset, 400, 'bad_request')
    })

    test("a chunk's digest is checked; a mismatch leaves the offset and the bytes as they were", async () => {
      const bytes = random(2 * MiB)
      const session = await open(server)
      const first = bytes.slice(0, MiB)
      const response = await patch(server, session.id, 0, first, { 'x-content-sha256': sha256(random(8)) })
      await expectError(response, 400, 'digest_mismatch')
      expect((await head(server, session.id)).headers.get('upload-offset')).toBe('0')
      const good = await patch(server, session.id, 0, first, { 'x-content-sha256': sha256(first) })
      expect(good.status).toBe(204)
      await append(server, session.id, MiB, bytes.slice(MiB))
      const completed = await complete(server, session.id, { 'x-content-sha256': sha256(bytes) })
      expect(completed.status).toBe(201)
      await expectBytes(await download(server, ((await completed.json()) as { id: string }).id), bytes)
    })

    test('the declared length and the size limit bound the session: 413, offset unchanged; short of it, complete is refused', async () => {
      const session = await open(server, '', { 'x-upload-content-length': '1000' })
      await append(server, session.id, 0, random(600))
      await expectError(await patch(server, session.id, 600, random(401)), 413, 'payload_too_large')
      // A chunked body crossing the length is stopped at the crossing byte.
      const chunked = new ReadableStream({ start: (c) => (c.enqueue(random(300)), c.enqueue(random(300)), c.close()) })
      await expectError(await patch(server, session.id, 600, chunked), 413, 'payload_too_large')
      expect((await head(server, session.id)).headers.get('upload-offset')).toBe('600')
      await expectError(await complete(server, session.id), 400, 'bad_request')
      await append(server, session.id, 600, random(400))
      expect((await complete(server, session.id)).status).toBe(201)
      await expectError(await create(server, '', { 'x-upload-content-length': String(64 * MiB + 1) }), 413, 'payload_too_large')
    })

    test('a wrong whole digest leaves the session open to continue', async () => {
      const bytes = random(MiB + 3)
      const session = await open(server)
      await append(server, session.id, 0, bytes.slice(0, MiB))
      await expectError(await complete(server, session.id, { 'x-content-sha256': sha256(bytes) }), 400, 'digest_mismatch')
      await append(server, session.id, MiB, bytes.slice(MiB))
      const completed = await complete(server, session.id, { 'x-content-sha256': sha256(bytes) })
      expect(completed.status).toBe(201)
      await expectBytes(await download(server, ((await completed.json()) as { id: string }).id), bytes)
    })

    test('a digest given at creation is the one the completion checks', async () => {
      const bytes = random(5000)
      const session = await open(server, '', { 'x-content-sha256': sha256(random(5)) })
      await append(server, session.id, 0, bytes)
      await expectError(await complete(server, session.id), 400, 'digest_mismatch')
      await expectError(await complete(server, session.id, { 'x-content-sha256': sha256(bytes) }), 400, 'bad_request')
      expect((await head(server, session.id)).status).toBe(200)
    })

    test('key policy: a held key is 409 at creation; with overwrite the completion replaces it (200)', async () => {
      const key = unique('doc')
      const first = await fetch(`${server.url}/v1/objects?namespace=models&tenant_id=acme&key=${key}`, { method: 'POST', body: 'old', headers: asAdmin })
      expect(first.status).toBe(201)
      await expectError(await create(server, `&key=${key}`), 409, 'key_exists')
      const session = await open(server, `&key=${key}&overwrite=true`)
      await append(server, session.id, 0, new TextEncoder().encode('new'))
      const replaced = await complete(server, session.id)
      expect(replaced.status).toBe(200)
      const byKey = await fetch(`${server.url}/v1/objects/by-key/models/acme/${key}`, { headers: asAdmin })
      expect(await byKey.text()).toBe('new')
    })

    test('a session completed with no bytes is an empty object', async () => {
      const session = await open(server)
      const response = await complete(server, session.id)
      expect(response.status).toBe(201)
      const object = (await response.json()) as { id: string; size_bytes: number }
      expect(object.size_bytes).toBe(0)
      expect((await download(server, object.id)).status).toBe(200)
    })

    test('cancel removes the session and its bytes; then it is 404', async () => {
      const session = await open(server)
      await append(server, session.id, 0, random(9 * MiB))
      expect(await staged(server)).toContain(session.id)
      expect((await cancel(server, session.id)).status).toBe(204)
      expect((await head(server, session.id)).status).toBe(404)
      await expectError(await patch(server, session.id, 9 * MiB, random(1)), 404, 'not_found')
      await expectError(await complete(server, session.id), 404, 'not_found')
      expect(await staged(server)).not.toContain(session.id)
    })

    test('dedup: a session of bytes already stored adds a reference to the one blob', async () => {
      const bytes = random(2 * MiB)
      const first = await fetch(`${server.url}/v1/objects?namespace=models&tenant_id=acme`, { method: 'POST', body: bytes, headers: asAdmin })
      expect(first.status).toBe(201)
      const session = await open(server)
      await sendInChunks(server, session.id, bytes, [2 * MiB])
      expect((await blobRow(server, sha256(bytes)))?.refCount).toBe(2)
      expect(await staged(server)).not.toContain(session.id)
    })

    test('cold sessions land in the cold class', async () => {
      const bytes = random(10_000)
      const session = await open(server, '&storage_class=cold')
      const object = await sendInChunks(server, session.id, bytes, [10_000])
      expect((await blobRow(server, sha256(bytes), 'cold'))?.refCount).toBe(1)
      await expectBytes(await download(server, object.id), bytes)
    })

    test('two PATCHes at one offset: one is appended, the other 409; a complete racing a PATCH is 409', async () => {
      const session = await open(server)
      let release!: () => void
      const held = new Promise<void>((resolve) => (release = resolve))
      const slow = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(random(MiB))
          await held
          controller.enqueue(random(MiB))
          controller.close()
        },
      })
      const first = patch(server, session.id, 0, slow)
      // Until the first holds the session, a second may still win: wait for the first's bytes to arrive.
      await Bun.sleep(300)
      const second = await patch(server, session.id, 0, random(10))
      await expectError(second, 409, 'offset_mismatch')
      await expectError(await complete(server, session.id), 409, 'offset_mismatch')
      release()
      const done = await first
      expect(done.status).toBe(204)
      expect(done.headers.get('upload-offset')).toBe(String(2 * MiB))
      expect((await complete(server, session.id)).status).toBe(201)
    })

    test('a PATCH that fails between the seal and the commit of a completion leaves nothing in the object', async () => {
      const bytes = random(2 * MiB)
      const session = await open(server)
      await append(server, session.id, 0, bytes)
      const hold = holdAt('complete:sealed')
      const completing = complete(server, session.id)
      await hold.reached
      try {
        // On a directory it is refused after its bytes were written (its digest is wrong): the offset stays, the bytes past it
        // must not. A bucket's sealed session takes no bytes at all.
        const refused = await patch(server, session.id, 2 * MiB, random(MiB), { 'x-content-sha256': sha256(random(1)) })
        if (backend === 's3') await expectError(refused, 409, 'offset_mismatch')
        else await expectError(refused, 400, 'digest_mismatch')
      } finally {
        hold.release()
      }
      const completed = await completing
      expect(completed.status).toBe(201)
      const object = (await completed.json()) as { id: string; content_hash: string }
      expect(object.content_hash).toBe(`sha256:${sha256(bytes)}`)
      expect(await server.store.blobs.hot.size(sha256(bytes))).toBe(bytes.byteLength)
      await expectBytes(await download(server, object.id), bytes)
    })

    test('eight clients racing PATCHes at one offset: exactly one is appended, and the object is its bytes', async () => {
      const session = await open(server)
      const chunks = Array.from({ length: 8 }, () => random(MiB))
      const answers = await Promise.all(chunks.map((chunk) => patch(server, session.id, 0, chunk)))
      const won = answers.flatMap((answer, i) => (answer.status === 204 ? [i] : []))
      expect(won.length).toBe(1)
      for (const answer of answers) if (answer.status !== 204) await expectError(answer, 409, 'offset_mismatch')
      const completed = await complete(server, session.id, { 'x-content-sha256': sha256(chunks[won[0]!]!) })
      expect(completed.status).toBe(201)
      await expectBytes(await download(server, ((await completed.json()) as { id: string }).id), chunks[won[0]!]!)
    })

    test('a session idle past its time to live expires: 404, and GC removes its bytes', async () => {
      const short = await startServer(backend, { uploadSessionTtlSecs: 1 })
      try {
        const response = await fetch(`${short.url}/v1/uploads?namespace=models&tenant_id=acme`, { method: 'POST', headers: asAdmin })
        const { id } = (await response.json()) as SessionJson
        expect((await patch(short, id, 0, random(MiB))).status).toBe(204)
        expect(await staged(short)).toContain(id)
        await Bun.sleep(1500)
        expect((await head(short, id)).status).toBe(404)
        const gc = await fetch(`${short.url}/v1/admin/gc`, { method: 'POST', headers: asAdmin })
        expect(((await gc.json()) as { reaped_uploads: number }).reaped_uploads).toBe(1)
        expect(await staged(short)).not.toContain(id)
        expect(await short.database.db.select().from(uploadSessions).where(eq(uploadSessions.id, id))).toEqual([])
      } finally {
        await short.stop()
      }
    })

    test("GC's leftover sweep keeps an open session's bytes", async () => {
      const bytes = random(MiB)
      const session = await open(server)
      await append(server, session.id, 0, bytes)
      // GC_GRACE_SECS is 0 here: every staged upload is old enough to be a leftover, unless it is live.
      expect((await fetch(`${server.url}/v1/admin/gc`, { method: 'POST', headers: asAdmin })).status).toBe(200)
      const completed = await complete(server, session.id)
      expect(completed.status).toBe(201)
      await expectBytes(await download(server, ((await completed.json()) as { id: string }).id), bytes)
    })
  })
}

describe('upload sessions on a bucket, across replicas', () => {
  let first: TestServer
  let second: TestServer
  beforeAll(async () => {
    const bucket = await bucketEnvironment()
    first = await startServer('postgres', { env: bucket })
    second = await startServer('postgres', { env: bucket, databaseUrl: first.databaseUrl })
  })
  afterAll(async () => {
    await second.stop()
    await first.stop()
  })

  test('any replica continues any session; the one completing it, which did not see every byte, reads them once to hash', async () => {
    const bytes = random(6 * MiB + 3 * MiB + 5 * MiB + 11)
    const session = await open(first)
    let offset = await append(first, session.id, 0, bytes.slice(0, 6 * MiB))
    offset = await append(second, session.id, offset, bytes.slice(offset, offset + 3 * MiB))
    expect((await head(first, session.id)).headers.get('upload-offset')).toBe(String(offset))
    offset = await append(first, session.id, offset, bytes.slice(offset))
    await expectError(await complete(second, session.id, { 'x-content-sha256': sha256(random(4)) }), 400, 'digest_mismatch')
    const completed = await complete(second, session.id, { 'x-content-sha256': sha256(bytes) })
    expect(completed.status).toBe(201)
    const object = (await completed.json()) as { id: string }
    await expectBytes(await download(first, object.id), bytes)
    const again = await complete(first, session.id)
    expect(again.status).toBe(200)
    expect(((await again.json()) as { id: string }).id).toBe(object.id)
  })
})

describe('upload sessions and tenancy', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer('postgres', { auth: true })
  })
  afterAll(() => server.stop())

  async function key(tenant: string, permissions: string[], namespaces?: string[]) {
    const response = await fetch(`${server.url}/v1/api-keys`, {
      method: 'POST',
      headers: { ...asAdmin, 'content-type': 'application/json' },
      body: JSON.stringify({ name: unique('k'), tenant_id: tenant, permissions, namespaces }),
    })
    expect(response.status).toBe(201)
    return { authorization: `Bearer ${((await response.json()) as { key: string }).key}` }
  }

  test("another tenant's session is 404 to every call; a reader may not write", async () => {
    const acme = await key('acme', ['objects:write', 'objects:read'])
    const other = await key('globex', ['objects:write', 'objects:read'])
    const reader = await key('acme', ['objects:read'])
    const created = await fetch(`${server.url}/v1/uploads?namespace=models`, { method: 'POST', headers: acme })
    expect(created.status).toBe(201)
    const { id } = (await created.json()) as SessionJson
    const calls: [string, string][] = [
      ['HEAD', `/v1/uploads/${id}`],
      ['GET', `/v1/uploads/${id}`],
      ['PATCH', `/v1/uploads/${id}`],
      ['POST', `/v1/uploads/${id}/complete`],
      ['DELETE', `/v1/uploads/${id}`],
    ]
    for (const [method, path] of calls) {
      const response = await fetch(`${server.url}${path}`, { method, headers: { ...other, 'upload-offset': '0' }, body: method === 'PATCH' ? 'x' : undefined })
      expect(response.status).toBe(404)
      const denied = await fetch(`${server.url}${path}`, { method, headers: { ...reader, 'upload-offset': '0' }, body: method === 'PATCH' ? 'x' : undefined })
      expect(denied.status).toBe(403)
    }
    const listed = (await (await fetch(`${server.url}/v1/uploads?namespace=models`, { headers: other })).json()) as { uploads: SessionJson[] }
    expect(listed.uploads).toEqual([])
    expect((await fetch(`${server.url}/v1/uploads/${id}`, { method: 'HEAD', headers: acme })).status).toBe(200)
  })

  test('a key limited to other namespaces cannot open or reach a session there', async () => {
    const acme = await key('acme', ['objects:write'])
    const limited = await key('acme', ['objects:write'], ['scratch'])
    await expectError(await fetch(`${server.url}/v1/uploads?namespace=models`, { method: 'POST', headers: limited }), 403, 'forbidden')
    const { id } = (await (await fetch(`${server.url}/v1/uploads?namespace=models`, { method: 'POST', headers: acme })).json()) as SessionJson
    expect((await fetch(`${server.url}/v1/uploads/${id}`, { headers: limited })).status).toBe(404)
  })
})
