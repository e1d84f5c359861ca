import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { Leftover } from '../../../core/store/blob-store'
import { S3BlobStore, type S3CopyLimits } from '../../../core/store/s3'
import { sharedS3, type S3Target } from '../../support/ceph'
import { collect, describeBlobStore, randomBytes, sha256, stage } from './conformance'

const MiB = 2 ** 20

const connectionOf = (s3: S3Target) => ({ endpoint: s3.endpoint, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey })

/** A bucket of its own, emptied and deleted on close: multipart uploads first (through the store's leftovers), then objects. */
async function openBucket() {
  const s3 = await sharedS3()
  const bucket = await s3.createBucket()
  const client = s3.client(bucket)
  const stores: S3BlobStore[] = []
  return {
    client,
    store(prefix: string, copyLimits?: S3CopyLimits) {
      const store = new S3BlobStore(bucket, prefix, connectionOf(s3), copyLimits)
      stores.push(store)
      return store
    },
    async close() {
      for (const store of stores) for await (const leftover of store.leftovers()) await leftover.remove()
      for (let page = await client.list(); (page.contents ?? []).length > 0; page = await client.list()) {
        await Promise.all(page.contents!.map((object) => client.delete(object.key)))
      }
      await s3.deleteBucket(bucket)
    },
  }
}

describeBlobStore('S3 (Ceph RGW)', async () => {
  const bucket = await openBucket()
  return { store: bucket.store('blobs'), close: bucket.close }
})

let bucket: Awaited<ReturnType<typeof openBucket>>
beforeAll(async () => {
  bucket = await openBucket()
})
afterAll(() => bucket.close())

const stagedOf = async (store: S3BlobStore, id: string): Promise<Leftover[]> =>
  (await collect(store.leftovers())).filter((leftover) => leftover.kind === 'staged' && leftover.uploadId === id)

/** A body of 1 MiB chunks that fails after `failAfter` of them, as a client that goes away. */
function failingBody(bytes: Uint8Array, failAfter: number): ReadableStreamDefaultReader<Uint8Array> {
  let sent = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === failAfter) return controller.error(new Error('the client went away'))
      controller.enqueue(bytes.slice(sent * MiB, ++sent * MiB))
    },
  }).getReader()
}

