import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { BlobStore, Leftover, SessionPosition, StoredBlob } from '../../../core/store/blob-store'
import type { BodyHead } from '../../../core/store/writer'

/**
 * What every blob store must do, written once and run against each backend
 * (fs.test.ts, and each other store's test): the contract of
 * core/store/blob-store.ts as the object lifecycle, downloads, GC and the
 * scrubber rely on it.
 */
export function describeBlobStore(name: string, open: () => Promise<{ store: BlobStore; close(): Promise<void> }>): void {
  describe(`blob store conformance: ${name}`, () => {
    let store: BlobStore
    let close: () => Promise<void>
    beforeAll(async () => {
      ;({ store, close } = await open())
    })
    afterAll(() => close())

    test('staged bytes placed as a blob read back whole and in ranges, with their digest', async () => {
      const bytes = randomBytes(300_000)
      const id = crypto.randomUUID()
      const written = await stage(store, id, bytes)
      expect(written).toEqual({ hex: sha256(bytes), sizeBytes: bytes.byteLength })
      expect(await store.isStaged(id)).toBe(true)
      await store.place(id, written.hex)
      expect(await store.isStaged(id)).toBe(false)
      expect(await store.discard(id)).toBe(false)
      expect(await store.size(written.hex)).toBe(bytes.byteLength)
      expect(sha256(await read(store.read(written.hex, 0, bytes.byteLength)))).toBe(written.hex)
      expect(await read(store.read(written.hex, 1000, 1010))).toEqual(bytes.slice(1000, 1010))
      expect(await read(store.read(written.hex, bytes.byteLength - 1, bytes.byteLength))).toEqual(bytes.slice(bytes.byteLength - 1))
    })

    test('a range served as a response body reaches the client as exactly those bytes', async () => {
      const bytes = randomBytes(100_000)
      const { hex } = await placed(store, bytes)
      // As the download route answers: the store's body with a status and headers of its own.
      const server = Bun.serve({
        port: 0,
        hostname: '127.0.0.1',
        fetch: () => new Response(store.read(hex, 10, 20), { status: 206, headers: { 'content-range': `bytes 10-19/${bytes.byteLength}` } }),
      })
      try {
        const response = await fetch(`http://127.0.0.1:${server.port}/`, { redirect: 'manual' })
        expect(response.status).toBe(206)
        expect(new Uint8Array(await response.arrayBuffer())).toEqual(bytes.slice(10, 20))
      } finally {
        server.stop(true)
      }
    })

    test('a body in several chunks, its head read apart, is hashed as one', async () => {
      const bytes = randomBytes(50_000)
      const head: BodyHead = { chunks: [bytes.subarray(0, 10), bytes.subarray(10, 100)], sizeBytes: 100, done: false }
      const written = await store.stage(crypto.randomUUID(), head, chunked(bytes.subarray(100), 7_000).getReader(), 1 << 30)
      expect(written).toEqual({ hex: sha256(bytes), sizeBytes: bytes.byteLength })
    })

    test('an empty body is a blob of zero bytes', async () => {
      const id = crypto.randomUUID()
      const written = await stage(store, id, new Uint8Array(0))
      expect(written.sizeBytes).toBe(0)
      await store.place(id, written.hex)
      expect(await store.size(written.hex)).toBe(0)
    })

    test('a body over the limit fails and leaves nothing staged', async () => {
      const id = crypto.randomUUID()
      await expect(stage(store, id, randomBytes(10_000), 4_096)).rejects.toMatchObject({ code: 'payload_too_large' })
      expect(await store.isStaged(id)).toBe(false)
      expect(await leftoversOf(store, id)).toEqual([])
    })

    test('a body whose stream fails midway leaves nothing staged', async () => {
      const id = crypto.randomUUID()
      const failing = new ReadableStream<Uint8Array>({
        pull(controller) {
          controller.enqueue(randomBytes(1000))
          controller.error(new Error('the client went away'))
        },
      })
      await expect(store.stage(id, { chunks: [], sizeBytes: 0, done: false }, failing.getReader(), 1 << 30)).rejects.toBeDefined()
      expect(await store.isStaged(id)).toBe(false)
    })

    test('discarded staged bytes are gone, once', async () => {
      const id = crypto.randomUUID()
      await stage(store, id, randomBytes(2_000))
      expect(await store.discard(id)).toBe(true)
      expect(await store.discard(id)).toBe(false)
      expect(await store.isStaged(id)).toBe(false)
    })

    test('placing a blob that exists keeps it readable with its bytes', async () => {
      const bytes = randomBytes(20_000)
      const first = crypto.randomUUID()
      const second = crypto.randomUUID()
      const { hex } = await stage(store, first, bytes)
      await store.place(first, hex)
      await stage(store, second, bytes)
      await store.place(second, hex)
      await store.discard(second)
      expect(sha256(await read(store.read(hex, 0, bytes.byteLength)))).toBe(hex)
    })

    test('a missing blob has no size and nothing to take out', async () => {
      const hex = sha256(randomBytes(16))
      expect(await store.size(hex)).toBeNull()
      expect(await store.takeOut(hex)).toBeNull()
    })

    test('a blob taken out is out of reach at once, and gone once the removal finishes', async () => {
      const { hex } = await placed(store, randomBytes(5_000))
      const removal = await store.takeOut(hex)
      expect(removal).not.toBeNull()
      expect(await store.size(hex)).toBeNull()
      expect(await removal!.finish()).toBe(true)
      expect(await store.size(hex)).toBeNull()
      expect((await collect(store.blobs())).map((blob) => blob.hex)).not.toContain(hex)
      expect((await collect(store.leftovers())).filter((leftover) => leftover.kind === 'taken-out' && leftover.hex === hex)).toEqual([])
    })

    test('a removal undone leaves the blob whole or absent, never damaged', async () => {
      const bytes = randomBytes(5_000)
      const { hex } = await placed(store, bytes)
      const removal = await store.takeOut(hex)
      await removal!.undo()
      const size = await store.size(hex)
      expect([bytes.byteLength, null]).toContain(size)
      if (size !== null) expect(sha256(await read(store.read(hex, 0, size)))).toBe(hex)
    })

    test('blobs() lists placed blobs with their age, and no staged bytes', async () => {
      const { hex } = await placed(store, randomBytes(1_000))
      const staging = crypto.randomUUID()
      const staged = await stage(store, staging, randomBytes(1_000))
      const listed = await collect(store.blobs())
      const mine = listed.find((blob) => blob.hex === hex)
      expect(mine).toBeDefined()
      expect(mine!.ageMs).toBeGreaterThanOrEqual(0)
      expect(mine!.ageMs).toBeLessThan(60_000)
      expect(listed.map((blob) => blob.hex)).not.toContain(staged.hex)
      await store.discard(staging)
    })

    test('leftovers() shows staged bytes by upload id, and removing one removes them', async () => {
      const id = crypto.randomUUID()
      await stage(store, id, randomBytes(3_000))
      const [leftover] = await leftoversOf(store, id)
      expect(leftover).toMatchObject({ kind: 'staged', uploadId: id })
      expect(leftover!.ageMs).toBeGreaterThanOrEqual(0)
      expect(await leftover!.remove()).toBe(true)
      expect(await store.isStaged(id)).toBe(false)
      expect(await leftoversOf(store, id)).toEqual([])
    })

    test('a session appended in chunks of any size, then sealed, is staged bytes placed like an upload', async () => {
      const bytes = randomBytes(5 * MiB + 3 * MiB + 6 * MiB + 9)
      const id = crypto.randomUUID()
      let at: SessionPosition = { offset: 0, state: {}, tail: null }
      const taken = new Bun.CryptoHasher('sha256')
      for (const size of [5 * MiB, 3 * MiB, 6 * MiB, 9]) {
        const appended = await appendTo(store, id, at, bytes.subarray(at.offset, at.offset + size), (chunk) => taken.update(chunk))
        expect(appended.broke).toBeNull()
        expect(appended.at.offset).toBe(at.offset + size)
        at = appended.at
      }
      expect(taken.digest('hex')).toBe(sha256(bytes))
      expect((await leftoversOf(store, id)).length).toBeGreaterThan(0)
      at = await store.sessions.seal(id, at)
      // Sealing again (an answer that was never recorded) is harmless.
      at = await store.sessions.seal(id, at)
      expect(sha256(await read(store.sessions.readSealed(id, at)))).toBe(sha256(bytes))
      await store.place(id, sha256(bytes))
      await store.discard(id)
      expect(sha256(await read(store.read(sha256(bytes), 0, bytes.byteLength)))).toBe(sha256(bytes))
      expect(await leftoversOf(store, id)).toEqual([])
    })

    test("an append never recorded is dropped by the next one at the recorded offset", async () => {
      const id = crypto.randomUUID()
      const first = randomBytes(2 * MiB)
      const { at } = await appendTo(store, id, { offset: 0, state: {}, tail: null }, first)
      // Appended but never recorded: the session stays at `at`.
      await appendTo(store, id, at, randomBytes(6 * MiB))
      const second = randomBytes(MiB)
      const resumed = await appendTo(store, id, at, second)
      const sealed = await store.sessions.seal(id, resumed.at)
      const all = new Uint8Array([...first, ...second])
      expect(sha256(await read(store.sessions.readSealed(id, sealed)))).toBe(sha256(all))
      await store.sessions.remove(id, sealed)
      expect(await leftoversOf(store, id)).toEqual([])
    })

    test('a body that breaks off keeps, durably, what arrived; one over the limit keeps nothing', async () => {
      const id = crypto.randomUUID()
      const arrived = randomBytes(6 * MiB + 5)
      let sent = false
      const breaking = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent) return controller.error(new Error('connection reset'))
          controller.enqueue(arrived)
          sent = true
        },
      })
      const appended = await store.sessions.append(id, { offset: 0, state: {}, tail: null }, { chunks: [], sizeBytes: 0, done: false }, breaking.getReader(), 1 << 30, () => {})
      expect(appended.broke).not.toBeNull()
      expect(appended.at.offset).toBe(arrived.byteLength)
      await expect(appendTo(store, id, appended.at, randomBytes(1000), () => {}, 999)).rejects.toMatchObject({ code: 'payload_too_large' })
      const sealed = await store.sessions.seal(id, appended.at)
      expect(sha256(await read(store.sessions.readSealed(id, sealed)))).toBe(sha256(arrived))
      await store.sessions.remove(id, sealed)
    })

    test('a session with no bytes seals to an empty upload; removing an open one leaves nothing', async () => {
      const empty = crypto.randomUUID()
      const sealed = await store.sessions.seal(empty, { offset: 0, state: {}, tail: null })
      expect(await read(store.sessions.readSealed(empty, sealed))).toEqual(new Uint8Array(0))
      expect(await store.isStaged(empty)).toBe(true)
      await store.sessions.remove(empty, sealed)
      const open = crypto.randomUUID()
      const { at } = await appendTo(store, open, { offset: 0, state: {}, tail: null }, randomBytes(7 * MiB))
      await store.sessions.remove(open, at)
      expect(await leftoversOf(store, open)).toEqual([])
    })
  })
}

