import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq, sql } from 'drizzle-orm'
import { objects, type StorageClass } from '../../core/db/schema'
import { configureLog } from '../../core/log'
import { adminToken, startServer, storageBackends, type TestServer } from '../support/server'
import { expectError } from '../support/assertions'
import { captureLogs } from '../support/logs'

// PostgreSQL text and jsonb cannot hold U+0000, and UTF-8 cannot hold half a surrogate pair.
const nul = '\u0000'
const loneSurrogate = '\ud800'
const asAdmin = { authorization: `Bearer ${adminToken}` }
const json = { ...asAdmin, 'content-type': 'application/json' }

describe.each(storageBackends)('text the database cannot store, on %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend, { auth: true, inlineMaxBytes: 1024 })
  }, 60_000)
  afterAll(() => server.stop())

  const objectRows = (namespace: string) => server.database.db.select().from(objects).where(eq(objects.namespace, namespace))
  /** The staged bytes of uploads that either class's blob store still holds. */
  const stagedUploads = async () => {
    const found: string[] = []
    for (const storageClass of ['hot', 'cold'] as StorageClass[]) {
      for await (const leftover of server.store.blobs[storageClass].leftovers()) {
        if (leftover.kind === 'staged') found.push(`${storageClass}:${leftover.uploadId}`)
      }
    }
    return found
  }

  test('in X-Metadata values, names and nested values → 400 invalid_metadata, small or large, keyed or not; nothing is left', async () => {
    const metadata = [{ a: nul }, { [nul]: 'x' }, { a: { b: ['ok', `x${nul}y`] } }, { a: loneSurrogate }, { [`k${loneSurrogate}`]: 1 }]
    for (const [index, value] of metadata.entries()) {
      for (const body of ['small', 'x'.repeat(4096)]) {
        for (const key of ['', '&key=k']) {
          const response = await fetch(`${server.url}/v1/objects?namespace=meta${index}&tenant_id=acme${key}`, {
            method: 'POST',
            headers: { ...asAdmin, 'x-metadata': JSON.stringify(value) },
            body,
          })
          await expectError(response, 400, 'invalid_metadata')
        }
      }
      expect(await objectRows(`meta${index}`)).toEqual([])
    }
    expect(await stagedUploads()).toEqual([])
  })

  test('in any field of a search → 400 bad_request', async () => {
    const bodies = [
      { metadata: { a: nul } },
      { metadata: { [nul]: 'x' } },
      { metadata: { a: [loneSurrogate] } },
      { content_type: `text/plain${nul}` },
      { content_type: loneSurrogate },
      { key_prefix: `a${nul}` },
      { key_contains: nul },
      { cursor: nul },
    ]
    for (const fields of bodies) {
      const response = await fetch(`${server.url}/v1/objects/search`, { method: 'POST', headers: json, body: JSON.stringify({ namespace: 'found', tenant_id: 'acme', ...fields }) })
      await expectError(response, 400, 'bad_request')
    }
  })

  test('in the name of a new API key → 400 bad_request, and no key is created', async () => {
    for (const name of [`ci${nul}`, `ci${loneSurrogate}`]) {
      const response = await fetch(`${server.url}/v1/api-keys`, { method: 'POST', headers: json, body: JSON.stringify({ name, tenant_id: 'nul-keys', permissions: ['objects:read'] }) })
      await expectError(response, 400, 'bad_request')
    }
    const listed = await fetch(`${server.url}/v1/api-keys?tenant_id=nul-keys`, { headers: asAdmin })
    expect((await listed.json()).api_keys).toEqual([])
  })

  test('in a list prefix → 400 invalid_key, as a key holding it would be', async () => {
    await expectError(await fetch(`${server.url}/v1/objects?namespace=found&tenant_id=acme&prefix=a%00`, { headers: asAdmin }), 400, 'invalid_key')
  })

  test('the error log line of a failed request carries neither its query nor the statement parameters', async () => {
    // A constraint the service does not know of makes the commit fail inside the database.
    await server.database.db.execute(sql.raw(`alter table objects add constraint refuse_marked check (content_type <> 'application/x-refused') not valid`))
    const logs = captureLogs()
    try {
      // Unkeyed, the bytes are a parameter of the commit; keyed, the key is.
      for (const key of ['', '&key=query-secret-key']) {
        const requestId = `unstorable-${backend}${key === '' ? '' : '-keyed'}`
        const response = await fetch(`${server.url}/v1/objects?namespace=logged&tenant_id=acme${key}`, {
          method: 'POST',
          headers: { ...asAdmin, 'content-type': 'application/x-refused', 'x-metadata': JSON.stringify({ note: 'metadata-secret' }), 'x-request-id': requestId },
          body: 'body-secret-bytes',
        })
        await expectError(response, 500, 'internal')
        const line = logs.lines.find((entry) => entry.level === 'error' && entry.request_id === requestId)
        expect(line).toMatchObject({ method: 'POST', path: '/v1/objects' })
        const text = JSON.stringify(line)
        expect(text).toContain('refuse_marked')
        for (const secret of ['query-secret-key', 'metadata-secret', 'body-secret-bytes', Buffer.from('body-secret-bytes').join(','), 'params']) {
          expect(text).not.toContain(secret)
        }
      }
    } finally {
      configureLog('silent')
      await server.database.db.execute(sql.raw('alter table objects drop constraint refuse_marked'))
    }
  })
})
