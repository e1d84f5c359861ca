import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type postgres from 'postgres'
import { connectPostgres } from '../../core/db/connect'
import { parseDbTime } from '../../core/db/time'
import { storageBackends, startServer, type TestServer } from '../support/server'

/**
 * created_at is when an object became visible: a commit that waited for a
 * lock is stamped after the wait, so a consumer polling created_after with
 * the time of its last poll does not miss it.
 */

const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')
const waitMs = 1500

describe.each(storageBackends)('created_at on %s', (backend) => {
  let server: TestServer
  let sql: postgres.Sql
  beforeAll(async () => {
    server = await startServer(backend, { inlineMaxBytes: 64 * 1024 })
    sql = connectPostgres(server.databaseUrl, { max: 2 })
  })
  afterAll(async () => {
    await sql.end()
    await server.stop()
  })

  /** Starts `upload` while `hold` keeps a lock, releases it after a while; returns the upload's created_at and the release time. */
  async function stampedAfterWait(hold: (tx: postgres.TransactionSql) => Promise<unknown>, upload: () => Promise<Response>) {
    let releasedAt!: Date
    let answer!: Promise<Response>
    await sql.begin(async (tx) => {
      await hold(tx)
      answer = upload()
      await Bun.sleep(waitMs)
      const [row] = await tx<[{ at: string }]>`select clock_timestamp()::text as at`
      releasedAt = parseDbTime(row.at)
    })
    const response = await answer
    expect(response.status).toBe(201)
    const object = await response.json()
    return { createdAt: new Date(object.created_at), updatedAt: object.updated_at as string, createdText: object.created_at as string, releasedAt }
  }

  const post = (query: string, body: Uint8Array<ArrayBuffer>) => fetch(`${server.url}/v1/objects?namespace=stamp&tenant_id=acme${query}`, { method: 'POST', body })

  test('an upload by key that waited for the key is stamped after the wait', async () => {
    const key = `waited-${backend}`
    const stamp = await stampedAfterWait(
      (tx) => tx`select pg_advisory_xact_lock(hashtextextended(${`acme/stamp/${key}`}, 0))`,
      () => post(`&key=${key}`, crypto.getRandomValues(new Uint8Array(512))),
    )
    expect(stamp.createdAt.getTime()).toBeGreaterThanOrEqual(stamp.releasedAt.getTime() - 1)
    expect(stamp.updatedAt).toBe(stamp.createdText)
  })

  for (const [kind, size] of [['small (inline)', 2048], ['large (file)', 200 * 1024]] as const) {
    test(`a ${kind} upload without a key that waited for its blob row is stamped after the wait`, async () => {
      const bytes = crypto.getRandomValues(new Uint8Array(size))
      expect((await post('', bytes)).status).toBe(201)
      const stamp = await stampedAfterWait(
        (tx) => tx`select 1 from blobs where content_hash = ${`sha256:${sha256(bytes)}`} for update`,
        () => post('', bytes),
      )
      expect(stamp.createdAt.getTime()).toBeGreaterThanOrEqual(stamp.releasedAt.getTime() - 1)
      expect(stamp.updatedAt).toBe(stamp.createdText)
    })
  }
})
