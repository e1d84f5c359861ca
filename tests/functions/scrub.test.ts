import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { chmodSync, readFileSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { and, eq, sql } from 'drizzle-orm'
import { holdAt } from '../../core/barriers'
import { auditEvents, blobs, type StorageClass } from '../../core/db/schema'
import { adminToken, backends, startServer, storageBackends, type TestServer } from '../support/server'
import { blobRow, expectBytes } from '../support/assertions'

let counter = 0
/** Distinct names per test so tests sharing one server never see each other's objects. */
const unique = (prefix: string) => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 8)}`
const sha256 = (bytes: Uint8Array | string) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')
const bytesOf = (text: string) => new TextEncoder().encode(text)
// Test servers run with auth off unless asked; the admin token keeps every call valid either way.
const asAdmin = { authorization: `Bearer ${adminToken}` }

async function upload(server: TestServer, namespace: string, key: string, body: Uint8Array<ArrayBuffer>, storageClass: StorageClass = 'hot') {
  const response = await fetch(`${server.url}/v1/objects?namespace=${namespace}&tenant_id=acme&key=${key}&storage_class=${storageClass}`, { method: 'POST', body, headers: asAdmin })
  expect(response.status).toBe(201)
  return (await response.json()) as { id: string; content_hash: string }
}

async function scrub(server: TestServer) {
  const response = await fetch(`${server.url}/v1/admin/scrub`, { method: 'POST', headers: asAdmin })
  expect(response.status).toBe(200)
  return response.json()
}

const byId = (server: TestServer, id: string, method = 'GET') => fetch(`${server.url}/v1/objects/${id}?tenant_id=acme`, { method, headers: asAdmin })
const byKey = (server: TestServer, namespace: string, key: string, method = 'GET') => fetch(`${server.url}/v1/objects/by-key/${namespace}/acme/${key}`, { method, headers: asAdmin })

const blobFile = (server: TestServer, hex: string, storageClass: StorageClass = 'hot') =>
  `${server.dataDir}/${storageClass}/sha256/${hex.slice(0, 2)}/${hex.slice(2, 4)}/${hex}`

async function scrubCorruptTotal(server: TestServer): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text()
  return Number(/^juststorage_scrub_corrupt_blobs_total (\d+)/m.exec(text)?.[1] ?? NaN)
}

async function expectCorrupt(response: Response) {
  expect(response.status).toBe(500)
  expect(response.headers.get('content-type')).toStartWith('application/json')
  const body = await response.json()
  expect(body).toEqual({ error: expect.any(String), code: 'corrupt_object', request_id: response.headers.get('x-request-id') })
}

async function expectCorruptHead(response: Response) {
  expect(response.status).toBe(500)
  // Whatever HEAD carries, it never claims the damaged bytes' length as the object's.
  expect(await response.text()).toBe('')
}

/** Same length, different bytes: only re-hashing can tell. */
function flipBytes(path: string) {
  const bytes = readFileSync(path)
  for (let i = 0; i < bytes.length; i++) bytes[i] = bytes[i]! ^ 0xff
  writeFileSync(path, bytes)
}

/**
 * Makes a 4096-byte blob file unreadable while its size still matches. Root reads
 * any file, except a write-only sysfs attribute (EACCES for everyone), so there
 * the blob's path becomes a link to one.
 */
function makeUnreadable(path: string) {
  if (process.getuid?.() !== 0) return chmodSync(path, 0)
  const found = Bun.spawnSync(['find', '/sys/devices', '-maxdepth', '4', '-type', 'f', '-perm', '0200', '-size', '-5k']).stdout.toString().split('\n')[0]
  if (!found) throw new Error('no write-only sysfs attribute to stand for an unreadable file')
  unlinkSync(path)
  symlinkSync(found, path)
}

describe.each(storageBackends)('scrub on %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    // A long grace period: nothing is collected under the scrubber's feet.
    server = await startServer(backend, { gc: { graceSecs: 3600 } })
  }, 60_000)
  afterAll(() => server.stop())

  test('healthy blobs: every blob is checked, none is corrupt', async () => {
    const namespace = unique('healthy')
    await upload(server, namespace, 'a', bytesOf('alpha'))
    await upload(server, namespace, 'b', bytesOf('beta'))
    await upload(server, namespace, 'c', bytesOf('gamma'), 'cold')
    // Same bytes again: one blob, checked once.
    await upload(server, namespace, 'd', bytesOf('alpha'))
    // The same bytes in the other class are a blob of their own.
    await upload(server, namespace, 'e', bytesOf('alpha'), 'cold')

    expect(await scrub(server)).toEqual({ checked: 4, corrupt: [] })
  })
})

/** The filesystem driver: a blob is a file, which can be damaged, cut short, removed or made unreadable behind the service's back. */
describe.each(backends)('scrub on the filesystem of %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    // A long grace period: nothing is collected under the scrubber's feet.
    server = await startServer(backend, { gc: { graceSecs: 3600 } })
  }, 60_000)
  afterAll(() => server.stop())

  test('damaged bytes are found, reads fail with corrupt_object, and uploading the bytes again heals them', async () => {
    const namespace = unique('damaged')
    const body = new Uint8Array(randomBytes(200_000))
    const hex = sha256(body)
    const first = await upload(server, namespace, 'first', body)
    const second = await upload(server, namespace, 'second', body)
    const bystander = await upload(server, namespace, 'bystander', bytesOf(`fine ${namespace}`))
    const checkedBefore = (await scrub(server)).checked

    flipBytes(blobFile(server, hex))
    const report = await scrub(server)
    expect(report).toEqual({ checked: checkedBefore, corrupt: [{ content_hash: `sha256:${hex}`, storage_class: 'hot' }] })
    expect((await blobRow(server, hex))?.corruptAt).toEqual(expect.any(String))

    // Every object with that content fails, by id and by key, GET and HEAD; never the damaged bytes.
    await expectCorrupt(await byId(server, first.id))
    await expectCorrupt(await byId(server, second.id))
    await expectCorrupt(await byKey(server, namespace, 'first'))
    await expectCorrupt(await fetch(`${server.url}/v1/objects/${first.id}?tenant_id=acme`, { headers: { ...asAdmin, range: 'bytes=0-9' } }))
    await expectCorruptHead(await byId(server, first.id, 'HEAD'))
    await expectCorruptHead(await byKey(server, namespace, 'second', 'HEAD'))
    await expectBytes(await byId(server, bystander.id), bytesOf(`fine ${namespace}`))

    // Every pass re-hashes every blob: while it stays damaged, it is reported again.
    expect(await scrub(server)).toEqual({ checked: checkedBefore, corrupt: [{ content_hash: `sha256:${hex}`, storage_class: 'hot' }] })

    const healed = await upload(server, namespace, 'healer', body)
    expect(healed.content_hash).toBe(`sha256:${hex}`)
    expect(sha256(readFileSync(blobFile(server, hex)))).toBe(hex)
    expect(await blobRow(server, hex)).toMatchObject({ corruptAt: null, refCount: 3 })
    await expectBytes(await byId(server, first.id), body)
    await expectBytes(await byKey(server, namespace, 'second'), body)
    await expectBytes(await byId(server, healed.id), body)
    expect((await byId(server, first.id, 'HEAD')).status).toBe(200)
    expect(await scrub(server)).toEqual({ checked: checkedBefore, corrupt: [] })
  })

  test('a missing or truncated blob file is corrupt too', async () => {
    const namespace = unique('missing')
    const gone = bytesOf(`gone ${namespace}`)
    const short = bytesOf(`truncated ${namespace} ${'x'.repeat(100)}`)
    const goneObject = await upload(server, namespace, 'gone', gone, 'cold')
    const shortObject = await upload(server, namespace, 'short', short)
    unlinkSync(blobFile(server, sha256(gone), 'cold'))
    truncateSync(blobFile(server, sha256(short)), 10)

    const report = await scrub(server)
    expect(report.corrupt).toHaveLength(2)
    expect(report.corrupt).toEqual(
      expect.arrayContaining([
        { content_hash: `sha256:${sha256(gone)}`, storage_class: 'cold' },
        { content_hash: `sha256:${sha256(short)}`, storage_class: 'hot' },
      ]),
    )
    await expectCorrupt(await byId(server, goneObject.id))
    await expectCorrupt(await byId(server, shortObject.id))

    await upload(server, namespace, 'gone-again', gone, 'cold')
    await upload(server, namespace, 'short-again', short)
    await expectBytes(await byId(server, goneObject.id), gone)
    await expectBytes(await byId(server, shortObject.id), short)
    expect((await scrub(server)).corrupt).toEqual([])
  })

  test('a blob file that cannot be read is reported and marked, and the pass goes on', async () => {
    const namespace = unique('unreadable')
    const body = new Uint8Array(randomBytes(4096))
    const object = await upload(server, namespace, 'unreadable', body)
    const checkedBefore = (await scrub(server)).checked
    makeUnreadable(blobFile(server, sha256(body)))

    expect(await scrub(server)).toEqual({ checked: checkedBefore, corrupt: [{ content_hash: `sha256:${sha256(body)}`, storage_class: 'hot' }] })
    await expectCorrupt(await byId(server, object.id))

    // Uploading the bytes again puts a readable copy in its place.
    await upload(server, namespace, 'readable', body)
    await expectBytes(await byId(server, object.id), body)
    expect(await scrub(server)).toEqual({ checked: checkedBefore, corrupt: [] })
  })

  test('walks every blob of both classes across pages', async () => {
    const namespace = unique('pages')
    // More than one page (100) per pass, in both storage classes.
    const uploads: { hex: string; storageClass: StorageClass }[] = []
    for (let i = 0; i < 130; i += 26) {
      uploads.push(
        ...(await Promise.all(
          Array.from({ length: 26 }, async (_, j) => {
            const storageClass: StorageClass = (i + j) % 2 === 0 ? 'hot' : 'cold'
            const body = bytesOf(`page ${namespace} ${i + j}`)
            await upload(server, namespace, `k${i + j}`, body, storageClass)
            return { hex: sha256(body), storageClass }
          }),
        )),
      )
    }
    const stored = (await server.database.db.select().from(blobs)).length
    expect(stored).toBeGreaterThan(130)
    // The last blob in scrub order (hot before cold, then by hash) sits on the last page.
    const last = uploads.filter((blob) => blob.storageClass === 'cold').sort((a, b) => a.hex.localeCompare(b.hex)).at(-1)!
    const first = uploads.filter((blob) => blob.storageClass === 'hot').sort((a, b) => a.hex.localeCompare(b.hex))[0]!
    flipBytes(blobFile(server, last.hex, 'cold'))
    flipBytes(blobFile(server, first.hex, 'hot'))

    const report = await scrub(server)
    expect(report.checked).toBe(stored)
    const ours = new Set(uploads.map((blob) => `sha256:${blob.hex}`))
    expect(report.corrupt.filter((blob: { content_hash: string }) => ours.has(blob.content_hash))).toEqual([
      { content_hash: `sha256:${first.hex}`, storage_class: 'hot' },
      { content_hash: `sha256:${last.hex}`, storage_class: 'cold' },
    ])
  })
})

/** Damage a heal can undo: a blob file changed in place, and inline bytes changed in their row. */
describe.each(backends)('a heal during a scrub on the filesystem of %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    // Small bodies inline and larger ones in files, so both kinds of heal are seen.
    server = await startServer(backend, { gc: { graceSecs: 3600 }, inlineMaxBytes: 1024 })
  }, 60_000)
  afterAll(() => server.stop())

  test('is never undone: the scrubber marks a blob only while the bytes it checked are still in place', async () => {
    const namespace = unique('healing')
    const inFile = new Uint8Array(randomBytes(8192))
    const inline = new Uint8Array(randomBytes(512))
    const fileObject = await upload(server, namespace, 'file', inFile)
    const inlineObject = await upload(server, namespace, 'inline', inline)
    flipBytes(blobFile(server, sha256(inFile)))
    await server.database.db
      .update(blobs)
      .set({ inlineData: sql`decode(md5('damaged'), 'hex')` })
      .where(and(eq(blobs.storageClass, 'hot'), eq(blobs.contentHash, `sha256:${sha256(inline)}`)))
    expect((await scrub(server)).corrupt).toHaveLength(2)

    // The next pass finds each blob damaged again; before it marks one, an upload of the same bytes heals it.
    const heals = [
      { hex: sha256(inFile), heal: () => upload(server, namespace, 'file-again', inFile) },
      // No key: the one-statement commit of a small body.
      { hex: sha256(inline), heal: () => fetch(`${server.url}/v1/objects?namespace=${namespace}&tenant_id=acme`, { method: 'POST', body: inline, headers: asAdmin }).then((r) => expect(r.status).toBe(201)) },
    ].sort((a, b) => a.hex.localeCompare(b.hex))
    let held = holdAt('scrub:blob-checked')
    const scrubbing = scrub(server)
    for (const { heal } of heals) {
      await held.reached
      await heal()
      const checked = held
      held = holdAt('scrub:blob-checked')
      checked.release()
    }
    held.release()

    expect(await scrubbing).toEqual({ checked: 2, corrupt: [] })
    for (const { hex } of heals) expect(await blobRow(server, hex)).toMatchObject({ corruptAt: null })
    await expectBytes(await byId(server, fileObject.id), inFile)
    await expectBytes(await byId(server, inlineObject.id), inline)
  })

  test('requests arriving while a pass runs share it: one pass, one answer, counted once', async () => {
    const body = new Uint8Array(randomBytes(4096))
    await upload(server, unique('shared'), 'damaged', body)
    flipBytes(blobFile(server, sha256(body)))
    const countedBefore = await scrubCorruptTotal(server)

    const held = holdAt('scrub:blob-checked')
    const first = scrub(server)
    await held.reached
    const audited = () => server.database.db.$count(auditEvents, eq(auditEvents.action, 'admin.scrub'))
    const before = await audited()
    const second = scrub(server)
    // Each request is audited just before it asks for the pass.
    while ((await audited()) === before) await Bun.sleep(5)
    held.release()

    const [one, other] = await Promise.all([first, second])
    expect(other).toEqual(one)
    expect(one.corrupt).toContainEqual({ content_hash: `sha256:${sha256(body)}`, storage_class: 'hot' })
    expect(await scrubCorruptTotal(server)).toBe(countedBefore + one.corrupt.length)
  })
})

describe.each(backends)('scrub rate cap on %s', (backend) => {
  let server: TestServer
  const mib = 2 ** 20
  beforeAll(async () => {
    server = await startServer(backend, { scrubMaxBytesPerSec: mib })
  }, 60_000)
  afterAll(() => server.stop())

  test('reads no faster than SCRUB_MAX_BYTES_PER_SEC', async () => {
    const namespace = unique('rate')
    for (const key of ['a', 'b', 'c']) await upload(server, namespace, key, new Uint8Array(randomBytes(mib)))

    const started = performance.now()
    expect(await scrub(server)).toEqual({ checked: 3, corrupt: [] })
    const elapsedMs = performance.now() - started
    // 3 MiB at 1 MiB/s is about 3 s; the bound is loose on purpose.
    expect(elapsedMs).toBeGreaterThanOrEqual(2000)
  })
})
