import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/postgres-js'
import type postgres from 'postgres'
import { connectPostgres } from '../../core/db/connect'
import { embeddedDatabaseUrl } from '../../core/db/embedded'
import * as schema from '../../core/db/schema'
import { repoRoot, startChild, type Child } from '../support/child'
import { blobStoresOf } from '../../app'
import { loadConfig } from '../../core/config'
import type { BlobStores } from '../../core/store/blob-store'
import { bucketEnvironment, sharedCluster, storageBackends } from '../support/server'
import { tempDir } from '../support/temp'

/**
 * Proof: kill -9 in the middle of concurrent uploads never loses an
 * acknowledged object and never exposes a partial one; after the crashes one GC
 * pass leaves no staged bytes and no unreferenced blobs (on a bucket: no
 * incomplete multipart uploads either), and fsck agrees.
 * On the embedded default the kills leave its postmaster running, which every
 * restart must recover from.
 */

const rounds = Number(process.env.CRASH_ROUNDS ?? 10)
const uploadsPerRound = 48
const namespace = 'crash'
const tenant = 'acme'
const sharedKey = 'shared/key'
const adminHeaders = { authorization: 'Bearer test-admin-token' }

type StorageClass = 'hot' | 'cold'

interface Attempt {
  round: number
  index: number
  key: string | null
  storageClass: StorageClass
  body: 'bytes' | 'stream-with-length' | 'stream-chunked'
  payload: Uint8Array<ArrayBuffer>
  hex: string
  status?: number
  id?: string
  error?: string
}

const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')

// Identical bytes sent again and again, so commits race on the same blob row.
const dedupPayloads = [new Uint8Array(0), randomBytes(1024), randomBytes(300 * 1024), randomBytes(1536 * 1024)].map((payload) => new Uint8Array(payload))

function randomSize(): number {
  const roll = Math.random()
  if (roll < 0.05) return 0
  if (roll < 0.25) return 1 + Math.floor(Math.random() * 1024)
  if (roll < 0.55) return 1 + Math.floor(Math.random() * 64 * 1024)
  if (roll < 0.8) return 1 + Math.floor(Math.random() * 512 * 1024)
  return 1024 * 1024 + Math.floor(Math.random() * 1024 * 1024)
}

const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)]!

function planRound(round: number): Attempt[] {
  return Array.from({ length: uploadsPerRound }, (_, index) => {
    const dedup = index % 6 === 0 || (index % 6 === 1 && Math.random() < 0.5)
    const payload = dedup ? pick(dedupPayloads) : new Uint8Array(randomBytes(randomSize()))
    const key = index % 6 === 1 ? sharedKey : index % 6 === 2 ? `r${round}/k${index}` : null
    const body = index % 6 === 2 || index % 6 === 4 ? 'stream-with-length' : index % 6 === 3 ? 'stream-chunked' : 'bytes'
    return { round, index, key, storageClass: index % 5 === 4 ? 'cold' : 'hot', body, payload, hex: sha256(payload) }
  })
}

function streamOf(payload: Uint8Array<ArrayBuffer>): ReadableStream<Uint8Array> {
  let offset = 0
  return new ReadableStream({
    pull(controller) {
      if (offset >= payload.byteLength) return controller.close()
      const end = Math.min(offset + 64 * 1024, payload.byteLength)
      controller.enqueue(payload.slice(offset, end))
      offset = end
    },
  })
}

async function upload(url: string, attempt: Attempt, onAcknowledged: () => void): Promise<void> {
  const query = new URLSearchParams({ namespace, tenant_id: tenant, storage_class: attempt.storageClass })
  if (attempt.key !== null) query.set('key', attempt.key)
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' }
  if (attempt.key === sharedKey) headers['x-overwrite'] = 'true'
  if (attempt.body === 'stream-with-length') headers['content-length'] = String(attempt.payload.byteLength)
  const body = attempt.body === 'bytes' ? attempt.payload : streamOf(attempt.payload)
  try {
    const response = await fetch(`${url}/v1/objects?${query}`, { method: 'POST', headers, body })
    attempt.status = response.status
    const json = (await response.json()) as { id?: string }
    if (response.status === 201) {
      attempt.id = json.id
      onAcknowledged()
    } else attempt.error = JSON.stringify(json)
  } catch (error) {
    // The process died under the request: no acknowledgement.
    attempt.error = String((error as Error).message ?? error)
  }
}

