import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { holdAt } from '../../core/barriers'
import { randomBytes } from 'node:crypto'
import { eq, sql } from 'drizzle-orm'
import { auditEvents, objects } from '../../core/db/schema'
import { rowsOf } from '../../core/db/client'
import { checkConsistency, isClean } from '../../core/fsck'
import { adminToken, startServer, storageBackends, type TestServer } from '../support/server'
import { expectBytes, expectError } from '../support/assertions'

/**
 * Lifecycle over a real server, on every backend: expiry, namespace settings,
 * versions with retention, quotas, and the pass that applies them.
 */

let counter = 0
const unique = (prefix: string) => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 8)}`
const random = (size: number) => new Uint8Array(randomBytes(size))
const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')
const asAdmin = { authorization: `Bearer ${adminToken}` }
const json = { ...asAdmin, 'content-type': 'application/json' }

interface ObjectJson {
  id: string
  key: string | null
  content_hash: string
  size_bytes: number
  expires_at: string | null
  is_current?: boolean
}

for (const backend of storageBackends) {
  describe(`lifecycle on ${backend}`, () => {
    let server: TestServer
    beforeAll(async () => {
      // Small bodies inline and larger ones staged: both paths of a commit.
      server = await startServer(backend, { auth: true, inlineMaxBytes: 4096, gc: { graceSecs: 0 } })
    })
    afterAll(() => server.stop())

    const url = (path: string) => `${server.url}${path}`
    const place = (tenant: string, namespace: string, key?: string) =>
      `namespace=${namespace}&tenant_id=${tenant}${key === undefined ? '' : `&key=${encodeURIComponent(key)}`}`
    const post = (tenant: string, namespace: string, body: Uint8Array<ArrayBuffer> | ReadableStream, key?: string, headers: Record<string, string> = {}) =>
      fetch(url(`/v1/objects?${place(tenant, namespace, key)}`), { method: 'POST', body, headers: { ...asAdmin, ...headers } })
    const put = (tenant: string, namespace: string, key: string, body: Uint8Array<ArrayBuffer>, headers: Record<string, string> = {}) =>
      fetch(url(`/v1/objects/by-key/${namespace}/${tenant}/${key}`), { method: 'PUT', body, headers: { ...asAdmin, ...headers } })
    async function stored(response: Response, status = 201): Promise<ObjectJson> {
      const body = await response.json()
      expect({ status: response.status, body }).toMatchObject({ status })
      return body
    }
    const byId = (tenant: string, id: string) => fetch(url(`/v1/objects/${id}?tenant_id=${tenant}`), { headers: asAdmin })
    const byKey = (tenant: string, namespace: string, key: string) => fetch(url(`/v1/objects/by-key/${namespace}/${tenant}/${key}`), { headers: asAdmin })
    const settings = (tenant: string, namespace: string, body: unknown) =>
      fetch(url(`/v1/namespaces/${namespace}?tenant_id=${tenant}`), { method: 'PUT', body: JSON.stringify(body), headers: json })
    const lifecycle = async () => {
      const response = await fetch(url('/v1/admin/lifecycle'), { method: 'POST', headers: asAdmin })
      expect(response.status).toBe(200)
      return (await response.json()) as { expired: number; pruned_versions: number; moved_to_cold: number }
    }
    const gc = async () => expect((await fetch(url('/v1/admin/gc'), { method: 'POST', headers: asAdmin })).status).toBe(200)
    const listKeys = async (tenant: string, namespace: string) =>
      ((await (await fetch(url(`/v1/objects?${place(tenant, namespace)}`), { headers: asAdmin })).json()) as { objects: ObjectJson[] }).objects.map((o) => o.id)
    const versions = async (tenant: string, namespace: string, key: string) => {
      const response = await fetch(url(`/v1/objects/versions?${place(tenant, namespace, key)}`), { headers: asAdmin })
      expect(response.status).toBe(200)
      return ((await response.json()) as { objects: ObjectJson[] }).objects
    }
    const rowCount = async (tenant: string) =>
      rowsOf<{ n: number }>(await server.database.db.execute(sql`select count(*)::int as n from objects where tenant_id = ${tenant}`))[0]!.n
    const usage = async (tenant: string) => {
      const response = await fetch(url(`/v1/usage?tenant_id=${tenant}`), { headers: asAdmin })
      expect(response.status).toBe(200)
      return response.json()
    }
    /** Makes an object expired now, as time passing would: the instant moved into the past. */
    const expireNow = (id: string) => server.database.db.update(objects).set({ expiresAt: sql`now() - interval '1 second'` }).where(eq(objects.id, id))
    async function expectConsistent() {
      await gc()
      expect(isClean(await checkConsistency(server.database.db, server.store.blobs))).toBe(true)
    }

    describe('expiry', () => {
      test('X-Expires-In and X-Expires-At set expires_at; objects without one have null', async () => {
        const tenant = unique('t')
        const before = Date.now()
        const inSecs = await stored(await post(tenant, 'ns', random(10), undefined, { 'x-expires-in': '3600' }))
        const expiresIn = Date.parse(inSecs.expires_at!)
        expect(expiresIn).toBeGreaterThanOrEqual(before + 3600_000 - 1000)
        expect(expiresIn).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000)
        const at = await stored(await post(tenant, 'ns', random(10_000), undefined, { 'x-expires-at': '2099-05-06T07:08:09.123Z' }))
        expect(at.expires_at).toBe('2099-05-06T07:08:09.123Z')
        expect((await stored(await post(tenant, 'ns', random(10)))).expires_at).toBeNull()
        // The read answers it too.
        const read = (await (await fetch(url(`/v1/objects?${place(tenant, 'ns')}`), { headers: asAdmin })).json()) as { objects: ObjectJson[] }
        expect(read.objects.map((o) => o.expires_at).sort()).toEqual(['2099-05-06T07:08:09.123Z', inSecs.expires_at, null].sort())
      })

      test.each([
        [{ 'x-expires-in': '0' }],
        [{ 'x-expires-in': '-5' }],
        [{ 'x-expires-in': '1.5' }],
        [{ 'x-expires-in': 'soon' }],
        [{ 'x-expires-in': '99999999999999' }],
        [{ 'x-expires-at': '2001-01-01T00:00:00Z' }],
        [{ 'x-expires-at': 'tomorrow' }],
        [{ 'x-expires-at': '2099-01-01' }],
        [{ 'x-expires-at': '2099-13-01T00:00:00Z' }],
        [{ 'x-expires-at': '2099-01-01T00:00:00Z', 'x-expires-in': '60' }],
      ])('%p → 400 and nothing stored', async (headers) => {
        const tenant = unique('t')
        await expectError(await post(tenant, 'ns', random(10), 'k', headers), 400, 'bad_request')
        await expectError(await post(tenant, 'ns', random(100_000), 'k', headers), 400, 'bad_request')
        await expectError(await put(tenant, 'ns', 'k', random(10), headers), 400, 'bad_request')
        await expectError(await fetch(url(`/v1/uploads?${place(tenant, 'ns')}`), { method: 'POST', headers: { ...asAdmin, ...headers } }), 400, 'bad_request')
        expect(await rowCount(tenant)).toBe(0)
      })

      test('an expired object is gone for reads, lists, searches and deletes, and the pass deletes it', async () => {
        const tenant = unique('t')
        for (const size of [10, 100_000]) {
          const body = random(size)
          const object = await stored(await post(tenant, 'ns', body, `doc-${size}`, { 'x-expires-in': '3600', 'x-metadata': '{"tag":"gone"}' }))
          await expectBytes(await byId(tenant, object.id), body)
          await expireNow(object.id)
          await expectError(await byId(tenant, object.id), 404, 'not_found')
          await expectError(await byKey(tenant, 'ns', `doc-${size}`), 404, 'not_found')
          expect((await fetch(url(`/v1/objects/${object.id}?tenant_id=${tenant}`), { method: 'HEAD', headers: asAdmin })).status).toBe(404)
          expect(await listKeys(tenant, 'ns')).not.toContain(object.id)
          const search = await fetch(url(`/v1/objects/search?tenant_id=${tenant}`), { method: 'POST', headers: json, body: JSON.stringify({ namespace: 'ns', metadata: { tag: 'gone' } }) })
          expect(((await search.json()) as { objects: ObjectJson[] }).objects).toEqual([])
          await expectError(await fetch(url(`/v1/objects/${object.id}?tenant_id=${tenant}`), { method: 'DELETE', headers: asAdmin }), 404, 'not_found')
        }
        expect((await lifecycle()).expired).toBeGreaterThanOrEqual(2)
        expect(await rowCount(tenant)).toBe(2) // tombstones until GC purges them
        const [row] = rowsOf<{ n: number }>(await server.database.db.execute(sql`select count(*)::int as n from objects where tenant_id = ${tenant} and status = 'COMMITTED'`))
        expect(row!.n).toBe(0)
        expect((await usage(tenant)).objects).toBe(0)
        await expectConsistent()
      })

      test('an expired key is free: a POST without overwrite creates it (201), and If-Match finds nothing', async () => {
        const tenant = unique('t')
        const old = await stored(await post(tenant, 'ns', random(10), 'k', { 'x-expires-in': '60' }))
        await expectError(await post(tenant, 'ns', random(10), 'k'), 409, 'key_exists')
        await expireNow(old.id)
        await expectError(await put(tenant, 'ns', 'k', random(10), { 'if-match': `"${old.content_hash}"` }), 412, 'precondition_failed')
        const body = random(20)
        const created = await post(tenant, 'ns', body, 'k')
        expect(created.status).toBe(201)
        await expectBytes(await byKey(tenant, 'ns', 'k'), body)
        // The expired object was released by the commit that took its key.
        await expectError(await byId(tenant, old.id), 404, 'not_found')
        expect((await usage(tenant)).objects).toBe(1)
        await expectConsistent()
      })

      test("a namespace's default_expires_in applies to objects sent without an expiry; a header overrides it", async () => {
        const tenant = unique('t')
        expect((await settings(tenant, 'tmp', { default_expires_in: 120 })).status).toBe(200)
        const before = Date.now()
        const defaulted = await stored(await post(tenant, 'tmp', random(10)))
        expect(Date.parse(defaulted.expires_at!)).toBeGreaterThanOrEqual(before + 120_000 - 1000)
        expect(Date.parse(defaulted.expires_at!)).toBeLessThanOrEqual(Date.now() + 120_000 + 1000)
        const given = await stored(await post(tenant, 'tmp', random(10), undefined, { 'x-expires-at': '2098-01-01T00:00:00Z' }))
        expect(given.expires_at).toBe('2098-01-01T00:00:00.000Z')
        expect((await stored(await post(tenant, 'other', random(10)))).expires_at).toBeNull()
      })

      test('a session and a copy take an expiry too', async () => {
        const tenant = unique('t')
        const body = random(50_000)
        const session = await fetch(url(`/v1/uploads?${place(tenant, 'ns', 'sess')}`), { method: 'POST', headers: { ...asAdmin, 'x-expires-in': '600' } })
        expect(session.status).toBe(201)
        const { id } = (await session.json()) as { id: string }
        expect((await fetch(url(`/v1/uploads/${id}?tenant_id=${tenant}`), { method: 'PATCH', body, headers: { ...asAdmin, 'upload-offset': '0' } })).status).toBe(204)
        const completed = await stored(await fetch(url(`/v1/uploads/${id}/complete?tenant_id=${tenant}`), { method: 'POST', headers: asAdmin }))
        expect(Date.parse(completed.expires_at!)).toBeGreaterThan(Date.now() + 590_000)
        const copy = await stored(await post(tenant, 'ns', new Uint8Array(0), 'copy', { 'x-copy-source': completed.id, 'x-expires-in': '60' }))
        expect(Date.parse(copy.expires_at!)).toBeLessThan(Date.now() + 61_000)
        await expectBytes(await byId(tenant, copy.id), body)
      })
    })

    describe('namespace settings', () => {
      test('PUT changes the fields given and keeps the others; GET answers them; the list shows settings and usage', async () => {
        const tenant = unique('t')
        const defaults = { namespace: 'models', tenant_id: tenant, versioning: false, keep_versions: null, default_expires_in: null, cold_after_idle_secs: null, quota_bytes: null, quota_objects: null }
        expect(await (await fetch(url(`/v1/namespaces/models?tenant_id=${tenant}`), { headers: asAdmin })).json()).toEqual(defaults)
        const first = await settings(tenant, 'models', { versioning: true, keep_versions: 2 })
        expect(await first.json()).toEqual({ ...defaults, versioning: true, keep_versions: 2 })
        const second = await settings(tenant, 'models', { quota_bytes: 1000, keep_versions: null })
        expect(await second.json()).toEqual({ ...defaults, versioning: true, quota_bytes: 1000 })
        expect(await (await fetch(url(`/v1/namespaces/models?tenant_id=${tenant}`), { headers: asAdmin })).json()).toEqual({ ...defaults, versioning: true, quota_bytes: 1000 })

        await stored(await post(tenant, 'data', random(7)))
        await stored(await post(tenant, 'data', random(5)))
        const list = await (await fetch(url(`/v1/namespaces?tenant_id=${tenant}`), { headers: asAdmin })).json()
        expect(list).toEqual({
          namespaces: [
            { ...defaults, namespace: 'data', usage: { objects: 2, logical_bytes: 12, physical_bytes: 12 } },
            { ...defaults, versioning: true, quota_bytes: 1000, usage: { objects: 0, logical_bytes: 0, physical_bytes: 0 } },
          ],
        })
        const audited = await server.database.db.select().from(auditEvents).where(eq(auditEvents.tenantId, tenant))
        expect(audited.filter((event) => event.action === 'namespace.settings').map((event) => event.target)).toEqual(['models', 'models'])
      })

      test.each([
        [{ versioning: 'yes' }],
        [{ keep_versions: -1 }],
        [{ keep_versions: 1.5 }],
        [{ default_expires_in: 0 }],
        [{ quota_bytes: -1 }],
        [{ quota_objects: '5' }],
        [{ unknown: true }],
        [{ cold_after_idle_secs: 0 }],
      ])('%p → 400, nothing changed', async (body) => {
        const tenant = unique('t')
        await expectError(await settings(tenant, 'ns', body), 400, 'bad_request')
        const [row] = rowsOf<{ n: number }>(await server.database.db.execute(sql`select count(*)::int as n from namespace_settings where tenant_id = ${tenant}`))
        expect(row!.n).toBe(0)
      })

      test('a body that is not JSON → 415 or 400; an invalid namespace → 400', async () => {
        const tenant = unique('t')
        await expectError(await fetch(url(`/v1/namespaces/ns?tenant_id=${tenant}`), { method: 'PUT', body: '{}', headers: asAdmin }), 415, 'unsupported_media_type')
        await expectError(await fetch(url(`/v1/namespaces/ns?tenant_id=${tenant}`), { method: 'PUT', body: '{', headers: json }), 400, 'bad_request')
        await expectError(await settings(tenant, 'bad%20name', {}), 400, 'invalid_namespace')
      })

      test('a tenant key needs keys:manage to change settings and objects:read to read them, within its namespaces', async () => {
        const tenant = unique('t')
        const key = async (permissions: string[], namespaces: string[] | null = null) => {
          const response = await fetch(url('/v1/api-keys'), { method: 'POST', headers: json, body: JSON.stringify({ name: 'k', tenant_id: tenant, permissions, namespaces }) })
          expect(response.status).toBe(201)
          return { authorization: `Bearer ${((await response.json()) as { key: string }).key}`, 'content-type': 'application/json' }
        }
        const reader = await key(['objects:read'])
        const manager = await key(['keys:manage', 'objects:read'], ['mine'])
        await expectError(await fetch(url('/v1/namespaces/ns'), { method: 'PUT', body: '{"versioning":true}', headers: reader }), 403, 'forbidden')
        expect((await fetch(url('/v1/namespaces/ns'), { headers: reader })).status).toBe(200)
        await expectError(await fetch(url('/v1/namespaces/ns'), { method: 'PUT', body: '{"versioning":true}', headers: manager }), 403, 'forbidden')
        expect((await fetch(url('/v1/namespaces/mine'), { method: 'PUT', body: '{"versioning":true}', headers: manager })).status).toBe(200)
        await expectError(await fetch(url('/v1/namespaces/mine?tenant_id=other'), { method: 'PUT', body: '{}', headers: manager }), 403, 'forbidden')
        await expectError(await fetch(url('/v1/namespaces/mine'), { method: 'PUT', body: '{}' }), 401, 'unauthenticated')
        // The list shows a restricted key its own namespaces only.
        await settings(tenant, 'secret', { quota_objects: 5 })
        const listed = (await (await fetch(url('/v1/namespaces'), { headers: manager })).json()) as { namespaces: { namespace: string }[] }
        expect(listed.namespaces.map((n) => n.namespace)).toEqual(['mine'])
      })
    })

    describe('versions', () => {
      test('an overwrite keeps the previous object as a noncurrent version, readable by id and listed', async () => {
        const tenant = unique('t')
        await settings(tenant, 'v', { versioning: true })
        const bodies = [random(10), random(100_000), random(30)]
        const made: ObjectJson[] = []
        made.push(await stored(await post(tenant, 'v', bodies[0]!, 'model.bin')))
        made.push(await stored(await put(tenant, 'v', 'model.bin', bodies[1]!), 200))
        made.push(await stored(await post(tenant, 'v', bodies[2]!, 'model.bin', { 'x-overwrite': 'true' })))
        await expectBytes(await byKey(tenant, 'v', 'model.bin'), bodies[2]!)
        for (const [i, object] of made.entries()) await expectBytes(await byId(tenant, object.id), bodies[i]!)
        const listed = await versions(tenant, 'v', 'model.bin')
        expect(listed.map((o) => [o.id, o.is_current])).toEqual([[made[2]!.id, true], [made[1]!.id, false], [made[0]!.id, false]])
        // A list shows the key once, its current version.
        expect(await listKeys(tenant, 'v')).toEqual([made[2]!.id])
        // Every version is a committed object of the namespace.
        expect((await usage(tenant)).logical_bytes).toBe(100_040)
        await expectConsistent()
      })

      test('a delete by key keeps every version (404 by key); a delete by id removes that version only', async () => {
        const tenant = unique('t')
        await settings(tenant, 'v', { versioning: true })
        const a = await stored(await post(tenant, 'v', random(10), 'k'))
        const b = await stored(await put(tenant, 'v', 'k', random(100_000)), 200)
        expect((await fetch(url(`/v1/objects/by-key/v/${tenant}/k`), { method: 'DELETE', headers: asAdmin })).status).toBe(204)
        await expectError(await byKey(tenant, 'v', 'k'), 404, 'not_found')
        expect((await versions(tenant, 'v', 'k')).map((o) => [o.id, o.is_current])).toEqual([[b.id, false], [a.id, false]])
        expect((await byId(tenant, b.id)).status).toBe(200)
        // The key is free again: a POST without overwrite creates it.
        const c = await stored(await post(tenant, 'v', random(10), 'k'))
        expect((await fetch(url(`/v1/objects/${b.id}?tenant_id=${tenant}`), { method: 'DELETE', headers: asAdmin })).status).toBe(204)
        expect((await versions(tenant, 'v', 'k')).map((o) => [o.id, o.is_current])).toEqual([[c.id, true], [a.id, false]])
        await expectError(await byId(tenant, b.id), 404, 'not_found')
        await expectConsistent()
      })

      test('the pass keeps the newest keep_versions noncurrent versions and never the current one', async () => {
        const tenant = unique('t')
        await settings(tenant, 'v', { versioning: true, keep_versions: 2 })
        const made: ObjectJson[] = []
        for (let i = 0; i < 6; i++) made.push(await stored(await put(tenant, 'v', 'k', random(i % 2 === 0 ? 10 : 100_000)), i === 0 ? 201 : 200))
        expect((await lifecycle()).pruned_versions).toBe(3)
        expect((await versions(tenant, 'v', 'k')).map((o) => o.id)).toEqual([made[5]!.id, made[4]!.id, made[3]!.id])
        for (const object of made.slice(0, 3)) await expectError(await byId(tenant, object.id), 404, 'not_found')
        await settings(tenant, 'v', { keep_versions: 0 })
        expect((await lifecycle()).pruned_versions).toBe(2)
        expect((await versions(tenant, 'v', 'k')).map((o) => o.id)).toEqual([made[5]!.id])
        expect((await usage(tenant)).objects).toBe(1)
        await expectConsistent()
      })

      test('a newer version deleted by id while the pass prunes leaves the next older one kept in its place', async () => {
        const tenant = unique('t')
        await settings(tenant, 'v', { versioning: true, keep_versions: 1 })
        const made: ObjectJson[] = []
        for (let i = 0; i < 4; i++) made.push(await stored(await put(tenant, 'v', 'k', random(10)), i === 0 ? 201 : 200))
        // Noncurrent, newest first: made[2] (kept), made[1] and made[0] (past keep_versions).
        const held = holdAt('lifecycle:prune-locked')
        const pass = lifecycle()
        await held.reached
        expect((await fetch(url(`/v1/objects/${made[2]!.id}?tenant_id=${tenant}`), { method: 'DELETE', headers: asAdmin })).status).toBe(204)
        held.release()
        expect((await pass).pruned_versions).toBe(1)
        expect((await versions(tenant, 'v', 'k')).map((o) => o.id)).toEqual([made[3]!.id, made[1]!.id])
        await expectError(await byId(tenant, made[0]!.id), 404, 'not_found')
        expect((await usage(tenant)).objects).toBe(2)
        await expectConsistent()
      })

      test('a rollback is a copy of the old version onto the key: it becomes current, no bytes move', async () => {
        const tenant = unique('t')
        await settings(tenant, 'v', { versioning: true })
        const first = random(100_000)
        const v1 = await stored(await put(tenant, 'v', 'k', first))
        await stored(await put(tenant, 'v', 'k', random(100_000)), 200)
        const restored = await stored(await post(tenant, 'v', new Uint8Array(0), 'k', { 'x-copy-source': v1.id, 'x-overwrite': 'true' }))
        expect(restored.content_hash).toBe(v1.content_hash)
        await expectBytes(await byKey(tenant, 'v', 'k'), first)
        expect((await versions(tenant, 'v', 'k')).map((o) => [o.id, o.is_current])).toEqual([
          [restored.id, true],
          [expect.any(String), false],
          [v1.id, false],
        ])
        const [blob] = rowsOf<{ ref_count: number }>(await server.database.db.execute(sql`select ref_count from blobs where storage_class = 'hot' and content_hash = ${v1.content_hash}`))
        expect(blob!.ref_count).toBe(2)
      })

      test('without versioning an overwrite replaces, as always', async () => {
        const tenant = unique('t')
        const old = await stored(await post(tenant, 'plain', random(10), 'k'))
        await stored(await put(tenant, 'plain', 'k', random(10)), 200)
        await expectError(await byId(tenant, old.id), 404, 'not_found')
        expect(await versions(tenant, 'plain', 'k')).toHaveLength(1)
      })

      test('the versions listing pages, and needs a key', async () => {
        const tenant = unique('t')
        await settings(tenant, 'v', { versioning: true })
        const ids: string[] = []
        for (let i = 0; i < 5; i++) ids.push((await stored(await put(tenant, 'v', 'k', random(10)), i === 0 ? 201 : 200)).id)
        const seen: string[] = []
        let cursor: string | null = null
        do {
          const page = (await (await fetch(url(`/v1/objects/versions?${place(tenant, 'v', 'k')}&limit=2${cursor ? `&cursor=${cursor}` : ''}`), { headers: asAdmin })).json()) as { objects: ObjectJson[]; next_cursor: string | null }
          seen.push(...page.objects.map((o) => o.id))
          cursor = page.next_cursor
        } while (cursor !== null)
        expect(seen).toEqual(ids.reverse())
        await expectError(await fetch(url(`/v1/objects/versions?${place(tenant, 'v')}`), { headers: asAdmin }), 400, 'invalid_key')
        await expectError(await fetch(url(`/v1/objects/versions?${place(tenant, 'v', 'k')}&cursor=nonsense`), { headers: asAdmin }), 400, 'invalid_cursor')
      })
    })

    describe('tiering', () => {
      const idle = (tenant: string) => server.database.db.execute(sql`update objects set last_read_at = now() - interval '2 hours' where tenant_id = ${tenant}`)
      const classOf = async (id: string) => (await server.database.db.select({ c: objects.storageClass }).from(objects).where(eq(objects.id, id)))[0]!.c
      const refs = async (storageClass: 'hot' | 'cold', hash: string) =>
        rowsOf<{ ref_count: number }>(await server.database.db.execute(sql`select ref_count from blobs where storage_class = ${storageClass} and content_hash = ${hash}`))[0]?.ref_count ?? null
      // fsck (expectConsistent) checks every reference count and the usage counters against the objects.
      test('idle hot objects move to cold with id, key, ETag and bytes unchanged; a recently read one stays; dedup and counts stay exact', async () => {
        const tenant = unique('t')
        await settings(tenant, 'archive', { cold_after_idle_secs: 60 })
        const small = random(100)
        const large = random(300_000)
        const shared = random(200_000)
        const made = {
          small: await stored(await post(tenant, 'archive', small, 'small')),
          large: await stored(await post(tenant, 'archive', large, 'large')),
          twinA: await stored(await post(tenant, 'archive', shared, 'twin-a')),
          twinB: await stored(await post(tenant, 'archive', shared, 'twin-b')),
          read: await stored(await post(tenant, 'archive', random(50_000), 'read')),
          // Its bytes are already in cold: the move only references them.
          inCold: await stored(await post(tenant, 'archive', large.slice(0, 150_000), 'in-cold')),
          elsewhere: await stored(await post(tenant, 'untiered', random(50_000))),
        }
        await stored(await fetch(url(`/v1/objects?${place(tenant, 'coldside')}&storage_class=cold`), { method: 'POST', body: large.slice(0, 150_000), headers: asAdmin }))
        await idle(tenant)
        expect((await byKey(tenant, 'archive', 'read')).status).toBe(200)
        expect(await lifecycle()).toMatchObject({ moved_to_cold: 5 })
        for (const name of ['small', 'large', 'twinA', 'twinB', 'inCold'] as const) expect(await classOf(made[name].id)).toBe('cold')
        expect(await classOf(made.read.id)).toBe('hot')
        expect(await classOf(made.elsewhere.id)).toBe('hot')

        const response = await byKey(tenant, 'archive', 'large')
        expect(response.headers.get('etag')).toBe(`"${made.large.content_hash}"`)
        await expectBytes(response, large)
        await expectBytes(await byId(tenant, made.small.id), small)
        await expectBytes(await byId(tenant, made.twinB.id), shared)
        expect(await refs('cold', made.twinA.content_hash)).toBe(2)
        expect(await refs('hot', made.twinA.content_hash)).toBe(0)
        expect(await refs('cold', made.inCold.content_hash)).toBe(2)
        const listed = (await (await fetch(url(`/v1/objects?${place(tenant, 'archive')}&storage_class=cold`), { headers: asAdmin })).json()) as { objects: ObjectJson[] }
        expect(listed.objects).toHaveLength(5)
        await expectConsistent()
        expect(await refs('hot', made.twinA.content_hash)).toBeNull()
        await expectBytes(await byId(tenant, made.twinA.id), shared)
        // A second pass finds nothing more to move.
        expect(await lifecycle()).toMatchObject({ moved_to_cold: 0 })
      })

      test('an object idle for cold_after_idle_secs moves only a minute later, when no replica can still hold a read of it unwritten', async () => {
        const tenant = unique('t')
        await settings(tenant, 'slack', { cold_after_idle_secs: 60 })
        const object = await stored(await post(tenant, 'slack', random(10_000)))
        const lastRead = (secondsAgo: number) => server.database.db.execute(sql`update objects set last_read_at = now() - make_interval(secs => ${secondsAgo}) where id = ${object.id}`)
        await lastRead(90)
        expect(await lifecycle()).toMatchObject({ moved_to_cold: 0 })
        expect(await classOf(object.id)).toBe('hot')
        await lastRead(125)
        expect(await lifecycle()).toMatchObject({ moved_to_cold: 1 })
        expect(await classOf(object.id)).toBe('cold')
      })

      test('reads racing the moves always get the right bytes', async () => {
        const tenant = unique('t')
        await settings(tenant, 'race', { cold_after_idle_secs: 3600 })
        const bodies = Array.from({ length: 12 }, (_, i) => random(i % 3 === 0 ? 1000 : 120_000))
        const made = await Promise.all(bodies.map(async (body) => stored(await post(tenant, 'race', body))))
        await idle(tenant)
        let reading = true
        let reads = 0
        const readers = Array.from({ length: 8 }, async () => {
          while (reading) {
            const i = Math.floor(Math.random() * made.length)
            await expectBytes(await byId(tenant, made[i]!.id), bodies[i]!)
            reads++
          }
        })
        // Reads mark objects used, so each pass first makes them idle again.
        for (let pass = 0; pass < 4; pass++) {
          await idle(tenant)
          await lifecycle()
          await gc()
        }
        reading = false
        await Promise.all(readers)
        expect(reads).toBeGreaterThan(0)
        // The last reads are written by the next pass: after it, all are idle again.
        await lifecycle()
        await idle(tenant)
        // Read just before the pass, these are the only ones it may leave hot.
        const recent = new Set(made.slice(0, 4).map((object) => object.id))
        for (const [i, object] of made.slice(0, 4).entries()) await expectBytes(await byId(tenant, object.id), bodies[i]!)
        await lifecycle()
        for (const [i, object] of made.entries()) {
          if (!recent.has(object.id)) expect(await classOf(object.id)).toBe('cold')
          await expectBytes(await byId(tenant, object.id), bodies[i]!)
        }
        await expectConsistent()
      })
    })

    describe('metrics and audit', () => {
      const metric = async (pattern: RegExp) => {
        const text = await (await fetch(url('/metrics'), { headers: asAdmin })).text()
        const line = text.split('\n').find((l) => pattern.test(l))
        return line === undefined ? null : Number(line.split(' ').pop())
      }

      test('quotas show as gauges beside their use; expired, pruned and moved objects are counted; admin passes are audited', async () => {
        const tenant = unique('t')
        await settings(tenant, 'm', { quota_objects: 10, versioning: true, keep_versions: 0, cold_after_idle_secs: 60 })
        expect((await fetch(url(`/v1/admin/tenants/${tenant}`), { method: 'PUT', body: '{"quota_bytes":5000}', headers: json })).status).toBe(200)
        await stored(await put(tenant, 'm', 'k', random(100)))
        await stored(await put(tenant, 'm', 'k', random(200)), 200)
        const expiring = await stored(await post(tenant, 'm', random(300), undefined, { 'x-expires-in': '60' }))
        await expireNow(expiring.id)
        await server.database.db.execute(sql`update objects set last_read_at = now() - interval '1 hour' where tenant_id = ${tenant}`)
        await server.refreshMetrics()
        expect(await metric(new RegExp(`^juststorage_quota_limit\\{tenant="${tenant}",namespace="m",kind="objects"\\}`))).toBe(10)
        expect(await metric(new RegExp(`^juststorage_quota_used\\{tenant="${tenant}",namespace="m",kind="objects"\\}`))).toBe(3)
        expect(await metric(new RegExp(`^juststorage_quota_limit\\{tenant="${tenant}",namespace="",kind="bytes"\\}`))).toBe(5000)
        expect(await metric(new RegExp(`^juststorage_quota_used\\{tenant="${tenant}",namespace="",kind="bytes"\\}`))).toBe(600)

        const counters = async () => ({
          expired: await metric(/^juststorage_lifecycle_expired_objects_total /),
          pruned: await metric(/^juststorage_lifecycle_pruned_versions_total /),
          moved: await metric(/^juststorage_lifecycle_moved_to_cold_total /),
        })
        const before = await counters()
        const pass = await lifecycle()
        expect(pass.expired).toBeGreaterThanOrEqual(1)
        expect(pass.pruned_versions).toBeGreaterThanOrEqual(1)
        expect(pass.moved_to_cold).toBeGreaterThanOrEqual(1)
        expect(await counters()).toEqual({ expired: before.expired! + pass.expired, pruned: before.pruned! + pass.pruned_versions, moved: before.moved! + pass.moved_to_cold })
        const audited = await server.database.db.select().from(auditEvents).where(eq(auditEvents.action, 'admin.lifecycle'))
        expect(audited.length).toBeGreaterThanOrEqual(1)
      })
    })

    describe('quotas', () => {
      const stagedUploads = async () => {
        const found: string[] = []
        for (const storageClass of ['hot', 'cold'] as const) {
          for await (const leftover of server.store.blobs[storageClass].leftovers()) if (leftover.kind === 'staged') found.push(leftover.uploadId ?? '?')
        }
        return found
      }

      test("a namespace's byte quota: a declared length past it is refused before a byte is stored, a streamed one at the crossing byte", async () => {
        const tenant = unique('t')
        await settings(tenant, 'q', { quota_bytes: 250_000 })
        await stored(await post(tenant, 'q', random(100_000)))
        await expectError(await post(tenant, 'q', random(200_000)), 413, 'quota_exceeded')
        const chunked = new ReadableStream({
          start(controller) {
            for (let i = 0; i < 20; i++) controller.enqueue(random(10_000))
            controller.close()
          },
        })
        await expectError(await post(tenant, 'q', chunked), 413, 'quota_exceeded')
        expect(await stagedUploads()).toEqual([])
        // Up to the quota exactly, inline and staged; one byte more is refused.
        await stored(await post(tenant, 'q', random(4000)))
        await stored(await post(tenant, 'q', random(146_000)))
        await expectError(await post(tenant, 'q', random(1)), 413, 'quota_exceeded')
        expect((await usage(tenant)).logical_bytes).toBe(250_000)
        expect(await rowCount(tenant)).toBe(3)
        await expectConsistent()
      })

      test('a replace counts the bytes it frees; a delete frees its share', async () => {
        const tenant = unique('t')
        await settings(tenant, 'q', { quota_bytes: 100_000 })
        const old = await stored(await put(tenant, 'q', 'k', random(80_000)))
        await stored(await put(tenant, 'q', 'k', random(90_000)), 200)
        await expectError(await post(tenant, 'q', random(20_000)), 413, 'quota_exceeded')
        expect((await fetch(url(`/v1/objects/by-key/q/${tenant}/k`), { method: 'DELETE', headers: asAdmin })).status).toBe(204)
        await stored(await post(tenant, 'q', random(20_000)))
        await expectError(await byId(tenant, old.id), 404, 'not_found')
      })

      test("a namespace's object quota, and a tenant's quotas set by an admin across its namespaces", async () => {
        const tenant = unique('t')
        await settings(tenant, 'a', { quota_objects: 2 })
        await stored(await post(tenant, 'a', random(10)))
        await stored(await post(tenant, 'a', random(10_000)))
        await expectError(await post(tenant, 'a', random(10)), 413, 'quota_exceeded')
        await expectError(await post(tenant, 'a', random(10_000)), 413, 'quota_exceeded')

        const setQuota = (body: unknown, headers: Record<string, string> = json) => fetch(url(`/v1/admin/tenants/${tenant}`), { method: 'PUT', body: JSON.stringify(body), headers })
        expect(await (await setQuota({ quota_objects: 3 })).json()).toEqual({ tenant_id: tenant, quota_bytes: null, quota_objects: 3 })
        expect(await (await setQuota({ quota_bytes: 1_000_000 })).json()).toEqual({ tenant_id: tenant, quota_bytes: 1_000_000, quota_objects: 3 })
        expect(await (await fetch(url(`/v1/admin/tenants/${tenant}`), { headers: asAdmin })).json()).toEqual({ tenant_id: tenant, quota_bytes: 1_000_000, quota_objects: 3 })
        await stored(await post(tenant, 'b', random(10)))
        await expectError(await post(tenant, 'c', random(10)), 413, 'quota_exceeded')
        await expectError(await setQuota({ quota_objects: -1 }), 400, 'bad_request')
        await expectError(await setQuota({ quota: 1 }), 400, 'bad_request')

        const keyResponse = await fetch(url('/v1/api-keys'), { method: 'POST', headers: json, body: JSON.stringify({ name: 'k', tenant_id: tenant, permissions: ['keys:manage', 'objects:read'] }) })
        const tenantKey = { authorization: `Bearer ${((await keyResponse.json()) as { key: string }).key}`, 'content-type': 'application/json' }
        await expectError(await setQuota({ quota_objects: 100 }, tenantKey), 403, 'forbidden')

        expect(await usage(tenant)).toMatchObject({
          objects: 3,
          quota_bytes: 1_000_000,
          quota_objects: 3,
          namespace_quotas: [{ namespace: 'a', objects: 2, logical_bytes: 10_010, quota_bytes: null, quota_objects: 2 }],
        })
        const audited = await server.database.db.select().from(auditEvents).where(eq(auditEvents.tenantId, tenant))
        expect(audited.filter((event) => event.action === 'tenant.quota')).toHaveLength(2)
      })

      test('sessions: a declared length past the quota is refused at creation, an append at the crossing byte, a completion that no longer fits leaves the session open', async () => {
        const tenant = unique('t')
        await settings(tenant, 'q', { quota_bytes: 100_000 })
        const create = (headers: Record<string, string> = {}) => fetch(url(`/v1/uploads?${place(tenant, 'q')}`), { method: 'POST', headers: { ...asAdmin, ...headers } })
        await expectError(await create({ 'x-upload-content-length': '100001' }), 413, 'quota_exceeded')
        const opened = await create()
        const { id } = (await opened.json()) as { id: string }
        const patch = (offset: number, body: Uint8Array<ArrayBuffer>) => fetch(url(`/v1/uploads/${id}?tenant_id=${tenant}`), { method: 'PATCH', body, headers: { ...asAdmin, 'upload-offset': String(offset) } })
        expect((await patch(0, random(60_000))).status).toBe(204)
        const over = await patch(60_000, random(50_000))
        expect(over.headers.get('upload-offset')).toBe('60000')
        await expectError(over, 413, 'quota_exceeded')
        expect((await patch(60_000, random(30_000))).status).toBe(204)
        // Meanwhile another upload takes the room the session needed.
        await stored(await post(tenant, 'q', random(20_000)))
        await expectError(await fetch(url(`/v1/uploads/${id}/complete?tenant_id=${tenant}`), { method: 'POST', headers: asAdmin }), 413, 'quota_exceeded')
        const status = await fetch(url(`/v1/uploads/${id}?tenant_id=${tenant}`), { method: 'HEAD', headers: asAdmin })
        expect(status.headers.get('upload-offset')).toBe('90000')
        expect((await usage(tenant)).logical_bytes).toBe(20_000)
        await settings(tenant, 'q', { quota_bytes: null })
        expect((await fetch(url(`/v1/uploads/${id}/complete?tenant_id=${tenant}`), { method: 'POST', headers: asAdmin })).status).toBe(201)
      })

      test('a commit its hold no longer covers (the object it replaces went meanwhile) is checked exactly; a refused commit leaves no hold', async () => {
        const tenant = unique('t')
        const holds = async () => rowsOf<{ n: number }>(await server.database.db.execute(sql`select count(*)::int as n from quota_holds where tenant_id = ${tenant}`))[0]!.n
        await settings(tenant, 'q', { quota_bytes: 100_000 })
        await stored(await put(tenant, 'q', 'k', random(80_000)))
        // The replace holds the 10,000 bytes it adds, and waits before its commit...
        const held = holdAt('commit:quota-held')
        const replacing = put(tenant, 'q', 'k', random(90_000))
        await held.reached
        expect(await holds()).toBe(1)
        // ...while the object it would replace is deleted and its room taken.
        expect((await fetch(url(`/v1/objects/by-key/q/${tenant}/k`), { method: 'DELETE', headers: asAdmin })).status).toBe(204)
        await stored(await post(tenant, 'q', random(90_000)))
        held.release()
        await expectError(await replacing, 413, 'quota_exceeded')
        expect((await usage(tenant)).logical_bytes).toBe(90_000)
        // A key held (409) and a failed precondition (412) give their holds back.
        await stored(await post(tenant, 'q', random(100), 'dup'))
        await expectError(await post(tenant, 'q', random(100), 'dup'), 409, 'key_exists')
        await expectError(await put(tenant, 'q', 'dup', random(100), { 'if-match': '"sha256:0"' }), 412, 'precondition_failed')
        expect(await holds()).toBe(0)
        expect((await usage(tenant)).logical_bytes).toBe(90_100)
        await expectConsistent()
      })

      test('a hold whose commit never came (its process died) counts against the quota until GC drops it as stale', async () => {
        const tenant = unique('t')
        const db = server.database.db
        await settings(tenant, 'q', { quota_objects: 2 })
        await stored(await post(tenant, 'q', random(10)))
        await db.execute(sql`insert into quota_holds (id, tenant_id, namespace, bytes, objects) values (gen_random_uuid(), ${tenant}, 'q', 10, 1)`)
        await expectError(await post(tenant, 'q', random(10)), 413, 'quota_exceeded')
        await gc()
        await expectError(await post(tenant, 'q', random(10)), 413, 'quota_exceeded')
        // Older than STUCK_UPLOAD_TIMEOUT_SECS (an hour here).
        await db.execute(sql`update quota_holds set created_at = now() - interval '2 hours' where tenant_id = ${tenant}`)
        await gc()
        await stored(await post(tenant, 'q', random(10)))
        await expectError(await post(tenant, 'q', random(10)), 413, 'quota_exceeded')
      })

      test('a copy past the quota is refused and adds no reference', async () => {
        const tenant = unique('t')
        const source = await stored(await post(tenant, 'src', random(60_000)))
        await settings(tenant, 'q', { quota_bytes: 100_000 })
        await stored(await post(tenant, 'q', new Uint8Array(0), undefined, { 'x-copy-source': source.id }))
        await expectError(await post(tenant, 'q', new Uint8Array(0), undefined, { 'x-copy-source': source.id }), 413, 'quota_exceeded')
        await expectError(await post(tenant, 'q', new Uint8Array(0), undefined, { 'x-copy-source': source.content_hash }), 413, 'quota_exceeded')
        expect((await usage(tenant)).objects).toBe(2)
        await expectConsistent()
      })
    })
  })
}
