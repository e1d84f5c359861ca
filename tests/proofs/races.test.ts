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
    expect(existsSync(blobPath(server.store.roots, 'hot', hex))).toBe(false)
    const uploading = upload('dedup-hit', body)
    await someoneWaitsOnALock(server) // the commit waits for the blob lock GC holds
    held.release()

    expect((await collecting).deleted_blobs).toBe(1)
    await expectStored(server, await uploading, hex)
    expect((await blobRow(hex))?.refCount).toBe(1)
    expect(existsSync(blobPath(server.store.roots, 'hot', hex))).toBe(true)
  })

  test('GC passes over a blob whose commit holds its lock, and the commit wins', async () => {
    const body = crypto.getRandomValues(new Uint8Array(32 * 1024))
    const hex = sha256(body)
    const first = await (await upload('commit-victim', body)).json()
    expect((await fetch(`${server.url}/v1/objects/${first.id}?tenant_id=t`, { method: 'DELETE' })).status).toBe(204)
    expect((await blobRow(hex))?.refCount).toBe(0)

    const held = holdAt('commit:blobs-locked')
    const uploading = upload('commit-wins', body)
    await held.reached // the commit holds the blob row lock, reference not yet added
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
    expect(existsSync(blobPath(server.store.roots, 'hot', hex))).toBe(true)
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
    expect(existsSync(blobPath(server.store.roots, 'hot', sha256(body)))).toBe(false)

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
})
