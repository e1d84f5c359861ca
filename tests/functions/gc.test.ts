import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, readdirSync, renameSync, utimesSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { dirname } from 'node:path'
import { eq, sql } from 'drizzle-orm'
import { auditEvents, blobs, objects, type StorageClass } from '../../core/db/schema'
import { adminToken, backends, startServer, type TestServer } from '../support/server'
import { blobRow } from '../support/assertions'
import { holdAt } from '../../core/barriers'
import { rowsOf } from '../../core/db/client'

let counter = 0
/** Distinct names per test so tests sharing one server never see each other's objects. */
const unique = (prefix: string) => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 8)}`
const sha256 = (bytes: Uint8Array | string) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')
const bytesOf = (text: string) => new TextEncoder().encode(text)
const randomHex = () => randomBytes(32).toString('hex')
// Test servers run with auth off unless asked; the admin token keeps every call valid either way.
const asAdmin = { authorization: `Bearer ${adminToken}` }

interface Uploaded {
  id: string
  hex: string
  size: number
}

async function upload(server: TestServer, namespace: string, body: Uint8Array<ArrayBuffer>, storageClass: StorageClass = 'hot'): Promise<Uploaded> {
  const response = await fetch(`${server.url}/v1/objects?namespace=${namespace}&tenant_id=acme&storage_class=${storageClass}`, { method: 'POST', body, headers: asAdmin })
  expect(response.status).toBe(201)
  const object = await response.json()
  return { id: object.id, hex: sha256(body), size: body.byteLength }
}

async function remove(server: TestServer, id: string) {
  const response = await fetch(`${server.url}/v1/objects/${id}?tenant_id=acme`, { method: 'DELETE', headers: asAdmin })
  expect(response.status).toBe(204)
}

async function collectGarbage(server: TestServer) {
  const response = await fetch(`${server.url}/v1/admin/gc`, { method: 'POST', headers: asAdmin })
  expect(response.status).toBe(200)
  return response.json()
}

const noWork = { deleted_blobs: 0, reclaimed_bytes: 0, reaped_uploads: 0, removed_temp_files: 0, removed_orphan_files: 0 }

const blobFile = (server: TestServer, hex: string, storageClass: StorageClass = 'hot') =>
  `${server.dataDir}/${storageClass}/sha256/${hex.slice(0, 2)}/${hex.slice(2, 4)}/${hex}`
const tempFile = (server: TestServer, name: string, storageClass: StorageClass = 'hot') => `${server.dataDir}/${storageClass}/tmp/${name}`

async function objectStatus(server: TestServer, id: string) {
  const [row] = await server.database.db.select({ status: objects.status }).from(objects).where(eq(objects.id, id))
  return row?.status
}

/** A WRITING reservation as an upload makes it, last touched `ageSecs` ago, with its temp file. */
async function reserveUpload(server: TestServer, ageSecs: number, storageClass: StorageClass = 'hot'): Promise<string> {
  const id = crypto.randomUUID()
  await server.database.db.insert(objects).values({
    id,
    namespace: unique('writing'),
    tenantId: 'acme',
    status: 'WRITING',
    storageClass,
    contentType: 'application/octet-stream',
    updatedAt: sql`now() - make_interval(secs => ${ageSecs})`,
  })
  writeFileSync(tempFile(server, id, storageClass), 'partial upload')
  return id
}

function writeFile(path: string, content: string | Uint8Array) {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, content)
}

/** Backdates a file so it is past the grace period. */
const age = (path: string, secs: number) => {
  const then = new Date(Date.now() - secs * 1000)
  utimesSync(path, then, then)
}

/** An immutable file (chattr +i): neither root nor anyone else may rename or unlink it. */
function makeUndeletable(path: string, undeletable: boolean) {
  const result = Bun.spawnSync(['chattr', undeletable ? '+i' : '-i', path])
  if (result.exitCode !== 0) throw new Error(`chattr failed: ${result.stderr.toString()}`)
}

async function unremovableFiles(server: TestServer): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text()
  return Number(/^juststorage_gc_unremovable_files_total (\d+)/m.exec(text)?.[1] ?? NaN)
}

/** Every blob row without inline bytes has its file: a row whose file is gone would turn a later upload of its bytes unreadable. */
async function expectEveryRowHasItsBytes(server: TestServer) {
  const rows = await server.database.db.select({ storageClass: blobs.storageClass, contentHash: blobs.contentHash, inline: sql<boolean>`${blobs.inlineData} is not null` }).from(blobs)
  const missing = rows.filter((row) => !row.inline && !existsSync(blobFile(server, row.contentHash.slice('sha256:'.length), row.storageClass)))
  expect(missing).toEqual([])
}

/** Sets when blobs became unreferenced, so their collection order is known. */
async function unreferencedAgo(server: TestServer, hex: string, hours: number) {
  await server.database.db
    .update(blobs)
    .set({ unreferencedSince: sql`now() - make_interval(hours => ${hours})` })
    .where(eq(blobs.contentHash, `sha256:${hex}`))
}

describe.each(backends)('gc with no grace period on %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend, { gc: { graceSecs: 0, tombstoneRetentionSecs: 0, batchSize: 2, stuckUploadTimeoutSecs: 3600 } })
  }, 60_000)
  afterAll(() => server.stop())

  test('answers exactly the documented counters', async () => {
    await collectGarbage(server)
    const response = await fetch(`${server.url}/v1/admin/gc`, { method: 'POST', headers: asAdmin })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toStartWith('application/json')
    expect(await response.json()).toEqual(noWork)
  })

  test('a deleted object goes DELETING, then its blob is collected and its row purged', async () => {
    await collectGarbage(server)
    const body = bytesOf(`collected ${unique('c')}`)
    const object = await upload(server, unique('collect'), body)
    expect(existsSync(blobFile(server, object.hex))).toBe(true)

    await remove(server, object.id)
    expect(await objectStatus(server, object.id)).toBe('DELETING')

    expect(await collectGarbage(server)).toEqual({ ...noWork, deleted_blobs: 1, reclaimed_bytes: body.byteLength })
    expect(existsSync(blobFile(server, object.hex))).toBe(false)
    expect(await blobRow(server, object.hex)).toBeUndefined()
    // Tombstone retention is 0: the DELETED row is purged in the same pass.
    expect(await objectStatus(server, object.id)).toBeUndefined()
    expect(await collectGarbage(server)).toEqual(noWork)
  })

  test('one pass finishes and purges more deletes than a batch holds (batches of 2)', async () => {
    await collectGarbage(server)
    const namespace = unique('backlog')
    const kept = await upload(server, namespace, bytesOf(`kept ${namespace}`))
    const shared = await Promise.all(Array.from({ length: 5 }, () => upload(server, namespace, bytesOf(`kept ${namespace}`))))
    const own = await Promise.all(Array.from({ length: 5 }, (_, i) => upload(server, namespace, bytesOf(`own ${i} ${namespace}`))))
    for (const object of [...shared, ...own]) await remove(server, object.id)

    const result = await collectGarbage(server)
    expect(result.deleted_blobs).toBe(5)
    for (const object of [...shared, ...own]) expect(await objectStatus(server, object.id)).toBeUndefined()
    expect(await objectStatus(server, kept.id)).toBe('COMMITTED')
    expect((await blobRow(server, kept.hex))?.refCount).toBe(1)
  })

  test('a blob another object still references is never collected', async () => {
    await collectGarbage(server)
    const namespace = unique('dedup')
    const body = bytesOf(`shared ${namespace}`)
    const first = await upload(server, namespace, body)
    const second = await upload(server, namespace, body)

    await remove(server, first.id)
    expect(await collectGarbage(server)).toEqual(noWork)
    expect(existsSync(blobFile(server, first.hex))).toBe(true)
    expect(await blobRow(server, first.hex)).toMatchObject({ refCount: 1, unreferencedSince: null })
    // Its blob is settled (still referenced), so the delete is finished and, with no retention, purged.
    expect(await objectStatus(server, first.id)).toBeUndefined()
    const download = await fetch(`${server.url}/v1/objects/${second.id}?tenant_id=acme`, { headers: asAdmin })
    expect(download.status).toBe(200)
    expect(new Uint8Array(await download.arrayBuffer())).toEqual(body)

    await remove(server, second.id)
    expect(await collectGarbage(server)).toEqual({ ...noWork, deleted_blobs: 1, reclaimed_bytes: body.byteLength })
    expect(existsSync(blobFile(server, first.hex))).toBe(false)
  })

  test('one pass collects every collectable blob, batch after batch, in both storage classes', async () => {
    await collectGarbage(server)
    const namespace = unique('batch')
    const classes: StorageClass[] = ['hot', 'hot', 'hot', 'cold', 'cold']
    const uploaded = await Promise.all(classes.map((storageClass, i) => upload(server, namespace, bytesOf(`batch ${i} ${namespace} ${'x'.repeat(i * 10)}`), storageClass)))
    for (const object of uploaded) await remove(server, object.id)

    // batchSize is 2, so this takes three batches inside one pass.
    const reclaimed = uploaded.reduce((sum, object) => sum + object.size, 0)
    expect(await collectGarbage(server)).toEqual({ ...noWork, deleted_blobs: 5, reclaimed_bytes: reclaimed })
    for (const [i, object] of uploaded.entries()) {
      expect(existsSync(blobFile(server, object.hex, classes[i]))).toBe(false)
      expect(await blobRow(server, object.hex, classes[i])).toBeUndefined()
      expect(await objectStatus(server, object.id)).toBeUndefined()
    }
  })

  test('temp files with no upload in progress are removed; a live upload keeps its temp file', async () => {
    await collectGarbage(server)
    const leftovers = [tempFile(server, crypto.randomUUID()), tempFile(server, 'not-an-upload.part'), tempFile(server, crypto.randomUUID(), 'cold')]
    for (const path of leftovers) writeFileSync(path, 'leftover')
    const live = await reserveUpload(server, 0)

    expect(await collectGarbage(server)).toEqual({ ...noWork, removed_temp_files: 3 })
    for (const path of leftovers) expect(existsSync(path)).toBe(false)
    expect(existsSync(tempFile(server, live))).toBe(true)
    expect(await objectStatus(server, live)).toBe('WRITING')

    // Once its upload is gone the temp file is a leftover too.
    await server.database.db.delete(objects).where(eq(objects.id, live))
    expect(await collectGarbage(server)).toEqual({ ...noWork, removed_temp_files: 1 })
    expect(existsSync(tempFile(server, live))).toBe(false)
  })

  test('blob files with no row are removed; blob files with a row are untouched', async () => {
    await collectGarbage(server)
    const kept = await upload(server, unique('kept'), bytesOf(`kept ${unique('k')}`))
    const orphanHex = `aabb${randomHex().slice(4)}`
    const orphan = blobFile(server, orphanHex)
    writeFile(orphan, 'orphaned bytes')
    const coldOrphan = blobFile(server, randomHex(), 'cold')
    writeFile(coldOrphan, 'cold orphan')
    // Not a blob name: the sweep leaves files it does not own alone.
    const stranger = `${dirname(orphan)}/README`
    writeFile(stranger, 'not a blob')

    expect(await collectGarbage(server)).toEqual({ ...noWork, removed_orphan_files: 2 })
    expect(existsSync(orphan)).toBe(false)
    expect(existsSync(coldOrphan)).toBe(false)
    expect(existsSync(stranger)).toBe(true)
    expect(await blobRow(server, orphanHex)).toBeUndefined()
    expect(existsSync(blobFile(server, kept.hex))).toBe(true)
    expect(await blobRow(server, kept.hex)).toMatchObject({ refCount: 1 })
  })

  test('a file that cannot be removed is counted and passed over: the pass goes on, and no row loses its file', async () => {
    await collectGarbage(server)
    const namespace = unique('stuck')
    const [first, stuck, last] = await Promise.all(['first', 'stuck', 'last'].map((name) => upload(server, namespace, bytesOf(`${name} ${namespace}`))))
    for (const object of [first!, stuck!, last!]) await remove(server, object.id)
    // Batches hold 2: the stuck blob comes second in the first batch, after one whose file goes.
    await unreferencedAgo(server, first!.hex, 3)
    await unreferencedAgo(server, stuck!.hex, 2)
    await unreferencedAgo(server, last!.hex, 1)
    const stuckFile = blobFile(server, stuck!.hex)
    makeUndeletable(stuckFile, true)
    try {
      const failuresBefore = await unremovableFiles(server)
      expect(await collectGarbage(server)).toEqual({ ...noWork, deleted_blobs: 2, reclaimed_bytes: first!.size + last!.size })
      expect(await unremovableFiles(server)).toBe(failuresBefore + 1)
      for (const object of [first!, last!]) {
        expect(existsSync(blobFile(server, object.hex))).toBe(false)
        expect(await blobRow(server, object.hex)).toBeUndefined()
      }
      expect(existsSync(stuckFile)).toBe(true)
      expect(await blobRow(server, stuck!.hex)).toMatchObject({ refCount: 0 })
      await expectEveryRowHasItsBytes(server)

      // Every pass tries again, and still finishes.
      expect(await collectGarbage(server)).toEqual(noWork)
      expect(await unremovableFiles(server)).toBe(failuresBefore + 2)
    } finally {
      makeUndeletable(stuckFile, false)
    }
    expect(await collectGarbage(server)).toEqual({ ...noWork, deleted_blobs: 1, reclaimed_bytes: stuck!.size })
    expect(existsSync(stuckFile)).toBe(false)
    expect(await blobRow(server, stuck!.hex)).toBeUndefined()
  })

  test('requests arriving while a pass runs share it and its answer', async () => {
    await collectGarbage(server)
    const object = await upload(server, unique('shared'), bytesOf(`shared pass ${unique('p')}`))
    await remove(server, object.id)

    const held = holdAt('gc:blob-unlinked')
    const first = fetch(`${server.url}/v1/admin/gc`, { method: 'POST', headers: asAdmin })
    await held.reached
    const audited = () => server.database.db.$count(auditEvents, eq(auditEvents.action, 'admin.gc'))
    const before = await audited()
    const second = fetch(`${server.url}/v1/admin/gc`, { method: 'POST', headers: asAdmin })
    // Each request is audited just before it asks for the pass.
    while ((await audited()) === before) await Bun.sleep(5)
    held.release()

    const answers = await Promise.all([first, second].map(async (response) => {
      expect((await response).status).toBe(200)
      return (await response).json()
    }))
    expect(answers).toEqual([
      { ...noWork, deleted_blobs: 1, reclaimed_bytes: object.size },
      { ...noWork, deleted_blobs: 1, reclaimed_bytes: object.size },
    ])
  })

  test('the pass is recorded for the status page', async () => {
    const before = Date.now()
    const body = bytesOf(`recorded ${unique('r')}`)
    const object = await upload(server, unique('recorded'), body)
    await remove(server, object.id)
    const outcome = await collectGarbage(server)
    expect(outcome.deleted_blobs).toBeGreaterThanOrEqual(1)

    const response = await fetch(`${server.url}/v1/admin/status`, { headers: asAdmin })
    expect(response.status).toBe(200)
    const run = (await response.json()).jobs.gc.last_run
    expect(run).toEqual({ started_at: expect.any(String), finished_at: expect.any(String), outcome, error: null })
    const started = Date.parse(run.started_at)
    const finished = Date.parse(run.finished_at)
    expect(new Date(started).toISOString()).toBe(run.started_at)
    expect(new Date(finished).toISOString()).toBe(run.finished_at)
    // Both clocks are this machine's; allow a little rounding.
    expect(started).toBeGreaterThanOrEqual(before - 5)
    expect(finished).toBeGreaterThanOrEqual(started - 5)
    expect(finished).toBeLessThanOrEqual(Date.now() + 5)
  })
})

describe.each(backends)('gc whose session dies on %s', (backend) => {
  // A server of its own: the pool that loses a session is not shared with other tests.
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend, { gc: { graceSecs: 0, tombstoneRetentionSecs: 0, stuckUploadTimeoutSecs: 3600 } })
  }, 60_000)
  // Closing the pools may wait out their 5 s timeout for the session that died.
  afterAll(() => server.stop(), 15_000)

  test('a batch whose deletion fails puts its files back: the rows that survive keep their bytes', async () => {
    await collectGarbage(server)
    const object = await upload(server, unique('interrupted'), bytesOf(`interrupted ${unique('i')}`))
    await remove(server, object.id)

    const held = holdAt('gc:blob-unlinked')
    const collecting = fetch(`${server.url}/v1/admin/gc`, { method: 'POST', headers: asAdmin })
    await held.reached
    // The pass's session dies while it holds the batch: its transaction is rolled back.
    const terminated = rowsOf<{ done: boolean }>(await server.database.db.execute(sql`
      select pg_terminate_backend(pid) as done from pg_stat_activity
      where datname = current_database() and state = 'idle in transaction' and pid <> pg_backend_pid()`))
    expect(terminated).toEqual([{ done: true }])
    held.release()
    const failed = await collecting
    expect(failed.status).toBeGreaterThanOrEqual(500)
    await failed.text()

    expect(await blobRow(server, object.hex)).toMatchObject({ refCount: 0 })
    expect(existsSync(blobFile(server, object.hex))).toBe(true)
    await expectEveryRowHasItsBytes(server)
    expect(readdirSync(`${server.dataDir}/hot/tmp`)).toEqual([])
    // The next pass collects it as usual.
    expect(await collectGarbage(server)).toEqual({ ...noWork, deleted_blobs: 1, reclaimed_bytes: object.size })
    expect(existsSync(blobFile(server, object.hex))).toBe(false)
  })
})

describe.each(backends)('gc with a grace period on %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend, { gc: { graceSecs: 3600, tombstoneRetentionSecs: 3600, stuckUploadTimeoutSecs: 1 } })
  }, 60_000)
  afterAll(() => server.stop())

  test('a blob unreferenced for less than the grace period stays; past it, it goes and the tombstone is kept', async () => {
    await collectGarbage(server)
    const body = bytesOf(`graced ${unique('g')}`)
    const object = await upload(server, unique('grace'), body)
    await remove(server, object.id)

    expect(await collectGarbage(server)).toEqual(noWork)
    expect(existsSync(blobFile(server, object.hex))).toBe(true)
    expect(await blobRow(server, object.hex)).toMatchObject({ refCount: 0, unreferencedSince: expect.any(String) })
    // The blob is not settled yet, so the delete is not finished either.
    expect(await objectStatus(server, object.id)).toBe('DELETING')

    await server.database.db
      .update(blobs)
      .set({ unreferencedSince: sql`now() - interval '2 hours'` })
      .where(eq(blobs.contentHash, `sha256:${object.hex}`))
    expect(await collectGarbage(server)).toEqual({ ...noWork, deleted_blobs: 1, reclaimed_bytes: body.byteLength })
    expect(existsSync(blobFile(server, object.hex))).toBe(false)
    expect(await blobRow(server, object.hex)).toBeUndefined()
    // Retention is an hour: the tombstone stays, as DELETED.
    expect(await objectStatus(server, object.id)).toBe('DELETED')
    expect(await collectGarbage(server)).toEqual(noWork)
    expect(await objectStatus(server, object.id)).toBe('DELETED')
  })

  test('a delete whose blob is still referenced is finished at once and its tombstone kept', async () => {
    const namespace = unique('shared')
    const body = bytesOf(`shared ${namespace}`)
    const first = await upload(server, namespace, body)
    await upload(server, namespace, body)
    await remove(server, first.id)
    expect(await objectStatus(server, first.id)).toBe('DELETING')

    await collectGarbage(server)
    expect(await objectStatus(server, first.id)).toBe('DELETED')
    expect(await blobRow(server, first.hex)).toMatchObject({ refCount: 1 })
    expect(existsSync(blobFile(server, first.hex))).toBe(true)
  })

  test('uploads stuck in WRITING past the timeout are reaped with their temp files; fresh ones are left', async () => {
    await collectGarbage(server)
    const stuckHot = await reserveUpload(server, 3600)
    const stuckCold = await reserveUpload(server, 120, 'cold')
    const fresh = await reserveUpload(server, 0)

    expect(await collectGarbage(server)).toEqual({ ...noWork, reaped_uploads: 2 })
    expect(await objectStatus(server, stuckHot)).toBeUndefined()
    expect(await objectStatus(server, stuckCold)).toBeUndefined()
    expect(existsSync(tempFile(server, stuckHot))).toBe(false)
    expect(existsSync(tempFile(server, stuckCold, 'cold'))).toBe(false)
    expect(await objectStatus(server, fresh)).toBe('WRITING')
    expect(existsSync(tempFile(server, fresh))).toBe(true)

    await server.database.db.delete(objects).where(eq(objects.id, fresh))
  })

  test('a blob file a stopped pass left in its temp directory goes back while the row lives, and goes once the row is gone', async () => {
    await collectGarbage(server)
    const object = await upload(server, unique('stopped'), bytesOf(`stopped ${unique('s')}`))
    await remove(server, object.id)
    // What a pass that stopped between moving the file and committing leaves: the row, and the file in the temp directory.
    const trash = tempFile(server, `gc-${object.hex}-${crypto.randomUUID()}`)
    renameSync(blobFile(server, object.hex), trash)
    age(trash, 7200)

    expect(await collectGarbage(server)).toEqual(noWork)
    expect(existsSync(trash)).toBe(false)
    expect(existsSync(blobFile(server, object.hex))).toBe(true)
    expect(await blobRow(server, object.hex)).toMatchObject({ refCount: 0 })

    // Past the grace period the blob is collected, and a copy left behind then is a plain leftover.
    await unreferencedAgo(server, object.hex, 2)
    writeFileSync(trash, 'left behind')
    age(trash, 7200)
    expect(await collectGarbage(server)).toEqual({ ...noWork, deleted_blobs: 1, reclaimed_bytes: object.size, removed_temp_files: 1 })
    expect(existsSync(trash)).toBe(false)
    expect(existsSync(blobFile(server, object.hex))).toBe(false)
  })

  test('leftover temp files wait for the grace period', async () => {
    await collectGarbage(server)
    const young = tempFile(server, crypto.randomUUID())
    const old = [tempFile(server, crypto.randomUUID()), tempFile(server, 'random-name', 'cold')]
    for (const path of [young, ...old]) writeFileSync(path, 'leftover')
    for (const path of old) age(path, 7200)

    expect(await collectGarbage(server)).toEqual({ ...noWork, removed_temp_files: 2 })
    for (const path of old) expect(existsSync(path)).toBe(false)
    expect(existsSync(young)).toBe(true)
  })

  test('orphan blob files wait for the grace period', async () => {
    await collectGarbage(server)
    const young = blobFile(server, randomHex())
    const old = blobFile(server, randomHex(), 'cold')
    writeFile(young, 'young orphan')
    writeFile(old, 'old orphan')
    age(old, 7200)

    expect(await collectGarbage(server)).toEqual({ ...noWork, removed_orphan_files: 1 })
    expect(existsSync(old)).toBe(false)
    expect(existsSync(young)).toBe(true)
  })
})
