import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { truncateSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { eq, sql } from 'drizzle-orm'
import { checkConsistency, isClean } from '../../core/fsck'
import { objects, type StorageClass } from '../../core/db/schema'
import { rowsOf } from '../../core/db/client'
import { blobPath } from '../../core/store/paths'
import { adminToken, storageBackends, startServer, type TestServer } from '../support/server'
import { blobRow, expectBytes, expectError } from '../support/assertions'

/**
 * Server-side copy (X-Copy-Source): a new object from bytes the service holds.
 * In one class a new reference to the same blob, no byte moved; into the other
 * the bytes streamed and verified; never a way to reach another tenant's bytes.
 */

let counter = 0
const unique = (prefix: string) => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 8)}`
const asAdmin = { authorization: `Bearer ${adminToken}` }
const random = (size: number) => new Uint8Array(randomBytes(size))
const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')
const large = 1536 * 1024

interface ObjectJson {
  id: string
  namespace: string
  tenant_id: string
  key: string | null
  storage_class: StorageClass
  content_hash: string
  size_bytes: number
  content_type: string
  metadata: Record<string, unknown>
  created_at: string
  updated_at: string
}

interface Place {
  tenant: string
  namespace: string
  key?: string
  storageClass?: StorageClass
  overwrite?: boolean
}

const placeQuery = (place: Place) =>
  new URLSearchParams({
    tenant_id: place.tenant,
    namespace: place.namespace,
    ...(place.key === undefined ? {} : { key: place.key }),
    ...(place.storageClass === undefined ? {} : { storage_class: place.storageClass }),
    ...(place.overwrite === undefined ? {} : { overwrite: String(place.overwrite) }),
  })

async function upload(server: TestServer, place: Place, body: Uint8Array<ArrayBuffer>, headers: Record<string, string> = {}, auth: Record<string, string> = asAdmin): Promise<ObjectJson> {
  const response = await fetch(`${server.url}/v1/objects?${placeQuery(place)}`, { method: 'POST', body, headers: { ...auth, ...headers } })
  expect(response.status).toBe(201)
  return response.json()
}

/** POST /v1/objects with X-Copy-Source and no body. */
const copy = (server: TestServer, place: Place, source: string, headers: Record<string, string> = {}, auth: Record<string, string> = asAdmin) =>
  fetch(`${server.url}/v1/objects?${placeQuery(place)}`, { method: 'POST', headers: { ...auth, 'x-copy-source': source, ...headers } })

/** PUT /v1/objects/by-key/… with X-Copy-Source and no body. */
const copyToKey = (server: TestServer, place: Place & { key: string }, source: string, headers: Record<string, string> = {}) =>
  fetch(`${server.url}/v1/objects/by-key/${place.namespace}/${place.tenant}/${place.key}${place.storageClass ? `?storage_class=${place.storageClass}` : ''}`, {
    method: 'PUT',
    headers: { ...asAdmin, 'x-copy-source': source, ...headers },
  })

async function copied(response: Response, status = 201): Promise<ObjectJson> {
  const body = await response.json()
  expect({ status: response.status, body }).toEqual({ status, body: expect.objectContaining({ id: expect.any(String) }) })
  expect(response.headers.get('location')).toBe(`/v1/objects/${body.id}`)
  return body
}

const get = (server: TestServer, id: string, auth: Record<string, string> = asAdmin) => fetch(`${server.url}/v1/objects/${id}`, { headers: auth })
const getByKey = (server: TestServer, place: Place & { key: string }) => fetch(`${server.url}/v1/objects/by-key/${place.namespace}/${place.tenant}/${place.key}`, { headers: asAdmin })
const remove = async (server: TestServer, id: string) => expect((await fetch(`${server.url}/v1/objects/${id}`, { method: 'DELETE', headers: asAdmin })).status).toBe(204)

async function collectGarbage(server: TestServer) {
  const response = await fetch(`${server.url}/v1/admin/gc`, { method: 'POST', headers: asAdmin })
  expect(response.status).toBe(200)
  return response.json()
}

/** Every blob a class's store holds (files or bucket objects), sorted. */
async function storedBlobs(server: TestServer, storageClass: StorageClass): Promise<string[]> {
  const found: string[] = []
  for await (const blob of server.store.blobs[storageClass].blobs()) found.push(blob.hex)
  return found.sort()
}

async function stagedUploads(server: TestServer): Promise<string[]> {
  const found: string[] = []
  for (const storageClass of ['hot', 'cold'] as StorageClass[]) {
    for await (const leftover of server.store.blobs[storageClass].leftovers()) if (leftover.kind === 'staged') found.push(`${storageClass}:${leftover.name}`)
  }
  return found
}

async function usageOf(server: TestServer, tenant: string) {
  const response = await fetch(`${server.url}/v1/usage?tenant_id=${tenant}`, { headers: asAdmin })
  expect(response.status).toBe(200)
  return response.json()
}

const row = (namespace: string, storage_class: StorageClass, objects: number, logical_bytes: number, physical_bytes: number) => ({ namespace, storage_class, objects, logical_bytes, physical_bytes })

async function objectsOfTenant(server: TestServer, tenant: string) {
  return server.database.db.select({ id: objects.id, status: objects.status }).from(objects).where(eq(objects.tenantId, tenant))
}

async function expectConsistent(server: TestServer) {
  const report = await checkConsistency(server.database.db, server.store.blobs)
  expect(isClean(report)).toBe(true)
}

describe.each(storageBackends)('server-side copy on %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend, { gc: { graceSecs: 0, tombstoneRetentionSecs: 0 } })
  }, 120_000)
  afterAll(() => server.stop())

  test('a copy by id in the same class is a new object holding a second reference to the same blob: no bytes stored again', async () => {
    const tenant = unique('t')
    const bytes = random(large)
    const hex = sha256(bytes)
    const source = await upload(server, { tenant, namespace: 'docs', key: 'a' }, bytes, { 'content-type': 'text/x-source', 'x-metadata': '{"origin":"a"}' })
    const blobsBefore = await storedBlobs(server, 'hot')

    const target = await copied(await copy(server, { tenant, namespace: 'copies', key: 'b' }, source.id))
    expect(target).toEqual({
      ...source,
      id: expect.any(String),
      namespace: 'copies',
      key: 'b',
      created_at: expect.any(String),
      updated_at: expect.any(String),
    })
    expect(target.id).not.toBe(source.id)
    expect(target.content_hash).toBe(`sha256:${hex}`)

    const response = await get(server, target.id)
    expect({ etag: response.headers.get('etag'), type: response.headers.get('content-type') }).toEqual({ etag: `"sha256:${hex}"`, type: 'text/x-source' })
    await expectBytes(response, bytes)
    expect((await blobRow(server, hex))?.refCount).toBe(2)
    expect(await storedBlobs(server, 'hot')).toEqual(blobsBefore)
    expect(await usageOf(server, tenant)).toMatchObject({
      tenant_id: tenant,
      objects: 2,
      logical_bytes: 2 * large,
      physical_bytes: large,
      by_namespace: [row('copies', 'hot', 1, large, large), row('docs', 'hot', 1, large, large)],
    })
    await expectConsistent(server)
  })

  test('a copy by digest takes the content the tenant holds in the class, with that object type and metadata', async () => {
    const tenant = unique('t')
    const bytes = random(large)
    const hex = sha256(bytes)
    await upload(server, { tenant, namespace: 'docs' }, bytes, { 'content-type': 'application/x-held', 'x-metadata': '{"n":1}' })
    const blobsBefore = await storedBlobs(server, 'hot')

    const target = await copied(await copy(server, { tenant, namespace: 'docs', key: 'by-digest' }, `sha256:${hex}`))
    expect(target).toMatchObject({ tenant_id: tenant, namespace: 'docs', key: 'by-digest', storage_class: 'hot', content_hash: `sha256:${hex}`, size_bytes: large, content_type: 'application/x-held', metadata: { n: 1 } })
    await expectBytes(await get(server, target.id), bytes)
    expect((await blobRow(server, hex))?.refCount).toBe(2)
    expect(await storedBlobs(server, 'hot')).toEqual(blobsBefore)
    expect(await usageOf(server, tenant)).toMatchObject({ tenant_id: tenant, objects: 2, logical_bytes: 2 * large, physical_bytes: large, by_namespace: [row('docs', 'hot', 2, 2 * large, large)] })
    await expectConsistent(server)
  })

  test('the copy outlives its source: the source deleted and garbage collected, the copy downloads intact; deleting it too frees the blob', async () => {
    const tenant = unique('t')
    const bytes = random(large)
    const hex = sha256(bytes)
    const source = await upload(server, { tenant, namespace: 'docs' }, bytes)
    const target = await copied(await copy(server, { tenant, namespace: 'docs' }, source.id))
    await remove(server, source.id)
    await collectGarbage(server)
    await expectError(await get(server, source.id), 404, 'not_found')
    await expectBytes(await get(server, target.id), bytes)
    expect((await blobRow(server, hex))?.refCount).toBe(1)
    expect(await server.store.blobs.hot.size(hex)).toBe(large)

    await remove(server, target.id)
    expect((await collectGarbage(server)).deleted_blobs).toBeGreaterThanOrEqual(1)
    expect(await blobRow(server, hex)).toBeUndefined()
    expect(await server.store.blobs.hot.size(hex)).toBeNull()
  })

  test('a copy into the other class copies the bytes there, verified, and lives on without its source', async () => {
    const tenant = unique('t')
    const bytes = random(large)
    const hex = sha256(bytes)
    const source = await upload(server, { tenant, namespace: 'media' }, bytes, { 'content-type': 'video/x-test' })
    expect(await server.store.blobs.cold.size(hex)).toBeNull()

    const target = await copied(await copy(server, { tenant, namespace: 'media', storageClass: 'cold' }, source.id))
    expect(target).toMatchObject({ storage_class: 'cold', content_hash: `sha256:${hex}`, size_bytes: large, content_type: 'video/x-test' })
    expect(await server.store.blobs.cold.size(hex)).toBe(large)
    expect({ hot: (await blobRow(server, hex, 'hot'))?.refCount, cold: (await blobRow(server, hex, 'cold'))?.refCount }).toEqual({ hot: 1, cold: 1 })
    expect(await usageOf(server, tenant)).toMatchObject({
      tenant_id: tenant,
      objects: 2,
      logical_bytes: 2 * large,
      physical_bytes: 2 * large,
      by_namespace: [row('media', 'cold', 1, large, large), row('media', 'hot', 1, large, large)],
    })

    await remove(server, source.id)
    await collectGarbage(server)
    expect(await server.store.blobs.hot.size(hex)).toBeNull()
    await expectBytes(await get(server, target.id), bytes)
    expect(await stagedUploads(server)).toEqual([])
    await expectConsistent(server)
  })

  test('by digest only content the tenant holds in the target class is a source: hot content is not found for a cold copy', async () => {
    const tenant = unique('t')
    const bytes = random(64)
    await upload(server, { tenant, namespace: 'docs' }, bytes)
    await expectError(await copy(server, { tenant, namespace: 'docs', storageClass: 'cold' }, `sha256:${sha256(bytes)}`), 404, 'not_found')
    expect(await objectsOfTenant(server, tenant)).toHaveLength(1)
  })

  test.skipIf(backend === 's3')('a source whose stored bytes are damaged is not copied into the other class: 500 corrupt_object, nothing stored', async () => {
    const tenant = unique('t')
    for (const damage of ['flipped', 'truncated'] as const) {
      const bytes = random(large)
      const hex = sha256(bytes)
      const source = await upload(server, { tenant, namespace: 'docs' }, bytes)
      const file = blobPath(server.roots, 'hot', hex)
      if (damage === 'flipped') writeFileSync(file, bytes.map((byte, i) => (i === large - 1 ? byte ^ 0xff : byte)))
      else truncateSync(file, large - 1)

      await expectError(await copy(server, { tenant, namespace: 'cold-copies', storageClass: 'cold' }, source.id), 500, 'corrupt_object')
      expect(await blobRow(server, hex, 'cold')).toBeUndefined()
      expect(await server.store.blobs.cold.size(hex)).toBeNull()
    }
    const sources = await objectsOfTenant(server, tenant)
    expect(sources.length).toBe(2)
    expect(await stagedUploads(server)).toEqual([])
    // The damaged blobs go, so that the consistency checks of later tests see only what they made.
    for (const { id } of sources) await remove(server, id)
    await collectGarbage(server)
  })

  test("Content-Type and metadata are the source's unless the request sends its own, each on its own", async () => {
    const tenant = unique('t')
    const bytes = random(1000)
    const source = await upload(server, { tenant, namespace: 'docs' }, bytes, { 'content-type': 'text/x-original', 'x-metadata': '{"kept":true}' })
    const both = await copied(await copy(server, { tenant, namespace: 'docs' }, source.id, { 'content-type': 'text/plain', 'x-metadata': '{"own":1}' }))
    expect({ type: both.content_type, metadata: both.metadata }).toEqual({ type: 'text/plain', metadata: { own: 1 } })
    expect((await get(server, both.id)).headers.get('content-type')).toBe('text/plain')
    const typeOnly = await copied(await copy(server, { tenant, namespace: 'docs' }, source.id, { 'content-type': 'image/png' }))
    expect({ type: typeOnly.content_type, metadata: typeOnly.metadata }).toEqual({ type: 'image/png', metadata: { kept: true } })
    const metadataOnly = await copied(await copy(server, { tenant, namespace: 'docs' }, source.id, { 'x-metadata': '{}' }))
    expect({ type: metadataOnly.content_type, metadata: metadataOnly.metadata }).toEqual({ type: 'text/x-original', metadata: {} })
    await expectError(await copy(server, { tenant, namespace: 'docs' }, source.id, { 'x-metadata': '[1]' }), 400, 'invalid_metadata')
  })

  test('key policy as for an upload: 409 without overwrite, replaced with X-Overwrite; PUT 201/200, If-None-Match: * and If-Match → 412', async () => {
    const tenant = unique('t')
    const [original, other] = [random(2000), random(3000)]
    const held = await upload(server, { tenant, namespace: 'docs', key: 'held' }, original)
    const source = await upload(server, { tenant, namespace: 'docs' }, other)
    const place = { tenant, namespace: 'docs', key: 'held' }

    await expectError(await copy(server, place, source.id), 409, 'key_exists')
    await expectBytes(await getByKey(server, place), original)
    await expectError(await copyToKey(server, place, source.id, { 'if-none-match': '*' }), 412, 'precondition_failed')
    await expectError(await copyToKey(server, place, source.id, { 'if-match': `"sha256:${'0'.repeat(64)}"` }), 412, 'precondition_failed')
    await expectBytes(await getByKey(server, place), original)

    const replaced = await copied(await copy(server, { ...place, overwrite: true }, source.id))
    await expectBytes(await getByKey(server, place), other)
    await expectError(await get(server, held.id), 404, 'not_found')

    const upserted = await copied(await copyToKey(server, place, source.id, { 'if-match': `"${source.content_hash}"` }), 200)
    expect(upserted.id).not.toBe(replaced.id)
    await expectError(await get(server, replaced.id), 404, 'not_found')
    const created = await copied(await copyToKey(server, { ...place, key: 'fresh' }, source.id, { 'if-none-match': '*' }), 201)
    expect(created).toMatchObject({ key: 'fresh', content_hash: source.content_hash })
    expect(await usageOf(server, tenant)).toMatchObject({ objects: 3, logical_bytes: 3 * 3000, physical_bytes: 3000 })
    await expectConsistent(server)
  })

  test('a body sent with X-Copy-Source is refused with 400, on both routes, sized or chunked, and nothing is stored', async () => {
    const tenant = unique('t')
    const source = await upload(server, { tenant, namespace: 'docs' }, random(5000))
    const blobsBefore = await storedBlobs(server, 'hot')
    const chunked = () => new ReadableStream({ start: (controller) => (controller.enqueue(new TextEncoder().encode('chunked bytes')), controller.close()) })
    const url = { post: `${server.url}/v1/objects?tenant_id=${tenant}&namespace=docs`, put: `${server.url}/v1/objects/by-key/docs/${tenant}/k` }
    for (const [method, target] of [['POST', url.post], ['PUT', url.put]] as const) {
      for (const body of [() => 'sized bytes', chunked]) {
        const response = await fetch(target, { method, body: body(), headers: { ...asAdmin, 'x-copy-source': source.id } })
        await expectError(response, 400, 'bad_request')
      }
    }
    expect(await objectsOfTenant(server, tenant)).toEqual([{ id: source.id, status: 'COMMITTED' }])
    expect(await storedBlobs(server, 'hot')).toEqual(blobsBefore)
    expect(await stagedUploads(server)).toEqual([])
  })

  test('a malformed X-Copy-Source is 400 bad_request on both routes', async () => {
    const tenant = unique('t')
    const hex = sha256(random(8))
    for (const value of ['not-an-id', `sha256:${hex.toUpperCase()}`, `sha256:${hex.slice(1)}`, `md5:${hex.slice(0, 32)}`, hex, `${crypto.randomUUID()}x`]) {
      await expectError(await copy(server, { tenant, namespace: 'docs' }, value), 400, 'bad_request')
      await expectError(await copyToKey(server, { tenant, namespace: 'docs', key: 'k' }, value), 400, 'bad_request')
    }
    expect(await objectsOfTenant(server, tenant)).toEqual([])
  })

  test('an absent source is 404 not_found: an unknown id, a deleted object, content nobody holds', async () => {
    const tenant = unique('t')
    const deleted = await upload(server, { tenant, namespace: 'docs' }, random(100))
    await remove(server, deleted.id)
    for (const source of [crypto.randomUUID(), deleted.id, deleted.content_hash, `sha256:${sha256(random(8))}`]) {
      const body = await expectError(await copy(server, { tenant, namespace: 'docs' }, source), 404, 'not_found')
      expect(body.error).toBe('No such source object')
      await expectError(await copyToKey(server, { tenant, namespace: 'docs', key: 'k' }, source), 404, 'not_found')
    }
    expect((await objectsOfTenant(server, tenant)).filter((object) => object.status === 'COMMITTED')).toEqual([])
  })

  test("a source deleted and collected while its copy waits for the blob's lock: 404, and no object without bytes", async () => {
    const tenant = unique('t')
    const bytes = random(large)
    const hex = sha256(bytes)
    const source = await upload(server, { tenant, namespace: 'docs' }, bytes)
    let answer: Promise<Response> | undefined
    await server.database.db.transaction(async (tx) => {
      // What GC does to an unreferenced blob, holding its row as a collector does.
      await tx.execute(sql`select 1 from blobs where storage_class = 'hot' and content_hash = ${source.content_hash} for update`)
      answer = copy(server, { tenant, namespace: 'docs', key: 'late' }, source.id)
      // Asked outside the transaction, whose view of pg_stat_activity is the one it first took.
      for (let waited = 0; ; waited += 10) {
        const [waiting] = rowsOf<{ n: number }>(
          await server.database.db.execute(sql`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query like '%commit_object(%'`),
        )
        if (waiting!.n > 0) break
        if (waited > 20_000) throw new Error('the copy never waited for the blob row')
        await Bun.sleep(10)
      }
      await tx.execute(sql`select release_object(${source.id}::uuid, 'hot', ${source.content_hash})`)
      await tx.execute(sql`delete from blobs where storage_class = 'hot' and content_hash = ${source.content_hash}`)
    })
    const body = await expectError(await answer!, 404, 'not_found')
    expect(body.error).toBe('No such source object')
    expect((await objectsOfTenant(server, tenant)).filter((object) => object.status === 'COMMITTED')).toEqual([])
    expect(await blobRow(server, hex)).toBeUndefined()
  })

  test('the OpenAPI document names X-Copy-Source and the 404 on both upload routes', async () => {
    const document = await (await fetch(`${server.url}/openapi.json`)).json()
    for (const operation of [document.paths['/v1/objects'].post, Object.entries(document.paths).find(([path]) => path.startsWith('/v1/objects/by-key/'))![1] as { put: unknown }].map((o) => ('put' in o ? o.put : o)) as {
      parameters: { name: string }[]
      responses: Record<string, unknown>
      requestBody: { required: boolean }
    }[]) {
      expect(operation.parameters.map((parameter) => parameter.name)).toContain('X-Copy-Source')
      expect(Object.keys(operation.responses)).toContain('404')
      expect(operation.requestBody.required).toBe(false)
    }
  })
})

describe.each(storageBackends)('server-side copy of small inline objects on %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend, { inlineMaxBytes: 1024, gc: { graceSecs: 0, tombstoneRetentionSecs: 0 } })
  }, 120_000)
  afterAll(() => server.stop())

  test('an inline object is copied by reference in its class and inline into the other, each surviving its source', async () => {
    const tenant = unique('t')
    const bytes = random(300)
    const hex = sha256(bytes)
    const source = await upload(server, { tenant, namespace: 'docs' }, bytes, { 'content-type': 'text/x-small' })
    expect((await blobRow(server, hex))?.inlineData).not.toBeNull()
    expect(await server.store.blobs.hot.size(hex)).toBeNull()

    const same = await copied(await copy(server, { tenant, namespace: 'docs', key: 'same' }, source.id))
    const byDigest = await copied(await copy(server, { tenant, namespace: 'docs', key: 'digest' }, source.content_hash))
    const cold = await copied(await copy(server, { tenant, namespace: 'docs', key: 'cold', storageClass: 'cold' }, source.id))
    expect([same, byDigest, cold].map((object) => [object.storage_class, object.content_type])).toEqual([['hot', 'text/x-small'], ['hot', 'text/x-small'], ['cold', 'text/x-small']])
    expect((await blobRow(server, hex))?.refCount).toBe(3)
    const coldBlob = await blobRow(server, hex, 'cold')
    expect({ refCount: coldBlob?.refCount, inline: coldBlob?.inlineData ? new Uint8Array(coldBlob.inlineData) : null }).toEqual({ refCount: 1, inline: bytes })
    expect({ hot: await storedBlobs(server, 'hot'), cold: await storedBlobs(server, 'cold') }).toEqual({ hot: [], cold: [] })

    await remove(server, source.id)
    await collectGarbage(server)
    for (const object of [same, byDigest, cold]) await expectBytes(await get(server, object.id), bytes)
    expect((await blobRow(server, hex))?.refCount).toBe(2)
    await expectConsistent(server)
  })
})

describe.each(storageBackends)('server-side copy across tenants and permissions on %s', (backend) => {
  let server: TestServer
  const [A, B] = [unique('tenant-a'), unique('tenant-b')]
  const keys: Record<'a' | 'b' | 'aWriteOnly' | 'aAllowed', Record<string, string>> = { a: {}, b: {}, aWriteOnly: {}, aAllowed: {} }

  async function createKey(body: Record<string, unknown>) {
    const response = await fetch(`${server.url}/v1/api-keys`, { method: 'POST', headers: { ...asAdmin, 'content-type': 'application/json' }, body: JSON.stringify({ name: unique('key'), ...body }) })
    expect(response.status).toBe(201)
    return { authorization: `Bearer ${(await response.json()).key}` }
  }

  beforeAll(async () => {
    server = await startServer(backend, { auth: true })
    const objectsAll = ['objects:read', 'objects:write', 'objects:delete']
    keys.a = await createKey({ tenant_id: A, permissions: objectsAll })
    keys.b = await createKey({ tenant_id: B, permissions: objectsAll })
    keys.aWriteOnly = await createKey({ tenant_id: A, permissions: ['objects:write'] })
    keys.aAllowed = await createKey({ tenant_id: A, permissions: objectsAll, namespaces: ['allowed'] })
  }, 120_000)
  afterAll(() => server.stop())

  /** An error answer as a client sees it, the request id aside. */
  const answerOf = async (response: Response) => {
    const { request_id: _, ...body } = await response.json()
    return { status: response.status, body }
  }

  test("another tenant's object, by id or by digest, is 404 with exactly the answer of an absent one, and nothing is created", async () => {
    const theirs = random(4000)
    const object = await upload(server, { tenant: B, namespace: 'docs' }, theirs, {}, keys.b)
    const absent = await answerOf(await copy(server, { tenant: A, namespace: 'docs' }, crypto.randomUUID(), {}, keys.a))
    expect(absent).toEqual({ status: 404, body: { error: 'No such source object', code: 'not_found' } })
    expect(await answerOf(await copy(server, { tenant: A, namespace: 'docs' }, `sha256:${sha256(random(8))}`, {}, keys.a))).toEqual(absent)
    expect(await answerOf(await copy(server, { tenant: A, namespace: 'docs' }, object.id, {}, keys.a))).toEqual(absent)
    expect(await answerOf(await copy(server, { tenant: A, namespace: 'docs' }, object.content_hash, {}, keys.a))).toEqual(absent)
    expect(await objectsOfTenant(server, A)).toEqual([])
    expect((await blobRow(server, sha256(theirs)))?.refCount).toBe(1)
  })

  test('by digest, content both tenants hold is copied from the requesting tenant’s own object, never the other’s', async () => {
    const shared = random(2500)
    await upload(server, { tenant: B, namespace: 'docs' }, shared, { 'x-metadata': '{"owner":"b"}', 'content-type': 'text/x-b' }, keys.b)
    await upload(server, { tenant: A, namespace: 'docs' }, shared, { 'x-metadata': '{"owner":"a"}', 'content-type': 'text/x-a' }, keys.a)
    const target = await copied(await copy(server, { tenant: A, namespace: 'docs' }, `sha256:${sha256(shared)}`, {}, keys.a))
    expect(target).toMatchObject({ tenant_id: A, metadata: { owner: 'a' }, content_type: 'text/x-a' })
    await expectBytes(await get(server, target.id, keys.a), shared)
  })

  test('without objects:read a copy is 403, as that key’s download of the source is; a source outside the key’s namespaces is 404, as its download is', async () => {
    const inAllowed = await upload(server, { tenant: A, namespace: 'allowed' }, random(600), {}, keys.a)
    const inOther = await upload(server, { tenant: A, namespace: 'other' }, random(700), {}, keys.a)

    expect((await get(server, inAllowed.id, keys.aWriteOnly)).status).toBe(403)
    await expectError(await copy(server, { tenant: A, namespace: 'allowed' }, inAllowed.id, {}, keys.aWriteOnly), 403, 'forbidden')
    await expectError(await copy(server, { tenant: A, namespace: 'allowed' }, inAllowed.content_hash, {}, keys.aWriteOnly), 403, 'forbidden')

    expect((await get(server, inOther.id, keys.aAllowed)).status).toBe(404)
    const outside = await answerOf(await copy(server, { tenant: A, namespace: 'allowed' }, inOther.id, {}, keys.aAllowed))
    expect(outside).toEqual({ status: 404, body: { error: 'No such source object', code: 'not_found' } })
    expect(await answerOf(await copy(server, { tenant: A, namespace: 'allowed' }, inOther.content_hash, {}, keys.aAllowed))).toEqual(outside)
    // Writing into a namespace outside the list is refused as any upload there is.
    await expectError(await copy(server, { tenant: A, namespace: 'other' }, inOther.id, {}, keys.aAllowed), 403, 'forbidden')

    const inside = await copied(await copy(server, { tenant: A, namespace: 'allowed' }, inAllowed.id, {}, keys.aAllowed))
    expect(inside).toMatchObject({ namespace: 'allowed', content_hash: inAllowed.content_hash })
    expect((await objectsOfTenant(server, A)).map((object) => object.id).sort()).toEqual(expect.arrayContaining([inAllowed.id, inOther.id, inside.id]))
  })
})