const describeAttempt = (a: Attempt) => `round ${a.round} upload #${a.index} (id ${a.id}, key ${a.key}, ${a.storageClass}, ${a.body}, ${a.payload.byteLength} B, sha256 ${a.hex})`

async function download(url: string, id: string): Promise<{ status: number; hex?: string; size?: number; body?: string }> {
  const response = await fetch(`${url}/v1/objects/${id}?tenant_id=${tenant}`)
  const bytes = new Uint8Array(await response.arrayBuffer())
  if (response.status !== 200) return { status: response.status, body: new TextDecoder().decode(bytes) }
  return { status: 200, hex: sha256(bytes), size: bytes.byteLength }
}

async function inPool<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await work(items[next++]!)
  }))
}

interface Listed {
  id: string
  key: string | null
  content_hash: string
  size_bytes: number
}

async function listAll(url: string): Promise<Listed[]> {
  const listed: Listed[] = []
  let cursor: string | null = null
  do {
    const query = new URLSearchParams({ namespace, tenant_id: tenant, limit: '1000' })
    if (cursor) query.set('cursor', cursor)
    const response = await fetch(`${url}/v1/objects?${query}`)
    if (response.status !== 200) throw new Error(`list answered ${response.status}: ${await response.text()}`)
    const page = (await response.json()) as { objects: Listed[]; next_cursor: string | null }
    listed.push(...page.objects)
    cursor = page.next_cursor
  } while (cursor)
  return listed
}

