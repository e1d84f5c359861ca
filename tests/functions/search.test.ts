import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { objects } from '../../core/db/schema'
import { storageBackends, startServer, type TestServer } from '../support/server'

interface ObjectJson {
  id: string
  key: string | null
  size_bytes: number
  created_at: string
}

interface SearchResponse {
  objects: ObjectJson[]
  next_cursor: string | null
  code?: string
  request_id?: string
}

const tenant = 'searcher'
const namespace = 'found'

interface Seed {
  key?: string
  size: number
  contentType?: string
  storageClass?: string
  metadata?: Record<string, unknown>
  tenant?: string
  namespace?: string
}

const seeds: Seed[] = [
  { key: 'logs/app/2024.txt', size: 10, contentType: 'text/plain', metadata: { env: 'prod', tags: ['x', 'y'], owner: { team: 'a', region: 'eu' } } },
  { key: 'logs/db/2024.txt', size: 20, contentType: 'Text/Plain', storageClass: 'cold', metadata: { env: 'dev', tags: ['y'] } },
  { key: 'images/cat.png', size: 30, contentType: 'image/png', metadata: { env: 'prod', owner: { team: 'b' }, dims: [[1, 2], [3, 4]] } },
  { key: 'Logs/upper.txt', size: 40, contentType: 'text/plain; charset=utf-8', storageClass: 'cold', metadata: { n: 1, ok: true, none: null } },
  { key: 'a%b', size: 1 },
  { key: 'axb', size: 2 },
  { key: 'a_b', size: 3 },
  { key: 'acb', size: 4 },
  { size: 5, contentType: 'application/json' },
  // Same names elsewhere: never part of any answer below.
  { key: 'logs/app/2024.txt', size: 10, contentType: 'text/plain', metadata: { env: 'prod' }, tenant: 'someone-else' },
  { key: 'logs/app/2024.txt', size: 10, contentType: 'text/plain', metadata: { env: 'prod' }, namespace: 'elsewhere' },
]

