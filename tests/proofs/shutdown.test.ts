import { afterAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname } from 'node:path'
import { sql as drizzleSql } from 'drizzle-orm'
import { openDatabase } from '../../core/db/client'
import { connectPostgres } from '../../core/db/connect'
import { blobs } from '../../core/db/schema'
import { blobPath } from '../../core/store/paths'
import { startChild } from '../support/child'
import { sharedCluster } from '../support/server'

/** SIGTERM drains: readiness 503, new uploads 503, work in flight finishes, exit 0. */
describe('graceful shutdown', () => {
  const dataDir = mkdtempSync(`${tmpdir()}/juststorage-shutdown-`)
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

  test('in-flight upload and download finish after SIGTERM while new uploads are refused', async () => {
    const databaseUrl = await (await sharedCluster()).createDatabase(`shutdown_${process.pid}`)
    const child = await startChild({ databaseUrl, dataDir, env: { SHUTDOWN_GRACE_SECS: '20' } })
    const url = (path: string) => `${child.url}${path}`
    try {
      // Large enough that the download is still being sent when SIGTERM arrives.
      const large = new Uint8Array(48 * 2 ** 20)
      for (let i = 0; i < large.length; i += 65536) crypto.getRandomValues(large.subarray(i, i + 65536))
      const stored = await (await fetch(url('/v1/objects?namespace=n&tenant_id=t&key=large'), { method: 'POST', body: large })).json()

      // A download that has begun and is read slowly.
      const download = await fetch(url(`/v1/objects/${stored.id}?tenant_id=t`))
      const reader = download.body!.getReader()
      const received: Uint8Array[] = [(await reader.read()).value!]

      // An upload whose body is still arriving, past the size kept inline, so it is reserved and streaming to a file.
      let feed!: ReadableStreamDefaultController<Uint8Array>
      const body = new ReadableStream<Uint8Array>({ start: (controller) => void (feed = controller) })
      feed.enqueue(new Uint8Array(100_000).fill(1))
      const uploading = fetch(url('/v1/objects?namespace=n&tenant_id=t&key=slow'), {
        method: 'POST',
        body,
        headers: { 'content-length': '200000' },
        duplex: 'half',
      } as RequestInit)
      const sql = connectPostgres(databaseUrl, { max: 1 })
      for (let i = 0; (await sql`select count(*)::int as n from objects where status = 'WRITING'`)[0]!.n === 0; i++) {
        if (i > 200) throw new Error('the upload never started')
        await Bun.sleep(10)
      }

      const exited = child.kill('SIGTERM')
      // Draining: not ready, no new uploads, reads still served.
      for (let i = 0; (await fetch(url('/health/ready'))).status !== 503; i++) {
        if (i > 100) throw new Error('readiness never turned 503')
        await Bun.sleep(10)
      }
      const refused = await fetch(url('/v1/objects?namespace=n&tenant_id=t&key=late'), { method: 'POST', body: 'late' })
      expect(refused.status).toBe(503)
      expect((await refused.json()).code).toBe('unavailable')

      // The in-flight work completes.
      feed.enqueue(new Uint8Array(100_000).fill(2))
      feed.close()
      const uploaded = await uploading
      expect(uploaded.status).toBe(201)
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        received.push(value)
      }
      expect(Buffer.concat(received).equals(Buffer.from(large))).toBe(true)

      expect(await exited).toBe(0)
      expect([...(await sql`select key, status from objects order by key`)]).toEqual([
        { key: 'large', status: 'COMMITTED' },
        { key: 'slow', status: 'COMMITTED' },
      ])
      expect(readdirSync(`${dataDir}/hot/tmp`)).toEqual([])
      await sql.end()
    } finally {
      await child.stop()
    }
  }, 60_000)

  test('SIGTERM during a scheduled GC pass lets the pass finish before the database closes', async () => {
    const gcDir = mkdtempSync(`${tmpdir()}/juststorage-shutdown-gc-`)
    const databaseUrl = await (await sharedCluster()).createDatabase(`shutdown_gc_${process.pid}`)
    const roots = { hot: `${gcDir}/hot`, cold: `${gcDir}/cold` }
    // Blobs unreferenced for an hour, each with its file: many batches of work for the next pass.
    const seeding = await openDatabase({ databaseUrl, dataDir: gcDir, maxConnections: 2 })
    const count = 5000
    for (let first = 0; first < count; first += 1000) {
      const rows = Array.from({ length: 1000 }, () => {
        const hex = new Bun.CryptoHasher('sha256').update(crypto.randomUUID()).digest('hex')
        const path = blobPath(roots, 'hot', hex)
        mkdirSync(dirname(path), { recursive: true })
        writeFileSync(path, hex)
        return { storageClass: 'hot' as const, contentHash: `sha256:${hex}`, sizeBytes: 64, refCount: 0, unreferencedSince: drizzleSql`now() - interval '1 hour'` }
      })
      await seeding.db.insert(blobs).values(rows)
    }
    await seeding.close()

    const sql = connectPostgres(databaseUrl, { max: 1 })
    const remaining = async () => (await sql<{ n: number }[]>`select count(*)::int as n from blobs`)[0]!.n
    const child = await startChild({ databaseUrl, dataDir: gcDir, env: { GC_INTERVAL_SECS: '1', GC_BATCH_SIZE: '50', GC_GRACE_SECS: '0', SHUTDOWN_GRACE_SECS: '20' } })
    try {
      // The scheduled pass has begun deleting.
      for (let i = 0; (await remaining()) === count; i++) {
        if (i > 1000) throw new Error('the scheduled GC pass never began')
        await Bun.sleep(5)
      }
      expect(await child.kill('SIGTERM')).toBe(0)

      const lines = child.output().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line))
      const stopping = lines.findIndex((line) => line.msg === 'shutting down')
      const pass = lines.findIndex((line) => line.msg === 'gc pass')
      expect(stopping).toBeGreaterThanOrEqual(0)
      // The pass ended, whole, after the signal and before the exit.
      expect(pass).toBeGreaterThan(stopping)
      expect(lines[pass]).toMatchObject({ deleted_blobs: expect.any(Number) })
      // No row lost its file under it, and the pass got through every one.
      const withoutFile = (await sql<{ content_hash: string }[]>`select content_hash from blobs`).filter((row) => !existsSync(blobPath(roots, 'hot', row.content_hash.slice('sha256:'.length))))
      expect(withoutFile).toEqual([])
      expect(await remaining()).toBe(0)
      expect(readdirSync(`${roots.hot}/tmp`)).toEqual([])
    } finally {
      await sql.end()
      await child.stop()
      rmSync(gcDir, { recursive: true, force: true })
    }
  }, 60_000)
})