const MiB = 2 ** 20

function appendTo(store: BlobStore, id: string, at: SessionPosition, bytes: Uint8Array, take: (chunk: Uint8Array) => void = () => {}, maxBytes = 1 << 30) {
  return store.sessions.append(id, at, { chunks: [], sizeBytes: 0, done: false }, chunked(bytes, 256 * 1024).getReader(), maxBytes, take)
}

export const sha256 = (bytes: Uint8Array): string => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')

export function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i += 65_536) crypto.getRandomValues(bytes.subarray(i, Math.min(length, i + 65_536)))
  return bytes
}

function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let offset = 0
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close()
      controller.enqueue(bytes.slice(offset, offset + size))
      offset += size
    },
  })
}

export function stage(store: BlobStore, id: string, bytes: Uint8Array, maxBytes = 1 << 30) {
  return store.stage(id, { chunks: [], sizeBytes: 0, done: false }, chunked(bytes, 64 * 1024).getReader(), maxBytes)
}

async function placed(store: BlobStore, bytes: Uint8Array) {
  const id = crypto.randomUUID()
  const written = await stage(store, id, bytes)
  await store.place(id, written.hex)
  return written
}

const read = async (body: Blob | ReadableStream<Uint8Array>): Promise<Uint8Array> => new Uint8Array(await new Response(body).arrayBuffer())

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = []
  for await (const item of items) all.push(item)
  return all
}

const leftoversOf = async (store: BlobStore, id: string): Promise<Leftover[]> =>
  (await collect(store.leftovers())).filter((leftover) => leftover.kind === 'staged' && leftover.uploadId === id)

export type { StoredBlob }