for (const backend of storageBackends) {
  describe(backend, () => {
    let dataDir: string
    /** What the service is given; undefined on the embedded default. */
    let serviceDatabaseUrl: string | undefined
    let client: ReturnType<typeof postgres>
    let db: ReturnType<typeof drizzle<typeof schema>>
    let child: Child | undefined
    const attempts: Attempt[] = []
    const failures: string[] = []
    const stats = { verified: 0, replaced: 0, unacknowledgedCommitted: 0 }
    const killPoints: string[] = []
    // Both classes on a bucket of the test RGW on the s3 backend.
    let buckets: Record<string, string> = {}

    beforeAll(async () => {
      dataDir = tempDir('juststorage-crash-')
      // The embedded default's database exists while a service runs; the test reads it then.
      serviceDatabaseUrl = backend === 'embedded' ? undefined : await (await sharedCluster()).createDatabase(`crash_${process.pid}_${Date.now()}`)
      if (backend === 's3') buckets = await bucketEnvironment()
      Object.assign(serviceEnv, buckets)
      Object.assign(finalEnv, buckets)
      client = connectPostgres(serviceDatabaseUrl ?? embeddedDatabaseUrl(dataDir), { max: 2 })
      db = drizzle(client, { schema })
    })

    afterAll(async () => {
      await child?.kill('SIGKILL')
      await client?.end({ timeout: 5 })
      rmSync(dataDir, { recursive: true, force: true })
    })

    /** Everything acknowledged so far reads back byte-exact; everything listed is whole and was really sent. */
    async function verify(url: string, final: boolean): Promise<void> {
      const acknowledged = attempts.filter((a) => a.status === 201)
      const sentSizes = new Map(attempts.map((a) => [a.hex, a.payload.byteLength]))
      const readable = new Set<string>()
      await inPool(acknowledged, 8, async (attempt) => {
        const got = await download(url, attempt.id!)
        if (got.status === 200 && got.hex === attempt.hex && got.size === attempt.payload.byteLength) {
          readable.add(attempt.id!)
          if (final) stats.verified++
          return
        }
        // A commit to the same key in the same or a later round may have replaced it,
        // acknowledged or not (the process can die between COMMIT and the response).
        const replaceable = attempt.key !== null && attempts.some((other) => other !== attempt && other.key === attempt.key && other.round >= attempt.round)
        if (got.status === 404 && replaceable) {
          if (final) stats.replaced++
          return
        }
        failures.push(`${describeAttempt(attempt)}: download answered ${got.status} ${got.body ?? ''} sha256 ${got.hex} size ${got.size}`)
      })

      const listed = await listAll(url)
      const keys = new Map<string, number>()
      for (const object of listed) if (object.key !== null) keys.set(object.key, (keys.get(object.key) ?? 0) + 1)
      for (const [key, count] of keys) if (count > 1) failures.push(`key ${key} is listed ${count} times`)
      const listedIds = new Set(listed.map((object) => object.id))
      for (const id of readable) if (!listedIds.has(id)) failures.push(`acknowledged object ${id} downloads but is not listed`)
      const acknowledgedIds = new Set(acknowledged.map((a) => a.id))
      await inPool(listed, 8, async (object) => {
        const hex = object.content_hash.replace(/^sha256:/, '')
        if (sentSizes.get(hex) !== object.size_bytes) {
          failures.push(`listed object ${object.id} has ${object.content_hash} / ${object.size_bytes} B, which no upload sent`)
          return
        }
        if (readable.has(object.id)) return
        const got = await download(url, object.id)
        if (got.status !== 200 || got.hex !== hex || got.size !== object.size_bytes) {
          failures.push(`listed object ${object.id} downloads as ${got.status} ${got.body ?? ''} sha256 ${got.hex} size ${got.size}`)
        }
        if (final && !acknowledgedIds.has(object.id)) stats.unacknowledgedCommitted++
      })
    }

    // Bodies up to 4 KiB are kept inline, larger ones go to files: the kills land on both kinds of commit.
    const inlineMaxBytes = 4096
    const serviceEnv: Record<string, string> = { INLINE_MAX_BYTES: String(inlineMaxBytes) }
    const finalEnv: Record<string, string> = { ...serviceEnv, STUCK_UPLOAD_TIMEOUT_SECS: '1', GC_GRACE_SECS: '0' }

    test(`${backend}: ${rounds} rounds of kill -9 during ${uploadsPerRound} concurrent uploads lose nothing acknowledged and expose nothing partial`, async () => {
      for (let round = 1; round <= rounds; round++) {
        // A restart that fails after a crash is itself a failure of the proof.
        child = await startChild({ databaseUrl: serviceDatabaseUrl, dataDir, env: serviceEnv })
        try {
          await verify(child.url, false)
          const planned = planRound(round)
          attempts.push(...planned)
          // Kill either at a random early moment or right after a random number of
          // acknowledgements, so that some rounds die before any commit and others
          // with commits, renames and responses in flight, whatever the machine's speed.
          const killAfterAcks = round % 3 === 1 ? 0 : 1 + Math.floor(Math.random() * (uploadsPerRound - 8))
          let acks = 0
          let reached!: () => void
          const enoughAcks = new Promise<void>((resolve) => (reached = resolve))
          const inFlight = Promise.all(planned.map((attempt) => upload(child!.url, attempt, () => ++acks === killAfterAcks && reached())))
          const delayMs = killAfterAcks === 0 ? 5 + Math.floor(Math.random() * 146) : Math.floor(Math.random() * 15)
          if (killAfterAcks > 0) await Promise.race([enoughAcks, inFlight])
          await Bun.sleep(delayMs)
          await child.kill('SIGKILL')
          await inFlight
          killPoints.push(killAfterAcks === 0 ? `${delayMs}ms` : `${killAfterAcks}acks+${delayMs}ms`)
          for (const attempt of planned) {
            if (attempt.status !== undefined && attempt.status !== 201) {
              failures.push(`${describeAttempt(attempt)} answered ${attempt.status} before the kill: ${attempt.error}`)
            }
            if (attempt.status === 201 && attempt.id === undefined) failures.push(`${describeAttempt(attempt)} answered 201 without an id`)
          }
        } catch (error) {
          failures.push(`round ${round}: ${(error as Error).message}\n--- child output ---\n${child.output()}`)
        }
      }

      child = await startChild({ databaseUrl: serviceDatabaseUrl, dataDir, env: finalEnv })
      await verify(child.url, true)
      const acknowledged = attempts.filter((a) => a.status === 201).length
      const acknowledgedOverwrites = attempts.filter((a) => a.status === 201 && a.key === sharedKey).length
      const acknowledgedInline = attempts.filter((a) => a.status === 201 && a.payload.byteLength <= inlineMaxBytes).length
      console.info(
        `crash proof (${backend}): rounds=${rounds} uploads_attempted=${attempts.length} acknowledged=${acknowledged} ` +
          `(inline ${acknowledgedInline}, files ${acknowledged - acknowledgedInline}, overwrites of one key ${acknowledgedOverwrites}) verified=${stats.verified} ` +
          `replaced_by_overwrite=${stats.replaced} committed_unacknowledged=${stats.unacknowledgedCommitted} failures=${failures.length} kills=[${killPoints.join(' ')}]`,
      )
      if (failures.length > 0) console.error(failures.join('\n'))
      expect(failures).toEqual([])
      // Both kinds of commit were acknowledged before kills, so both are proven.
      expect(acknowledgedInline).toBeGreaterThan(0)
      expect(acknowledged - acknowledgedInline).toBeGreaterThan(0)
      expect(stats.verified + stats.replaced).toBe(acknowledged)
    }, 150_000)

    const writingCount = async (newerThanMs?: number) => {
      const condition = newerThanMs === undefined ? sql`` : sql` and updated_at > now() - make_interval(secs => ${newerThanMs / 1000})`
      const [row] = await db.execute<{ count: number }>(sql`select count(*)::int as count from objects where status = 'WRITING'${condition}`)
      return row!.count
    }

    test(`${backend}: after the crashes one GC pass leaves no staged bytes and no unreferenced blobs, and fsck says consistent`, async () => {
      child ??= await startChild({ databaseUrl: serviceDatabaseUrl, dataDir, env: finalEnv })
      const stuckBefore = await writingCount()
      // Reservations of killed uploads must be older than STUCK_UPLOAD_TIMEOUT_SECS=1 to be reaped.
      const deadline = Date.now() + 15_000
      while ((await writingCount(1200)) > 0 && Date.now() < deadline) await Bun.sleep(100)
      expect(await writingCount(1200)).toBe(0)

      const response = await fetch(`${child.url}/v1/admin/gc`, { method: 'POST', headers: adminHeaders })
      const gc = await response.json()
      expect(response.status).toBe(200)

      expect(await writingCount()).toBe(0)
      // The service's own blob stores, as its configuration opens them.
      const stores: BlobStores = blobStoresOf(loadConfig({ DATA_DIR: dataDir, ...finalEnv }))
      const rows = await db.select({ storageClass: schema.blobs.storageClass, contentHash: schema.blobs.contentHash, refCount: schema.blobs.refCount }).from(schema.blobs)
      const referenced = new Set(rows.filter((row) => row.refCount > 0).map((row) => `${row.storageClass}:${row.contentHash}`))
      let storedBlobs = 0
      for (const storageClass of ['hot', 'cold'] as const) {
        const leftovers: string[] = []
        for await (const leftover of stores[storageClass].leftovers()) leftovers.push(`${leftover.kind} ${leftover.kind === 'staged' ? leftover.uploadId : leftover.hex}`)
        expect(leftovers).toEqual([])
        const unreferenced: string[] = []
        for await (const blob of stores[storageClass].blobs()) {
          storedBlobs++
          if (!referenced.has(`${storageClass}:sha256:${blob.hex}`)) unreferenced.push(`${storageClass}/${blob.hex}`)
        }
        expect(unreferenced).toEqual([])
      }
      await child.stop()
      child = undefined
      console.info(`crash proof gc (${backend}): stuck_uploads_before=${stuckBefore} gc=${JSON.stringify(gc)} stored_blobs=${storedBlobs}`)
      // fsck runs with the service stopped (on the embedded default it starts the database itself).
      const fsck = Bun.spawn([process.execPath, 'scripts/fsck.ts'], {
        cwd: repoRoot,
        env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: serviceDatabaseUrl ?? '', ...buckets },
        stdout: 'pipe',
        stderr: 'pipe',
      })
      const [out, err, code] = await Promise.all([new Response(fsck.stdout).text(), new Response(fsck.stderr).text(), fsck.exited])
      console.info(`fsck (${backend}): exit ${code}`)
      if (code !== 0) console.error(out + err)
      expect(out).toMatch(/^consistent$/m)
      expect(code).toBe(0)
    }, 60_000)
  })
}
