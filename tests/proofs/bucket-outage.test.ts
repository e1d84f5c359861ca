import { afterAll, beforeAll, expect, test } from 'bun:test'
import { startCeph, type S3Target } from '../support/ceph'
import { bucketEnvironment, startServer, type TestServer } from '../support/server'

/**
 * Proof: the S3 gateway killed in the middle of uploads and downloads, then
 * started again. Meanwhile every request that needs the bucket answers 503
 * `unavailable` with Retry-After (never a 500), readiness is 503 and liveness
 * 200; afterwards the service recovers by itself, and every upload it
 * acknowledged, before, during or after, reads back byte-exact, and one GC
 * pass removes what the refused uploads left in the bucket.
 */

let ceph: S3Target
let server: TestServer
const namespace = 'outage'
const tenant = 'acme'

beforeAll(async () => {
  // A cluster of its own: the shared one must not lose its gateway under other tests.
  ceph = await startCeph()
  server = await startServer('postgres', { env: { ...(await bucketEnvironment(ceph)), S3_TIMEOUT_SECS: '2' } })
})

afterAll(async () => {
  await server?.stop()
  await ceph?.stop()
})

const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')

interface Outcome {
  status: number
  body: string
  retryAfter: string | null
}

async function upload(bytes: Uint8Array<ArrayBuffer>): Promise<Outcome & { id?: string }> {
  const response = await fetch(`${server.url}/v1/objects?namespace=${namespace}&tenant_id=${tenant}`, { method: 'POST', body: bytes })
  const body = await response.text()
  return { status: response.status, body, retryAfter: response.headers.get('retry-after'), id: response.status === 201 ? JSON.parse(body).id : undefined }
}

async function download(id: string): Promise<Outcome & { hex?: string }> {
  const response = await fetch(`${server.url}/v1/objects/${id}?tenant_id=${tenant}`)
  if (response.status !== 200) return { status: response.status, body: await response.text(), retryAfter: response.headers.get('retry-after') }
  return { status: 200, body: '', retryAfter: null, hex: sha256(new Uint8Array(await response.arrayBuffer())) }
}

test('a gateway outage is 503 with Retry-After while it lasts, and nothing acknowledged is lost after it', async () => {
  const gateway = ceph.gateway!
  const acknowledged = new Map<string, string>()
  const refused: Outcome[] = []
  const body = (i: number) => crypto.getRandomValues(new Uint8Array(64 * 1024 + i))

  for (let i = 0; i < 8; i++) {
    const bytes = body(i)
    const outcome = await upload(bytes)
    expect(outcome.status).toBe(201)
    acknowledged.set(outcome.id!, sha256(bytes))
  }
  const [stored] = acknowledged.keys()

  // Uploads keep coming from 8 clients while the gateway goes away and comes back.
  let phase: 'before' | 'down' | 'back' = 'before'
  let running = true
  const unexpected: string[] = []
  const clients = Array.from({ length: 8 }, async (_, client) => {
    for (let i = 0; running; i++) {
      const bytes = body(1000 * client + i)
      const outcome = await upload(bytes)
      if (outcome.status === 201) acknowledged.set(outcome.id!, sha256(bytes))
      else if (outcome.status === 503) refused.push(outcome)
      else unexpected.push(`${phase}: upload answered ${outcome.status} ${outcome.body}`)
    }
  })
  await Bun.sleep(300)
  phase = 'down'
  await gateway.kill()
  await Bun.sleep(1000)

  const ready = await fetch(`${server.url}/health/ready`)
  expect(ready.status).toBe(503)
  expect((await ready.json()).problems).toContain('hot storage bucket unreachable')
  expect((await fetch(`${server.url}/health`)).status).toBe(200)
  const unreadable = await download(stored!)
  expect(unreadable.status).toBe(503)
  expect(JSON.parse(unreadable.body).code).toBe('unavailable')
  expect(unreadable.retryAfter).not.toBeNull()

  await gateway.start()
  phase = 'back'
  // Recovery needs no step of ours: the next requests succeed.
  const deadline = Date.now() + 20_000
  while ((await fetch(`${server.url}/health/ready`)).status !== 200 && Date.now() < deadline) await Bun.sleep(200)
  expect((await fetch(`${server.url}/health/ready`)).status).toBe(200)
  const afterwards = body(99_999)
  const outcome = await upload(afterwards)
  expect(outcome.status).toBe(201)
  acknowledged.set(outcome.id!, sha256(afterwards))
  await Bun.sleep(300)
  running = false
  await Promise.all(clients)

  expect(unexpected).toEqual([])
  expect(refused.length).toBeGreaterThan(0)
  for (const outcome of refused) {
    expect(JSON.parse(outcome.body).code).toBe('unavailable')
    expect(outcome.retryAfter).not.toBeNull()
  }
  const wrong: string[] = []
  for (const [id, hex] of acknowledged) {
    const got = await download(id)
    if (got.status !== 200 || got.hex !== hex) wrong.push(`${id}: ${got.status} ${got.body} ${got.hex}`)
  }
  expect(wrong).toEqual([])

  // What the refused uploads could not clean up while the bucket was away goes with the next GC pass.
  const gc = await fetch(`${server.url}/v1/admin/gc`, { method: 'POST' })
  expect(gc.status).toBe(200)
  const left: string[] = []
  for (const store of Object.values(server.store.blobs)) for await (const leftover of store.leftovers()) left.push(leftover.kind)
  console.info(`bucket outage: acknowledged=${acknowledged.size} refused_with_503=${refused.length} gc=${JSON.stringify(await gc.json())}`)
  expect(left).toEqual([])

  // The outage shows in the metrics: the bucket's failed requests by operation, beside the timings of all of them.
  const metrics = await (await fetch(`${server.url}/metrics`)).text()
  const errors = [...metrics.matchAll(/^juststorage_storage_backend_errors_total\{backend="s3",operation="([a-z-]+)"\} (\d+)/gm)]
  expect(errors.reduce((total, match) => total + Number(match[2]), 0)).toBeGreaterThan(0)
  expect(metrics).toMatch(/^juststorage_storage_backend_request_duration_seconds_count\{backend="s3",operation="head"\} [1-9]/m)
}, 120_000)

test('a gateway that stops answering is 503 after S3_TIMEOUT_SECS, never a hang, and serves again once it answers', async () => {
  const gateway = ceph.gateway!
  const bytes = crypto.getRandomValues(new Uint8Array(200_000))
  const stored = await upload(bytes)
  expect(stored.status).toBe(201)
  gateway.pause()
  try {
    const [got, put, ready] = await Promise.all([download(stored.id!), upload(crypto.getRandomValues(new Uint8Array(100_000))), fetch(`${server.url}/health/ready`)])
    for (const outcome of [got, put]) {
      expect(outcome.status).toBe(503)
      expect(JSON.parse(outcome.body).code).toBe('unavailable')
    }
    expect(ready.status).toBe(503)
  } finally {
    gateway.resume()
  }
  const deadline = Date.now() + 20_000
  while ((await fetch(`${server.url}/health/ready`)).status !== 200 && Date.now() < deadline) await Bun.sleep(200)
  expect(await download(stored.id!)).toMatchObject({ status: 200, hex: sha256(bytes) })
}, 120_000)
