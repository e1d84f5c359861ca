import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { dirname } from 'node:path'
import { and, eq, sql } from 'drizzle-orm'
import { openDatabase } from '../../core/db/client'
import { blobs, objects, type StorageClass } from '../../core/db/schema'
import { checkConsistency, isClean, repair } from '../../core/fsck'
import type { StorageRoots } from '../../core/store/paths'
import { repoRoot } from '../support/child'
import { adminToken, backends, startServer, type TestServer } from '../support/server'

let counter = 0
/** Distinct names per test so tests sharing one server never see each other's objects. */
const unique = (prefix: string) => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 8)}`
const sha256 = (bytes: Uint8Array | string) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')
const bytesOf = (text: string) => new TextEncoder().encode(text)
// Test servers run with auth off unless asked; the admin token keeps every call valid either way.
const asAdmin = { authorization: `Bearer ${adminToken}` }

async function upload(server: TestServer, namespace: string, body: Uint8Array<ArrayBuffer>, storageClass: StorageClass = 'hot') {
  const response = await fetch(`${server.url}/v1/objects?namespace=${namespace}&tenant_id=acme&storage_class=${storageClass}`, { method: 'POST', body, headers: asAdmin })
  expect(response.status).toBe(201)
  return { id: (await response.json()).id as string, hex: sha256(body), hash: `sha256:${sha256(body)}`, size: body.byteLength }
}

async function remove(server: TestServer, id: string) {
  expect((await fetch(`${server.url}/v1/objects/${id}?tenant_id=acme`, { method: 'DELETE', headers: asAdmin })).status).toBe(204)
}

const blobFile = (roots: StorageRoots, hex: string, storageClass: StorageClass = 'hot') =>
  `${roots[storageClass]}/sha256/${hex.slice(0, 2)}/${hex.slice(2, 4)}/${hex}`

function writeFile(path: string, content: string | Uint8Array) {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, content)
}

const noProblems = { wrongRefCounts: [], missingBlobRows: [], missingFiles: [], wrongSizes: [], orphanBlobs: [], leftovers: [], wrongUsage: [] }

describe.each(backends)('fsck on %s', (backend) => {
  let server: TestServer
  let roots: StorageRoots
  beforeAll(async () => {
    // No collection: only the inconsistencies a test makes exist.
    server = await startServer(backend, { gc: { graceSecs: 3600 } })
    roots = server.roots
  }, 60_000)
  afterAll(() => server.stop())

  test('reports inconsistencies, and repairs what is safe to repair', async () => {
    const namespace = unique('fsck')
    const db = server.database.db
    const miscounted = await upload(server, namespace, bytesOf(`miscounted ${namespace}`))
    const shared = await upload(server, namespace, bytesOf(`shared ${namespace}`), 'cold')
    await upload(server, namespace, bytesOf(`shared ${namespace}`), 'cold')
    const lost = await upload(server, namespace, bytesOf(`lost ${namespace}`))
    const truncated = await upload(server, namespace, bytesOf(`truncated ${namespace} ${'x'.repeat(64)}`), 'cold')
    const unreferenced = await upload(server, namespace, bytesOf(`unreferenced ${namespace}`))
    const deleted = await upload(server, namespace, bytesOf(`deleted ${namespace}`))
    await remove(server, unreferenced.id)
    await remove(server, deleted.id)
    // An upload in flight: its temp file is not stale.
    const writing = crypto.randomUUID()
    await db.insert(objects).values({ id: writing, namespace, tenantId: 'acme', status: 'WRITING', storageClass: 'hot', contentType: 'text/plain' })
    writeFileSync(`${roots.hot}/tmp/${writing}`, 'in flight')

    const clean = await checkConsistency(db, server.store.blobs)
    expect(clean).toEqual({ blobsChecked: 6, objectsChecked: 5, ...noProblems })
    expect(isClean(clean)).toBe(true)

    await db.update(blobs).set({ refCount: 5 }).where(and(eq(blobs.storageClass, 'hot'), eq(blobs.contentHash, miscounted.hash)))
    await db.update(blobs).set({ refCount: 1 }).where(and(eq(blobs.storageClass, 'cold'), eq(blobs.contentHash, shared.hash)))
    const orphanHex = randomBytes(32).toString('hex')
    const orphan = blobFile(roots, orphanHex)
    writeFile(orphan, 'no row for me')
    const staleTemps = [`${roots.hot}/tmp/${crypto.randomUUID()}`, `${roots.cold}/tmp/junk.part`]
    for (const path of staleTemps) writeFileSync(path, 'stale')
    unlinkSync(blobFile(roots, lost.hex))
    truncateSync(blobFile(roots, truncated.hex, 'cold'), 10)
    // GC unlinks an unreferenced blob's file before deleting its row: not a problem.
    unlinkSync(blobFile(roots, unreferenced.hex))
    // Usage counters that have drifted from the objects: one object too many.
    await db.execute(sql`update usage_counters set objects = objects + 1 where tenant_id = 'acme' and namespace = ${namespace} and storage_class = 'cold'`)

    const report = await checkConsistency(db, server.store.blobs)
    expect(isClean(report)).toBe(false)
    expect(report.blobsChecked).toBe(6)
    expect(report.objectsChecked).toBe(5)
    expect(report.wrongRefCounts.sort((a, b) => a.storage_class.localeCompare(b.storage_class))).toEqual([
      { storage_class: 'cold', content_hash: shared.hash, ref_count: 1, live_references: 2 },
      { storage_class: 'hot', content_hash: miscounted.hash, ref_count: 5, live_references: 1 },
    ])
    expect(report.missingBlobRows).toEqual([])
    expect(report.missingFiles).toEqual([{ storage_class: 'hot', content_hash: lost.hash }])
    expect(report.wrongSizes).toEqual([{ storage_class: 'cold', content_hash: truncated.hash, expected: truncated.size, actual: 10 }])
    expect(report.orphanBlobs).toEqual([{ storage_class: 'hot', content_hash: `sha256:${orphanHex}` }])
    expect(report.leftovers.map((leftover) => leftover.name).sort()).toEqual(staleTemps.sort())
    expect(report.leftovers.map((leftover) => leftover.storage_class).sort()).toEqual(['cold', 'hot'])
    expect(report.wrongUsage).toEqual([{ tenant_id: 'acme', namespace, storage_class: 'cold' }])

    await repair(db, server.store.blobs, report)
    const after = await checkConsistency(db, server.store.blobs)
    expect(after).toEqual({
      ...report,
      wrongRefCounts: [],
      orphanBlobs: [],
      leftovers: [],
      wrongUsage: [],
    })
    expect(isClean(after)).toBe(false)
    const [fixed] = await db.select().from(blobs).where(and(eq(blobs.storageClass, 'hot'), eq(blobs.contentHash, miscounted.hash)))
    expect(fixed).toMatchObject({ refCount: 1, unreferencedSince: null })
    const [sharedRow] = await db.select().from(blobs).where(and(eq(blobs.storageClass, 'cold'), eq(blobs.contentHash, shared.hash)))
    expect(sharedRow?.refCount).toBe(2)
    expect(existsSync(orphan)).toBe(false)
    for (const path of staleTemps) expect(existsSync(path)).toBe(false)
    expect(existsSync(`${roots.hot}/tmp/${writing}`)).toBe(true)
    // What repair cannot fix stays as it was.
    expect(existsSync(blobFile(roots, truncated.hex, 'cold'))).toBe(true)
  })

  test("an open upload session's bytes are no leftover: repair keeps them, and the session completes", async () => {
    const body = new Uint8Array(randomBytes(100_000))
    const created = await fetch(`${server.url}/v1/uploads?namespace=${unique('session')}&tenant_id=acme`, { method: 'POST', headers: asAdmin })
    const { id } = (await created.json()) as { id: string }
    const appended = await fetch(`${server.url}/v1/uploads/${id}?tenant_id=acme`, { method: 'PATCH', body, headers: { ...asAdmin, 'upload-offset': '0' } })
    expect(appended.status).toBe(204)
    const before = await checkConsistency(server.database.db, server.store.blobs)
    expect(before.leftovers.map((leftover) => leftover.name).filter((name) => name.includes(id))).toEqual([])
    await repair(server.database.db, server.store.blobs, before)
    const completed = await fetch(`${server.url}/v1/uploads/${id}/complete?tenant_id=acme`, { method: 'POST', headers: { ...asAdmin, 'x-content-sha256': sha256(body) } })
    expect(completed.status).toBe(201)
  })

  test('a committed object without a blob row is reported, and repair keeps its file', async () => {
    const namespace = unique('rowless')
    const db = server.database.db
    const body = bytesOf(`rowless ${namespace}`)
    const object = await upload(server, namespace, body)
    await db.delete(blobs).where(and(eq(blobs.storageClass, 'hot'), eq(blobs.contentHash, object.hash)))

    const report = await checkConsistency(db, server.store.blobs)
    expect(report.missingBlobRows).toEqual([{ object_id: object.id, storage_class: 'hot', content_hash: object.hash }])
    // The file holds a committed object's only copy: it is not an orphan to delete.
    expect(report.orphanBlobs).toEqual([])
    await repair(db, server.store.blobs, report)
    expect(existsSync(blobFile(roots, object.hex))).toBe(true)
  })
})

describe('bun scripts/fsck.ts on postgres', () => {
  let dataDir: string
  let databaseUrl: string
  let lost: { hex: string; bytes: Uint8Array }
  let miscounted: string
  beforeAll(async () => {
    const server = await startServer('postgres', { gc: { graceSecs: 3600 } })
    try {
      const namespace = unique('script')
      const lostBytes = bytesOf(`lost ${namespace}`)
      lost = { hex: (await upload(server, namespace, lostBytes)).hex, bytes: lostBytes }
      miscounted = (await upload(server, namespace, bytesOf(`miscounted ${namespace}`), 'cold')).hash
      await upload(server, namespace, bytesOf(`fine ${namespace}`))
      databaseUrl = server.databaseUrl
      // stop() deletes the server's data dir; the database outlives it.
      dataDir = mkdtempSync(`${tmpdir()}/juststorage-fsck-`)
      for (const root of ['hot', 'cold']) cpSync(`${server.dataDir}/${root}`, `${dataDir}/${root}`, { recursive: true })
    } finally {
      await server.stop()
    }
  }, 60_000)
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

  const roots = () => ({ hot: `${dataDir}/hot`, cold: `${dataDir}/cold` })

  async function fsck(...args: string[]) {
    const proc = Bun.spawn([process.execPath, 'scripts/fsck.ts', ...args], {
      cwd: repoRoot,
      env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: databaseUrl, HOT_STORAGE_ROOT: '', COLD_STORAGE_ROOT: '' },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
    return { code, stdout, stderr, lastLine: stdout.trim().split('\n').at(-1) }
  }

  async function withDb<T>(run: (db: Awaited<ReturnType<typeof openDatabase>>['db']) => Promise<T>): Promise<T> {
    const database = await openDatabase({ databaseUrl, dataDir, maxConnections: 1 })
    try {
      return await run(database.db)
    } finally {
      await database.close()
    }
  }

  test('exits 1 when inconsistent, repairs what it can, and exits 0 once consistent', async () => {
    expect(await fsck()).toMatchObject({ code: 0, lastLine: 'consistent' })

    await withDb((db) => db.update(blobs).set({ refCount: 3 }).where(eq(blobs.contentHash, miscounted)))
    const orphan = blobFile(roots(), randomBytes(32).toString('hex'), 'cold')
    writeFile(orphan, 'orphan')
    const stale = `${dataDir}/hot/tmp/${crypto.randomUUID()}`
    writeFileSync(stale, 'stale')
    unlinkSync(blobFile(roots(), lost.hex))

    const check = await fsck()
    expect(check).toMatchObject({ code: 1, lastLine: 'INCONSISTENT' })
    expect(check.stdout).toContain('FAIL 1 reference counts that differ from live references')
    expect(check.stdout).toContain('FAIL 1 referenced blobs whose bytes are missing')
    expect(check.stdout).toContain('FAIL 1 stored blobs with no row (orphans)')
    expect(check.stdout).toContain('FAIL 1 leftovers with no upload in progress')
    // Checking alone changes nothing.
    expect(existsSync(orphan)).toBe(true)
    expect(existsSync(stale)).toBe(true)

    // A missing file cannot be repaired, so --repair still exits 1.
    const repaired = await fsck('--repair')
    expect(repaired).toMatchObject({ code: 1, lastLine: 'INCONSISTENT' })
    const afterRepair = repaired.stdout.slice(repaired.stdout.indexOf('after repair:'))
    expect(afterRepair).toContain('ok   0 reference counts that differ from live references')
    expect(afterRepair).toContain('ok   0 stored blobs with no row (orphans)')
    expect(afterRepair).toContain('ok   0 leftovers with no upload in progress')
    expect(afterRepair).toContain('FAIL 1 referenced blobs whose bytes are missing')
    expect(existsSync(orphan)).toBe(false)
    expect(existsSync(stale)).toBe(false)
    expect(await withDb((db) => db.select({ refCount: blobs.refCount }).from(blobs).where(eq(blobs.contentHash, miscounted)))).toEqual([{ refCount: 1 }])

    // The lost bytes restored from elsewhere: consistent again.
    writeFile(blobFile(roots(), lost.hex), lost.bytes)
    expect(await fsck()).toMatchObject({ code: 0, lastLine: 'consistent' })

    // Only repairable problems: --repair exits 0.
    writeFileSync(stale, 'stale again')
    const fixable = await fsck('--repair')
    expect(fixable.stdout).toContain('INCONSISTENT')
    expect(fixable).toMatchObject({ code: 0, lastLine: 'consistent' })
    expect(existsSync(stale)).toBe(false)
  })
})
