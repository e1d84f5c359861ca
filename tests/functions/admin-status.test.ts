import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { dirname } from 'node:path'
import { Cron } from 'croner'
import { eq, sql } from 'drizzle-orm'
import { blobs, objects } from '../../core/db/schema'
import { startChild, type Child } from '../support/child'
import { adminToken, backends, sharedCluster, startServer, type TestServer } from '../support/server'
import { tempDir } from '../support/temp'

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

/** A job's status after a run with this outcome, in a server that schedules nothing (the test servers). */
const ran = (outcome: object) => ({
  last_run: { started_at: expect.stringMatching(isoTime), finished_at: expect.stringMatching(isoTime), outcome, error: null },
  next_run_at: null,
})
const notRun = { last_run: null, next_run_at: null }

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

  test('status: the last run of every job with its times and outcome', async () => {
    const before = Date.now()
    const gc = await post(server, '/v1/admin/gc')
    const scrub = await post(server, '/v1/admin/scrub')
    const lifecycle = await post(server, '/v1/admin/lifecycle')
    const { jobs } = await status(server)
    expect(jobs).toEqual({
      gc: ran(gc),
      scrub: ran(scrub),
      lifecycle: ran(lifecycle),
      reaper: ran({ reaped_uploads: gc.reaped_uploads }),
      orphan_sweep: ran({ removed_orphan_files: gc.removed_orphan_files }),
    })
    // The reaper and the orphan sweep ran inside the GC pass, the scrub after it; the runs are this machine's clock (a little rounding allowed).
    const times = [
      jobs.gc.last_run.started_at,
      jobs.reaper.last_run.started_at,
      jobs.reaper.last_run.finished_at,
      jobs.orphan_sweep.last_run.started_at,
      jobs.orphan_sweep.last_run.finished_at,
      jobs.gc.last_run.finished_at,
      jobs.scrub.last_run.started_at,
      jobs.scrub.last_run.finished_at,
    ].map(Date.parse)
    expect(times[0]).toBeGreaterThanOrEqual(before - 5)
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThanOrEqual(times[i - 1]! - 5)
    expect(times.at(-1)!).toBeLessThanOrEqual(Date.now() + 5)

    // A later run replaces the earlier one.
    const again = await post(server, '/v1/admin/gc')
    const later = (await status(server)).jobs
    expect(later.gc.last_run.outcome).toEqual(again)
    expect(Date.parse(later.gc.last_run.started_at)).toBeGreaterThanOrEqual(Date.parse(jobs.gc.last_run.started_at))
    expect(Date.parse(later.orphan_sweep.last_run.started_at)).toBeGreaterThanOrEqual(Date.parse(jobs.orphan_sweep.last_run.finished_at) - 5)
    expect(later.scrub).toEqual(jobs.scrub)
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

  test('every job listed with no run yet and empty queues; no credential needed when auth is off', async () => {
    const response = await fetch(`${server.url}/v1/admin/status`)
    expect(response.status).toBe(200)
    const body = await response.json()
    expect(body.jobs).toEqual({ gc: notRun, scrub: notRun, reaper: notRun, orphan_sweep: notRun, lifecycle: notRun })
    expect(body.queues).toEqual({ unreferenced_blobs: 0, collectable_blobs: 0, corrupt_blobs: 0, writing_uploads: 0, deleting_objects: 0 })
  })

  test('a GC pass is the last run of gc, the reaper and the orphan sweep; a scrub that of the scrubber', async () => {
    // One upload stuck past STUCK_UPLOAD_TIMEOUT_SECS and one blob file with no row, for the reaper and the sweep to find.
    await server.database.db.insert(objects).values({
      id: crypto.randomUUID(),
      namespace: unique('stuck'),
      tenantId: 'acme',
      status: 'WRITING',
      storageClass: 'hot',
      contentType: 'text/plain',
      updatedAt: sql`now() - interval '2 hours'`,
    })
    const orphanHex = randomBytes(32).toString('hex')
    const orphan = `${server.dataDir}/hot/sha256/${orphanHex.slice(0, 2)}/${orphanHex.slice(2, 4)}/${orphanHex}`
    mkdirSync(dirname(orphan), { recursive: true })
    writeFileSync(orphan, 'no row')

    const gc = await post(server, '/v1/admin/gc')
    expect(gc).toMatchObject({ reaped_uploads: 1, removed_orphan_files: 1 })
    const afterGc = (await status(server)).jobs
    expect(afterGc).toEqual({ gc: ran(gc), scrub: notRun, reaper: ran({ reaped_uploads: 1 }), orphan_sweep: ran({ removed_orphan_files: 1 }), lifecycle: notRun })

    const scrub = await post(server, '/v1/admin/scrub')
    expect((await status(server)).jobs).toEqual({ ...afterGc, scrub: ran(scrub) })
  })
})

const GC_INTERVAL_SECS = 5
const SCRUB_CRON = '0 3 * * 0'

describe.each(backends)('admin status of the service with its schedules on %s', (backend) => {
  let dataDir: string
  let child: Child
  beforeAll(async () => {
    dataDir = tempDir('juststorage-status-')
    const databaseUrl = backend === 'postgres' ? await (await sharedCluster()).createDatabase(`status_${process.pid}_${Date.now()}`) : undefined
    child = await startChild({ databaseUrl, dataDir, env: { GC_INTERVAL_SECS: String(GC_INTERVAL_SECS), SCRUB_CRON } })
  }, 60_000)
  afterAll(async () => {
    await child?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  const jobsNow = async () => {
    const response = await fetch(`${child.url}/v1/admin/status`)
    expect(response.status).toBe(200)
    return (await response.json()).jobs
  }

  test('each job shows when its schedule runs it next: GC and the reaper every pass, the orphan sweep an hour after its last, the scrubber by SCRUB_CRON', async () => {
    // The first scheduled GC pass starts within a second of the start and sweeps for orphans.
    for (let i = 0; (await jobsNow()).gc.last_run === null; i++) {
      if (i > 100) throw new Error(`no scheduled GC pass ran\n${child.output()}`)
      await Bun.sleep(50)
    }
    // The schedule notes the sweep a moment after the pass records it; the next pass is seconds away.
    await Bun.sleep(200)
    const now = Date.now()
    const jobs = await jobsNow()
    const expectedScrub = new Cron(SCRUB_CRON).nextRun()!.toISOString()

    for (const job of ['gc', 'reaper', 'orphan_sweep']) expect(jobs[job].last_run).toMatchObject({ error: null })
    expect(jobs.scrub.last_run).toBeNull()
    for (const job of ['gc', 'scrub', 'reaper', 'orphan_sweep', 'lifecycle']) {
      expect(jobs[job].next_run_at).toMatch(isoTime)
      expect(Date.parse(jobs[job].next_run_at)).toBeGreaterThan(now)
    }
    expect(Date.parse(jobs.gc.next_run_at)).toBeLessThanOrEqual(now + (GC_INTERVAL_SECS + 1) * 1000)
    expect(jobs.reaper.next_run_at).toBe(jobs.gc.next_run_at)
    // The next sweep is the first pass an hour or more after the last one ended.
    const sweptAt = Date.parse(jobs.orphan_sweep.last_run.finished_at)
    expect(Date.parse(jobs.orphan_sweep.next_run_at)).toBeGreaterThanOrEqual(sweptAt + 3600_000 - 5)
    expect(Date.parse(jobs.orphan_sweep.next_run_at)).toBeLessThanOrEqual(sweptAt + 3600_000 + (GC_INTERVAL_SECS + 2) * 1000)
    expect(jobs.scrub.next_run_at).toBe(expectedScrub)
  })
})
