import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { connect } from 'node:net'
import { and, eq } from 'drizzle-orm'
import { blobs, objects } from '../../core/db/schema'
import { adminToken, backends, startServer, type TestServer } from '../support/server'
import { expectBytes, expectError } from '../support/assertions'

let counter = 0
/** Distinct names per test so tests sharing one server never see each other's objects. */
const unique = (prefix: string) => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 8)}`
const sha256 = (bytes: Uint8Array | string) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')
const bytesOf = (text: string) => new TextEncoder().encode(text)
const encodeKeyPath = (key: string) => key.split('/').map(encodeURIComponent).join('/')

async function upload(server: TestServer, namespace: string, tenant: string, key: string, body: Uint8Array<ArrayBuffer>): Promise<{ id: string }> {
  const response = await fetch(`${server.url}/v1/objects?namespace=${namespace}&tenant_id=${tenant}&key=${encodeURIComponent(key)}`, { method: 'POST', body })
  expect(response.status).toBe(201)
  return response.json()
}

const byId = (server: TestServer, id: string, tenant: string, method = 'GET') => fetch(`${server.url}/v1/objects/${id}?tenant_id=${tenant}`, { method })
const byKey = (server: TestServer, namespace: string, tenant: string, key: string, method = 'GET') =>
  fetch(`${server.url}/v1/objects/by-key/${namespace}/${tenant}/${encodeKeyPath(key)}`, { method })

async function listIds(server: TestServer, namespace: string, tenant: string): Promise<string[]> {
  const response = await fetch(`${server.url}/v1/objects?namespace=${namespace}&tenant_id=${tenant}`)
  expect(response.status).toBe(200)
  return (await response.json()).objects.map((object: { id: string }) => object.id)
}

async function expectDeleted(response: Response) {
  expect(response.status).toBe(204)
  expect(await response.text()).toBe('')
}

const collectGarbage = (server: TestServer) => fetch(`${server.url}/v1/admin/gc`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}` } })

/** Whether the hot class's blob store holds the blob. */
const isStored = async (server: TestServer, hex: string) => (await server.store.blobs.hot.size(hex)) !== null

async function blobRow(server: TestServer, hex: string) {
  const [row] = await server.database.db
    .select()
    .from(blobs)
    .where(and(eq(blobs.storageClass, 'hot'), eq(blobs.contentHash, `sha256:${hex}`)))
  return row
}

async function objectStatus(server: TestServer, id: string) {
  const [row] = await server.database.db.select({ status: objects.status }).from(objects).where(eq(objects.id, id))
  return row?.status
}

