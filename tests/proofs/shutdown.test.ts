import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { connectPostgres } from '../../core/db/connect'
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
})
