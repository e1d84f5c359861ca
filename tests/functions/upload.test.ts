import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { and, eq, inArray, sql } from 'drizzle-orm'
import { blobs, objects, type StorageClass } from '../../core/db/schema'
import { backends, startServer, storageBackends, type TestServer } from '../support/server'
import { expectBytes, expectError } from '../support/assertions'

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const utcTimestamp = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/
const objectFields = ['id', 'namespace', 'tenant_id', 'key', 'status', 'storage_class', 'content_hash', 'size_bytes', 'content_type', 'metadata', 'created_at', 'updated_at', 'expires_at']

let counter = 0
/** Distinct names per test so tests sharing one server never see each other's objects. */
const unique = (prefix: string) => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 8)}`
const sha256 = (bytes: Uint8Array | string) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')
const base64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64')
const bytesOf = (text: string) => new TextEncoder().encode(text)
const encodeKeyPath = (key: string) => key.split('/').map(encodeURIComponent).join('/')
const noContent = bytesOf('ignored body')

type Query = Record<string, string> | string

function queryString(query: Query): string {
  if (typeof query === 'string') return query
  return Object.entries(query)
    .map(([name, value]) => `${name}=${encodeURIComponent(value)}`)
    .join('&')
}

function post(server: TestServer, query: Query, body: BodyInit | null, headers: Record<string, string> = {}) {
  return fetch(`${server.url}/v1/objects?${queryString(query)}`, { method: 'POST', body, headers })
}

function put(server: TestServer, namespace: string, tenant: string, key: string, body: BodyInit, headers: Record<string, string> = {}) {
  return fetch(`${server.url}/v1/objects/by-key/${namespace}/${tenant}/${encodeKeyPath(key)}`, { method: 'PUT', body, headers })
}

const getById = (server: TestServer, id: string, tenant: string) => fetch(`${server.url}/v1/objects/${id}?tenant_id=${tenant}`)
const getByKey = (server: TestServer, namespace: string, tenant: string, key: string) =>
  fetch(`${server.url}/v1/objects/by-key/${namespace}/${tenant}/${encodeKeyPath(key)}`)

const storageClasses: StorageClass[] = ['hot', 'cold']

/** Whether a class's blob store holds the blob. */
const isStored = async (server: TestServer, storageClass: StorageClass, hex: string) => (await server.store.blobs[storageClass].size(hex)) !== null

/** All of a blob's stored bytes, read through its class's blob store; null when it is missing. */
async function storedBytes(server: TestServer, storageClass: StorageClass, hex: string): Promise<Uint8Array | null> {
  const store = server.store.blobs[storageClass]
  const size = await store.size(hex)
  if (size === null) return null
  return new Uint8Array(await new Response(store.read(hex, 0, size)).arrayBuffer())
}

/** Every blob both classes' stores list, as `class:hex`. */
async function storedBlobs(server: TestServer): Promise<string[]> {
  const found: string[] = []
  for (const storageClass of storageClasses) {
    for await (const blob of server.store.blobs[storageClass].blobs()) found.push(`${storageClass}:${blob.hex}`)
  }
  return found.sort()
}

/** The staged bytes of uploads that either class's store still holds, as `class:upload id`. */
async function stagedUploads(server: TestServer): Promise<string[]> {
  const found: string[] = []
  for (const storageClass of storageClasses) {
    for await (const leftover of server.store.blobs[storageClass].leftovers()) {
      if (leftover.kind === 'staged') found.push(`${storageClass}:${leftover.uploadId}`)
    }
  }
  return found.sort()
}

/** For the tests of the filesystem driver: a blob's file, and what is in the classes' temp directories. */
const blobFile = (server: TestServer, storageClass: 'hot' | 'cold', hex: string) =>
  `${server.dataDir}/${storageClass}/sha256/${hex.slice(0, 2)}/${hex.slice(2, 4)}/${hex}`
const tempFiles = (server: TestServer) => ['hot', 'cold'].flatMap((storageClass) => readdirSync(`${server.dataDir}/${storageClass}/tmp`))

async function blobRow(server: TestServer, storageClass: 'hot' | 'cold', hex: string) {
  const [row] = await server.database.db
    .select()
    .from(blobs)
    .where(and(eq(blobs.storageClass, storageClass), eq(blobs.contentHash, `sha256:${hex}`)))
  return row
}

const objectRows = (server: TestServer, namespace: string) => server.database.db.select().from(objects).where(eq(objects.namespace, namespace))

/** Everything an upload could leave behind: rows, stored blobs and staged bytes. */
async function snapshot(server: TestServer) {
  const db = server.database.db
  return {
    objects: (await db.select({ id: objects.id, status: objects.status }).from(objects)).map((row) => `${row.id}:${row.status}`).sort(),
    blobs: (await db.select().from(blobs)).map((row) => `${row.storageClass}:${row.contentHash}:${row.refCount}`).sort(),
    stored: await storedBlobs(server),
    staged: await stagedUploads(server),
  }
}

/** The server finishes a disconnected upload on its own schedule; wait a bounded time for it. */
async function eventually(condition: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time')
    await Bun.sleep(20)
  }
}

async function openRawRequest(server: TestServer, head: string): Promise<Socket> {
  const socket = connect(Number(new URL(server.url).port), '127.0.0.1')
  await once(socket, 'connect')
  socket.write(head)
  return socket
}

describe.each(storageBackends)('upload on %s', (backend) => {
  // A directory shows an upload's staged bytes as they arrive; a bucket shows nothing before its first part is stored.
  const inFlightStaged = backend === 's3' ? 0 : 1
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend)
  }, 60_000)
  afterAll(() => server.stop())

  describe('happy path', () => {
    test('stores the body and answers 201 with Location and the object JSON', async () => {
      const namespace = unique('happy')
      const body = bytesOf(`hello ${namespace}`)
      const hex = sha256(body)
      const metadata = { owner: 'team-a', nested: { tags: ['x', 'y'], n: 1 } }
      const response = await post(server, { namespace, tenant_id: 'acme', key: 'docs/readme.txt' }, body, {
        'content-type': 'text/plain; charset=utf-8',
        'x-metadata': JSON.stringify(metadata),
      })
      expect(response.status).toBe(201)
      const json = await response.json()
      expect(Object.keys(json).sort()).toEqual([...objectFields].sort())
      expect(json).toEqual({
        id: expect.stringMatching(uuid),
        namespace,
        tenant_id: 'acme',
        key: 'docs/readme.txt',
        status: 'COMMITTED',
        storage_class: 'hot',
        content_hash: `sha256:${hex}`,
        size_bytes: body.byteLength,
        content_type: 'text/plain; charset=utf-8',
        metadata,
        created_at: expect.stringMatching(utcTimestamp),
        updated_at: expect.stringMatching(utcTimestamp),
        expires_at: null,
      })
      expect(response.headers.get('location')).toBe(`/v1/objects/${json.id}`)

      expect(await storedBytes(server, 'hot', hex)).toEqual(body)
      expect(await isStored(server, 'cold', hex)).toBe(false)
      expect(await stagedUploads(server)).toEqual([])
      expect((await blobRow(server, 'hot', hex))?.refCount).toBe(1)

      const download = await getById(server, json.id, 'acme')
      expect(download.headers.get('content-type')).toBe('text/plain; charset=utf-8')
      await expectBytes(download, body)
    })

    test('defaults content type to application/octet-stream, metadata to {} and key to null', async () => {
      const namespace = unique('defaults')
      const body = bytesOf(`no headers ${namespace}`)
      const response = await post(server, { namespace, tenant_id: 'acme' }, new Blob([body]))
      expect(response.status).toBe(201)
      const json = await response.json()
      expect(json).toMatchObject({ key: null, content_type: 'application/octet-stream', metadata: {}, size_bytes: body.byteLength })
      const [row] = await objectRows(server, namespace)
      expect(row).toMatchObject({ status: 'COMMITTED', contentType: 'application/octet-stream', metadata: {}, key: null })
      expect((await getById(server, json.id, 'acme')).headers.get('content-type')).toBe('application/octet-stream')
    })

    test('stores an empty body', async () => {
      const namespace = unique('empty')
      const response = await post(server, { namespace, tenant_id: 'acme', key: 'empty' }, new Uint8Array(0))
      expect(response.status).toBe(201)
      const hex = sha256(new Uint8Array(0))
      expect(await response.json()).toMatchObject({ size_bytes: 0, content_hash: `sha256:${hex}` })
      expect(await server.store.blobs.hot.size(hex)).toBe(0)
      await expectBytes(await getByKey(server, namespace, 'acme', 'empty'), new Uint8Array(0))
    })

    test("a cold object is written to the cold class's store", async () => {
      const namespace = unique('cold')
      const body = bytesOf(`cold ${namespace}`)
      const hex = sha256(body)
      const response = await post(server, { namespace, tenant_id: 'acme', key: 'c', storage_class: 'COLD' }, body)
      expect(response.status).toBe(201)
      expect(await response.json()).toMatchObject({ storage_class: 'cold', content_hash: `sha256:${hex}` })
      expect(await storedBytes(server, 'cold', hex)).toEqual(body)
      expect(await isStored(server, 'hot', hex)).toBe(false)
      expect(await blobRow(server, 'hot', hex)).toBeUndefined()
      expect((await blobRow(server, 'cold', hex))?.refCount).toBe(1)
      expect(await stagedUploads(server)).toEqual([])
      await expectBytes(await getByKey(server, namespace, 'acme', 'c'), body)
    })

    test('takes namespace, tenant, key and storage class from headers', async () => {
      const namespace = unique('headers')
      const key = 'a/b/ü 漢字.bin'
      const body = bytesOf(`via headers ${namespace}`)
      const response = await post(server, '', body, {
        'x-namespace': namespace,
        'x-tenant': 'Tenant.One',
        'x-key': encodeURIComponent(key),
        'x-storage-class': 'cold',
      })
      expect(response.status).toBe(201)
      expect(await response.json()).toMatchObject({ namespace, tenant_id: 'Tenant.One', key, storage_class: 'cold' })
      expect(await isStored(server, 'cold', sha256(body))).toBe(true)
      await expectBytes(await getByKey(server, namespace, 'Tenant.One', key), body)
    })

    test('the same value in query and header is accepted', async () => {
      const namespace = unique('both')
      const response = await post(server, { namespace, tenant_id: 'acme', key: 'k/ü', storage_class: 'hot' }, bytesOf('both'), {
        'x-namespace': namespace,
        'x-tenant': 'acme',
        'x-key': encodeURIComponent('k/ü'),
        'x-storage-class': 'hot',
      })
      expect(response.status).toBe(201)
      expect(await response.json()).toMatchObject({ namespace, tenant_id: 'acme', key: 'k/ü', storage_class: 'hot' })
    })

    test('stores the namespace lowercased and compares it lowercased', async () => {
      const namespace = unique('MiXeD')
      const response = await post(server, { namespace, tenant_id: 'acme', key: 'k' }, bytesOf('mixed'))
      expect(response.status).toBe(201)
      expect((await response.json()).namespace).toBe(namespace.toLowerCase())
      expect(await objectRows(server, namespace)).toEqual([])
      expect((await objectRows(server, namespace.toLowerCase())).length).toBe(1)
      await expectError(await post(server, { namespace: namespace.toUpperCase(), tenant_id: 'acme', key: 'k' }, bytesOf('again')), 409, 'key_exists')
    })
  })

  describe('keys', () => {
    test('keys with / and unicode round-trip through the query and X-Key', async () => {
      const namespace = unique('keys')
      for (const key of ['a/b/ü 漢字.bin', '/leading/and//double/', 'plus+percent%amp&eq=hash#q?']) {
        const viaQuery = bytesOf(`query ${key}`)
        const viaHeader = bytesOf(`header ${key}`)
        const first = await post(server, { namespace, tenant_id: 'acme', key }, viaQuery)
        expect(first.status).toBe(201)
        expect((await first.json()).key).toBe(key)
        const second = await post(server, { namespace: `${namespace}-h`, tenant_id: 'acme' }, viaHeader, { 'x-key': encodeURIComponent(key) })
        expect(second.status).toBe(201)
        expect((await second.json()).key).toBe(key)
        await expectBytes(await getByKey(server, namespace, 'acme', key), viaQuery)
        await expectBytes(await getByKey(server, `${namespace}-h`, 'acme', key), viaHeader)
      }
    })

    test('a key of exactly 1024 bytes is accepted', async () => {
      const key = 'é'.repeat(512)
      const response = await post(server, { namespace: unique('longkey'), tenant_id: 'acme', key }, bytesOf('long key'))
      expect(response.status).toBe(201)
      expect((await response.json()).key).toBe(key)
    })

    const invalidKeys: [string, Query, Record<string, string>][] = [
      ['invalid UTF-8 in the query', 'key=%FF', {}],
      ['invalid UTF-8 in X-Key', '', { 'x-key': '%FF' }],
      ['a truncated UTF-8 sequence', 'key=%C3', {}],
      ['a control character', { key: 'a\u0001b' }, {}],
      ['DEL', { key: 'a\u007f' }, {}],
      ['a newline in X-Key', '', { 'x-key': encodeURIComponent('a\nb') }],
      ['NUL', 'key=a%00', {}],
      ['1025 bytes', { key: 'a'.repeat(1025) }, {}],
      ['1026 bytes of two-byte characters', { key: 'é'.repeat(513) }, {}],
      ['an empty key=', 'key=', {}],
      ['a malformed percent-encoding', 'key=a%zz', {}],
    ]
    test.each(invalidKeys)('%s → 400 invalid_key and nothing left', async (_name, keyQuery, headers) => {
      const before = await snapshot(server)
      const namespace = unique('badkey')
      const query = `namespace=${namespace}&tenant_id=acme${queryString(keyQuery) ? `&${queryString(keyQuery)}` : ''}`
      await expectError(await post(server, query, noContent, headers), 400, 'invalid_key')
      expect(await objectRows(server, namespace)).toEqual([])
      expect(await snapshot(server)).toEqual(before)
      expect(await stagedUploads(server)).toEqual([])
    })
  })

  describe('parameter validation', () => {
    const bigMetadata = JSON.stringify({ blob: 'x'.repeat(8 * 1024) })
    const invalid: [string, Record<string, string>, Record<string, string>, number, string][] = [
      ['missing namespace', { tenant_id: 'acme' }, {}, 400, 'invalid_namespace'],
      ['empty namespace', { namespace: '', tenant_id: 'acme' }, {}, 400, 'invalid_namespace'],
      ['namespace with a dot', { namespace: 'bad.ns', tenant_id: 'acme' }, {}, 400, 'invalid_namespace'],
      ['namespace with a slash', { namespace: 'a/b', tenant_id: 'acme' }, {}, 400, 'invalid_namespace'],
      ['namespace of 65 characters', { namespace: 'n'.repeat(65), tenant_id: 'acme' }, {}, 400, 'invalid_namespace'],
      ['X-Namespace invalid', { tenant_id: 'acme' }, { 'x-namespace': 'sp ace' }, 400, 'invalid_namespace'],
      ['tenant starting with a dash', { namespace: 'ns', tenant_id: '-acme' }, {}, 400, 'invalid_tenant'],
      ['tenant with a slash', { namespace: 'ns', tenant_id: 'ac/me' }, {}, 400, 'invalid_tenant'],
      ['tenant of 129 characters', { namespace: 'ns', tenant_id: 't'.repeat(129) }, {}, 400, 'invalid_tenant'],
      ['X-Tenant invalid', { namespace: 'ns' }, { 'x-tenant': 'a b' }, 400, 'invalid_tenant'],
      ['unknown storage class', { namespace: 'ns', tenant_id: 'acme', storage_class: 'warm' }, {}, 400, 'invalid_storage_class'],
      ['empty storage_class=', { namespace: 'ns', tenant_id: 'acme', storage_class: '' }, {}, 400, 'invalid_storage_class'],
      ['X-Storage-Class invalid', { namespace: 'ns', tenant_id: 'acme' }, { 'x-storage-class': 'glacier' }, 400, 'invalid_storage_class'],
      ['X-Overwrite: yes', { namespace: 'ns', tenant_id: 'acme', key: 'k' }, { 'x-overwrite': 'yes' }, 400, 'bad_request'],
      ['overwrite=1', { namespace: 'ns', tenant_id: 'acme', key: 'k', overwrite: '1' }, {}, 400, 'bad_request'],
      ['X-Metadata an array', { namespace: 'ns', tenant_id: 'acme' }, { 'x-metadata': '[1,2]' }, 400, 'invalid_metadata'],
      ['X-Metadata a string', { namespace: 'ns', tenant_id: 'acme' }, { 'x-metadata': '"text"' }, 400, 'invalid_metadata'],
      ['X-Metadata null', { namespace: 'ns', tenant_id: 'acme' }, { 'x-metadata': 'null' }, 400, 'invalid_metadata'],
      ['X-Metadata not JSON', { namespace: 'ns', tenant_id: 'acme' }, { 'x-metadata': '{owner: x}' }, 400, 'invalid_metadata'],
      ['X-Metadata over 8 KiB', { namespace: 'ns', tenant_id: 'acme' }, { 'x-metadata': bigMetadata }, 400, 'invalid_metadata'],
      ['namespace in query and header differ', { namespace: 'ns1', tenant_id: 'acme' }, { 'x-namespace': 'ns2' }, 400, 'bad_request'],
      ['tenant in query and header differ', { namespace: 'ns', tenant_id: 'acme' }, { 'x-tenant': 'other' }, 400, 'bad_request'],
      ['key in query and header differ', { namespace: 'ns', tenant_id: 'acme', key: 'a' }, { 'x-key': 'b' }, 400, 'bad_request'],
      ['storage class in query and header differ', { namespace: 'ns', tenant_id: 'acme', storage_class: 'hot' }, { 'x-storage-class': 'cold' }, 400, 'bad_request'],
      ['overwrite in query and header differ', { namespace: 'ns', tenant_id: 'acme', key: 'k', overwrite: 'true' }, { 'x-overwrite': 'false' }, 400, 'bad_request'],
    ]
    test.each(invalid)('%s → 400 and nothing left', async (_name, query, headers, status, code) => {
      const before = await snapshot(server)
      await expectError(await post(server, query, noContent, headers), status, code)
      expect(await snapshot(server)).toEqual(before)
      expect(await stagedUploads(server)).toEqual([])
    })

    test('metadata of exactly 8 KiB is accepted', async () => {
      const filler = 'x'.repeat(8 * 1024 - JSON.stringify({ f: '' }).length)
      const metadata = JSON.stringify({ f: filler })
      expect(metadata.length).toBe(8 * 1024)
      const response = await post(server, { namespace: unique('meta8k'), tenant_id: 'acme' }, bytesOf('m'), { 'x-metadata': metadata })
      expect(response.status).toBe(201)
      expect((await response.json()).metadata).toEqual({ f: filler })
    })
  })

  describe('digests', () => {
    test('a correct X-Content-SHA256 is accepted', async () => {
      const body = bytesOf(`digest ok ${unique('d')}`)
      const response = await post(server, { namespace: unique('digest'), tenant_id: 'acme' }, body, { 'x-content-sha256': sha256(body) })
      expect(response.status).toBe(201)
      expect((await response.json()).content_hash).toBe(`sha256:${sha256(body)}`)
    })

    test('a correct Content-Digest is accepted', async () => {
      const body = bytesOf(`content digest ok ${unique('d')}`)
      const response = await post(server, { namespace: unique('digest'), tenant_id: 'acme' }, body, {
        'content-digest': `sha-256=:${base64(sha256(body))}:`,
      })
      expect(response.status).toBe(201)
      expect((await response.json()).content_hash).toBe(`sha256:${sha256(body)}`)
    })

    const wrongDigests: [string, (other: string) => Record<string, string>][] = [
      ['X-Content-SHA256', (other) => ({ 'x-content-sha256': other })],
      ['Content-Digest', (other) => ({ 'content-digest': `sha-256=:${base64(other)}:` })],
    ]
    test.each(wrongDigests)('a wrong %s → 400 digest_mismatch and nothing left', async (_name, headersFor) => {
      const namespace = unique('mismatch')
      const body = bytesOf(`mismatch ${namespace}`)
      const hex = sha256(body)
      const before = await snapshot(server)
      await expectError(await post(server, { namespace, tenant_id: 'acme', key: 'k' }, body, headersFor(sha256('something else'))), 400, 'digest_mismatch')
      expect(await objectRows(server, namespace)).toEqual([])
      expect(await blobRow(server, 'hot', hex)).toBeUndefined()
      expect(await isStored(server, 'hot', hex)).toBe(false)
      expect(await stagedUploads(server)).toEqual([])
      expect(await snapshot(server)).toEqual(before)
      // The key stays free.
      expect((await post(server, { namespace, tenant_id: 'acme', key: 'k' }, body)).status).toBe(201)
    })

    test('a failing cleanup of the reservation does not hide why the upload failed', async () => {
      const namespace = unique('cleanup-fails')
      const body = bytesOf(`cleanup ${namespace}`)
      const run = (statement: string) => server.database.db.execute(sql.raw(statement))
      // A database that refuses the reservation's delete, the way a broken constraint or a revoked grant would.
      await run(`create function refuse_delete() returns trigger language plpgsql as $$ begin raise exception 'delete refused'; end $$`)
      await run(`create trigger refuse_delete before delete on objects for each row when (old.namespace = '${namespace}') execute function refuse_delete()`)
      try {
        await expectError(await post(server, { namespace, tenant_id: 'acme', key: 'k' }, body, { 'x-content-sha256': sha256('something else') }), 400, 'digest_mismatch')
        expect(await stagedUploads(server)).toEqual([])
      } finally {
        await run('drop trigger refuse_delete on objects')
        await run('drop function refuse_delete()')
        await server.database.db.delete(objects).where(eq(objects.namespace, namespace))
      }
    })

    const malformed: [string, Record<string, string>][] = [
      ['X-Content-SHA256 not hex', { 'x-content-sha256': 'z'.repeat(64) }],
      ['X-Content-SHA256 too short', { 'x-content-sha256': 'a'.repeat(63) }],
      ['X-Content-SHA256 with a prefix', { 'x-content-sha256': `sha256:${'a'.repeat(64)}` }],
      ['Content-Digest without colons', { 'content-digest': `sha-256=${base64('a'.repeat(64))}` }],
      ['Content-Digest with a short value', { 'content-digest': 'sha-256=:AAAA:' }],
      ['Content-Digest garbage', { 'content-digest': 'nonsense' }],
    ]
    test.each(malformed)('%s → 400 bad_request and nothing left', async (_name, headers) => {
      const before = await snapshot(server)
      await expectError(await post(server, { namespace: unique('malformed'), tenant_id: 'acme' }, noContent, headers), 400, 'bad_request')
      expect(await snapshot(server)).toEqual(before)
    })
  })

  describe('interrupted uploads', () => {
    const hangUps: [string, (socket: Socket) => void][] = [
      ['destroys the socket', (socket) => socket.destroy()],
      ['half-closes the socket', (socket) => socket.end()],
    ]
    test.each(hangUps)('a body shorter than Content-Length whose client %s leaves nothing', async (_name, hangUp) => {
      const namespace = unique('short')
      const socket = await openRawRequest(
        server,
        `POST /v1/objects?namespace=${namespace}&tenant_id=acme&key=k HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n\r\n0123456789`,
      )
      // Disconnect only once the server is demonstrably mid-upload.
      await eventually(async () => (await objectRows(server, namespace)).some((row) => row.status === 'WRITING') && (await stagedUploads(server)).length === inFlightStaged)
      hangUp(socket)
      await eventually(async () => (await objectRows(server, namespace)).length === 0 && (await stagedUploads(server)).length === 0)
      socket.destroy()
      expect(await blobRow(server, 'hot', sha256('0123456789'))).toBeUndefined()
      expect(await isStored(server, 'hot', sha256('0123456789'))).toBe(false)
      // The reservation is gone, so the key is free.
      expect((await post(server, { namespace, tenant_id: 'acme', key: 'k' }, bytesOf('retry'))).status).toBe(201)
    }, 15_000)

    test('a chunked upload whose client disconnects mid-stream leaves nothing', async () => {
      const namespace = unique('chunked')
      const socket = await openRawRequest(
        server,
        `POST /v1/objects?namespace=${namespace}&tenant_id=acme&key=k HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n`,
      )
      await eventually(async () => (await objectRows(server, namespace)).some((row) => row.status === 'WRITING') && (await stagedUploads(server)).length === inFlightStaged)
      socket.write('5\r\nabcde\r\n')
      socket.destroy()
      await eventually(async () => (await objectRows(server, namespace)).length === 0 && (await stagedUploads(server)).length === 0)
      for (const partial of ['0123456789', '0123456789abcde']) {
        expect(await blobRow(server, 'hot', sha256(partial))).toBeUndefined()
        expect(await isStored(server, 'hot', sha256(partial))).toBe(false)
      }
      expect((await post(server, { namespace, tenant_id: 'acme', key: 'k' }, bytesOf('retry'))).status).toBe(201)
    }, 15_000)

    test('a complete chunked upload over a raw socket is stored', async () => {
      // Control for the disconnect tests: the same framing, finished, commits.
      const namespace = unique('chunked-ok')
      const socket = await openRawRequest(
        server,
        `POST /v1/objects?namespace=${namespace}&tenant_id=acme&key=k HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\na\r\n0123456789\r\n5\r\nabcde\r\n0\r\n\r\n`,
      )
      const chunks: Buffer[] = []
      socket.on('data', (chunk: Buffer) => chunks.push(chunk))
      await once(socket, 'close')
      expect(Buffer.concat(chunks).toString('latin1')).toStartWith('HTTP/1.1 201')
      await expectBytes(await getByKey(server, namespace, 'acme', 'k'), bytesOf('0123456789abcde'))
    })
  })

  describe('key conflicts', () => {
    test('a second upload to a held key → 409 key_exists and the first is untouched', async () => {
      const namespace = unique('conflict')
      const first = await (await post(server, { namespace, tenant_id: 'acme', key: 'k' }, bytesOf('first'))).json()
      const before = await snapshot(server)
      await expectError(await post(server, { namespace, tenant_id: 'acme', key: 'k' }, bytesOf(`second ${namespace}`)), 409, 'key_exists')
      await expectError(await post(server, { namespace, tenant_id: 'acme', key: 'k' }, bytesOf('third'), { 'x-overwrite': 'FALSE' }), 409, 'key_exists')
      expect(await snapshot(server)).toEqual(before)
      await expectBytes(await getById(server, first.id, 'acme'), bytesOf('first'))
      // Same key in another tenant or namespace is a different key.
      expect((await post(server, { namespace, tenant_id: 'other', key: 'k' }, bytesOf('first'))).status).toBe(201)
      expect((await post(server, { namespace: `${namespace}-2`, tenant_id: 'acme', key: 'k' }, bytesOf('first'))).status).toBe(201)
    })

    const overwriteForms: [string, Record<string, string>, Record<string, string>][] = [
      ['X-Overwrite: true', {}, { 'x-overwrite': 'true' }],
      ['?overwrite=true', { overwrite: 'true' }, {}],
      ['X-Overwrite: TRUE', {}, { 'x-overwrite': 'TRUE' }],
    ]
    test.each(overwriteForms)('%s replaces the object and moves the blob references', async (_name, extraQuery, headers) => {
      const namespace = unique('overwrite')
      const oldBody = bytesOf(`old ${namespace}`)
      const newBody = bytesOf(`new ${namespace}`)
      const old = await (await post(server, { namespace, tenant_id: 'acme', key: 'same/key' }, oldBody)).json()
      expect((await blobRow(server, 'hot', sha256(oldBody)))?.refCount).toBe(1)

      const response = await post(server, { namespace, tenant_id: 'acme', key: 'same/key', ...extraQuery }, newBody, headers)
      expect(response.status).toBe(201)
      const replacement = await response.json()
      expect(replacement.id).not.toBe(old.id)
      expect(replacement).toMatchObject({ key: 'same/key', content_hash: `sha256:${sha256(newBody)}` })
      expect(response.headers.get('location')).toBe(`/v1/objects/${replacement.id}`)

      await expectError(await getById(server, old.id, 'acme'), 404, 'not_found')
      await expectBytes(await getByKey(server, namespace, 'acme', 'same/key'), newBody)
      await expectBytes(await getById(server, replacement.id, 'acme'), newBody)
      const committed = (await objectRows(server, namespace)).filter((row) => row.status === 'COMMITTED')
      expect(committed.map((row) => row.id)).toEqual([replacement.id])

      const oldBlob = await blobRow(server, 'hot', sha256(oldBody))
      expect(oldBlob?.refCount).toBe(0)
      expect(oldBlob?.unreferencedSince).not.toBeNull()
      expect((await blobRow(server, 'hot', sha256(newBody)))?.refCount).toBe(1)
      // Collection is later: the old bytes are still stored.
      expect(await isStored(server, 'hot', sha256(oldBody))).toBe(true)
    })

    test('overwriting with identical bytes keeps one reference', async () => {
      const namespace = unique('samebytes')
      const body = bytesOf(`same ${namespace}`)
      await post(server, { namespace, tenant_id: 'acme', key: 'k' }, body)
      const response = await post(server, { namespace, tenant_id: 'acme', key: 'k' }, body, { 'x-overwrite': 'true' })
      expect(response.status).toBe(201)
      const blob = await blobRow(server, 'hot', sha256(body))
      expect(blob?.refCount).toBe(1)
      expect(blob?.unreferencedSince).toBeNull()
    })
  })

  describe('PUT by key', () => {
    test('201 when created, 200 when replaced', async () => {
      const namespace = unique('put')
      const key = 'dir/ü 漢字.bin'
      const created = await put(server, namespace, 'acme', key, bytesOf('v1'), { 'content-type': 'text/plain', 'x-metadata': '{"v":1}' })
      expect(created.status).toBe(201)
      const first = await created.json()
      expect(Object.keys(first).sort()).toEqual([...objectFields].sort())
      expect(first).toMatchObject({ namespace, tenant_id: 'acme', key, status: 'COMMITTED', content_type: 'text/plain', metadata: { v: 1 } })
      expect(created.headers.get('location')).toBe(`/v1/objects/${first.id}`)

      const replaced = await put(server, namespace, 'acme', key, bytesOf('v2'))
      expect(replaced.status).toBe(200)
      const second = await replaced.json()
      expect(second).toMatchObject({ key, content_hash: `sha256:${sha256('v2')}`, content_type: 'application/octet-stream', metadata: {} })
      expect(replaced.headers.get('location')).toBe(`/v1/objects/${second.id}`)
      await expectError(await getById(server, first.id, 'acme'), 404, 'not_found')
      await expectBytes(await getByKey(server, namespace, 'acme', key), bytesOf('v2'))
    })

    test('If-None-Match: * creates when absent and → 412 when the key is held', async () => {
      const namespace = unique('put-inm')
      const created = await put(server, namespace, 'acme', 'k', bytesOf('first'), { 'if-none-match': '*' })
      expect(created.status).toBe(201)
      const first = await created.json()
      const before = await snapshot(server)
      await expectError(await put(server, namespace, 'acme', 'k', bytesOf(`second ${namespace}`), { 'if-none-match': '*' }), 412, 'precondition_failed')
      expect(await snapshot(server)).toEqual(before)
      await expectBytes(await getById(server, first.id, 'acme'), bytesOf('first'))
    })

    test('If-Match with the current ETag replaces; a wrong ETag → 412 and the object is untouched', async () => {
      const namespace = unique('put-im')
      const first = await (await put(server, namespace, 'acme', 'k', bytesOf('one'))).json()
      const etag = (await getByKey(server, namespace, 'acme', 'k')).headers.get('etag')
      expect(etag).toBe(`"sha256:${sha256('one')}"`)

      const before = await snapshot(server)
      await expectError(await put(server, namespace, 'acme', 'k', bytesOf(`nope ${namespace}`), { 'if-match': `"sha256:${sha256('other')}"` }), 412, 'precondition_failed')
      // A weak tag never matches If-Match (strong comparison).
      await expectError(await put(server, namespace, 'acme', 'k', bytesOf(`weak ${namespace}`), { 'if-match': `W/${etag}` }), 412, 'precondition_failed')
      expect(await snapshot(server)).toEqual(before)
      await expectBytes(await getById(server, first.id, 'acme'), bytesOf('one'))

      const replaced = await put(server, namespace, 'acme', 'k', bytesOf('two'), { 'if-match': etag! })
      expect(replaced.status).toBe(200)
      const second = await replaced.json()
      await expectError(await getById(server, first.id, 'acme'), 404, 'not_found')
      await expectBytes(await getById(server, second.id, 'acme'), bytesOf('two'))
    })

    test('If-Match on an absent key → 412 and nothing is created', async () => {
      const namespace = unique('put-im-absent')
      const before = await snapshot(server)
      await expectError(await put(server, namespace, 'acme', 'k', bytesOf('x'), { 'if-match': `"sha256:${sha256('x')}"` }), 412, 'precondition_failed')
      expect(await snapshot(server)).toEqual(before)
    })
  })

  describe('deduplication', () => {
    test('the same bytes under two keys are stored once with ref_count 2', async () => {
      const namespace = unique('dedup')
      const body = bytesOf(`dedup ${namespace}`)
      const hex = sha256(body)
      const storedBefore = await storedBlobs(server)
      const a = await post(server, { namespace, tenant_id: 'acme', key: 'a' }, body)
      const b = await post(server, { namespace, tenant_id: 'acme', key: 'b' }, body)
      expect([a.status, b.status]).toEqual([201, 201])
      expect((await storedBlobs(server)).filter((blob) => !storedBefore.includes(blob))).toEqual([`hot:${hex}`])
      expect((await blobRow(server, 'hot', hex))?.refCount).toBe(2)
      await expectBytes(await getByKey(server, namespace, 'acme', 'a'), body)
      await expectBytes(await getByKey(server, namespace, 'acme', 'b'), body)
    })

    test('the same bytes in hot and cold are stored once per class', async () => {
      const namespace = unique('dedup-class')
      const body = bytesOf(`classes ${namespace}`)
      const hex = sha256(body)
      const storedBefore = await storedBlobs(server)
      expect((await post(server, { namespace, tenant_id: 'acme', key: 'h' }, body)).status).toBe(201)
      expect((await post(server, { namespace, tenant_id: 'acme', key: 'c', storage_class: 'cold' }, body)).status).toBe(201)
      expect((await storedBlobs(server)).filter((blob) => !storedBefore.includes(blob))).toEqual([`cold:${hex}`, `hot:${hex}`])
      expect((await blobRow(server, 'hot', hex))?.refCount).toBe(1)
      expect((await blobRow(server, 'cold', hex))?.refCount).toBe(1)
    })

    test('32 concurrent uploads of the same bytes share one stored blob and count every reference', async () => {
      const namespace = unique('concurrent')
      const body = crypto.getRandomValues(new Uint8Array(256 * 1024))
      const hex = sha256(body)
      const storedBefore = await storedBlobs(server)
      const responses = await Promise.all(
        Array.from({ length: 32 }, (_, i) => post(server, { namespace, tenant_id: 'acme', key: `k${i}` }, body)),
      )
      expect(responses.map((response) => response.status)).toEqual(Array(32).fill(201))
      const ids = await Promise.all(responses.map(async (response) => (await response.json()).id))
      expect(new Set(ids).size).toBe(32)
      expect((await storedBlobs(server)).filter((blob) => !storedBefore.includes(blob))).toEqual([`hot:${hex}`])
      expect(await storedBytes(server, 'hot', hex)).toEqual(body)
      expect((await blobRow(server, 'hot', hex))?.refCount).toBe(32)
      const rows = await objectRows(server, namespace)
      expect(rows.map((row) => row.status)).toEqual(Array(32).fill('COMMITTED'))
      expect(await stagedUploads(server)).toEqual([])
    }, 30_000)

    test('32 concurrent overwrites of one key leave exactly one committed object', async () => {
      const namespace = unique('race')
      const bodies = Array.from({ length: 32 }, (_, i) => bytesOf(`race ${namespace} ${i}`))
      const hashes = bodies.map((body) => `sha256:${sha256(body)}`)
      const responses = await Promise.all(
        bodies.map((body) => post(server, { namespace, tenant_id: 'acme', key: 'contested' }, body, { 'x-overwrite': 'true' })),
      )
      expect(responses.map((response) => response.status)).toEqual(Array(32).fill(201))

      const rows = await objectRows(server, namespace)
      const committed = rows.filter((row) => row.status === 'COMMITTED')
      expect(committed.length).toBe(1)
      expect(rows.filter((row) => row.status === 'WRITING')).toEqual([])
      const winner = committed[0]!
      const winnerBody = bodies[hashes.indexOf(winner.contentHash!)]!
      await expectBytes(await getByKey(server, namespace, 'acme', 'contested'), winnerBody)

      const blobRows = await server.database.db.select().from(blobs).where(and(eq(blobs.storageClass, 'hot'), inArray(blobs.contentHash, hashes)))
      expect(blobRows.length).toBe(32)
      for (const blob of blobRows) {
        expect(blob.refCount).toBe(blob.contentHash === winner.contentHash ? 1 : 0)
        expect(blob.unreferencedSince === null).toBe(blob.contentHash === winner.contentHash)
      }
      expect(await stagedUploads(server)).toEqual([])
    }, 30_000)
  })
})

/** The filesystem driver: a blob is a file, which can be damaged in place behind the service's back. */
describe.each(backends)('upload on the filesystem of %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend)
  }, 60_000)
  afterAll(() => server.stop())

  test('a duplicate upload replaces a damaged file of the right size with its verified bytes', async () => {
    const namespace = unique('dedup-damaged')
    const body = crypto.getRandomValues(new Uint8Array(64 * 1024))
    const hex = sha256(body)
    expect((await post(server, { namespace, tenant_id: 'acme', key: 'a' }, body)).status).toBe(201)
    const damaged = new Uint8Array(body)
    for (const offset of [0, 1, 2, 3]) damaged[offset]! ^= 0xff
    writeFileSync(blobFile(server, 'hot', hex), damaged)

    expect((await post(server, { namespace, tenant_id: 'acme', key: 'b' }, body)).status).toBe(201)
    expect(new Uint8Array(readFileSync(blobFile(server, 'hot', hex)))).toEqual(body)
    await expectBytes(await getByKey(server, namespace, 'acme', 'a'), body)
    await expectBytes(await getByKey(server, namespace, 'acme', 'b'), body)
    expect((await blobRow(server, 'hot', hex))?.refCount).toBe(2)
    expect(tempFiles(server)).toEqual([])
  })
})

describe.each(storageBackends)('upload size limit on %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend, { maxUploadBytes: 1024 })
  }, 60_000)
  afterAll(() => server.stop())

  test('a body of exactly the limit is accepted', async () => {
    const body = crypto.getRandomValues(new Uint8Array(1024))
    const response = await post(server, { namespace: unique('limit'), tenant_id: 'acme' }, body)
    expect(response.status).toBe(201)
    expect((await response.json()).size_bytes).toBe(1024)
  })

  test('a Content-Length over the limit → 413 payload_too_large and nothing left', async () => {
    const before = await snapshot(server)
    const body = crypto.getRandomValues(new Uint8Array(1025))
    await expectError(await post(server, { namespace: unique('limit'), tenant_id: 'acme', key: 'k' }, body), 413, 'payload_too_large')
    expect(await snapshot(server)).toEqual(before)
    expect(await isStored(server, 'hot', sha256(body))).toBe(false)
  })

  test('a chunked body that grows past the limit → 413 payload_too_large and nothing left', async () => {
    const namespace = unique('limit-stream')
    const before = await snapshot(server)
    const chunk = new Uint8Array(256).fill(7)
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 16 * 1024) return controller.close()
        controller.enqueue(chunk)
        sent += chunk.byteLength
      },
    })
    const response = await fetch(`${server.url}/v1/objects?namespace=${namespace}&tenant_id=acme&key=k`, {
      method: 'POST',
      body,
      duplex: 'half',
    } as RequestInit)
    await expectError(response, 413, 'payload_too_large')
    expect(await objectRows(server, namespace)).toEqual([])
    expect(await snapshot(server)).toEqual(before)
    expect(await stagedUploads(server)).toEqual([])
  })
})
