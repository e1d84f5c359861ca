import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { connectPostgres } from '../../core/db/connect'
import { checkConsistency } from '../../core/fsck'
import { foldUsageCounters, usageQuery } from '../../core/usage'
import { adminToken, storageBackends, startServer, type TestServer } from '../support/server'
import { expectError } from '../support/assertions'

let counter = 0
/** Distinct tenants per test so tests sharing one server never see each other's objects. */
const unique = (prefix: string) => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 8)}`
const asAdmin = { authorization: `Bearer ${adminToken}` }

interface Placement {
  tenant: string
  namespace: string
  storageClass?: 'hot' | 'cold'
}

async function upload(server: TestServer, place: Placement, body: string, headers: Record<string, string> = {}): Promise<{ id: string }> {
  const query = new URLSearchParams({ tenant_id: place.tenant, namespace: place.namespace, storage_class: place.storageClass ?? 'hot' })
  const response = await fetch(`${server.url}/v1/objects?${query}`, { method: 'POST', body, headers })
  expect(response.status).toBe(201)
  return response.json()
}

const usage = (server: TestServer, query: string, headers: Record<string, string> = {}) => fetch(`${server.url}/v1/usage${query}`, { headers })

async function usageOf(server: TestServer, tenant: string, headers: Record<string, string> = {}) {
  const response = await usage(server, `?tenant_id=${tenant}`, headers)
  expect(response.status).toBe(200)
  // The quota figures are the lifecycle suite's; these tests set none.
  const { quota_bytes, quota_objects, namespace_quotas, ...counted } = await response.json()
  expect({ quota_bytes, quota_objects, namespace_quotas }).toEqual(noQuotas)
  return counted
}

const noQuotas = { quota_bytes: null, quota_objects: null, namespace_quotas: [] }

const row = (namespace: string, storage_class: 'hot' | 'cold', objects: number, logical_bytes: number, physical_bytes: number) => ({
  namespace,
  storage_class,
  objects,
  logical_bytes,
  physical_bytes,
})

describe.each(storageBackends)('usage on %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend)
  }, 60_000)
  afterAll(() => server.stop())

  test('a tenant with no objects has zeros and no rows', async () => {
    const tenant = unique('empty')
    expect(await usageOf(server, tenant)).toEqual({ tenant_id: tenant, objects: 0, logical_bytes: 0, physical_bytes: 0, by_namespace: [] })
  })

  test('the same bytes twice in a namespace count twice logically and once physically', async () => {
    const tenant = unique('dup')
    await upload(server, { tenant, namespace: 'models' }, 'aaaa')
    await upload(server, { tenant, namespace: 'models' }, 'aaaa')
    await upload(server, { tenant, namespace: 'models' }, 'bb')
    const body = await usageOf(server, tenant)
    expect(body).toEqual({ tenant_id: tenant, objects: 3, logical_bytes: 10, physical_bytes: 6, by_namespace: [row('models', 'hot', 3, 10, 6)] })
    // JSON numbers, not the strings a bigint sum arrives as.
    expect(typeof body.physical_bytes).toBe('number')
  })

  test('the same bytes in two namespaces count once for the tenant and once in each row', async () => {
    const tenant = unique('across')
    await upload(server, { tenant, namespace: 'one' }, 'shared!')
    await upload(server, { tenant, namespace: 'two' }, 'shared!')
    await upload(server, { tenant, namespace: 'two' }, 'own')
    expect(await usageOf(server, tenant)).toEqual({
      tenant_id: tenant,
      objects: 3,
      logical_bytes: 17,
      physical_bytes: 10,
      by_namespace: [row('one', 'hot', 1, 7, 7), row('two', 'hot', 2, 10, 10)],
    })
  })

  test('the same bytes hot and cold are two blobs', async () => {
    const tenant = unique('classes')
    await upload(server, { tenant, namespace: 'media', storageClass: 'hot' }, '12345')
    await upload(server, { tenant, namespace: 'media', storageClass: 'cold' }, '12345')
    await upload(server, { tenant, namespace: 'other', storageClass: 'cold' }, '12345')
    expect(await usageOf(server, tenant)).toEqual({
      tenant_id: tenant,
      objects: 3,
      logical_bytes: 15,
      physical_bytes: 10,
      by_namespace: [row('media', 'cold', 1, 5, 5), row('media', 'hot', 1, 5, 5), row('other', 'cold', 1, 5, 5)],
    })
  })

  test('deleted objects and other tenants are not counted', async () => {
    const tenant = unique('mine')
    const other = unique('theirs')
    await upload(server, { tenant, namespace: 'docs' }, 'kept')
    const gone = await upload(server, { tenant, namespace: 'docs' }, 'deleted bytes')
    const goneAlone = await upload(server, { tenant, namespace: 'trash' }, 'only here')
    for (const { id } of [gone, goneAlone]) {
      expect((await fetch(`${server.url}/v1/objects/${id}?tenant_id=${tenant}`, { method: 'DELETE' })).status).toBe(204)
    }
    // Another tenant holding the same blob and more changes nothing here.
    await upload(server, { tenant: other, namespace: 'docs' }, 'kept')
    await upload(server, { tenant: other, namespace: 'docs' }, 'theirs alone')
    expect(await usageOf(server, tenant)).toEqual({ tenant_id: tenant, objects: 1, logical_bytes: 4, physical_bytes: 4, by_namespace: [row('docs', 'hot', 1, 4, 4)] })
    expect(await usageOf(server, other)).toEqual({ tenant_id: other, objects: 2, logical_bytes: 16, physical_bytes: 16, by_namespace: [row('docs', 'hot', 2, 16, 16)] })
  })

  test('a blob first counted in a namespace that is then emptied still counts once for the tenant', async () => {
    const tenant = unique('moved')
    const first = await upload(server, { tenant, namespace: 'first' }, 'kept elsewhere')
    await upload(server, { tenant, namespace: 'second' }, 'kept elsewhere')
    expect((await fetch(`${server.url}/v1/objects/${first.id}?tenant_id=${tenant}`, { method: 'DELETE' })).status).toBe(204)
    expect(await usageOf(server, tenant)).toEqual({ tenant_id: tenant, objects: 1, logical_bytes: 14, physical_bytes: 14, by_namespace: [row('second', 'hot', 1, 14, 14)] })
    // The charge kept by the emptied namespace is no drift for fsck.
    expect((await checkConsistency(server.database.db, server.store.blobs)).wrongUsage).toEqual([])
  })

  test('empty objects count as objects of zero bytes', async () => {
    const tenant = unique('zero')
    await upload(server, { tenant, namespace: 'n' }, '')
    expect(await usageOf(server, tenant)).toEqual({ tenant_id: tenant, objects: 1, logical_bytes: 0, physical_bytes: 0, by_namespace: [row('n', 'hot', 1, 0, 0)] })
  })

  test('rows are sorted by namespace then storage class in byte order, the same on every backend', async () => {
    const tenant = unique('order')
    for (const [namespace, storageClass] of [['zeta', 'hot'], ['alpha', 'hot'], ['a_b', 'hot'], ['alpha', 'cold'], ['a-b', 'hot'], ['a0', 'cold']] as const) {
      await upload(server, { tenant, namespace, storageClass }, 'x')
    }
    const body = await usageOf(server, tenant)
    expect(body.by_namespace.map((r: { namespace: string; storage_class: string }) => `${r.namespace}/${r.storage_class}`)).toEqual([
      'a-b/hot',
      'a0/cold',
      'a_b/hot',
      'alpha/cold',
      'alpha/hot',
      'zeta/hot',
    ])
  })

  test('the tenant may come from X-Tenant; query and header disagreeing → 400', async () => {
    const tenant = unique('header')
    await upload(server, { tenant, namespace: 'h' }, 'abc')
    const response = await usage(server, '', { 'x-tenant': tenant })
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ tenant_id: tenant, objects: 1, logical_bytes: 3, physical_bytes: 3, by_namespace: [row('h', 'hot', 1, 3, 3)], ...noQuotas })
    await expectError(await usage(server, `?tenant_id=${tenant}`, { 'x-tenant': 'someone-else' }), 400, 'bad_request')
  })

  test('an admin must name the tenant; a malformed tenant → 400', async () => {
    await expectError(await usage(server, ''), 400, 'invalid_tenant')
    await expectError(await usage(server, '?tenant_id=-bad'), 400, 'invalid_tenant')
  })

  test('the query reads only the usage counters of the tenant, never its objects', async () => {
    const tenant = unique('plan')
    await upload(server, { tenant, namespace: 'p' }, 'plan')
    // Tiny tables are cheaper to scan whole; forbid that so the plan shows which index serves the query.
    const plan = await server.database.db.transaction(async (tx) => {
      await tx.execute(sql`set local enable_seqscan = off`)
      const result = await tx.execute(sql`explain (format json) ${usageQuery(server.database.db, tenant).getSQL()}`)
      return JSON.stringify(result)
    })
    expect(plan).toContain('usage_counters_tenant_id_namespace_storage_class_slot_pk')
    expect(plan).not.toContain('"objects"')
    expect(plan).not.toContain('Seq Scan')
  })

  test('concurrent uploads, replaces and deletes of shared bytes leave the counters exact', async () => {
    const tenant = unique('race')
    const bodies = ['same bytes', 'other bytes', 'third body!']
    const put = (namespace: string, key: string, body: string) =>
      fetch(`${server.url}/v1/objects/by-key/${namespace}/${tenant}/${key}`, { method: 'PUT', body, headers: { 'x-overwrite': 'true' } })
    const ids: string[] = []
    // 64 writers at once: the same bytes in two namespaces and both classes, keys replaced by equal and by other bytes.
    await Promise.all(
      Array.from({ length: 64 }, async (_, i) => {
        const namespace = i % 2 === 0 ? 'left' : 'right'
        const { id } = await upload(server, { tenant, namespace, storageClass: i % 3 === 0 ? 'cold' : 'hot' }, bodies[i % 3]!)
        ids.push(id)
        for (let round = 0; round < 3; round++) expect((await put(namespace, `key-${i % 8}`, bodies[(i + round) % 3]!)).status).toBeOneOf([200, 201])
      }),
    )
    await Promise.all(ids.filter((_, i) => i % 4 !== 0).map(async (id) => expect((await fetch(`${server.url}/v1/objects/${id}?tenant_id=${tenant}`, { method: 'DELETE' })).status).toBe(204)))
    const exact = await server.database.db.execute(sql`
      select namespace, storage_class::text, objects::int, logical_bytes::int, physical_bytes::int, tenant_physical_bytes::int
      from exact_usage() where tenant_id = ${tenant} order by namespace, storage_class::text collate "C"`)
    const expected = (exact as unknown as { namespace: string; storage_class: 'hot' | 'cold'; objects: number; logical_bytes: number; physical_bytes: number; tenant_physical_bytes: number }[])
    const body = await usageOf(server, tenant)
    expect(body.by_namespace).toEqual(expected.map((r) => row(r.namespace, r.storage_class, r.objects, r.logical_bytes, r.physical_bytes)))
    expect(body.physical_bytes).toBe(expected.reduce((total, r) => total + r.tenant_physical_bytes, 0))
    // A quarter of the 64 unkeyed uploads, and the 8 keys (each in one namespace).
    expect(body.objects).toBe(16 + 8)
  })

  test("counters of closed connections are folded into one row per namespace and class, the totals unchanged", async () => {
    const tenant = unique('fold')
    await upload(server, { tenant, namespace: 'kept' }, 'through the service')
    // Commits on connections that then close, as pool connections come and go.
    for (let i = 0; i < 3; i++) {
      const connection = connectPostgres(server.databaseUrl, { max: 1 })
      await connection`select commit_object(gen_random_uuid(), 'kept', ${tenant}, null, 'hot', ${`sha256:${String(i).repeat(64)}`}, 5, 'text/plain', '{}',
        ${Buffer.from('bytes')}, false, 'reject', null)`
      await connection.end()
    }
    const before = await usageOf(server, tenant)
    expect(before).toMatchObject({ objects: 4, logical_bytes: 34, physical_bytes: 34 })
    const rowsOfTenant = async () => Number((await server.database.db.execute(sql`select count(*)::int as n from usage_counters where tenant_id = ${tenant}`) as unknown as { n: number }[])[0]!.n)
    expect(await rowsOfTenant()).toBeGreaterThanOrEqual(4)
    expect(await foldUsageCounters(server.database.db)).toBeGreaterThanOrEqual(3)
    // The service's own connection may stay open: at most its row beside the folded one.
    expect(await rowsOfTenant()).toBeLessThanOrEqual(2)
    expect(await usageOf(server, tenant)).toEqual(before)
  })
})

describe.each(storageBackends)('usage with authentication on %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend, { auth: true })
  }, 60_000)
  afterAll(() => server.stop())

  async function apiKey(body: Record<string, unknown>): Promise<Record<string, string>> {
    const response = await fetch(`${server.url}/v1/api-keys`, {
      method: 'POST',
      headers: { ...asAdmin, 'content-type': 'application/json' },
      body: JSON.stringify({ name: unique('key'), ...body }),
    })
    expect(response.status).toBe(201)
    return { authorization: `Bearer ${(await response.json()).key}` }
  }

  test("a tenant key sees its own tenant's usage, named or not; naming another tenant → 403", async () => {
    const tenant = unique('own')
    const other = unique('other')
    await upload(server, { tenant, namespace: 'a' }, 'mine', asAdmin)
    await upload(server, { tenant: other, namespace: 'a' }, 'not mine', asAdmin)
    const key = await apiKey({ tenant_id: tenant, permissions: ['objects:read'] })
    const expected = { tenant_id: tenant, objects: 1, logical_bytes: 4, physical_bytes: 4, by_namespace: [row('a', 'hot', 1, 4, 4)] }
    const unnamed = await usage(server, '', key)
    expect(unnamed.status).toBe(200)
    expect(await unnamed.json()).toEqual({ ...expected, ...noQuotas })
    expect(await usageOf(server, tenant, key)).toEqual(expected)
    await expectError(await usage(server, `?tenant_id=${other}`, key), 403, 'forbidden')
    await expectError(await usage(server, '', { ...key, 'x-tenant': other }), 403, 'forbidden')
  })

  test('a namespace-restricted key counts only its namespaces', async () => {
    const tenant = unique('restricted')
    await upload(server, { tenant, namespace: 'open' }, 'shared', asAdmin)
    await upload(server, { tenant, namespace: 'hidden' }, 'shared', asAdmin)
    await upload(server, { tenant, namespace: 'hidden' }, 'secret bytes', asAdmin)
    await upload(server, { tenant, namespace: 'also-open', storageClass: 'cold' }, 'cold', asAdmin)
    const key = await apiKey({ tenant_id: tenant, permissions: ['objects:read'], namespaces: ['open', 'also-open'] })
    expect(await usageOf(server, tenant, key)).toEqual({
      tenant_id: tenant,
      objects: 2,
      logical_bytes: 10,
      physical_bytes: 10,
      by_namespace: [row('also-open', 'cold', 1, 4, 4), row('open', 'hot', 1, 6, 6)],
    })
    // The admin sees the whole tenant, deduplicated across namespaces.
    expect((await usageOf(server, tenant, asAdmin)).physical_bytes).toBe(22)
    // Restricted to namespaces sharing a blob, the total counts it once; to one, that namespace's blobs.
    const both = await apiKey({ tenant_id: tenant, permissions: ['objects:read'], namespaces: ['open', 'hidden'] })
    expect(await usageOf(server, tenant, both)).toMatchObject({ objects: 3, logical_bytes: 24, physical_bytes: 18 })
    const one = await apiKey({ tenant_id: tenant, permissions: ['objects:read'], namespaces: ['hidden'] })
    expect(await usageOf(server, tenant, one)).toMatchObject({ objects: 2, logical_bytes: 18, physical_bytes: 18 })
  })

  test('a key without objects:read → 403; no credential → 401; an unknown one → 401', async () => {
    const tenant = unique('perm')
    const writer = await apiKey({ tenant_id: tenant, permissions: ['objects:write', 'objects:delete'] })
    await expectError(await usage(server, '', writer), 403, 'forbidden')
    const anonymous = await usage(server, `?tenant_id=${tenant}`)
    expect(anonymous.headers.get('www-authenticate')).toStartWith('Bearer')
    await expectError(anonymous, 401, 'unauthenticated')
    await expectError(await usage(server, `?tenant_id=${tenant}`, { authorization: 'Bearer not-a-real-secret' }), 401, 'unauthenticated')
  })

  test('the admin token must name a tenant and may name any', async () => {
    const tenant = unique('admin')
    await upload(server, { tenant, namespace: 'z' }, 'zz', asAdmin)
    await expectError(await usage(server, '', asAdmin), 400, 'invalid_tenant')
    expect(await usageOf(server, tenant, asAdmin)).toEqual({ tenant_id: tenant, objects: 1, logical_bytes: 2, physical_bytes: 2, by_namespace: [row('z', 'hot', 1, 2, 2)] })
  })
})
