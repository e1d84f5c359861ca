import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { rowsOf } from '../../core/db/client'
import { adminToken, backends, sharedCluster, startServer, type TestServer } from '../support/server'
import { freePort, startChild } from '../support/child'
import { tempDir } from '../support/temp'
import { rmSync } from 'node:fs'
import { captureLogs } from '../support/logs'
import { configureLog } from '../../core/log'
import { objectsGauge, refreshSharedStorageMetrics, storageWalkSlot } from '../../core/metrics'

let counter = 0
const unique = (prefix: string) => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 8)}`
const asAdmin = { authorization: `Bearer ${adminToken}` }

type Samples = Map<string, number>

/** Prometheus text → value by `name{label="v",…}` with labels sorted, so lookups need no label order. */
function parse(text: string): Samples {
  const samples: Samples = new Map()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!match) throw new Error(`not a sample line: ${line}`)
    const labels = [...(match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => `${k}=${v}`).sort()
    samples.set(`${match[1]}{${labels.join(',')}}`, Number(match[3]))
  }
  return samples
}

const keyOf = (name: string, labels: Record<string, string> = {}) =>
  `${name}{${Object.entries(labels).map(([k, v]) => `${k}=${v}`).sort().join(',')}}`
const value = (samples: Samples, name: string, labels?: Record<string, string>) => samples.get(keyOf(name, labels)) ?? 0

async function scrape(server: TestServer): Promise<{ text: string; samples: Samples }> {
  const response = await fetch(`${server.url}/metrics`)
  expect(response.status).toBe(200)
  const text = await response.text()
  return { text, samples: parse(text) }
}

async function upsert(server: TestServer, namespace: string, key: string, body: string, storageClass = 'hot') {
  const response = await fetch(`${server.url}/v1/objects/by-key/${namespace}/acme/${key}?storage_class=${storageClass}`, { method: 'PUT', body, headers: asAdmin })
  expect(response.status).toBe(201)
  return (await response.json()) as { id: string }
}

async function dbNumbers(server: TestServer, query: ReturnType<typeof sql>) {
  return rowsOf<{ k: string; n: string }>(await server.database.db.execute(query)).map((row) => [row.k, Number(row.n)] as const)
}

describe.each(backends)('GET /metrics on %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend, { auth: true })
  })
  afterAll(async () => {
    configureLog('silent')
    await server.stop()
  })

  test('is public, Prometheus text, and names every documented metric', async () => {
    const response = await fetch(`${server.url}/metrics`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toStartWith('text/plain; version=0.0.4')
    const text = await response.text()
    for (const name of [
      'requests_total', 'request_duration_seconds', 'upload_bytes_total', 'download_bytes_total', 'objects', 'storage_bytes',
      'gc_runs_total', 'gc_failures_total', 'gc_deleted_blobs_total', 'gc_reclaimed_bytes_total', 'scrub_corrupt_blobs_total',
      'gc_queue_depth', 'storage_root_free_bytes', 'storage_root_size_bytes',
    ]) {
      expect(text).toContain(`# TYPE juststorage_${name} `)
    }
    const samples = parse(text)
    for (const root of ['hot', 'cold']) {
      expect(value(samples, 'juststorage_storage_root_size_bytes', { root })).toBeGreaterThan(0)
      expect(value(samples, 'juststorage_storage_root_free_bytes', { root })).toBeGreaterThan(0)
    }
    // Only explicit collectors: no default process metrics.
    expect(text).not.toContain('nodejs_')
  })

  test('requests, bytes and GC counters move, labelled by route template only', async () => {
    const namespace = unique('metrics')
    const key = unique('secret-key')
    const body = 'metrics body '.repeat(50)
    const size = new TextEncoder().encode(body).byteLength
    const before = (await scrape(server)).samples
    // Requests are counted once their response is sent, which can be after the client has it;
    // each request's log line (written by the same hook, after the counters) says it is counted.
    const logs = captureLogs()
    const sent: Promise<unknown>[] = []
    const call = (path: string, init: RequestInit = {}) => {
      const requestId = unique('req')
      sent.push(logs.request(requestId))
      return fetch(`${server.url}${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), 'x-request-id': requestId } })
    }

    const uploaded = await call(`/v1/objects/by-key/${namespace}/acme/${key}`, { method: 'PUT', body, headers: asAdmin })
    expect(uploaded.status).toBe(201)
    const { id } = await uploaded.json()
    expect(await (await call(`/v1/objects/${id}?tenant_id=acme`, { headers: asAdmin })).text()).toBe(body)
    expect(await (await call(`/v1/objects/by-key/${namespace}/acme/${key}`, { headers: asAdmin })).text()).toBe(body)
    const missing = crypto.randomUUID()
    expect((await call(`/v1/objects/${missing}?tenant_id=acme`, { headers: asAdmin })).status).toBe(404)
    expect((await call(`/no/such/${key}`)).status).toBe(404)
    expect((await call(`/v1/objects/${id}`)).status).toBe(401)
    expect((await call(`/v1/objects/by-key/${namespace}/acme/${key}`, { method: 'DELETE', headers: asAdmin })).status).toBe(204)
    const gc = await (await call('/v1/admin/gc', { method: 'POST', headers: asAdmin })).json()
    expect(gc.deleted_blobs).toBe(1)
    await Promise.all(sent)

    const { text, samples: after } = await scrape(server)
    const moved = (name: string, labels?: Record<string, string>) => value(after, name, labels) - value(before, name, labels)
    expect(moved('juststorage_requests_total', { method: 'PUT', route: '/v1/objects/by-key/*', status: '201' })).toBe(1)
    expect(moved('juststorage_requests_total', { method: 'GET', route: '/v1/objects/:id', status: '200' })).toBe(1)
    expect(moved('juststorage_requests_total', { method: 'GET', route: '/v1/objects/by-key/*', status: '200' })).toBe(1)
    expect(moved('juststorage_requests_total', { method: 'GET', route: '/v1/objects/:id', status: '404' })).toBe(1)
    expect(moved('juststorage_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).toBe(1)
    // Refused before routing, still counted under the template its path matches.
    expect(moved('juststorage_requests_total', { method: 'GET', route: '/v1/objects/:id', status: '401' })).toBe(1)
    expect(moved('juststorage_requests_total', { method: 'DELETE', route: '/v1/objects/by-key/*', status: '204' })).toBe(1)
    expect(moved('juststorage_requests_total', { method: 'POST', route: '/v1/admin/gc', status: '200' })).toBe(1)
    expect(moved('juststorage_request_duration_seconds_count', { method: 'GET', route: '/v1/objects/:id' })).toBe(3)
    expect(moved('juststorage_request_duration_seconds_bucket', { method: 'GET', route: '/v1/objects/:id', le: '+Inf' })).toBe(3)
    expect(moved('juststorage_upload_bytes_total', { storage_class: 'hot' })).toBe(size)
    expect(moved('juststorage_download_bytes_total', { storage_class: 'hot' })).toBe(2 * size)
    expect(moved('juststorage_gc_runs_total')).toBe(1)
    expect(moved('juststorage_gc_failures_total')).toBe(0)
    expect(moved('juststorage_gc_deleted_blobs_total')).toBe(1)
    expect(moved('juststorage_gc_reclaimed_bytes_total')).toBe(size)
    expect(after.has(keyOf('juststorage_scrub_corrupt_blobs_total'))).toBe(true)
    // Raw paths never become labels: no id, key or namespace anywhere.
    for (const secret of [id, key, missing, namespace]) expect(text).not.toContain(secret)
  })

  test('object and storage gauges reflect the database after a refresh', async () => {
    const namespace = unique('gauges')
    const body = 'same bytes twice'
    await upsert(server, namespace, 'a', body)
    await upsert(server, namespace, 'b', body)
    await upsert(server, namespace, 'c', 'cold bytes', 'cold')
    const doomedBody = unique('collectable')
    const doomed = await upsert(server, namespace, 'd', doomedBody)
    expect((await fetch(`${server.url}/v1/objects/${doomed.id}?tenant_id=acme`, { method: 'DELETE', headers: asAdmin })).status).toBe(204)

    await server.refreshMetrics()
    const { samples } = await scrape(server)
    expect(value(samples, 'juststorage_objects', { namespace, tenant: 'acme', storage_class: 'hot' })).toBe(2)
    expect(value(samples, 'juststorage_objects', { namespace, tenant: 'acme', storage_class: 'cold' })).toBe(1)

    const logical = await dbNumbers(server, sql`select storage_class::text as k, sum(size_bytes)::text as n from objects where status = 'COMMITTED' group by 1`)
    const physical = await dbNumbers(server, sql`select storage_class::text as k, sum(size_bytes)::text as n from blobs group by 1`)
    expect(logical.length).toBe(2)
    for (const [storageClass, bytes] of logical) expect(value(samples, 'juststorage_storage_bytes', { storage_class: storageClass, kind: 'logical' })).toBe(bytes)
    for (const [storageClass, bytes] of physical) expect(value(samples, 'juststorage_storage_bytes', { storage_class: storageClass, kind: 'physical' })).toBe(bytes)
    // Deduplicated: without the deleted, not yet collected blob, the hot blobs hold fewer bytes than the hot objects name.
    const hot = (kind: string) => value(samples, 'juststorage_storage_bytes', { storage_class: 'hot', kind })
    expect(hot('physical') - doomedBody.length).toBeLessThan(hot('logical'))
    // Grace is 0 in tests: the deleted object's blob is collectable now.
    expect(value(samples, 'juststorage_gc_queue_depth')).toBeGreaterThanOrEqual(1)
    const queued = await dbNumbers(server, sql`select 'q' as k, count(*)::text as n from blobs where ref_count = 0`)
    expect(value(samples, 'juststorage_gc_queue_depth')).toBe(queued[0]![1])
  })

  test('a walk one heap page at a time adds up to the same gauges as a walk in large ranges', async () => {
    const namespace = unique('walk')
    // Wide metadata spreads the rows over several heap pages.
    const metadata = JSON.stringify({ padding: 'x'.repeat(1500) })
    for (let i = 0; i < 12; i++) {
      const response = await fetch(`${server.url}/v1/objects/by-key/${namespace}/acme/k${i}?storage_class=${i === 11 ? 'cold' : 'hot'}`, {
        method: 'PUT',
        body: i % 3 === 0 ? 'shared' : unique('own'),
        headers: { ...asAdmin, 'x-metadata': metadata },
      })
      expect(response.status).toBe(201)
    }
    const [pages] = await dbNumbers(server, sql`select 'p' as k, (pg_relation_size('objects') / 8192)::text as n`)
    expect(pages![1]).toBeGreaterThan(2)
    const gauges = (samples: Samples) => [...samples].filter(([name]) => /^juststorage_(objects|storage_bytes|gc_queue_depth)\{/.test(name)).sort()

    await server.refreshMetrics(100_000)
    const whole = gauges((await scrape(server)).samples)
    expect(whole).toContainEqual([keyOf('juststorage_objects', { namespace, tenant: 'acme', storage_class: 'hot' }), 11])
    for (const batchPages of [1, 2]) {
      await server.refreshMetrics(batchPages)
      expect(gauges((await scrape(server)).samples)).toEqual(whole)
    }
  })

  test('replicas walk the database once per 30 s slot; the others show what that walk found', async () => {
    const namespace = unique('shared-walk')
    await upsert(server, namespace, 'a', unique('one'))
    await upsert(server, namespace, 'b', unique('two'))
    // Two pools on one database stand for two replicas refreshing at the same time.
    const slot = storageWalkSlot()
    const outcomes = await Promise.all([server.database.db, server.database.background].map((db) => refreshSharedStorageMetrics(db, 0, slot)))
    expect(outcomes.sort()).toEqual(['read', 'walked'])

    // A replica that did not walk shows the published gauges.
    objectsGauge.reset()
    expect(await refreshSharedStorageMetrics(server.database.db, 0, slot)).toBe('read')
    expect(value((await scrape(server)).samples, 'juststorage_objects', { namespace, tenant: 'acme', storage_class: 'hot' })).toBe(2)
    // The next slot is walked again, by whichever replica claims it first.
    expect(await refreshSharedStorageMetrics(server.database.background, 0, new Date(slot.getTime() + 30_000))).toBe('walked')
  })

})

describe('METRICS_LISTEN_ADDR', () => {
  test('the service serves /metrics on that address only, counting the requests of the API beside it', async () => {
    const dataDir = tempDir('juststorage-metrics-listen-')
    const metricsPort = await freePort()
    const databaseUrl = await (await sharedCluster()).createDatabase(`metrics_listen_${process.pid}_${Date.now()}`)
    const child = await startChild({ databaseUrl, dataDir, env: { METRICS_LISTEN_ADDR: `127.0.0.1:${metricsPort}` } })
    try {
      // The API's listener no longer exposes tenants and namespaces to its clients.
      const hidden = await fetch(`${child.url}/metrics`)
      expect(hidden.status).toBe(404)
      expect(await hidden.text()).not.toContain('juststorage_')
      expect((await fetch(`${child.url}/health`)).status).toBe(200)

      const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toContain('text/plain')
      const samples = parse(await response.text())
      expect(value(samples, 'juststorage_requests_total', { method: 'GET', route: '/health', status: '200' })).toBeGreaterThanOrEqual(1)
      expect(value(samples, 'juststorage_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).toBe(1)
      // Only metrics there: the API is not reachable through the metrics address.
      expect((await fetch(`http://127.0.0.1:${metricsPort}/health`)).status).toBe(404)
    } finally {
      await child.stop()
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 60_000)
})
