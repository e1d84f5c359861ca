import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { runGc } from '../../core/gc'
import { backends, bucketEnvironment, startServer, type TestServer } from '../support/server'

/**
 * Many clients upload the same few payloads, delete and re-upload them while
 * GC runs back to back with no grace period. A committed, undeleted object
 * must always download intact. With several replicas (one database, one
 * bucket) the requests go round the replicas, so every upload is read back
 * from another replica than the one that acknowledged it, and GC runs in every
 * replica at once. SOAK_SECONDS sets the duration (CI: short).
 */
const seconds = Number(process.env.SOAK_SECONDS ?? 5)
const clients = Number(process.env.SOAK_CLIENTS ?? 64)

// Payloads span 1 B to 64 KiB: with bodies up to 32 KiB kept inline, about half
// race through the inline path (and its one-statement commit) and half through files.
describe.each(backends.flatMap((backend) => [
  [backend, 'files', 0],
  [backend, 'inline and files', 32 * 1024],
] as const))('soak on %s, %s', (backend, mode, inlineMaxBytes) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend, { gc: { graceSecs: 0 }, inlineMaxBytes })
  })
  afterAll(() => server.stop())
  soak(() => [server], `${backend}, ${mode}`)
})

describe('soak on three replicas sharing one PostgreSQL database and one bucket', () => {
  const replicas: TestServer[] = []
  beforeAll(async () => {
    const buckets = await bucketEnvironment()
    const first = await startServer('postgres', { gc: { graceSecs: 0 }, inlineMaxBytes: 32 * 1024, env: buckets })
    replicas.push(first)
    for (let i = 1; i < 3; i++) replicas.push(await startServer('postgres', { gc: { graceSecs: 0 }, inlineMaxBytes: 32 * 1024, env: buckets, databaseUrl: first.databaseUrl }))
  })
  afterAll(async () => {
    for (const replica of replicas) await replica.stop()
  })
  soak(() => replicas, 'three replicas on a bucket')
})

function soak(servers: () => TestServer[], label: string): void {
  test(`${clients} clients for ${seconds}s with GC continuously at grace 0`, async () => {
    // Every client has a payload of its own, whose reference count keeps falling
    // to zero and rising again (dedup hits meet GC deletions), and shares one of
    // eight payloads with other clients.
    const payloads = Array.from({ length: clients + 8 }, (_, i) => crypto.getRandomValues(new Uint8Array(1 + ((i * 7919) % 65536))))
    const hashes = payloads.map((payload) => new Bun.CryptoHasher('sha256').update(payload).digest('hex'))
    const deadline = performance.now() + seconds * 1000
    const stats = { uploads: 0, deletes: 0, downloads: 0, gcPasses: 0, blobsCollected: 0, failures: [] as string[] }
    // Requests go round the replicas, and every read is sent to the replica after the one that wrote.
    let turn = 0
    const replicaAfter = (previous?: string) => {
      const all = servers().map((server) => server.url)
      return previous === undefined ? all[turn++ % all.length]! : all[(all.indexOf(previous) + 1) % all.length]!
    }
    const url = () => replicaAfter()

    const verify = async (id: string, payload: number, when: string, writtenAt?: string) => {
      const response = await fetch(`${replicaAfter(writtenAt)}/v1/objects/${id}?tenant_id=soak`)
      stats.downloads++
      const hex = new Bun.CryptoHasher('sha256').update(new Uint8Array(await response.arrayBuffer())).digest('hex')
      if (response.status !== 200 || hex !== hashes[payload]) stats.failures.push(`${when}: ${id} → ${response.status}`)
    }

    const client = async (n: number) => {
      const live = new Map<number, { id: string; payload: number }>() // key slot → its current object
      for (let step = 0; performance.now() < deadline; step++) {
        const slot = step % 3
        const payload = step % 2 === 0 ? n : clients + (n % 8)
        const writer = url()
        const response = await fetch(`${writer}/v1/objects?namespace=soak&tenant_id=soak&key=c${n}/${slot}`, {
          method: 'POST',
          headers: { 'x-overwrite': 'true' },
          body: payloads[payload],
        })
        stats.uploads++
        if (response.status !== 201) {
          stats.failures.push(`upload → ${response.status} ${await response.text()}`)
          continue
        }
        // The overwrite replaced whatever held this key before.
        live.set(slot, { id: (await response.json()).id, payload })
        await verify(live.get(slot)!.id, payload, 'after upload', writer)
        if (step % 2 === 1) {
          // Drop every reference this client holds to its own payload.
          for (const [held, object] of [...live].filter(([, object]) => object.payload === n)) {
            const deleted = await fetch(`${url()}/v1/objects/${object.id}?tenant_id=soak`, { method: 'DELETE' })
            stats.deletes++
            if (deleted.status !== 204) stats.failures.push(`delete → ${deleted.status}`)
            live.delete(held)
          }
        }
        const other = live.get((slot + 2) % 3)
        if (other) await verify(other.id, other.payload, 'while racing')
        if (step % 4 === 3) {
          // An upload with no key (the one-statement commit for small bodies), read back and deleted.
          const looseWriter = url()
          const loose = await fetch(`${looseWriter}/v1/objects?namespace=soak&tenant_id=soak`, { method: 'POST', body: payloads[payload] })
          stats.uploads++
          if (loose.status !== 201) {
            stats.failures.push(`unkeyed upload → ${loose.status} ${await loose.text()}`)
            continue
          }
          const { id } = await loose.json()
          await verify(id, payload, 'unkeyed', looseWriter)
          const deleted = await fetch(`${url()}/v1/objects/${id}?tenant_id=soak`, { method: 'DELETE' })
          stats.deletes++
          if (deleted.status !== 204) stats.failures.push(`unkeyed delete → ${deleted.status}`)
        }
      }
      for (const { id, payload } of live.values()) await verify(id, payload, 'at the end')
    }

    // GC back to back in every replica (the same pass the schedule and the admin route run);
    // every tenth pass also sweeps temp and orphan files.
    const collector = async (server: TestServer) => {
      while (performance.now() < deadline) {
        const result = await runGc(server.store.db, server.store.blobs, {
          graceSecs: 0,
          batchSize: 100,
          stuckUploadTimeoutSecs: 3600,
          tombstoneRetentionSecs: 0,
          sweepOrphans: stats.gcPasses % 10 === 0,
        })
        stats.blobsCollected += result.deleted_blobs
        stats.gcPasses++
      }
    }

    await Promise.all([...servers().map(collector), ...Array.from({ length: clients }, (_, n) => client(n))])
    console.info(
      `soak (${label}): ${clients} clients, ${seconds}s, ${stats.uploads} uploads, ${stats.deletes} deletes, ${stats.downloads} verified downloads, ` +
        `${stats.gcPasses} GC passes collecting ${stats.blobsCollected} blobs, ${stats.failures.length} failures`,
    )
    expect(stats.failures).toEqual([])
    expect(stats.gcPasses).toBeGreaterThan(0)
    expect(stats.uploads).toBeGreaterThan(clients)
  }, seconds * 1000 + 60_000)
}