test('a 12 MiB body is staged in parts, placed by a copy in parts, and reads back across part boundaries', async () => {
  // Copies above 8 MiB in 5 MiB parts: the multipart copy a blob over 5 GiB takes, at a size a test can afford.
  const store = bucket.store('big', { maxSingleCopyBytes: 8 * MiB, copyPartBytes: 5 * MiB })
  const bytes = randomBytes(12 * MiB)
  const id = crypto.randomUUID()
  const written = await stage(store, id, bytes)
  expect(written).toEqual({ hex: sha256(bytes), sizeBytes: bytes.byteLength })
  // A multipart object's entity tag ends in its part count: two parts of 8 MiB.
  expect((await bucket.client.file(`big/tmp/${id}`).stat()).etag).toMatch(/-2"?$/)

  await store.place(id, written.hex)
  expect(await store.isStaged(id)).toBe(false)
  const blobKey = `big/sha256/${written.hex.slice(0, 2)}/${written.hex.slice(2, 4)}/${written.hex}`
  expect((await bucket.client.file(blobKey).stat()).etag).toMatch(/-3"?$/)
  expect(await store.size(written.hex)).toBe(bytes.byteLength)

  for (const [start, end] of [
    [8 * MiB - 1000, 8 * MiB + 3000], // the upload's part boundary
    [5 * MiB - 1, 10 * MiB + 1], // both of the copy's
    [12 * MiB - 10, 12 * MiB],
  ] as const) {
    const range = new Uint8Array(await new Response(store.read(written.hex, start, end)).arrayBuffer())
    expect(range.byteLength).toBe(end - start)
    expect(sha256(range)).toBe(sha256(bytes.subarray(start, end)))
  }
  const hasher = new Bun.CryptoHasher('sha256')
  for await (const chunk of new Response(store.read(written.hex, 0, bytes.byteLength)).body!) hasher.update(chunk)
  expect(hasher.digest('hex')).toBe(written.hex)
  expect(await collect(store.leftovers())).toEqual([])
})

test('a stage that fails after 10 MiB, or passes its limit, leaves no staged object and no multipart upload', async () => {
  const store = bucket.store('failing')
  const bytes = randomBytes(16 * MiB)

  const cut = crypto.randomUUID()
  await expect(store.stage(cut, { chunks: [], sizeBytes: 0, done: false }, failingBody(bytes, 10), 1 << 30)).rejects.toMatchObject({ code: 'bad_request' })
  const tooLarge = crypto.randomUUID()
  await expect(store.stage(tooLarge, { chunks: [], sizeBytes: 0, done: false }, failingBody(bytes, 16), 9 * MiB)).rejects.toMatchObject({ code: 'payload_too_large' })

  for (const id of [cut, tooLarge]) {
    expect(await store.isStaged(id)).toBe(false)
    expect(await stagedOf(store, id)).toEqual([])
  }
  expect((await bucket.client.list({ prefix: 'failing/' })).contents ?? []).toEqual([])
})

test('placing a blob that exists keeps the stored object and copies nothing', async () => {
  const store = bucket.store('dedup')
  const bytes = randomBytes(100_000)
  const first = crypto.randomUUID()
  const { hex } = await stage(store, first, bytes)
  await store.place(first, hex)
  const blobKey = `dedup/sha256/${hex.slice(0, 2)}/${hex.slice(2, 4)}/${hex}`
  const before = await bucket.client.file(blobKey).stat()

  // Past S3's one-second resolution of LastModified, so that a copy would show.
  await Bun.sleep(1_100)
  const second = crypto.randomUUID()
  await stage(store, second, bytes)
  await store.place(second, hex)
  const after = await bucket.client.file(blobKey).stat()
  expect(after.lastModified).toEqual(before.lastModified)
  expect(after.etag).toBe(before.etag)
  // No copy happened, so the staged bytes are still there for the caller's discard.
  expect(await store.isStaged(second)).toBe(true)
  expect(await store.discard(second)).toBe(true)
  expect(sha256(new Uint8Array(await new Response(store.read(hex, 0, bytes.byteLength)).arrayBuffer()))).toBe(hex)
})

test('leftovers() shows a multipart upload never completed, and removing it aborts it', async () => {
  const store = bucket.store('incomplete')
  const id = crypto.randomUUID()
  // Enough for Bun's writer to start a multipart upload and send a part; it is never ended.
  const writer = bucket.client.file(`incomplete/tmp/${id}`).writer({ partSize: 5 * MiB })
  writer.write(randomBytes(6 * MiB))
  await writer.flush()

  const [leftover] = await stagedOf(store, id)
  expect(leftover).toMatchObject({ kind: 'staged', uploadId: id })
  expect(leftover!.ageMs).toBeGreaterThanOrEqual(0)
  expect(leftover!.ageMs).toBeLessThan(60_000)
  expect(await leftover!.remove()).toBe(true)
  expect(await stagedOf(store, id)).toEqual([])
  expect(await leftover!.remove()).toBe(false)
  // The aborted upload cannot complete: ending the writer stores nothing.
  await Promise.resolve(writer.end()).catch(() => {})
  expect(await store.isStaged(id)).toBe(false)
})

test('a bucket that cannot be reached, or answers 503, is unavailable, not an internal error', async () => {
  const s3 = await sharedS3()
  const overloaded = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: () => new Response('<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code></Error>', { status: 503 }),
  })
  try {
    for (const endpoint of ['http://127.0.0.1:1', `http://127.0.0.1:${overloaded.port}`]) {
      const store = new S3BlobStore('nowhere', '', { ...connectionOf(s3), endpoint })
      const hex = sha256(randomBytes(16))
      await expect(store.size(hex)).rejects.toMatchObject({ code: 'unavailable', status: 503 })
      await expect(store.takeOut(hex)).rejects.toMatchObject({ code: 'unavailable' })
      await expect(stage(store, crypto.randomUUID(), randomBytes(1_000))).rejects.toMatchObject({ code: 'unavailable' })
      await expect(collect(store.blobs())).rejects.toMatchObject({ code: 'unavailable' })
      await expect(collect(store.leftovers())).rejects.toMatchObject({ code: 'unavailable' })
      expect(await store.readiness()).toBe('storage bucket unreachable')
    }
  } finally {
    overloaded.stop(true)
  }
  expect(await bucket.store('ready').readiness()).toBeNull()
})
