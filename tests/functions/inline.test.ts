import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readdirSync, rmSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { and, eq, sql } from 'drizzle-orm'
import { checkConsistency, isClean } from '../../core/fsck'
import { blobs, objects, type StorageClass } from '../../core/db/schema'
import { adminToken, backends, startServer, storageBackends, type TestServer } from '../support/server'
import { blobRow, expectBytes, expectError } from '../support/assertions'

/** Small bodies kept in the blob row: the same contract as files, with no file and one statement. */

const inlineMaxBytes = 1024
let counter = 0
const unique = (prefix: string) => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 8)}`
const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')
const asAdmin = { authorization: `Bearer ${adminToken}` }
const random = (size: number) => new Uint8Array(randomBytes(size))

async function post(server: TestServer, namespace: string, body: Uint8Array<ArrayBuffer>, query = '', headers: Record<string, string> = {}) {
  return fetch(`${server.url}/v1/objects?namespace=${namespace}&tenant_id=acme${query}`, { method: 'POST', body, headers: { ...asAdmin, ...headers } })
}

async function upload(server: TestServer, namespace: string, body: Uint8Array<ArrayBuffer>, query = '') {
  const response = await post(server, namespace, body, query)
  expect(response.status).toBe(201)
  return (await response.json()) as { id: string; content_hash: string; size_bytes: number }
}

const get = (server: TestServer, id: string, headers: Record<string, string> = {}, method = 'GET') =>
  fetch(`${server.url}/v1/objects/${id}?tenant_id=acme`, { method, headers: { ...asAdmin, ...headers } })
const remove = async (server: TestServer, id: string) => expect((await get(server, id, {}, 'DELETE')).status).toBe(204)

/** Whether the hot class's blob store holds the blob's bytes (inline bytes live in its row instead). */
const isStored = async (server: TestServer, hex: string) => (await server.store.blobs.hot.size(hex)) !== null

/** The staged bytes of uploads that either class's blob store still holds. */
async function stagedUploads(server: TestServer): Promise<string[]> {
  const found: string[] = []
  for (const storageClass of ['hot', 'cold'] as StorageClass[]) {
    for await (const leftover of server.store.blobs[storageClass].leftovers()) {
      if (leftover.kind === 'staged') found.push(`${storageClass}:${leftover.uploadId}`)
    }
  }
  return found
}

/** For the tests of the filesystem driver: a hot blob's file, and what is in the hot temp directory. */
const blobFile = (server: TestServer, hex: string) => `${server.dataDir}/hot/sha256/${hex.slice(0, 2)}/${hex.slice(2, 4)}/${hex}`
const tempFiles = (server: TestServer) => readdirSync(`${server.dataDir}/hot/tmp`)

async function adminPost(server: TestServer, path: string) {
  const response = await fetch(`${server.url}${path}`, { method: 'POST', headers: asAdmin })
  expect(response.status).toBe(200)
  return response.json()
}

async function objectRows(server: TestServer, namespace: string) {
  return server.database.db.select({ status: objects.status }).from(objects).where(eq(objects.namespace, namespace))
}

/** A blob kept in its class's store, as one written before inline storage, or under a lower INLINE_MAX_BYTES, is. */
async function uploadToFile(server: TestServer, namespace: string, body: Uint8Array<ArrayBuffer>) {
  server.store.inlineMaxBytes = 0
  try {
    return await upload(server, namespace, body)
  } finally {
    server.store.inlineMaxBytes = inlineMaxBytes
  }
}

const putByKey = (server: TestServer, namespace: string, key: string, body: Uint8Array<ArrayBuffer>) =>
  fetch(`${server.url}/v1/objects/by-key/${namespace}/acme/${key}`, { method: 'PUT', body, headers: asAdmin })

/** The two ways a small upload joins an existing blob. */
const joins: [string, (server: TestServer, namespace: string, body: Uint8Array<ArrayBuffer>) => Promise<string>][] = [
  ['without a key', async (server, namespace, body) => (await upload(server, namespace, body)).id],
  [
    'by key',
    async (server, namespace, body) => {
      const response = await putByKey(server, namespace, 'again', body)
      expect(response.status).toBe(201)
      return (await response.json()).id
    },
  ],
]

describe.each(storageBackends)('inline small objects on %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend, { inlineMaxBytes, gc: { graceSecs: 0 } })
  }, 60_000)
  afterAll(() => server.stop())

  test('a body up to the limit is kept in its blob row, not in the blob store, and reads back exactly', async () => {
    const namespace = unique('small')
    for (const size of [0, 1, 100, inlineMaxBytes]) {
      const body = random(size)
      const hex = sha256(body)
      const object = await upload(server, namespace, body)
      expect(object).toMatchObject({ content_hash: `sha256:${hex}`, size_bytes: size })
      const row = await blobRow(server, hex)
      expect(row).toMatchObject({ refCount: 1, sizeBytes: size, corruptAt: null })
      expect(new Uint8Array(row!.inlineData!)).toEqual(body)
      expect(await isStored(server, hex)).toBe(false)
      const response = await get(server, object.id)
      expect(response.headers.get('content-length')).toBe(String(size))
      expect(response.headers.get('etag')).toBe(`"sha256:${hex}"`)
      await expectBytes(response, body)
    }
    expect(await stagedUploads(server)).toEqual([])
  })

  test("the one-statement commit answers with the stored row: list and read agree with the upload's answer", async () => {
    const namespace = unique('answer')
    const response = await post(server, namespace, random(20), '', { 'content-type': 'text/plain', 'x-metadata': '{"stage":"prod"}' })
    expect(response.status).toBe(201)
    const answer = await response.json()
    const listed = await (await fetch(`${server.url}/v1/objects?namespace=${namespace}&tenant_id=acme`, { headers: asAdmin })).json()
    expect(listed.objects).toEqual([answer])
    expect(answer).toMatchObject({ status: 'COMMITTED', key: null, content_type: 'text/plain', metadata: { stage: 'prod' } })
    const read = await get(server, answer.id, {}, 'HEAD')
    expect(new Date(read.headers.get('last-modified')!).getTime()).toBe(Math.floor(Date.parse(answer.created_at) / 1000) * 1000)
  })

  test('one byte past the limit goes to the blob store', async () => {
    const body = random(inlineMaxBytes + 1)
    const hex = sha256(body)
    const object = await upload(server, unique('large'), body)
    expect((await blobRow(server, hex))!.inlineData).toBeNull()
    expect(await isStored(server, hex)).toBe(true)
    await expectBytes(await get(server, object.id), body)
  })

  test('Range, HEAD and conditional reads work on inline bytes', async () => {
    const body = random(600)
    const object = await upload(server, unique('range'), body)
    const partial = await get(server, object.id, { range: 'bytes=100-199' })
    expect(partial.status).toBe(206)
    expect(partial.headers.get('content-range')).toBe('bytes 100-199/600')
    expect(new Uint8Array(await partial.arrayBuffer())).toEqual(body.slice(100, 200))
    const suffix = await get(server, object.id, { range: 'bytes=-10' })
    expect(new Uint8Array(await suffix.arrayBuffer())).toEqual(body.slice(590))
    const head = await get(server, object.id, {}, 'HEAD')
    expect({ status: head.status, length: head.headers.get('content-length'), body: await head.text() }).toEqual({ status: 200, length: '600', body: '' })
    const etag = head.headers.get('etag')!
    expect((await get(server, object.id, { 'if-none-match': etag })).status).toBe(304)
    expect((await get(server, object.id, { range: 'bytes=700-' })).status).toBe(416)
  })

  test('the same small bytes are one blob; deletes drop references and GC removes the row', async () => {
    const namespace = unique('dedup')
    const body = random(300)
    const hex = sha256(body)
    const first = await upload(server, namespace, body)
    const second = await upload(server, namespace, body)
    const cold = await upload(server, namespace, body, '&storage_class=cold')
    expect((await blobRow(server, hex))!.refCount).toBe(2)
    expect((await blobRow(server, hex, 'cold'))!.refCount).toBe(1)

    await remove(server, first.id)
    expect((await blobRow(server, hex))!.refCount).toBe(1)
    await adminPost(server, '/v1/admin/gc')
    await expectBytes(await get(server, second.id), body)

    await remove(server, second.id)
    await remove(server, cold.id)
    const gc = await adminPost(server, '/v1/admin/gc')
    expect(gc.deleted_blobs).toBeGreaterThanOrEqual(2)
    expect(await blobRow(server, hex)).toBeUndefined()
    expect(await blobRow(server, hex, 'cold')).toBeUndefined()
    await expectError(await get(server, second.id), 404, 'not_found')

    // Uploaded again after collection: a fresh row with the bytes.
    const again = await upload(server, namespace, body)
    expect((await blobRow(server, hex))!.refCount).toBe(1)
    await expectBytes(await get(server, again.id), body)
  })

  test('upsert by key replaces an inline object and moves the reference', async () => {
    const namespace = unique('upsert')
    const v1 = random(50)
    const v2 = random(60)
    const put = (body: Uint8Array<ArrayBuffer>) => fetch(`${server.url}/v1/objects/by-key/${namespace}/acme/doc`, { method: 'PUT', body, headers: asAdmin })
    expect((await put(v1)).status).toBe(201)
    expect((await put(v2)).status).toBe(200)
    expect((await blobRow(server, sha256(v1)))!.refCount).toBe(0)
    expect((await blobRow(server, sha256(v2)))!.refCount).toBe(1)
    await expectBytes(await fetch(`${server.url}/v1/objects/by-key/${namespace}/acme/doc`, { headers: asAdmin }), v2)
  })

  test('a small body that fails its checks leaves no object, no blob and no staged bytes', async () => {
    const namespace = unique('bad')
    const body = random(200)
    await expectError(await post(server, namespace, body, '', { 'x-content-sha256': '0'.repeat(64) }), 400, 'digest_mismatch')
    expect(await objectRows(server, namespace)).toEqual([])
    expect(await blobRow(server, sha256(body))).toBeUndefined()
    expect(await isStored(server, sha256(body))).toBe(false)
    expect(await stagedUploads(server)).toEqual([])
  })

  test('damaged inline bytes are found by the scrubber, refused on read, and healed by uploading them again', async () => {
    const namespace = unique('scrub')
    const body = random(400)
    const hex = sha256(body)
    const first = await upload(server, namespace, body)
    const damaged = body.map((byte) => byte ^ 0xff)
    await server.database.db
      .update(blobs)
      .set({ inlineData: damaged })
      .where(and(eq(blobs.storageClass, 'hot'), eq(blobs.contentHash, `sha256:${hex}`)))

    const result = await adminPost(server, '/v1/admin/scrub')
    expect(result.corrupt).toContainEqual({ content_hash: `sha256:${hex}`, storage_class: 'hot' })
    await expectError(await get(server, first.id), 500, 'corrupt_object')

    const second = await upload(server, namespace, body)
    expect(await blobRow(server, hex)).toMatchObject({ refCount: 2, corruptAt: null })
    await expectBytes(await get(server, first.id), body)
    await expectBytes(await get(server, second.id), body)
    expect((await adminPost(server, '/v1/admin/scrub')).corrupt).not.toContainEqual({ content_hash: `sha256:${hex}`, storage_class: 'hot' })
  })

  test('an upload to the blob store joining an inline blob keeps the inline bytes and stores nothing', async () => {
    const namespace = unique('inline-then-file')
    const body = random(500)
    const hex = sha256(body)
    await upload(server, namespace, body)
    const second = await uploadToFile(server, namespace, body)
    expect(await isStored(server, hex)).toBe(false)
    expect(new Uint8Array((await blobRow(server, hex))!.inlineData!)).toEqual(body)
    await expectBytes(await get(server, second.id), body)
    expect(await stagedUploads(server)).toEqual([])
  })

  test('fsck sees inline blobs as consistent: no missing files', async () => {
    await upload(server, unique('fsck'), random(10))
    const report = await checkConsistency(server.database.db, server.store.blobs)
    expect(report.missingFiles).toEqual([])
    expect(report.wrongRefCounts).toEqual([])
    expect(isClean(report)).toBe(true)
    const [inline] = await server.database.db.select({ n: sql<number>`count(*)::int` }).from(blobs).where(sql`${blobs.inlineData} is not null`)
    expect(inline!.n).toBeGreaterThan(0)
  })
})

/** The filesystem driver: a blob is a file, which can be removed or damaged behind the service's back. */
describe.each(backends)('inline small objects joining blob files on the filesystem of %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend, { inlineMaxBytes, gc: { graceSecs: 0 } })
  }, 60_000)
  afterAll(() => server.stop())

  test.each(joins)('a small upload %s joining a file-backed blob whose file is gone stores its verified bytes', async (_name, uploadAgain) => {
    const namespace = unique('lost-file')
    const body = random(500)
    const hex = sha256(body)
    const first = await uploadToFile(server, namespace, body)
    rmSync(blobFile(server, hex))

    const second = await uploadAgain(server, namespace, body)
    await expectBytes(await get(server, second), body)
    await expectBytes(await get(server, first.id), body)
    expect(await blobRow(server, hex)).toMatchObject({ refCount: 2, corruptAt: null })
    expect(tempFiles(server)).toEqual([])
  })

  test.each(joins)('a small upload %s joining a file-backed blob whose file is damaged serves its verified bytes', async (_name, uploadAgain) => {
    const namespace = unique('damaged-file')
    const body = random(500)
    const hex = sha256(body)
    const first = await uploadToFile(server, namespace, body)
    writeFileSync(blobFile(server, hex), body.map((byte, i) => (i < 4 ? byte ^ 0xff : byte)))

    const second = await uploadAgain(server, namespace, body)
    await expectBytes(await get(server, second), body)
    await expectBytes(await get(server, first.id), body)
  })
})
