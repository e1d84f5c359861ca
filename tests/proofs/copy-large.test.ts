import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { adminToken, startServer, storageBackends, type TestServer } from '../support/server'
import { blobRow } from '../support/assertions'
import { collect } from '../core/store/conformance'

/**
 * Proof: a same-class copy of a 1 GiB object moves no bytes (the store holds
 * exactly the blobs it held, the same bytes, one blob with two references),
 * and once the source is deleted and collected the copy still reads intact.
 */

const GiB = 2 ** 30
const asAdmin = { authorization: `Bearer ${adminToken}` }

/** 1 GiB streamed from a 1 MiB random block made unique per MiB, with the SHA-256 of the whole. */
function gibibyte(): { body: () => ReadableStream<Uint8Array>; hex: string } {
  const block = new Uint8Array(randomBytes(2 ** 20))
  const blockAt = (i: number) => {
    const chunk = block.slice()
    new DataView(chunk.buffer).setUint32(0, i)
    return chunk
  }
  const hasher = new Bun.CryptoHasher('sha256')
  for (let i = 0; i < 1024; i++) hasher.update(blockAt(i))
  return {
    hex: hasher.digest('hex'),
    body: () => {
      let sent = 0
      return new ReadableStream({
        pull(controller) {
          if (sent === 1024) return controller.close()
          controller.enqueue(blockAt(sent++))
        },
      })
    },
  }
}

async function hashOf(response: Response): Promise<{ hex: string; size: number }> {
  const hasher = new Bun.CryptoHasher('sha256')
  let size = 0
  for await (const chunk of response.body!) {
    hasher.update(chunk)
    size += chunk.byteLength
  }
  return { hex: hasher.digest('hex'), size }
}

for (const backend of storageBackends.filter((b) => b !== 'embedded')) {
  describe(`a 1 GiB copy (${backend})`, () => {
    let server: TestServer
    beforeAll(async () => {
      server = await startServer(backend)
    })
    afterAll(() => server.stop())

    test('moves no bytes; GC after deleting the source keeps the copy intact', async () => {
      const source = gibibyte()
      const uploaded = await fetch(`${server.url}/v1/objects?namespace=models&tenant_id=acme&key=big`, {
        method: 'POST',
        headers: { ...asAdmin, 'content-length': String(GiB) },
        body: source.body(),
      })
      expect(uploaded.status).toBe(201)
      const original = (await uploaded.json()) as { id: string; content_hash: string }
      const hex = source.hex
      expect(original.content_hash).toBe(`sha256:${hex}`)
      const before = await collect(server.store.blobs.hot.blobs())

      const started = performance.now()
      const copied = await fetch(`${server.url}/v1/objects?namespace=models&tenant_id=acme&key=big-copy`, { method: 'POST', headers: { ...asAdmin, 'x-copy-source': original.id } })
      const copySeconds = (performance.now() - started) / 1000
      expect(copied.status).toBe(201)
      const copy = (await copied.json()) as { id: string; content_hash: string; size_bytes: number }
      expect(copy).toMatchObject({ content_hash: original.content_hash, size_bytes: GiB })
      console.info(`copy proof (${backend}): a 1 GiB copy answered in ${copySeconds.toFixed(3)} s`)

      // The store holds the same blobs as before, the row two references.
      expect((await collect(server.store.blobs.hot.blobs())).map((blob) => blob.hex).sort()).toEqual(before.map((blob) => blob.hex).sort())
      expect(await server.store.blobs.hot.size(hex)).toBe(GiB)
      expect((await blobRow(server, hex))?.refCount).toBe(2)

      expect((await fetch(`${server.url}/v1/objects/${original.id}?tenant_id=acme`, { method: 'DELETE', headers: asAdmin })).status).toBe(204)
      expect((await fetch(`${server.url}/v1/admin/gc`, { method: 'POST', headers: asAdmin })).status).toBe(200)
      expect((await blobRow(server, hex))?.refCount).toBe(1)
      const read = await hashOf(await fetch(`${server.url}/v1/objects/${copy.id}?tenant_id=acme`, { headers: asAdmin }))
      expect(read).toEqual({ hex, size: GiB })
    }, 300_000)
  })
}
