import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { maxJsonBodyBytes } from '../../core/http/json-body'
import { adminToken, startServer, storageBackends, type TestServer } from '../support/server'
import { expectError } from '../support/assertions'

const asAdmin = { authorization: `Bearer ${adminToken}` }
const json = { ...asAdmin, 'content-type': 'application/json' }

/** A valid search whose content_type filter makes it `size` bytes long. */
const searchOfSize = (size: number) => {
  const skeleton = JSON.stringify({ namespace: 'capped', tenant_id: 'acme', content_type: '' })
  return JSON.stringify({ namespace: 'capped', tenant_id: 'acme', content_type: 'x'.repeat(size - skeleton.length) })
}

/** A body sent chunked, without Content-Length, in pieces of 16 KiB. */
function chunked(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text)
  let offset = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close()
      controller.enqueue(bytes.subarray(offset, offset + 16384))
      offset += 16384
    },
  })
}

describe.each(storageBackends)('bodies of routes other than uploads on %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend, { auth: true })
  }, 60_000)
  afterAll(() => server.stop())

  const search = (body: BodyInit) => fetch(`${server.url}/v1/objects/search`, { method: 'POST', headers: json, body })

  test('a search up to the cap is answered; one byte over, declared by Content-Length → 413 payload_too_large', async () => {
    const atCap = await search(searchOfSize(maxJsonBodyBytes))
    expect(atCap.status).toBe(200)
    expect(await atCap.json()).toEqual({ objects: [], next_cursor: null })
    await expectError(await search(searchOfSize(maxJsonBodyBytes + 1)), 413, 'payload_too_large')
  })

  test('a chunked search is counted as it streams: up to the cap it is answered, past it → 413 payload_too_large', async () => {
    expect((await search(chunked(searchOfSize(maxJsonBodyBytes)))).status).toBe(200)
    await expectError(await search(chunked(searchOfSize(8 * maxJsonBodyBytes))), 413, 'payload_too_large')
  })

  test('a new API key past the cap → 413, and no key is created', async () => {
    const name = 'x'.repeat(maxJsonBodyBytes)
    await expectError(await fetch(`${server.url}/v1/api-keys`, { method: 'POST', headers: json, body: JSON.stringify({ name, tenant_id: 'capped', permissions: ['objects:read'] }) }), 413, 'payload_too_large')
    const listed = await fetch(`${server.url}/v1/api-keys?tenant_id=capped`, { headers: asAdmin })
    expect((await listed.json()).api_keys).toEqual([])
  })

  test('routes that take no body refuse a declared large one before running', async () => {
    const gc = await fetch(`${server.url}/v1/admin/gc`, { method: 'POST', headers: asAdmin, body: new Uint8Array(maxJsonBodyBytes + 1) })
    await expectError(gc, 413, 'payload_too_large')
    const status = await fetch(`${server.url}/v1/admin/status`, { headers: { ...asAdmin, 'x-request-id': 'no-run' } })
    expect((await status.json()).jobs.gc.last_run).toBeNull()
  })

  test('uploads are not capped by it', async () => {
    const body = new Uint8Array(4 * maxJsonBodyBytes).fill(7)
    const response = await fetch(`${server.url}/v1/objects?namespace=capped&tenant_id=acme`, { method: 'POST', headers: asAdmin, body })
    expect(response.status).toBe(201)
    expect((await response.json()).size_bytes).toBe(body.byteLength)
  })
})
