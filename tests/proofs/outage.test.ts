import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { sql } from 'drizzle-orm'
import { rowsOf } from '../../core/db/client'
import { startChild } from '../support/child'
import type { PostgresCluster } from '../support/postgres'
import { sharedCluster, startServer, type TestServer } from '../support/server'

/**
 * Proof: while PostgreSQL is down, writes fail cleanly with 503 `unavailable`
 * and readiness says so; once it is back the service recovers by itself, and
 * nothing acknowledged is lost and nothing half-done is left behind.
 */

const namespace = 'outage'
const tenant = 'acme'

interface Acknowledged {
  id: string
  hex: string
  size: number
}

type Phase = 'before' | 'outage' | 'after'

const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')

describe('a database outage on postgres', () => {
  let server: TestServer
  let cluster: PostgresCluster
  let paused = false
  // Pauses and resumes run one after another: a test that failed early may still
  // be running its own steps in the background when afterAll resumes the cluster.
  let clusterChanges: Promise<void> = Promise.resolve()
  const changeCluster = (change: () => Promise<void>) => (clusterChanges = clusterChanges.catch(() => {}).then(change))
  const pause = () =>
    changeCluster(async () => {
      if (paused) return
      paused = true
      await cluster.pause()
    })
  const resume = () =>
    changeCluster(async () => {
      if (!paused) return
      await cluster.resume()
      paused = false
    })

  // Later tests inspect the state the load left; they wait for it to stop even if its test failed early.
  let loadStopped!: () => void
  const loadFinished = new Promise<void>((resolve) => (loadStopped = resolve))

  // Bun fails a test on an uncaught error but lets its body run on; cleanup waits for every body.
  const bodies: Promise<void>[] = []
  const tracked = (body: () => Promise<void>) => () => {
    const run = body()
    bodies.push(run.catch(() => {}))
    return run
  }

  beforeAll(async () => {
    cluster = await sharedCluster()
    server = await startServer('postgres')
  })

  afterAll(async () => {
    await Promise.race([Promise.all(bodies), Bun.sleep(60_000)])
    // Other test files share this cluster: it must be running again whatever happened here.
    await resume()
    await server?.stop()
  }, 90_000)

  test('the service process survives a database outage and serves again by itself', tracked(async () => {
    const dataDir = mkdtempSync(`${tmpdir()}/juststorage-outage-`)
    const databaseUrl = await cluster.createDatabase(`outage_child_${process.pid}_${Date.now()}`)
    const child = await startChild({ databaseUrl, dataDir })
    const statuses = new Map<string, number>()
    let recoveredMs: number | undefined
    let running = true
    const load = Array.from({ length: 4 }, async () => {
      while (running) {
        let outcome: string
        try {
          const response = await fetch(`${child.url}/v1/objects?namespace=${namespace}&tenant_id=${tenant}`, { method: 'POST', body: randomBytes(2048) })
          outcome = `${response.status} ${((await response.json()) as { code?: string }).code ?? ''}`.trim()
        } catch {
          outcome = 'connection refused'
        }
        statuses.set(outcome, (statuses.get(outcome) ?? 0) + 1)
        // Once the process is gone there is nothing to hammer.
        if (outcome === 'connection refused') await Bun.sleep(20)
      }
    })
    try {
      await until('uploads before the outage', () => (statuses.get('201') ?? 0) >= 10, 10_000)
      await pause()
      await until('answers during the outage', () => (statuses.get('503 unavailable') ?? 0) + (statuses.get('connection refused') ?? 0) >= 20, 60_000)
      await resume()
      const resumedAt = Date.now()
      const resumed = statuses.get('201') ?? 0
      await until('uploads after the outage, or the process gone', () => (statuses.get('201') ?? 0) >= resumed + 10 || (statuses.get('connection refused') ?? 0) > 0, 30_000)
      recoveredMs = statuses.has('connection refused') ? undefined : Date.now() - resumedAt
    } finally {
      await resume()
      running = false
      await Promise.all(load)
      await child.kill('SIGKILL')
      rmSync(dataDir, { recursive: true, force: true })
    }
    console.info(`outage proof (process): ${JSON.stringify(Object.fromEntries(statuses))}, uploads succeed again ${recoveredMs ?? 'n/a'} ms after the database restarted`)
    const crash = child.output().match(/^\w*Error: .*$/m)?.[0]
    expect({ refusedConnections: statuses.get('connection refused') ?? 0, crash }).toEqual({ refusedConnections: 0, crash: undefined })
    expect([...statuses.keys()].sort()).toEqual(['201', '503 unavailable'])
  }), 150_000)

  const acknowledged: Acknowledged[] = []
  const violations: string[] = []
  const counts = { uploads: 0, uploads503: { before: 0, outage: 0, after: 0 }, acked: { before: 0, outage: 0, after: 0 }, downloads: 0, downloads503: 0 }
  let phase: Phase = 'before'
  // What a client waits for during and after the outage.
  const latency = { slowestRefusalMs: 0, readyAgainAfterMs: Infinity }

  async function upload(): Promise<void> {
    const payload = new Uint8Array(randomBytes(1 + Math.floor(Math.random() * 128 * 1024)))
    const startedIn = phase
    counts.uploads++
    const started = performance.now()
    let response: Response
    try {
      response = await fetch(`${server.url}/v1/objects?namespace=${namespace}&tenant_id=${tenant}`, { method: 'POST', body: payload })
    } catch (error) {
      violations.push(`upload (${startedIn}) failed at the connection: ${(error as Error).message}`)
      return
    }
    const body = (await response.json()) as { id?: string; code?: string; content_hash?: string }
    if (response.status === 201) {
      counts.acked[startedIn]++
      acknowledged.push({ id: body.id!, hex: sha256(payload), size: payload.byteLength })
      if (body.content_hash !== `sha256:${sha256(payload)}`) violations.push(`upload ${body.id} acknowledged with ${body.content_hash}`)
    } else if (response.status === 503 && body.code === 'unavailable') {
      counts.uploads503[startedIn]++
      if (startedIn === 'outage') latency.slowestRefusalMs = Math.max(latency.slowestRefusalMs, Math.round(performance.now() - started))
    } else {
      violations.push(`upload (${startedIn}) answered ${response.status} ${JSON.stringify(body)}`)
    }
  }

  async function download(): Promise<void> {
    const object = acknowledged[Math.floor(Math.random() * acknowledged.length)]!
    counts.downloads++
    let response: Response
    try {
      response = await fetch(`${server.url}/v1/objects/${object.id}?tenant_id=${tenant}`)
    } catch (error) {
      violations.push(`download of ${object.id} failed at the connection: ${(error as Error).message}`)
      return
    }
    const bytes = new Uint8Array(await response.arrayBuffer())
    if (response.status === 200) {
      if (sha256(bytes) !== object.hex || bytes.byteLength !== object.size) violations.push(`download of ${object.id} returned other bytes (${bytes.byteLength} B)`)
    } else if (response.status === 503 && JSON.parse(new TextDecoder().decode(bytes)).code === 'unavailable') {
      counts.downloads503++
    } else {
      violations.push(`download of ${object.id} answered ${response.status} ${new TextDecoder().decode(bytes)}`)
    }
  }

  /** Polls a condition that the running load makes true; fails with `what` if it does not within the bound. */
  async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; counts ${JSON.stringify(counts)}`)
      await Bun.sleep(20)
    }
  }

  const readiness = async () => {
    const response = await fetch(`${server.url}/health/ready`)
    return { status: response.status, body: (await response.json()) as { status: string; problems?: string[] } }
  }

  test('uploads get 503 unavailable and readiness 503 while the database is down; both recover by themselves', tracked(async () => {
    let running = true
    const workers: Promise<void>[] = []
    try {
      for (let i = 0; i < 5; i++) await upload()
      expect(acknowledged.length).toBe(5)
      const worker = async (work: () => Promise<void>) => {
        while (running) await work()
      }
      workers.push(...Array.from({ length: 4 }, () => worker(upload)), ...Array.from({ length: 2 }, () => worker(download)))
      await until('uploads acknowledged under load', () => counts.acked.before >= 10, 10_000)

      phase = 'outage'
      await pause()
      const outageStarted = counts.uploads503.outage
      await until('uploads refused during the outage', () => counts.uploads503.outage >= outageStarted + 5, 60_000)
      const down = await readiness()
      expect(down.status).toBe(503)
      expect(down.body.status).toBe('unavailable')
      expect(down.body.problems).toContain('database unreachable')

      await resume()
      phase = 'after'
      const resumedAt = Date.now()
      await until('readiness to return', async () => (await readiness()).status === 200, 60_000)
      latency.readyAgainAfterMs = Date.now() - resumedAt
      await until('uploads acknowledged after the outage', () => counts.acked.after >= 10, 30_000)
    } finally {
      // Later tests need the database back even when this one failed half-way.
      await resume()
      running = false
      await Promise.all(workers)
      loadStopped()
    }
    console.info(`outage proof: ${JSON.stringify(counts)} ${JSON.stringify(latency)} violations=${violations.length}`)
    expect(violations).toEqual([])
    expect(counts.uploads503.outage).toBeGreaterThan(0)
  }), 180_000)

  // A client should learn of the outage, and of its end, within a few seconds, not after a reconnect backoff.
  const promptMs = 5_000

  test(`the outage is answered promptly: refusals within ${promptMs / 1000} s, ready again within ${promptMs / 1000} s of the database returning`, tracked(async () => {
    await loadFinished
    expect(latency.slowestRefusalMs).toBeLessThanOrEqual(promptMs)
    expect(latency.readyAgainAfterMs).toBeLessThanOrEqual(promptMs)
  }), 90_000)

  test('every acknowledged object reads back byte-exact after the outage', tracked(async () => {
    await loadFinished
    const failed: string[] = []
    for (const object of acknowledged) {
      const response = await fetch(`${server.url}/v1/objects/${object.id}?tenant_id=${tenant}`)
      const bytes = new Uint8Array(await response.arrayBuffer())
      if (response.status !== 200 || sha256(bytes) !== object.hex || bytes.byteLength !== object.size) {
        failed.push(`${object.id}: ${response.status} ${bytes.byteLength} B`)
      }
    }
    expect(acknowledged.length).toBeGreaterThanOrEqual(5)
    expect(failed).toEqual([])
  }), 90_000)

  test('the outage leaves no temp files, no committed object without its blob, and exact reference counts', tracked(async () => {
    await loadFinished
    expect(readdirSync(`${server.dataDir}/hot/tmp`)).toEqual([])
    expect(readdirSync(`${server.dataDir}/cold/tmp`)).toEqual([])
    const db = server.database.db
    const withoutBlob = rowsOf(await db.execute(sql`
      select o.id from objects o
      where o.status = 'COMMITTED' and not exists (
        select 1 from blobs b where b.storage_class = o.storage_class and b.content_hash = o.content_hash)`))
    expect(withoutBlob).toEqual([])
    const wrongCounts = rowsOf(await db.execute(sql`
      select b.content_hash, b.ref_count, count(o.id)::int as live
      from blobs b left join objects o
        on o.storage_class = b.storage_class and o.content_hash = b.content_hash and o.status = 'COMMITTED'
      group by b.storage_class, b.content_hash, b.ref_count
      having b.ref_count <> count(o.id)`))
    expect(wrongCounts).toEqual([])
    const committed = rowsOf<{ count: number }>(await db.execute(sql`select count(*)::int as count from objects where status = 'COMMITTED'`))
    // Commits whose reply was lost in the outage may exist without an acknowledgement, never the reverse.
    expect(committed[0]!.count).toBeGreaterThanOrEqual(acknowledged.length)
  }), 90_000)
})
