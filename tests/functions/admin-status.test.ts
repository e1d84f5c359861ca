import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { writeFileSync } from 'node:fs'
import { eq, sql } from 'drizzle-orm'
import { blobs, objects } from '../../core/db/schema'
import { adminToken, backends, startServer, type TestServer } from '../support/server'

let counter = 0
/** Distinct names per test so tests sharing one server never see each other's objects. */
const unique = (prefix: string) => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 8)}`
const sha256 = (bytes: Uint8Array | string) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')
const bytesOf = (text: string) => new TextEncoder().encode(text)

// Authentication is on here: object routes need a credential too, and the admin token names the tenant explicitly.
const asAdmin = { authorization: `Bearer ${adminToken}` }

const adminRoutes = [
  { method: 'POST', path: '/v1/admin/gc' },
  { method: 'POST', path: '/v1/admin/scrub' },
  { method: 'GET', path: '/v1/admin/status' },
]

async function upload(server: TestServer, namespace: string, body: Uint8Array<ArrayBuffer>) {
  const response = await fetch(`${server.url}/v1/objects?namespace=${namespace}&tenant_id=acme`, { method: 'POST', body, headers: asAdmin })
  expect(response.status).toBe(201)
  return { id: (await response.json()).id as string, hex: sha256(body) }
}

async function remove(server: TestServer, id: string) {
  expect((await fetch(`${server.url}/v1/objects/${id}?tenant_id=acme`, { method: 'DELETE', headers: asAdmin })).status).toBe(204)
}

async function status(server: TestServer) {
  const response = await fetch(`${server.url}/v1/admin/status`, { headers: asAdmin })
  expect(response.status).toBe(200)
  return response.json()
}

async function post(server: TestServer, path: string) {
  const response = await fetch(`${server.url}${path}`, { method: 'POST', headers: asAdmin })
  expect(response.status).toBe(200)
  return response.json()
}

const isoTime = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

describe.each(backends)('admin routes on %s', (backend) => {
  let server: TestServer
  let keys: { admin: string; everythingElse: string }
  beforeAll(async () => {
    // Authentication on; a long grace period so the queues hold what the tests put in them.
    server = await startServer(backend, { auth: true, gc: { graceSecs: 3600, tombstoneRetentionSecs: 3600 }, env: { UNAUTHENTICATED_RATE_LIMIT_PER_SEC: '0' } })
    const createKey = async (permissions: string[]) => {
      const response = await fetch(`${server.url}/v1/api-keys`, {
        method: 'POST',
        headers: { ...asAdmin, 'content-type': 'application/json' },
        body: JSON.stringify({ name: permissions.join(' '), tenant_id: 'acme', permissions }),
      })
      expect(response.status).toBe(201)
      return (await response.json()).key as string
    }
    keys = { admin: await createKey(['admin']), everythingElse: await createKey(['objects:read', 'objects:write', 'objects:delete', 'keys:manage']) }
  }, 60_000)
  afterAll(() => server.stop())

  describe.each(adminRoutes)('$method $path', ({ method, path }) => {
    const call = (headers: Record<string, string>) => fetch(`${server.url}${path}`, { method, headers })

    test.each([
      ['no credential', {}],
      ['an empty X-API-Key', { 'x-api-key': '' }],
    ])('%s → 401 unauthenticated with a Bearer challenge', async (_, headers) => {
      const response = await call(headers as Record<string, string>)
      expect(response.status).toBe(401)
      expect(response.headers.get('www-authenticate')).toBe('Bearer')
      expect(await response.json()).toEqual({ error: expect.any(String), code: 'unauthenticated', request_id: response.headers.get('x-request-id') })
    })

    test.each([
      ['a wrong bearer token', { authorization: 'Bearer not-the-token' }],
      ['a wrong X-API-Key', { 'x-api-key': 'not-the-token' }],
      ['a token that only starts like the right one', { authorization: `Bearer ${adminToken}x` }],
      ['an empty bearer', { authorization: 'Bearer ' }],
      ['another scheme', { authorization: `Basic ${btoa(`admin:${adminToken}`)}` }],
      ['the token without a scheme', { authorization: adminToken }],
    ])('%s → 401 unauthenticated', async (_, headers) => {
      const response = await call(headers)
      expect(response.status).toBe(401)
      expect(response.headers.get('www-authenticate')).toStartWith('Bearer')
      expect(await response.json()).toEqual({ error: expect.any(String), code: 'unauthenticated', request_id: response.headers.get('x-request-id') })
    })

    test.each([
      ['the admin token as Authorization: Bearer', () => ({ authorization: `Bearer ${adminToken}` })],
      ['the admin token with a lowercase scheme', () => ({ authorization: `bearer ${adminToken}` })],
      ['the admin token as X-API-Key', () => ({ 'x-api-key': adminToken })],
      ['an API key granted admin', () => ({ authorization: `Bearer ${keys.admin}` })],
    ])('%s → 200', async (_, headers) => {
      const response = await call(headers())
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toStartWith('application/json')
      expect(await response.json()).toBeObject()
    })

    test('a valid credential without admin → 403 forbidden', async () => {
      const response = await call({ 'x-api-key': keys.everythingElse })
      expect(response.status).toBe(403)
      expect(await response.json()).toEqual({ error: expect.any(String), code: 'forbidden', request_id: response.headers.get('x-request-id') })
    })
  })

  test('status: runs of GC and scrub with their times and outcomes', async () => {
    const before = Date.now()
    const gc = await post(server, '/v1/admin/gc')
    const scrub = await post(server, '/v1/admin/scrub')
    const { runs } = await status(server)
    expect(runs).toEqual({
      gc: { started_at: expect.stringMatching(isoTime), finished_at: expect.stringMatching(isoTime), outcome: gc, error: null },
      scrub: { started_at: expect.stringMatching(isoTime), finished_at: expect.stringMatching(isoTime), outcome: scrub, error: null },
    })
    // The scrub ran after the GC; the runs are this machine's clock (a little rounding allowed).
    expect(Date.parse(runs.gc.started_at)).toBeGreaterThanOrEqual(before - 5)
    expect(Date.parse(runs.gc.finished_at)).toBeGreaterThanOrEqual(Date.parse(runs.gc.started_at) - 5)
    expect(Date.parse(runs.scrub.started_at)).toBeGreaterThanOrEqual(Date.parse(runs.gc.finished_at) - 5)
    expect(Date.parse(runs.scrub.finished_at)).toBeLessThanOrEqual(Date.now() + 5)

    // A later run replaces the earlier one.
    const again = await post(server, '/v1/admin/gc')
    const later = (await status(server)).runs
    expect(later.gc.outcome).toEqual(again)
    expect(Date.parse(later.gc.started_at)).toBeGreaterThanOrEqual(Date.parse(runs.gc.started_at))
    expect(later.scrub).toEqual(runs.scrub)
  })

  test('status: queue depths follow the state of the store', async () => {
    await post(server, '/v1/admin/gc')
    const base = (await status(server)).queues
    expect(Object.keys(base).sort()).toEqual(['collectable_blobs', 'corrupt_blobs', 'deleting_objects', 'unreferenced_blobs', 'writing_uploads'])
    for (const value of Object.values(base)) expect(value).toBeNumber()

    const namespace = unique('queues')
    const doomed = [await upload(server, namespace, bytesOf(`one ${namespace}`)), await upload(server, namespace, bytesOf(`two ${namespace}`))]
    const damaged = await upload(server, namespace, bytesOf(`three ${namespace}`))
    for (const object of doomed) await remove(server, object.id)
    // One of the two unreferenced blobs has waited out the grace period.
    await server.database.db
      .update(blobs)
      .set({ unreferencedSince: sql`now() - interval '2 hours'` })
      .where(eq(blobs.contentHash, `sha256:${doomed[0]!.hex}`))
    writeFileSync(`${server.dataDir}/hot/sha256/${damaged.hex.slice(0, 2)}/${damaged.hex.slice(2, 4)}/${damaged.hex}`, bytesOf(`THREE ${namespace}`))
    expect((await post(server, '/v1/admin/scrub')).corrupt).toHaveLength(1)
    const writing = crypto.randomUUID()
    await server.database.db.insert(objects).values({ id: writing, namespace, tenantId: 'acme', status: 'WRITING', storageClass: 'hot', contentType: 'text/plain' })

    expect((await status(server)).queues).toEqual({
      unreferenced_blobs: base.unreferenced_blobs + 2,
      collectable_blobs: base.collectable_blobs + 1,
      corrupt_blobs: base.corrupt_blobs + 1,
      writing_uploads: base.writing_uploads + 1,
      deleting_objects: base.deleting_objects + 2,
    })

    // A pass collects the aged blob and finishes its delete; the other waits.
    const gc = await post(server, '/v1/admin/gc')
    expect(gc.deleted_blobs).toBe(1)
    await server.database.db.delete(objects).where(eq(objects.id, writing))
    expect((await status(server)).queues).toEqual({
      unreferenced_blobs: base.unreferenced_blobs + 1,
      collectable_blobs: base.collectable_blobs,
      corrupt_blobs: base.corrupt_blobs + 1,
      writing_uploads: base.writing_uploads,
      deleting_objects: base.deleting_objects + 1,
    })
  })

  test('status: free and total bytes of both storage roots', async () => {
    const { disks } = await status(server)
    expect(Object.keys(disks).sort()).toEqual(['cold', 'hot'])
    for (const [name, disk] of Object.entries(disks) as [string, { path: string; free_bytes: number; total_bytes: number }][]) {
      expect(disk.path).toBe(`${server.dataDir}/${name}`)
      expect(disk.total_bytes).toBeGreaterThan(0)
      expect(disk.free_bytes).toBeGreaterThan(0)
      expect(disk.free_bytes).toBeLessThanOrEqual(disk.total_bytes)
      expect(Number.isSafeInteger(disk.total_bytes)).toBe(true)
    }
  })
})

describe.each(backends)('admin status of a fresh store with AUTH_DISABLED on %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend, { auth: false })
  }, 60_000)
  afterAll(() => server.stop())

  test('no runs yet and empty queues; no credential needed when auth is off', async () => {
    const response = await fetch(`${server.url}/v1/admin/status`)
    expect(response.status).toBe(200)
    const body = await response.json()
    expect(body.runs).toEqual({})
    expect(body.queues).toEqual({ unreferenced_blobs: 0, collectable_blobs: 0, corrupt_blobs: 0, writing_uploads: 0, deleting_objects: 0 })
  })
})
