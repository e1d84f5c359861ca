import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { and, asc, desc, eq, sql } from 'drizzle-orm'
import { objects } from '../../core/db/schema'
import { listingQuery } from '../../core/listing'
import { storageBackends, startServer, type TestServer } from '../support/server'

interface ObjectJson {
  id: string
  namespace: string
  tenant_id: string
  key: string | null
  storage_class: string
  created_at: string
}

interface PageJson {
  objects: ObjectJson[]
  next_cursor: string | null
}

const tenant = 'acme'

async function upload(server: TestServer, params: Record<string, string>, body = 'x'): Promise<ObjectJson> {
  const res = await fetch(`${server.url}/v1/objects?${new URLSearchParams({ tenant_id: tenant, ...params })}`, { method: 'POST', body })
  expect(res.status).toBe(201)
  return (await res.json()) as ObjectJson
}

/** Uploads in concurrent batches: fast, and commits interleave the way real clients' do. */
async function uploadMany(server: TestServer, count: number, params: (i: number) => Record<string, string>): Promise<ObjectJson[]> {
  const created: ObjectJson[] = []
  for (let start = 0; start < count; start += 25) {
    const batch = Array.from({ length: Math.min(25, count - start) }, (_, j) => upload(server, params(start + j), `body ${start + j}`))
    created.push(...(await Promise.all(batch)))
  }
  return created
}

async function remove(server: TestServer, id: string) {
  const res = await fetch(`${server.url}/v1/objects/${id}?tenant_id=${tenant}`, { method: 'DELETE' })
  expect(res.status).toBe(204)
}

