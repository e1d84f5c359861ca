import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync } from 'node:fs'
import { and, eq, sql } from 'drizzle-orm'
import { holdAt } from '../../core/barriers'
import { blobs } from '../../core/db/schema'
import { rowsOf } from '../../core/db/client'
import { blobPath } from '../../core/store/paths'
import { adminToken, startServer, type TestServer } from '../support/server'

const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')

/** Waits until some session is blocked on a lock: the condition, not a duration. */
async function someoneWaitsOnALock(server: TestServer): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const [row] = rowsOf<{ waiting: number }>(await server.database.db.execute(sql`select count(*)::int as waiting from pg_locks where not granted`))
    if (row!.waiting > 0) return
    await Bun.sleep(10)
  }
  throw new Error('no session ever waited on a lock')
}

async function lockWaiters(server: TestServer): Promise<number> {
  return rowsOf<{ waiting: number }>(await server.database.db.execute(sql`select count(*)::int as waiting from pg_locks where not granted`))[0]!.waiting
}

async function waitUntil(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await condition()) return
    await Bun.sleep(10)
  }
  throw new Error('the condition never held')
}

/** An upload that committed after the race reads back as these bytes. */
async function expectStored(server: TestServer, response: Response, hex: string): Promise<void> {
  expect(response.status).toBe(201)
  const { id } = await response.json()
  const download = await fetch(`${server.url}/v1/objects/${id}?tenant_id=t`)
  expect(download.status).toBe(200)
  expect(sha256(new Uint8Array(await download.arrayBuffer()))).toBe(hex)
}