describe.each(storageBackends)('POST /v1/objects/search on %s', (backend) => {
  let server: TestServer
  const byKey = new Map<string | null, ObjectJson>()

  beforeAll(async () => {
    server = await startServer(backend)
    // Sequential, so creation order (and the default newest-first order) is the seed order reversed.
    for (const seed of seeds) {
      const params = new URLSearchParams({
        namespace: seed.namespace ?? namespace,
        tenant_id: seed.tenant ?? tenant,
        storage_class: seed.storageClass ?? 'hot',
        ...(seed.key === undefined ? {} : { key: seed.key }),
      })
      const headers: Record<string, string> = { 'content-type': seed.contentType ?? 'application/octet-stream' }
      if (seed.metadata) headers['x-metadata'] = JSON.stringify(seed.metadata)
      const res = await fetch(`${server.url}/v1/objects?${params}`, { method: 'POST', body: 'z'.repeat(seed.size), headers })
      expect(res.status).toBe(201)
      const object = (await res.json()) as ObjectJson
      if (!seed.tenant && !seed.namespace) byKey.set(seed.key ?? null, object)
    }
  })
  afterAll(() => server.stop())

  async function post(body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) {
    const res = await fetch(`${server.url}/v1/objects/search`, {
      method: 'POST',
      headers,
      body: typeof body === 'string' ? body : JSON.stringify(body),
    })
    return { res, body: (await res.json()) as SearchResponse }
  }

  /** Keys matching the filters, in the default order (newest first). */
  async function search(filters: Record<string, unknown>): Promise<(string | null)[]> {
    const { res, body } = await post({ namespace, tenant_id: tenant, limit: 1000, ...filters })
    expect(res.status).toBe(200)
    expect(body.next_cursor).toBeNull()
    return body.objects.map((o) => o.key)
  }

  // The seed keys in default (newest-first) order, restricted to the given ones.
  const newestFirst = (...keys: (string | null)[]) =>
    seeds.filter((s) => !s.tenant && !s.namespace).map((s) => s.key ?? null).reverse().filter((k) => keys.includes(k))

  async function expectError(body: unknown, status: number, code: string, headers?: Record<string, string>) {
    const { res, body: error } = await post(body, headers)
    expect(res.status).toBe(status)
    expect(error.code).toBe(code)
    expect(error.request_id).toBe(res.headers.get('x-request-id')!)
  }

  test('no filters: every object of the tenant in the namespace, newest first', async () => {
    expect(await search({})).toEqual(newestFirst(...seeds.map((s) => s.key ?? null)))
    expect(await search({ order: 'asc' })).toEqual(newestFirst(...seeds.map((s) => s.key ?? null)).reverse())
  })

  test('key_prefix is literal and case-sensitive', async () => {
    expect(await search({ key_prefix: 'logs/' })).toEqual(newestFirst('logs/app/2024.txt', 'logs/db/2024.txt'))
    expect(await search({ key_prefix: 'Logs/' })).toEqual(['Logs/upper.txt'])
    expect(await search({ key_prefix: 'a%' })).toEqual(['a%b'])
    expect(await search({ key_prefix: 'a_' })).toEqual(['a_b'])
    expect(await search({ key_prefix: 'zzz' })).toEqual([])
  })

  test('key_contains is literal and case-sensitive: % and _ are not wildcards', async () => {
    expect(await search({ key_contains: '%' })).toEqual(['a%b'])
    expect(await search({ key_contains: '_' })).toEqual(['a_b'])
    expect(await search({ key_contains: 'a%b' })).toEqual(['a%b'])
    expect(await search({ key_contains: '2024' })).toEqual(newestFirst('logs/app/2024.txt', 'logs/db/2024.txt'))
    expect(await search({ key_contains: 'upper' })).toEqual(['Logs/upper.txt'])
    expect(await search({ key_contains: 'UPPER' })).toEqual([])
    expect(await search({ key_contains: 'b' })).toEqual(newestFirst('logs/db/2024.txt', 'a%b', 'axb', 'a_b', 'acb'))
  })

  test('content_type is exact but case-insensitive', async () => {
    expect(await search({ content_type: 'text/plain' })).toEqual(newestFirst('logs/app/2024.txt', 'logs/db/2024.txt'))
    expect(await search({ content_type: 'TEXT/PLAIN' })).toEqual(newestFirst('logs/app/2024.txt', 'logs/db/2024.txt'))
    expect(await search({ content_type: 'text/plain; charset=utf-8' })).toEqual(['Logs/upper.txt'])
    expect(await search({ content_type: 'text' })).toEqual([])
    expect(await search({ content_type: 'application/json' })).toEqual([null])
  })

  test('storage_class filters, case-insensitively', async () => {
    expect(await search({ storage_class: 'cold' })).toEqual(newestFirst('logs/db/2024.txt', 'Logs/upper.txt'))
    expect(await search({ storage_class: 'COLD' })).toEqual(newestFirst('logs/db/2024.txt', 'Logs/upper.txt'))
    await expectError({ namespace, tenant_id: tenant, storage_class: 'warm' }, 400, 'invalid_storage_class')
  })

  test('min_size and max_size are inclusive', async () => {
    expect(await search({ min_size: 20 })).toEqual(newestFirst('logs/db/2024.txt', 'images/cat.png', 'Logs/upper.txt'))
    expect(await search({ max_size: 3 })).toEqual(newestFirst('a%b', 'axb', 'a_b'))
    expect(await search({ min_size: 20, max_size: 20 })).toEqual(['logs/db/2024.txt'])
    expect(await search({ min_size: 0, max_size: 0 })).toEqual([])
    expect(await search({ min_size: 21, max_size: 20 })).toEqual([])
  })

  test('created_after and created_before are exclusive', async () => {
    const timed = 'timed'
    // Pin times with sub-millisecond parts: clients see milliseconds, the database keeps microseconds.
    const pinned = ['2022-06-01 00:00:00.000500+00', '2022-06-01 00:00:00.001000+00', '2022-06-01 00:00:01.000900+00']
    for (const [i, time] of pinned.entries()) {
      const res = await fetch(`${server.url}/v1/objects?namespace=${timed}&tenant_id=${tenant}&key=t${i}`, { method: 'POST', body: 'x' })
      const { id } = (await res.json()) as ObjectJson
      await server.database.db.update(objects).set({ createdAt: time }).where(eq(objects.id, id))
    }
    const inWindow = async (filters: Record<string, unknown>) => {
      const { res, body } = await post({ namespace: timed, tenant_id: tenant, order: 'asc', ...filters })
      expect(res.status).toBe(200)
      return body.objects
    }
    const [t0, t1, t2] = (await inWindow({})) as [ObjectJson, ObjectJson, ObjectJson]
    expect([t0.created_at, t1.created_at, t2.created_at]).toEqual(['2022-06-01T00:00:00.000Z', '2022-06-01T00:00:00.001Z', '2022-06-01T00:00:01.000Z'])
    const keysOf = async (filters: Record<string, unknown>) => (await inWindow(filters)).map((o) => o.key)
    expect(await keysOf({ created_after: t0.created_at })).toEqual(['t1', 't2'])
    expect(await keysOf({ created_before: t2.created_at })).toEqual(['t0', 't1'])
    expect(await keysOf({ created_after: t0.created_at, created_before: t2.created_at })).toEqual(['t1'])
    expect(await keysOf({ created_after: '2022-06-01T02:00:00.001+02:00' })).toEqual(['t2'])
    expect(await keysOf({ created_before: '2022-05-31T23:59:59.999Z' })).toEqual([])
    for (const bad of ['2022-06-01', 'soon', '2022-02-29T00:00:00Z', '2022-06-01T00:00:00']) {
      await expectError({ namespace, tenant_id: tenant, created_after: bad }, 400, 'bad_request')
      await expectError({ namespace, tenant_id: tenant, created_before: bad }, 400, 'bad_request')
    }
  })

  test('metadata matches by containment (@>), through nested objects and arrays', async () => {
    expect(await search({ metadata: { env: 'prod' } })).toEqual(newestFirst('logs/app/2024.txt', 'images/cat.png'))
    expect(await search({ metadata: { tags: ['x'] } })).toEqual(['logs/app/2024.txt'])
    expect(await search({ metadata: { tags: ['y'] } })).toEqual(newestFirst('logs/app/2024.txt', 'logs/db/2024.txt'))
    expect(await search({ metadata: { tags: ['y', 'x'] } })).toEqual(['logs/app/2024.txt'])
    expect(await search({ metadata: { tags: [] } })).toEqual(newestFirst('logs/app/2024.txt', 'logs/db/2024.txt'))
    // Below the top level an array contains arrays, not bare scalars.
    expect(await search({ metadata: { tags: 'x' } })).toEqual([])
    expect(await search({ metadata: { owner: { team: 'a' } } })).toEqual(['logs/app/2024.txt'])
    expect(await search({ metadata: { owner: {} } })).toEqual(newestFirst('logs/app/2024.txt', 'images/cat.png'))
    expect(await search({ metadata: { owner: { team: 'a', region: 'us' } } })).toEqual([])
    expect(await search({ metadata: { dims: [[3, 4]] } })).toEqual(['images/cat.png'])
    expect(await search({ metadata: { n: 1, ok: true, none: null } })).toEqual(['Logs/upper.txt'])
    expect(await search({ metadata: { n: '1' } })).toEqual([])
    expect(await search({ metadata: {} })).toEqual(newestFirst(...seeds.map((s) => s.key ?? null)))
  })

  test('text finds every word, case-insensitively, among the words of the key and the metadata string values', async () => {
    // Keys split at punctuation: logs/app/2024.txt holds logs, app, 2024 and txt.
    expect(await search({ text: 'logs' })).toEqual(newestFirst('logs/app/2024.txt', 'logs/db/2024.txt', 'Logs/upper.txt'))
    expect(await search({ text: 'LOGS 2024' })).toEqual(newestFirst('logs/app/2024.txt', 'logs/db/2024.txt'))
    expect(await search({ text: 'app/2024.txt' })).toEqual(['logs/app/2024.txt'])
    expect(await search({ text: 'cat png' })).toEqual(['images/cat.png'])
    // Metadata string values at any depth, arrays too; numbers, booleans and property names are not words.
    expect(await search({ text: 'prod' })).toEqual(newestFirst('logs/app/2024.txt', 'images/cat.png'))
    expect(await search({ text: 'eu x' })).toEqual(['logs/app/2024.txt'])
    expect(await search({ text: 'team' })).toEqual([])
    expect(await search({ text: 'logs prod dev' })).toEqual([])
    // Whole words, not patterns or prefixes.
    expect(await search({ text: 'log' })).toEqual([])
    expect(await search({ text: 'lo%' })).toEqual([])
    expect(await search({ text: 'logs', key_prefix: 'logs/db' })).toEqual(['logs/db/2024.txt'])
  })

  test('order relevance ranks the better match first and pages through every match once', async () => {
    const ranked = 'ranked'
    const put = async (key: string, metadata: Record<string, unknown>) => {
      const res = await fetch(`${server.url}/v1/objects?namespace=${ranked}&tenant_id=${tenant}&key=${encodeURIComponent(key)}`, {
        method: 'POST',
        body: 'r',
        headers: { 'x-metadata': JSON.stringify(metadata) },
      })
      expect(res.status).toBe(201)
    }
    await put('weights/model.bin', { about: 'model model model weights' })
    for (let i = 0; i < 5; i++) await put(`other-${i}`, { about: `a model of ${i}` })
    const first = await post({ namespace: ranked, tenant_id: tenant, text: 'model', order: 'relevance', limit: 2 })
    expect(first.res.status).toBe(200)
    expect(first.body.objects[0]!.key).toBe('weights/model.bin')
    const seen = first.body.objects.map((o) => o.key)
    let cursor = first.body.next_cursor
    while (cursor) {
      const next = await post({ namespace: ranked, tenant_id: tenant, text: 'model', order: 'relevance', limit: 2, cursor })
      expect(next.res.status).toBe(200)
      seen.push(...next.body.objects.map((o) => o.key))
      cursor = next.body.next_cursor
    }
    expect([...seen].sort()).toEqual(['other-0', 'other-1', 'other-2', 'other-3', 'other-4', 'weights/model.bin'])
    // A relevance cursor is no cursor of the time order, nor the other way round.
    const timeCursor = (await post({ namespace: ranked, tenant_id: tenant, text: 'model', limit: 2 })).body.next_cursor
    await expectError({ namespace: ranked, tenant_id: tenant, text: 'model', order: 'relevance', cursor: timeCursor }, 400, 'invalid_cursor')
    await expectError({ namespace: ranked, tenant_id: tenant, text: 'model', cursor: first.body.next_cursor }, 400, 'invalid_cursor')
  })

  test('a text that is empty, too long or only punctuation, or relevance without a text → 400', async () => {
    await expectError({ namespace, tenant_id: tenant, text: '' }, 400, 'bad_request')
    await expectError({ namespace, tenant_id: tenant, text: 'w'.repeat(1001) }, 400, 'bad_request')
    await expectError({ namespace, tenant_id: tenant, text: '!?/ -' }, 400, 'bad_request')
    await expectError({ namespace, tenant_id: tenant, order: 'relevance' }, 400, 'bad_request')
    expect((await post({ namespace, tenant_id: tenant, text: 'w'.repeat(1000) })).res.status).toBe(200)
  })

  test('filters combine with AND', async () => {
    expect(await search({ key_prefix: 'logs/', storage_class: 'cold' })).toEqual(['logs/db/2024.txt'])
    expect(await search({ key_prefix: 'logs/', metadata: { env: 'dev' }, content_type: 'text/plain', min_size: 20, max_size: 20 })).toEqual(['logs/db/2024.txt'])
    expect(await search({ key_contains: '2024', metadata: { env: 'prod' }, storage_class: 'hot' })).toEqual(['logs/app/2024.txt'])
    expect(await search({ key_contains: '2024', metadata: { env: 'prod' }, storage_class: 'cold' })).toEqual([])
  })

  test('pagination with a cursor walks the filtered set once, in order', async () => {
    for (const order of ['desc', 'asc'] as const) {
      const filters = { key_prefix: 'a', order }
      const all = await search(filters)
      expect(all).toHaveLength(4)
      const walked: (string | null)[] = []
      let cursor: string | undefined
      for (;;) {
        const { res, body } = await post({ namespace, tenant_id: tenant, limit: 3, ...filters, ...(cursor ? { cursor } : {}) })
        expect(res.status).toBe(200)
        walked.push(...body.objects.map((o) => o.key))
        if (body.next_cursor === null) break
        cursor = body.next_cursor
      }
      expect(walked).toEqual(all)
    }
    const { body: first } = await post({ namespace, tenant_id: tenant, limit: 1 })
    await expectError({ namespace, tenant_id: tenant, cursor: first.next_cursor, order: 'asc' }, 400, 'invalid_cursor')
    await expectError({ namespace, tenant_id: tenant, cursor: 'nonsense' }, 400, 'invalid_cursor')
  })

  test('limit: 1..1000, default 100', async () => {
    const { body } = await post({ namespace, tenant_id: tenant, limit: 2 })
    expect(body.objects).toHaveLength(2)
    expect(body.next_cursor).toBeString()
    for (const limit of [0, 1001, -5, 2.5]) await expectError({ namespace, tenant_id: tenant, limit }, 400, 'bad_request')
  })

  test('the tenant may come from X-Tenant instead of tenant_id; disagreeing is a 400', async () => {
    const { res, body } = await post({ namespace, key_prefix: 'logs/app/' }, { 'content-type': 'application/json', 'x-tenant': tenant })
    expect(res.status).toBe(200)
    expect(body.objects.map((o) => o.key)).toEqual(['logs/app/2024.txt'])
    const other = await post({ namespace, key_prefix: 'logs/app/' }, { 'content-type': 'application/json', 'x-tenant': 'someone-else' })
    expect(other.body.objects.map((o) => o.id)).not.toContain(byKey.get('logs/app/2024.txt')!.id)
    expect(other.body.objects).toHaveLength(1)
    await expectError({ namespace, tenant_id: tenant }, 400, 'bad_request', { 'content-type': 'application/json', 'x-tenant': 'someone-else' })
  })

  test('namespace compares lowercased', async () => {
    expect(await search({ namespace: namespace.toUpperCase(), key_prefix: 'images/' })).toEqual(['images/cat.png'])
  })

  test('a body that is not JSON is 415; broken JSON is 400', async () => {
    const body = { namespace, tenant_id: tenant }
    await expectError(body, 415, 'unsupported_media_type', { 'content-type': 'text/plain' })
    await expectError(body, 415, 'unsupported_media_type', { 'content-type': 'application/x-www-form-urlencoded' })
    await expectError(body, 415, 'unsupported_media_type', {})
    expect((await post(body, { 'content-type': 'application/json; charset=utf-8' })).res.status).toBe(200)
    await expectError('{"namespace": ', 400, 'bad_request')
    await expectError('', 400, 'bad_request')
  })

  test('wrong types and unknown fields are 400 bad_request', async () => {
    const base = { namespace, tenant_id: tenant }
    const wrong: Record<string, unknown>[] = [
      { limit: 'x' },
      { limit: '5' },
      { min_size: -1 },
      { max_size: 'big' },
      { min_size: 1.5 },
      { min_size: 1e20 },
      { unknown_filter: true },
      { metadata: 'env=prod' },
      { metadata: ['env'] },
      { metadata: null },
      { key_prefix: 7 },
      { order: 'sideways' },
      { cursor: 12 },
    ]
    for (const fields of wrong) await expectError({ ...base, ...fields }, 400, 'bad_request')
    for (const body of [[], 'text', 42, null]) await expectError(JSON.stringify(body), 400, 'bad_request')
  })

  test('tenant and namespace are required and validated', async () => {
    await expectError({ namespace }, 400, 'invalid_tenant')
    await expectError({ namespace, tenant_id: '' }, 400, 'invalid_tenant')
    await expectError({ namespace, tenant_id: '-bad' }, 400, 'invalid_tenant')
    await expectError({ tenant_id: tenant }, 400, 'invalid_namespace')
    await expectError({ tenant_id: tenant, namespace: 'has space' }, 400, 'invalid_namespace')
    await expectError({ tenant_id: tenant, namespace: '' }, 400, 'invalid_namespace')
  })

  test('every response carries X-Request-Id', async () => {
    const ok = await post({ namespace, tenant_id: tenant }, { 'content-type': 'application/json', 'x-request-id': 'search-ok' })
    expect(ok.res.headers.get('x-request-id')).toBe('search-ok')
    const refused = await post({ namespace, tenant_id: tenant }, { 'content-type': 'text/plain', 'x-request-id': 'search-415' })
    expect(refused.res.status).toBe(415)
    expect(refused.res.headers.get('x-request-id')).toBe('search-415')
    expect(refused.body.request_id).toBe('search-415')
  })
})
