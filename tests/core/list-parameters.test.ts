import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { drizzle } from 'drizzle-orm/postgres-js'
import type postgres from 'postgres'
import { LastUsedTracker } from '../../core/auth/api-keys'
import type { Db } from '../../core/db/client'
import { connectPostgres } from '../../core/db/connect'
import * as schema from '../../core/db/schema'
import { checkConsistency } from '../../core/fsck'
import { runGc } from '../../core/gc'
import { blobPath, tempFile } from '../../core/store/paths'
import { tenantUsage } from '../../core/usage'
import { startServer, type TestServer } from '../support/server'

const randomHex = () => new Bun.CryptoHasher('sha256').update(crypto.randomUUID()).digest('hex')

/**
 * Every query is a prepared statement, cached per connection by its text: a
 * list of values must not make a statement of its own for every length.
 */
describe('lists of values in queries', () => {
  let server: TestServer
  let session: postgres.Sql
  let db: Db
  beforeAll(async () => {
    server = await startServer('postgres')
    // One connection, so that its prepared statements are the ones we count.
    session = connectPostgres(server.databaseUrl, { max: 1 })
    db = drizzle(session, { schema }) as unknown as Db
  })
  afterAll(async () => {
    await session.end()
    await server.stop()
  })

  const preparedStatements = async () => (await session<{ n: number }[]>`select count(*)::int as n from pg_prepared_statements`)[0]!.n

  test('are one parameter: each statement is prepared once, whatever the length', async () => {
    const counts: number[] = []
    // From two on: usage limited to one namespace runs one statement fewer.
    for (const length of [2, 3, 5, 8]) {
      await tenantUsage(db, 'acme', Array.from({ length }, (_, i) => `ns${i}`))

      const tracker = new LastUsedTracker()
      for (let i = 0; i < length; i++) tracker.touch(crypto.randomUUID())
      await tracker.flush(db)

      // Leftover temp files and orphan blob files in one directory, for GC's sweeps and fsck to look up.
      for (let i = 0; i < length; i++) writeFileSync(tempFile(server.roots.hot, crypto.randomUUID()), 'leftover')
      const prefix = randomHex().slice(0, 4)
      for (let i = 0; i < length; i++) {
        const path = blobPath(server.roots, 'hot', `${prefix}${randomHex().slice(4)}`)
        mkdirSync(dirname(path), { recursive: true })
        writeFileSync(path, 'orphan')
      }
      await checkConsistency(db, server.store.blobs)
      const gc = await runGc(db, server.store.blobs, { graceSecs: 0, batchSize: 100, stuckUploadTimeoutSecs: 3600, tombstoneRetentionSecs: 0, sweepOrphans: true })
      expect(gc).toMatchObject({ removed_temp_files: length, removed_orphan_files: length })

      counts.push(await preparedStatements())
    }
    expect(counts).toEqual(counts.map(() => counts[0]!))
  })
})