describe.each(backends)('delete on %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend)
  }, 60_000)
  afterAll(() => server.stop())

  test('delete by id → 204, then every read is 404 and the key is free', async () => {
    const namespace = unique('del')
    const body = bytesOf(`doomed ${namespace}`)
    const hex = sha256(body)
    const doomed = await upload(server, namespace, 'acme', 'k', body)
    const survivor = await upload(server, namespace, 'acme', 'other', bytesOf(`survivor ${namespace}`))
    expect(await listIds(server, namespace, 'acme')).toContain(doomed.id)

    await expectDeleted(await byId(server, doomed.id, 'acme', 'DELETE'))

    await expectError(await byId(server, doomed.id, 'acme'), 404, 'not_found')
    expect((await byId(server, doomed.id, 'acme', 'HEAD')).status).toBe(404)
    await expectError(await byKey(server, namespace, 'acme', 'k'), 404, 'not_found')
    expect(await listIds(server, namespace, 'acme')).toEqual([survivor.id])
    await expectError(await byId(server, doomed.id, 'acme', 'DELETE'), 404, 'not_found')
    expect(await objectStatus(server, doomed.id)).not.toBe('COMMITTED')

    // The last reference is gone, but the bytes wait for garbage collection.
    const blob = await blobRow(server, hex)
    expect(blob?.refCount).toBe(0)
    expect(blob?.unreferencedSince).not.toBeNull()
    expect(await isStored(server, hex)).toBe(true)

    // The key is free: a plain upload (no overwrite) takes it, and revives the blob.
    const again = await upload(server, namespace, 'acme', 'k', body)
    await expectBytes(await byKey(server, namespace, 'acme', 'k'), body)
    await expectError(await byId(server, doomed.id, 'acme'), 404, 'not_found')
    expect(again.id).not.toBe(doomed.id)
    const revived = await blobRow(server, hex)
    expect(revived?.refCount).toBe(1)
    expect(revived?.unreferencedSince).toBeNull()
  })

  test('deleting one of two objects sharing a blob keeps the other reference', async () => {
    const namespace = unique('shared')
    const body = bytesOf(`shared ${namespace}`)
    const hex = sha256(body)
    const a = await upload(server, namespace, 'acme', 'a', body)
    const b = await upload(server, namespace, 'acme', 'b', body)
    expect((await blobRow(server, hex))?.refCount).toBe(2)

    await expectDeleted(await byId(server, a.id, 'acme', 'DELETE'))
    const afterFirst = await blobRow(server, hex)
    expect(afterFirst?.refCount).toBe(1)
    expect(afterFirst?.unreferencedSince).toBeNull()
    await expectBytes(await byId(server, b.id, 'acme'), body)

    await expectDeleted(await byId(server, b.id, 'acme', 'DELETE'))
    const afterSecond = await blobRow(server, hex)
    expect(afterSecond?.refCount).toBe(0)
    expect(afterSecond?.unreferencedSince).not.toBeNull()
    expect(await isStored(server, hex)).toBe(true)
  })

  test('delete by key works for keys with / and unicode', async () => {
    const namespace = unique('bykey')
    const key = 'a/b/ü 漢字.bin'
    const body = bytesOf(`by key ${namespace}`)
    const object = await upload(server, namespace, 'acme', key, body)
    // A key that is a prefix of the deleted one must not be touched.
    const sibling = await upload(server, namespace, 'acme', 'a/b', bytesOf('sibling'))

    await expectDeleted(await byKey(server, namespace, 'acme', key, 'DELETE'))
    await expectError(await byKey(server, namespace, 'acme', key), 404, 'not_found')
    await expectError(await byId(server, object.id, 'acme'), 404, 'not_found')
    await expectError(await byKey(server, namespace, 'acme', key, 'DELETE'), 404, 'not_found')
    await expectBytes(await byId(server, sibling.id, 'acme'), bytesOf('sibling'))
    expect((await blobRow(server, sha256(body)))?.refCount).toBe(0)
  })

  test('delete by key accepts %2F in the path and a namespace in any case', async () => {
    const namespace = unique('encoded')
    const object = await upload(server, namespace, 'acme', 'x/y', bytesOf('encoded'))
    const response = await fetch(`${server.url}/v1/objects/by-key/${namespace.toUpperCase()}/acme/${encodeURIComponent('x/y')}`, { method: 'DELETE' })
    await expectDeleted(response)
    await expectError(await byId(server, object.id, 'acme'), 404, 'not_found')
  })

  test('a key holding dot segments is addressed exactly with its slashes encoded, and its neighbours are untouched', async () => {
    const namespace = unique('dots')
    const dotted = await upload(server, namespace, 'acme', 'a/../b', bytesOf('dotted'))
    const plain = await upload(server, namespace, 'acme', 'b', bytesOf('plain'))
    const path = `${server.url}/v1/objects/by-key/${namespace}/acme/${encodeURIComponent('a/../b')}`
    await expectBytes(await fetch(path), bytesOf('dotted'))
    await expectDeleted(await fetch(path, { method: 'DELETE' }))
    await expectError(await byId(server, dotted.id, 'acme'), 404, 'not_found')
    await expectBytes(await byId(server, plain.id, 'acme'), bytesOf('plain'))
  })

  test("another tenant's object is indistinguishable from a missing one and is not deleted", async () => {
    const namespace = unique('tenants')
    const body = bytesOf(`private ${namespace}`)
    const object = await upload(server, namespace, 'acme', 'secret', body)

    const missing = await byId(server, crypto.randomUUID(), 'other')
    await expectError(missing, 404, 'not_found')
    await expectError(await byId(server, object.id, 'other'), 404, 'not_found')
    await expectError(await byId(server, object.id, 'other', 'DELETE'), 404, 'not_found')
    await expectError(await byKey(server, namespace, 'other', 'secret', 'DELETE'), 404, 'not_found')
    // Tenants are case-sensitive.
    await expectError(await byId(server, object.id, 'ACME', 'DELETE'), 404, 'not_found')

    await expectBytes(await byId(server, object.id, 'acme'), body)
    expect(await objectStatus(server, object.id)).toBe('COMMITTED')
    expect((await blobRow(server, sha256(body)))?.refCount).toBe(1)
  })

  test('a by-key request naming another tenant in X-Tenant or tenant_id → 400 on every method; nothing deleted or written', async () => {
    const namespace = unique('disagree')
    const body = bytesOf(`kept ${namespace}`)
    const object = await upload(server, namespace, 'acme', 'k', body)
    const path = `${server.url}/v1/objects/by-key/${namespace}/acme/k`
    for (const [url, headers] of [[path, { 'x-tenant': 'other' }], [`${path}?tenant_id=other`, {}]] as const) {
      for (const method of ['GET', 'DELETE', 'PUT']) {
        const response = await fetch(url, { method, headers, body: method === 'PUT' ? 'replacement' : undefined })
        await expectError(response, 400, 'bad_request')
      }
      expect((await fetch(url, { method: 'HEAD', headers })).status).toBe(400)
    }
    await expectBytes(await byId(server, object.id, 'acme'), body)
    expect((await listIds(server, namespace, 'acme'))).toEqual([object.id])
    // Naming the same tenant both ways is no disagreement.
    await expectBytes(await fetch(path, { headers: { 'x-tenant': 'acme' } }), body)
    await expectBytes(await fetch(`${path}?tenant_id=acme`), body)
  })

  test('a malformed id → 400 bad_request; a well-formed absent id → 404', async () => {
    for (const id of ['not-a-uuid', '1234', `${crypto.randomUUID()}x`]) {
      await expectError(await byId(server, id, 'acme', 'DELETE'), 400, 'bad_request')
      await expectError(await byId(server, id, 'acme'), 400, 'bad_request')
    }
    await expectError(await byId(server, crypto.randomUUID(), 'acme', 'DELETE'), 404, 'not_found')
  })

  test('delete needs a valid tenant and a full by-key path', async () => {
    const object = await upload(server, unique('params'), 'acme', 'k', bytesOf('params'))
    await expectError(await byId(server, object.id, '-bad', 'DELETE'), 400, 'invalid_tenant')
    await expectError(await fetch(`${server.url}/v1/objects/by-key/ns/acme`, { method: 'DELETE' }), 400, 'bad_request')
    await expectError(await fetch(`${server.url}/v1/objects/by-key/ns/acme/%FF`, { method: 'DELETE' }), 400, 'invalid_key')
    expect(await objectStatus(server, object.id)).toBe('COMMITTED')
  })

  test('a download already streaming finishes intact after a delete and a garbage collection', async () => {
    const namespace = unique('streaming')
    const body = new Uint8Array(randomBytes(16 * 1024 * 1024))
    const hex = sha256(body)
    const object = await upload(server, namespace, 'acme', 'big', body)

    const download = await byId(server, object.id, 'acme')
    expect(download.status).toBe(200)
    expect(download.headers.get('content-length')).toBe(String(body.byteLength))
    const reader = download.body!.getReader()
    const chunks: Uint8Array[] = []
    const first = await reader.read()
    expect(first.done).toBe(false)
    chunks.push(first.value!)

    await expectDeleted(await byId(server, object.id, 'acme', 'DELETE'))
    // Collect the blob too, so its bytes are really gone from the store while the body is still in flight.
    expect((await collectGarbage(server)).status).toBe(200)
    expect(await isStored(server, hex)).toBe(false)
    expect(await blobRow(server, hex)).toBeUndefined()

    for (let next = await reader.read(); !next.done; next = await reader.read()) chunks.push(next.value)
    expect(Buffer.concat(chunks).equals(Buffer.from(body))).toBe(true)
    // Later reads see the delete.
    await expectError(await byId(server, object.id, 'acme'), 404, 'not_found')
  }, 30_000)

  test('a download stalled by its reader finishes intact after a delete and a garbage collection', async () => {
    // A paused raw socket fills the kernel buffers, so the server is provably
    // still sending when the blob is removed from its store.
    const namespace = unique('stalled')
    const body = new Uint8Array(randomBytes(32 * 1024 * 1024))
    const hex = sha256(body)
    const object = await upload(server, namespace, 'acme', 'big', body)

    const socket = connect(Number(new URL(server.url).port), '127.0.0.1')
    await once(socket, 'connect')
    socket.write(`GET /v1/objects/${object.id}?tenant_id=acme HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n`)
    const chunks: Buffer[] = []
    const [first] = (await once(socket, 'data')) as [Buffer]
    socket.pause()
    chunks.push(first)

    await expectDeleted(await byId(server, object.id, 'acme', 'DELETE'))
    expect((await collectGarbage(server)).status).toBe(200)
    expect(await isStored(server, hex)).toBe(false)

    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.resume()
    await once(socket, 'close')
    const response = Buffer.concat(chunks)
    const headerEnd = response.indexOf('\r\n\r\n')
    expect(response.subarray(0, headerEnd).toString('latin1')).toStartWith('HTTP/1.1 200')
    expect(response.subarray(0, headerEnd).toString('latin1').toLowerCase()).toContain(`content-length: ${body.byteLength}`)
    expect(response.subarray(headerEnd + 4).equals(Buffer.from(body))).toBe(true)
  }, 30_000)
})