/** The classic interleavings of upload, delete, download and GC, forced with barriers instead of sleeps. */
describe('races on postgres', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer('postgres', { gc: { graceSecs: 0 } })
  })
  afterAll(() => server.stop())

  const upload = (key: string, body: BodyInit) =>
    fetch(`${server.url}/v1/objects?namespace=races&tenant_id=t&key=${key}`, { method: 'POST', body })
  const gc = () => fetch(`${server.url}/v1/admin/gc`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}` } }).then((r) => r.json())
  const blobRow = async (hex: string) =>
    (await server.database.db.select().from(blobs).where(and(eq(blobs.storageClass, 'hot'), eq(blobs.contentHash, `sha256:${hex}`))))[0]

  test('a dedup hit that arrives while GC deletes the blob re-creates it from its own bytes', async () => {
    const body = crypto.getRandomValues(new Uint8Array(64 * 1024))
    const hex = sha256(body)
    const first = await (await upload('gc-victim', body)).json()
    expect((await fetch(`${server.url}/v1/objects/${first.id}?tenant_id=t`, { method: 'DELETE' })).status).toBe(204)

    const held = holdAt('gc:blob-unlinked')
    const collecting = gc()
    await held.reached // GC holds the blob row lock and has unlinked the file
    expect(existsSync(blobPath(server.roots, 'hot', hex))).toBe(false)
    const uploading = upload('dedup-hit', body)
    await someoneWaitsOnALock(server) // the commit waits for the blob lock GC holds
    held.release()

    expect((await collecting).deleted_blobs).toBe(1)
    await expectStored(server, await uploading, hex)
    expect((await blobRow(hex))?.refCount).toBe(1)
    expect(existsSync(blobPath(server.roots, 'hot', hex))).toBe(true)
  })

  test('GC passes over a blob whose commit holds its lock, and the commit wins', async () => {
    const body = crypto.getRandomValues(new Uint8Array(32 * 1024))
    const hex = sha256(body)
    const first = await (await upload('commit-victim', body)).json()
    expect((await fetch(`${server.url}/v1/objects/${first.id}?tenant_id=t`, { method: 'DELETE' })).status).toBe(204)
    expect((await blobRow(hex))?.refCount).toBe(0)

    const held = holdAt('commit:blobs-locked')
    const uploading = upload('commit-wins', body)
    await held.reached // the commit holds the blob row lock, its reference not yet committed
    const collected = await gc() // SKIP LOCKED: the held blob is not touched
    held.release()

    expect(collected.deleted_blobs).toBe(0)
    const response = await uploading
    expect(response.status).toBe(201)
    const object = await response.json()
    const download = await fetch(`${server.url}/v1/objects/${object.id}?tenant_id=t`)
    expect(sha256(new Uint8Array(await download.arrayBuffer()))).toBe(hex)
    expect((await blobRow(hex))?.refCount).toBe(1)
    expect((await gc()).deleted_blobs).toBe(0)
    expect(existsSync(blobPath(server.roots, 'hot', hex))).toBe(true)
  })

  test('a download that has started survives delete and collection of its blob', async () => {
    const body = crypto.getRandomValues(new Uint8Array(16 * 1024 * 1024))
    const object = await (await upload('streaming', body)).json()
    const response = await fetch(`${server.url}/v1/objects/${object.id}?tenant_id=t`)
    const reader = response.body!.getReader()
    const chunks: Uint8Array[] = []
    const first = await reader.read()
    chunks.push(first.value!)

    expect((await fetch(`${server.url}/v1/objects/${object.id}?tenant_id=t`, { method: 'DELETE' })).status).toBe(204)
    expect((await gc()).deleted_blobs).toBe(1)
    expect(existsSync(blobPath(server.roots, 'hot', sha256(body)))).toBe(false)

    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
    }
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(body))
  })

  test('a download looked up before a delete and collection answers 404, never wrong bytes', async () => {
    const body = crypto.getRandomValues(new Uint8Array(8 * 1024))
    const object = await (await upload('looked-up', body)).json()
    const held = holdAt('download:before-send')
    const downloading = fetch(`${server.url}/v1/objects/${object.id}?tenant_id=t`)
    await held.reached // found COMMITTED, file not yet opened
    expect((await fetch(`${server.url}/v1/objects/${object.id}?tenant_id=t`, { method: 'DELETE' })).status).toBe(204)
    expect((await gc()).deleted_blobs).toBe(1)
    held.release()

    const response = await downloading
    expect(response.status).toBe(404)
    expect((await response.json()).code).toBe('not_found')
  })
})

/** The same interleaving for small bodies, which commit in one statement with their bytes inline. */
describe('races of inline objects on postgres', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer('postgres', { gc: { graceSecs: 0 }, inlineMaxBytes: 64 * 1024 })
  })
  afterAll(() => server.stop())

  const gc = () => fetch(`${server.url}/v1/admin/gc`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}` } }).then((r) => r.json())

  test('an unkeyed dedup hit that arrives while GC deletes the blob row re-creates it with its own bytes', async () => {
    const body = crypto.getRandomValues(new Uint8Array(4096))
    const hex = sha256(body)
    const post = () => fetch(`${server.url}/v1/objects?namespace=inline-races&tenant_id=t`, { method: 'POST', body })
    const first = await (await post()).json()
    expect((await fetch(`${server.url}/v1/objects/${first.id}?tenant_id=t`, { method: 'DELETE' })).status).toBe(204)

    const held = holdAt('gc:blob-unlinked')
    const collecting = gc()
    await held.reached // GC holds the row lock of the unreferenced blob
    const uploading = post()
    await someoneWaitsOnALock(server) // the upsert waits for GC's lock
    held.release()

    expect((await collecting).deleted_blobs).toBe(1)
    await expectStored(server, await uploading, hex)
    const [row] = await server.database.db.select().from(blobs).where(and(eq(blobs.storageClass, 'hot'), eq(blobs.contentHash, `sha256:${hex}`)))
    expect(row?.refCount).toBe(1)
    expect(new Uint8Array(row!.inlineData!)).toEqual(body)
  })

  const put = (key: string, body: BodyInit) => fetch(`${server.url}/v1/objects/by-key/inline-races/t/${key}`, { method: 'PUT', body })
  const deleteKey = (key: string) => fetch(`${server.url}/v1/objects/by-key/inline-races/t/${key}`, { method: 'DELETE' })
  const liveObjects = async (key: string) =>
    rowsOf<{ n: number }>(await server.database.db.execute(sql`select count(*)::int as n from objects where namespace = 'inline-races' and key = ${key} and status = 'COMMITTED'`))[0]!.n
  const refCountOf = async (hex: string) => (await server.database.db.select().from(blobs).where(and(eq(blobs.storageClass, 'hot'), eq(blobs.contentHash, `sha256:${hex}`))))[0]?.refCount

  /**
   * Holds a lock in a transaction of its own until released: a real lock that a
   * one-statement commit or delete waits on, where no barrier can stop it.
   */
  async function holdLock(statement: ReturnType<typeof sql>): Promise<{ release: () => Promise<void> }> {
    let release!: () => void
    let locked!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    const isLocked = new Promise<void>((resolve) => (locked = resolve))
    const transaction = server.database.db.transaction(async (tx) => {
      await tx.execute(statement)
      locked()
      await released
      throw new Error('rolled back')
    }).catch(() => {})
    await isLocked
    return { release: async () => (release(), await transaction) }
  }

  test('GC passes over a blob whose one-statement keyed commit holds its lock, and the commit wins', async () => {
    const body = crypto.getRandomValues(new Uint8Array(4096))
    const hex = sha256(body)
    const first = await (await put('held-first', body)).json()
    expect((await deleteKey('held-first')).status).toBe(204)
    expect(await refCountOf(hex)).toBe(0)

    // An uncommitted live row under the same key: the commit, having locked the
    // blob row and added its reference, waits for it at its own insert.
    const rival = await holdLock(sql`insert into objects (id, namespace, tenant_id, key, status, storage_class, content_type)
      values (gen_random_uuid(), 'inline-races', 't', 'held-commit', 'COMMITTED', 'hot', 'application/octet-stream')`)
    const uploading = put('held-commit', body)
    await someoneWaitsOnALock(server)
    const collected = await gc() // SKIP LOCKED: the blob the commit holds is not touched
    await rival.release()

    expect(collected.deleted_blobs).toBe(0)
    const response = await uploading
    expect(response.status).toBe(201)
    const object = await response.json()
    expect(object.id).not.toBe(first.id)
    const download = await fetch(`${server.url}/v1/objects/${object.id}?tenant_id=t`)
    expect(sha256(new Uint8Array(await download.arrayBuffer()))).toBe(hex)
    expect(await refCountOf(hex)).toBe(1)
  })

  test('a replace that arrives while a delete of its key is under way creates the key anew', async () => {
    const old = crypto.getRandomValues(new Uint8Array(4096))
    const fresh = crypto.getRandomValues(new Uint8Array(4096))
    expect((await put('delete-then-put', old)).status).toBe(201)

    // The delete has locked the object row and waits for the blob row.
    const blobLock = await holdLock(sql`select 1 from blobs where content_hash = ${`sha256:${sha256(old)}`} for update`)
    const deleting = deleteKey('delete-then-put')
    await someoneWaitsOnALock(server)
    const replacing = put('delete-then-put', fresh) // waits for the object row the delete holds
    await waitUntil(async () => (await lockWaiters(server)) >= 2)
    await blobLock.release()

    expect((await deleting).status).toBe(204)
    expect((await replacing).status).toBe(201) // created: the object it would have replaced was deleted first
    expect(await liveObjects('delete-then-put')).toBe(1)
    expect(await refCountOf(sha256(old))).toBe(0)
    expect(await refCountOf(sha256(fresh))).toBe(1)
    const download = await fetch(`${server.url}/v1/objects/by-key/inline-races/t/delete-then-put`)
    expect(sha256(new Uint8Array(await download.arrayBuffer()))).toBe(sha256(fresh))
  })

  test('a delete that arrives while a replace of its key is under way finds nothing to delete', async () => {
    const old = crypto.getRandomValues(new Uint8Array(4096))
    const fresh = crypto.getRandomValues(new Uint8Array(4096))
    expect((await put('put-then-delete', old)).status).toBe(201)

    // The replace holds the key and its live row, and waits for the new blob's row.
    const blobs0 = await holdLock(sql`insert into blobs (storage_class, content_hash, size_bytes, ref_count) values ('hot', ${`sha256:${sha256(fresh)}`}, 4096, 0)`)
    const replacing = put('put-then-delete', fresh)
    await someoneWaitsOnALock(server)
    const deleting = deleteKey('put-then-delete') // waits for the live row the replace holds
    await waitUntil(async () => (await lockWaiters(server)) >= 2)
    await blobs0.release()

    expect((await replacing).status).toBe(200)
    // The row it waited for was replaced: the delete names an object that no longer is.
    expect((await deleting).status).toBe(404)
    expect(await liveObjects('put-then-delete')).toBe(1)
    expect(await refCountOf(sha256(old))).toBe(0)
    expect(await refCountOf(sha256(fresh))).toBe(1)
  })
})
