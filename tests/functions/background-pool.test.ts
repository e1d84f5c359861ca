import { afterAll, beforeAll, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import type postgres from 'postgres'
import { connectPostgres } from '../../core/db/connect'
import { rowsOf } from '../../core/db/client'
import { startServer, type TestServer } from '../support/server'

// Scheduled work (GC, scrub, the metrics refresh) runs on a pool of its own:
// postgres.js queues a query behind a busy connection's current one, so a
// slow background query on the request pool would hold up requests queued behind it.

let server: TestServer
const lockId = 0x6267706f

beforeAll(async () => {
  // Two request connections, so concurrent requests certainly queue on busy ones.
  server = await startServer('postgres', { env: { DB_MAX_CONNECTIONS: '2' } })
})
afterAll(() => server.stop())

async function waitingForLock(holder: postgres.Sql, waiters: number): Promise<void> {
  for (;;) {
    const [row] = await holder`select count(*)::int as n from pg_locks where locktype = 'advisory' and objid = ${lockId} and not granted`
    if (row!.n >= waiters) return
    await Bun.sleep(10)
  }
}

test('requests are served while every background connection is blocked', async () => {
  const upload = await fetch(`${server.url}/v1/objects?tenant_id=acme&namespace=pool`, { method: 'POST', body: 'served regardless' })
  expect(upload.status).toBe(201)
  const { id } = (await upload.json()) as { id: string }

  const holder = connectPostgres(server.databaseUrl, { max: 1 })
  try {
    await holder`select pg_advisory_lock(${lockId})`
    // Both background connections block on the lock, as a long GC or metrics query would occupy them.
    let backgroundDone = 0
    const background = [1, 2].map(() =>
      server.database.background.execute(sql`select pg_advisory_xact_lock(${lockId})`).then(() => backgroundDone++),
    )
    await waitingForLock(holder, 2)

    const downloads = Promise.all(
      Array.from({ length: 40 }, async () => {
        const response = await fetch(`${server.url}/v1/objects/${id}?tenant_id=acme`)
        return { status: response.status, body: await response.text() }
      }),
    )
    // Queued behind the blocked queries, the downloads would wait for the lock, which is only released below.
    const outcome = await Promise.race([downloads, Bun.sleep(15_000).then(() => 'stuck' as const)])
    expect(outcome).not.toBe('stuck')
    for (const answer of outcome as { status: number; body: string }[]) expect(answer).toEqual({ status: 200, body: 'served regardless' })
    expect(backgroundDone).toBe(0)

    await holder`select pg_advisory_unlock(${lockId})`
    await Promise.all(background)
    expect(backgroundDone).toBe(2)
    const [connections] = rowsOf<{ n: number }>(
      await server.database.db.execute(sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'juststorage'`),
    )
    // Two request connections and two background ones at most.
    expect(connections!.n).toBeLessThanOrEqual(4)
  } finally {
    await holder.end({ timeout: 1 })
  }
})