async function list(server: TestServer, params: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}/v1/objects?${new URLSearchParams(params)}`, { headers })
  return { res, body: (await res.json()) as PageJson & { code?: string; request_id?: string } }
}

async function page(server: TestServer, params: Record<string, string>): Promise<PageJson> {
  const { res, body } = await list(server, { tenant_id: tenant, ...params })
  expect(res.status).toBe(200)
  return body
}

async function expectError(server: TestServer, params: Record<string, string>, code: string) {
  const { res, body } = await list(server, params)
  expect(res.status).toBe(400)
  expect(body.code).toBe(code)
  expect(body.request_id).toBe(res.headers.get('x-request-id')!)
}

/** Every page until next_cursor is null; checks page sizes on the way. */
async function walk(
  server: TestServer,
  params: Record<string, string>,
  limit: number,
  between?: (pageNumber: number, seen: ObjectJson[]) => Promise<void>,
) {
  const seen: ObjectJson[] = []
  let cursor: string | null = null
  for (let pageNumber = 1; ; pageNumber++) {
    const body: PageJson = await page(server, { ...params, limit: String(limit), ...(cursor ? { cursor } : {}) })
    expect(body.objects.length).toBeLessThanOrEqual(limit)
    seen.push(...body.objects)
    if (body.next_cursor === null) break
    expect(body.objects.length).toBe(limit)
    cursor = body.next_cursor
    await between?.(pageNumber, seen)
  }
  return seen
}

const ids = (list: { id: string }[]) => list.map((o) => o.id)
const keys = (list: { key: string | null }[]) => list.map((o) => o.key)

describe.each(storageBackends)('GET /v1/objects on %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend)
  })
  afterAll(() => server.stop())

  /** The committed objects of a namespace in keyset order, straight from the database. */
  async function stored(namespace: string, order: 'asc' | 'desc') {
    const direction = order === 'desc' ? desc : asc
    const rows = await server.database.db
      .select({ id: objects.id })
      .from(objects)
      .where(and(eq(objects.tenantId, tenant), eq(objects.namespace, namespace), eq(objects.status, 'COMMITTED')))
      .orderBy(direction(objects.createdAt), direction(objects.id))
    return ids(rows)
  }

  describe('required parameters', () => {
    test('namespace is required and validated', async () => {
      await expectError(server, { tenant_id: tenant }, 'invalid_namespace')
      await expectError(server, { tenant_id: tenant, namespace: '' }, 'invalid_namespace')
      await expectError(server, { tenant_id: tenant, namespace: 'no spaces' }, 'invalid_namespace')
      await expectError(server, { tenant_id: tenant, namespace: 'n'.repeat(65) }, 'invalid_namespace')
    })

    test('tenant is required and validated', async () => {
      await expectError(server, { namespace: 'req' }, 'invalid_tenant')
      await expectError(server, { namespace: 'req', tenant_id: '' }, 'invalid_tenant')
      await expectError(server, { namespace: 'req', tenant_id: '.starts-with-dot' }, 'invalid_tenant')
    })

    test('namespace and tenant may come as headers; query and header disagreeing is a 400', async () => {
      const object = await upload(server, { namespace: 'hdr' })
      const { res, body } = await list(server, {}, { 'x-namespace': 'hdr', 'x-tenant': tenant })
      expect(res.status).toBe(200)
      expect(ids(body.objects)).toEqual([object.id])
      const conflict = await list(server, { namespace: 'hdr', tenant_id: tenant }, { 'x-tenant': 'other' })
      expect(conflict.res.status).toBe(400)
      expect(conflict.body.code).toBe('bad_request')
    })

    test('an empty namespace lists nothing rather than failing', async () => {
      expect(await page(server, { namespace: 'never-used' })).toEqual({ objects: [], next_cursor: null })
    })
  })

  describe('with 250 objects', () => {
    const namespace = 'walk'
    let created: ObjectJson[]
    beforeAll(async () => {
      created = await uploadMany(server, 250, (i) => ({ namespace, key: `k${i}` }))
    })

    test('limit defaults to 100 and accepts 1 to 1000', async () => {
      const first = await page(server, { namespace })
      expect(first.objects).toHaveLength(100)
      expect(first.next_cursor).toBeString()
      expect((await page(server, { namespace, limit: '1' })).objects).toHaveLength(1)
      const all = await page(server, { namespace, limit: '1000' })
      expect(all.objects).toHaveLength(250)
      expect(all.next_cursor).toBeNull()
    })

    test('a limit outside 1..1000 or not a whole number is a 400', async () => {
      for (const limit of ['0', '1001', '-1', 'ten', '', '2.5', '1e2']) {
        await expectError(server, { tenant_id: tenant, namespace, limit }, 'bad_request')
      }
    })

    test('newest first by default, oldest first with order=asc', async () => {
      const newest = await page(server, { namespace, limit: '1000' })
      expect(ids(newest.objects)).toEqual(await stored(namespace, 'desc'))
      const times = newest.objects.map((o) => Date.parse(o.created_at))
      expect(times).toEqual([...times].sort((a, b) => b - a))
      expect(ids((await page(server, { namespace, limit: '1000', order: 'desc' })).objects)).toEqual(ids(newest.objects))

      const oldest = await page(server, { namespace, limit: '1000', order: 'asc' })
      expect(ids(oldest.objects)).toEqual(ids(newest.objects).reverse())

      await expectError(server, { tenant_id: tenant, namespace, order: 'sideways' }, 'bad_request')
    })

    test.each(['desc', 'asc'] as const)('walking pages of 7 (%s) returns every object exactly once, in order', async (order) => {
      const seen = await walk(server, { namespace, order }, 7)
      expect(seen).toHaveLength(250)
      expect(ids(seen)).toEqual(await stored(namespace, order))
      expect(new Set(ids(seen))).toEqual(new Set(ids(created)))
    })

    test('a cursor the service did not issue, or issued for the other order, is invalid_cursor', async () => {
      const forge = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
      const { next_cursor: ascCursor } = await page(server, { namespace, order: 'asc', limit: '5' })
      const { next_cursor: descCursor } = await page(server, { namespace, limit: '5' })
      const bad = [
        'garbage',
        '',
        '!!!not-base64!!!',
        forge({ hello: 'world' }),
        // Well-shaped but values the database would choke on: still the client's mistake, not a 500.
        forge(['1', '------------------------------------', 'desc']),
        forge(['2024-01-01 00:00:00+00', 'not-a-uuid-but-thirty-six-characters', 'desc']),
        forge(['2024-02-30 00:00:00+00', '00000000-0000-0000-0000-000000000000', 'desc']),
        ascCursor!,
      ]
      for (const cursor of bad) await expectError(server, { tenant_id: tenant, namespace, cursor }, 'invalid_cursor')
      await expectError(server, { tenant_id: tenant, namespace, cursor: descCursor!, order: 'asc' }, 'invalid_cursor')
    })
  })

  test.each(['desc', 'asc'] as const)('objects created and deleted mid-walk (%s) cause no duplicates or skips of the rest', async (order) => {
    const namespace = `churn-${order}`
    const initial = await uploadMany(server, 60, (i) => ({ namespace, key: `k${i}` }))
    const initialOrder = await stored(namespace, order)
    const deleted = new Set<string>()
    const added: string[] = []

    const seen = await walk(server, { namespace, order }, 7, async (pageNumber, seenSoFar) => {
      if (pageNumber !== 1 && pageNumber !== 4) return
      // Delete objects the walk has not reached yet, and add new ones.
      const reached = new Set(ids(seenSoFar))
      const ahead = initialOrder.filter((id) => !reached.has(id) && !deleted.has(id))
      const victims = [ahead[3]!, ahead[10]!, ahead[ahead.length - 1]!]
      await Promise.all(victims.map((id) => remove(server, id)))
      victims.forEach((id) => deleted.add(id))
      added.push(...ids(await uploadMany(server, 5, (i) => ({ namespace, key: `new-${pageNumber}-${i}` }))))
    })

    const counts = new Map<string, number>()
    for (const id of ids(seen)) counts.set(id, (counts.get(id) ?? 0) + 1)
    expect([...counts.values()].every((n) => n === 1)).toBe(true)
    const survivors = initialOrder.filter((id) => !deleted.has(id))
    expect(deleted.size).toBe(6)
    expect(ids(seen).filter((id) => !added.includes(id))).toEqual(survivors)
    expect(new Set(ids(initial))).toEqual(new Set(initialOrder))
  })

  test('prefix matches keys literally: "/" is ordinary, "%" and "_" are not wildcards', async () => {
    const namespace = 'prefix'
    const all = [
      'photos/2024/a.jpg', 'photos/2024/b.jpg', 'photos/2025/c.jpg', 'photosx', 'Photos/2024/upper.jpg',
      'p%x/1', 'pax/1', 'p_y/1', 'pby/1', 'sp ace/1', 'ünï/1',
    ]
    await Promise.all(all.map((key) => upload(server, { namespace, key })))
    await upload(server, { namespace })

    const withPrefix = async (prefix: string) => keys((await page(server, { namespace, prefix })).objects).sort()
    expect(await withPrefix('photos/2024/')).toEqual(['photos/2024/a.jpg', 'photos/2024/b.jpg'])
    expect(await withPrefix('photos/')).toEqual(['photos/2024/a.jpg', 'photos/2024/b.jpg', 'photos/2025/c.jpg'])
    expect(await withPrefix('photos')).toEqual(['photos/2024/a.jpg', 'photos/2024/b.jpg', 'photos/2025/c.jpg', 'photosx'])
    expect(await withPrefix('p%')).toEqual(['p%x/1'])
    expect(await withPrefix('p_')).toEqual(['p_y/1'])
    expect(await withPrefix('sp ace')).toEqual(['sp ace/1'])
    expect(await withPrefix('ünï')).toEqual(['ünï/1'])
    expect(await withPrefix('nothing')).toEqual([])
  })

  test('storage_class filters, case-insensitively; an unknown or empty class is a 400', async () => {
    const namespace = 'classes'
    const hot = await upload(server, { namespace, key: 'h' })
    const cold = await upload(server, { namespace, key: 'c', storage_class: 'cold' })
    expect(ids((await page(server, { namespace, storage_class: 'cold' })).objects)).toEqual([cold.id])
    expect(ids((await page(server, { namespace, storage_class: 'HOT' })).objects)).toEqual([hot.id])
    expect((await page(server, { namespace })).objects).toHaveLength(2)
    await expectError(server, { tenant_id: tenant, namespace, storage_class: 'warm' }, 'invalid_storage_class')
    await expectError(server, { tenant_id: tenant, namespace, storage_class: '' }, 'invalid_storage_class')
  })

  describe('created_after and created_before', () => {
    const namespace = 'times'
    let a: ObjectJson, b: ObjectJson, c: ObjectJson
    beforeAll(async () => {
      const made = await uploadMany(server, 3, (i) => ({ namespace, key: `t${i}` }))
      // Pin creation times with sub-millisecond parts: clients see milliseconds, the database keeps microseconds.
      const times = ['2021-03-04 05:06:07.123456+00', '2021-03-04 05:06:07.124000+00', '2021-03-04 05:06:08.000001+00']
      for (const [i, object] of made.entries()) {
        await server.database.db.update(objects).set({ createdAt: times[i]! }).where(eq(objects.id, object.id))
      }
      const listed = (await page(server, { namespace, order: 'asc' })).objects
      ;[a, b, c] = listed as [ObjectJson, ObjectJson, ObjectJson]
      expect(listed.map((o) => o.created_at)).toEqual(['2021-03-04T05:06:07.123Z', '2021-03-04T05:06:07.124Z', '2021-03-04T05:06:08.000Z'])
    })

    const keysWithin = async (params: Record<string, string>) => keys((await page(server, { namespace, order: 'asc', ...params })).objects)

    test('bounds are exclusive at the precision clients see', async () => {
      expect(await keysWithin({ created_after: a.created_at })).toEqual([b.key, c.key])
      expect(await keysWithin({ created_before: c.created_at })).toEqual([a.key, b.key])
      expect(await keysWithin({ created_after: a.created_at, created_before: c.created_at })).toEqual([b.key])
      expect(await keysWithin({ created_after: c.created_at })).toEqual([])
      expect(await keysWithin({ created_before: a.created_at })).toEqual([])
    })

    test('other offsets and finer precision are understood', async () => {
      expect(await keysWithin({ created_after: '2021-03-04T06:06:07.123+01:00' })).toEqual([b.key, c.key])
      expect(await keysWithin({ created_before: '2021-03-04T05:06:07.1235Z' })).toEqual([a.key])
      expect(await keysWithin({ created_after: '2021-03-04T05:06:07Z' })).toEqual([a.key, b.key, c.key])
      expect(await keysWithin({ created_before: '2021-03-04t05:06:08z' })).toEqual([a.key, b.key])
    })

    test('a malformed or impossible time is a 400, never a 500', async () => {
      const malformed = [
        'yesterday', '2021-03-04', '2021-03-04T05:06:07', '1614834367', '',
        '2021-02-30T00:00:00Z', '2021-13-01T00:00:00Z', '2021-01-01T25:00:00Z', '2021-01-01T00:61:00Z', '2021-01-01T00:00:00+24:00',
      ]
      for (const time of malformed) {
        await expectError(server, { tenant_id: tenant, namespace, created_after: time }, 'bad_request')
        await expectError(server, { tenant_id: tenant, namespace, created_before: time }, 'bad_request')
      }
    })

    test('extreme but valid times answer normally', async () => {
      expect(await keysWithin({ created_after: '0000-01-01T00:00:00Z' })).toEqual([a.key, b.key, c.key])
      expect(await keysWithin({ created_before: '0001-01-01T00:00:00+01:00' })).toEqual([])
      expect(await keysWithin({ created_before: '9999-12-31T23:59:59.999-23:59' })).toEqual([a.key, b.key, c.key])
      expect(await keysWithin({ created_after: '9999-12-31T23:59:59.999-23:59' })).toEqual([])
    })
  })

  test("other tenants' and other namespaces' objects never appear", async () => {
    const mine = await upload(server, { namespace: 'iso', key: 'same' })
    await upload(server, { namespace: 'iso', key: 'same', tenant_id: 'acme2' })
    await upload(server, { namespace: 'iso', key: 'same', tenant_id: 'ACME' })
    await upload(server, { namespace: 'iso2', key: 'same' })
    expect(ids((await page(server, { namespace: 'iso' })).objects)).toEqual([mine.id])
    // Namespaces compare lowercased; tenants are case-sensitive.
    expect(ids((await page(server, { namespace: 'ISO' })).objects)).toEqual([mine.id])
  })

  test('deleted objects never appear', async () => {
    const namespace = 'deleted'
    const made = await uploadMany(server, 5, (i) => ({ namespace, key: `d${i}` }))
    await remove(server, made[1]!.id)
    await remove(server, made[3]!.id)
    const alive = [made[0]!.id, made[2]!.id, made[4]!.id].sort()
    expect(ids((await page(server, { namespace })).objects).sort()).toEqual(alive)
    expect(ids(await walk(server, { namespace }, 1)).sort()).toEqual(alive)
    expect(ids((await page(server, { namespace, prefix: 'd1' })).objects)).toEqual([])
  })

  test('every response carries X-Request-Id, errors too, echoing a well-formed client id', async () => {
    const ok = await list(server, { tenant_id: tenant, namespace: 'rid' }, { 'x-request-id': 'client-id.1:2' })
    expect(ok.res.status).toBe(200)
    expect(ok.res.headers.get('x-request-id')).toBe('client-id.1:2')
    const failed = await list(server, { tenant_id: tenant, namespace: 'rid', limit: '0' }, { 'x-request-id': 'client-id-3' })
    expect(failed.res.status).toBe(400)
    expect(failed.res.headers.get('x-request-id')).toBe('client-id-3')
    expect(failed.body.request_id).toBe('client-id-3')
    const invented = await list(server, { namespace: 'rid' }, { 'x-request-id': 'bad id with spaces' })
    expect(invented.res.status).toBe(400)
    const id = invented.res.headers.get('x-request-id')!
    expect(id).toMatch(/^[A-Za-z0-9._:-]{1,128}$/)
    expect(invented.body.request_id).toBe(id)
  })
})

describe('listing deep in a large namespace on postgres', () => {
  const namespace = 'deep'
  const total = 20_000
  let server: TestServer
  beforeAll(async () => {
    server = await startServer('postgres')
    // Three objects share each creation time, so the id tie-break matters at every depth.
    await server.database.db.execute(sql`
      insert into objects (id, namespace, tenant_id, key, status, storage_class, content_hash, size_bytes, content_type, metadata, created_at, updated_at)
      select gen_random_uuid(), ${namespace}, ${tenant}, 'k' || i, 'COMMITTED', 'hot', 'sha256:' || repeat('0', 64), i,
             'application/octet-stream', '{}'::jsonb,
             timestamptz '2024-01-01 00:00:00+00' + (i / 3) * interval '1 millisecond', now()
      from generate_series(1, ${total}) as i`)
    // Noise in the same table: other tenants, other namespaces, rows that are not visible.
    await server.database.db.execute(sql`
      insert into objects (id, namespace, tenant_id, key, status, storage_class, content_type, metadata, created_at, updated_at)
      select gen_random_uuid(), case when i % 2 = 0 then ${namespace} else 'other' end, case when i % 3 = 0 then ${tenant} else 'someone' end,
             'n' || i, case when i % 5 = 0 then 'DELETED'::object_status else 'COMMITTED'::object_status end, 'hot',
             'application/octet-stream', '{}'::jsonb, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 millisecond', now()
      from generate_series(1, ${total}) as i
      where not (i % 2 = 0 and i % 3 = 0 and i % 5 <> 0)`)
    await server.database.db.execute(sql`analyze objects`)
  })
  afterAll(() => server.stop())

  /** The cursor after the first 10 000 objects in an order, reached the way a client would. */
  async function cursorAtDepth(order: 'asc' | 'desc'): Promise<string> {
    let cursor: string | null = null
    for (let i = 0; i < 10; i++) {
      const body: PageJson = await page(server, { namespace, order, limit: '1000', ...(cursor ? { cursor } : {}) })
      expect(body.objects).toHaveLength(1000)
      cursor = body.next_cursor
    }
    return cursor!
  }

  test.each(['desc', 'asc'] as const)('the page at depth 10 000 (%s) is the right one and one range scan of objects_listing_idx', async (order) => {
    const cursor = await cursorAtDepth(order)
    const deep = await page(server, { namespace, order, limit: '100', cursor })
    const direction = order === 'desc' ? desc : asc
    const expected = await server.database.db
      .select({ id: objects.id })
      .from(objects)
      .where(and(eq(objects.tenantId, tenant), eq(objects.namespace, namespace), eq(objects.status, 'COMMITTED')))
      .orderBy(direction(objects.createdAt), direction(objects.id))
      .offset(10_000)
      .limit(100)
    expect(ids(deep.objects)).toEqual(ids(expected))
    expect(deep.next_cursor).toBeString()

    const query = listingQuery(server.database.db, { tenantId: tenant, namespace, limit: 100, cursor, order })
    const result = await server.database.db.execute(sql`explain (analyze, format json) ${query.getSQL()}`)
    const plan = (result as unknown as { 'QUERY PLAN': { Plan: PlanNode }[] }[])[0]!['QUERY PLAN'][0]!.Plan
    const nodes = flatten(plan)
    // No Seq Scan and no Sort: the index hands rows over in page order.
    expect(nodes.map((n) => n['Node Type'])).toEqual(['Limit', expect.stringMatching(/^Index (Only )?Scan$/)])
    const scan = nodes[1]!
    expect(scan['Index Name']).toBe('objects_listing_idx')
    expect(scan['Scan Direction']).toBe(order === 'desc' ? 'Backward' : 'Forward')
    // The cursor bound is in the index condition, so the scan starts at the cursor instead of skipping 10 000 rows.
    expect(scan['Index Cond']).toContain('created_at')
    expect(scan['Actual Rows']).toBe(101)
    expect(scan['Rows Removed by Filter'] ?? 0).toBe(0)
  })
})

interface PlanNode {
  'Node Type': string
  'Index Name'?: string
  'Scan Direction'?: string
  'Index Cond'?: string
  'Actual Rows'?: number
  'Rows Removed by Filter'?: number
  Plans?: PlanNode[]
}

function flatten(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(flatten)]
}
