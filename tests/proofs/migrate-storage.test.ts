import { afterAll, describe, expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { closeSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs'
import { join, relative } from 'node:path'
import { blobStoresOf } from '../../app'
import { loadConfig } from '../../core/config'
import { connectPostgres } from '../../core/db/connect'
import type { BlobStore } from '../../core/store/blob-store'
import { blobFile } from '../../core/store/paths'
import { sharedS3 } from '../support/ceph'
import { repoRoot, runToExit, startChild, type Child } from '../support/child'
import { sharedCluster } from '../support/server'
import { tempDir } from '../support/temp'

/**
 * Proof: `npm run migrate-storage -- --class hot --to s3://…` moves the hot
 * class of a stopped service from its directory into a bucket of the test RGW.
 * It refuses beside a running service; killed (-9) midway, a rerun goes on and
 * finds what the first run placed already there; then a service started with
 * HOT_STORAGE_ROOT on the bucket serves every object byte-exact, takes new
 * uploads, and its GC finds the bucket holding exactly the class's blobs. A
 * source file damaged in place is named, never copied, and nothing is switched.
 */

const KiB = 1024
const MiB = 2 ** 20
const inlineMaxBytes = 64 * KiB // the service's default INLINE_MAX_BYTES, which these services run with
const namespace = 'migrate'
const tenant = 'acme'
const adminHeaders = { authorization: 'Bearer test-admin-token' }

type StorageClass = 'hot' | 'cold'

interface Sent {
  id: string
  bytes: Uint8Array<ArrayBuffer>
  hex: string
  storageClass: StorageClass
}

const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')
const random = (size: number) => new Uint8Array(randomBytes(size))

const dirs: string[] = []
const children: Child[] = []
afterAll(async () => {
  for (const child of children) await child.kill('SIGKILL')
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

async function upload(url: string, bytes: Uint8Array<ArrayBuffer>, storageClass: StorageClass): Promise<Sent> {
  const query = new URLSearchParams({ namespace, tenant_id: tenant, storage_class: storageClass })
  const response = await fetch(`${url}/v1/objects?${query}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes })
  const json = (await response.json()) as { id?: string }
  if (response.status !== 201) throw new Error(`upload of ${bytes.byteLength} B answered ${response.status}: ${JSON.stringify(json)}`)
  return { id: json.id!, bytes, hex: sha256(bytes), storageClass }
}

async function download(url: string, id: string): Promise<{ status: number; bytes: Uint8Array }> {
  const response = await fetch(`${url}/v1/objects/${id}?tenant_id=${tenant}`)
  return { status: response.status, bytes: new Uint8Array(await response.arrayBuffer()) }
}

async function inPool<T, R>(items: T[], width: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let i = next++; i < items.length; i = next++) results[i] = await work(items[i]!)
    }),
  )
  return results
}

/** Every object downloads as the bytes sent; the problems, none when all do. */
async function unreadable(url: string, objects: Sent[]): Promise<string[]> {
  const problems = await inPool(objects, 4, async (sent) => {
    const got = await download(url, sent.id)
    if (got.status === 200 && got.bytes.byteLength === sent.bytes.byteLength && sha256(got.bytes) === sent.hex) return null
    return `${sent.storageClass} object ${sent.id} (${sent.bytes.byteLength} B, sha256:${sent.hex}) downloads as ${got.status}, ${got.bytes.byteLength} B, sha256:${sha256(got.bytes)}`
  })
  return problems.filter((problem): problem is string => problem !== null)
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = []
  for await (const item of items) all.push(item)
  return all
}

/** What `read` gives once two reads a second apart agree. */
async function settled(read: () => Promise<string[]>): Promise<string[]> {
  let last = await read()
  for (let round = 0; round < 30; round++) {
    await Bun.sleep(1000)
    const now = await read()
    if (now.join() === last.join()) return now
    last = now
  }
  throw new Error(`still changing after 30 s: ${last.length} entries`)
}

const leftoversOf = async (store: BlobStore) => (await collect(store.leftovers())).map((leftover) => `${leftover.kind} ${leftover.kind === 'staged' ? leftover.uploadId : leftover.hex}`)
const storedHexes = async (store: BlobStore) => (await collect(store.blobs())).map((blob) => blob.hex).sort()
const sorted = (hexes: Iterable<string>) => [...new Set(hexes)].sort()

/** Every file under a directory with its size, change time and digest: what "left untouched" is checked against. */
function snapshot(root: string): Record<string, string> {
  const files: Record<string, string> = {}
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else {
        const stat = statSync(path)
        files[relative(root, path)] = `${stat.size} ${stat.mtimeMs} ${sha256(readFileSync(path))}`
      }
    }
  }
  walk(root)
  return files
}

interface Setup {
  dataDir: string
  databaseUrl: string
  /** The S3_* settings of the test RGW, as the service and the command read them. */
  s3Env: Record<string, string>
  bucket: string
}

async function setUp(name: string): Promise<Setup> {
  const dataDir = tempDir(`juststorage-${name}-`)
  dirs.push(dataDir)
  const databaseUrl = await (await sharedCluster()).createDatabase(`${name}_${process.pid}_${Date.now()}`)
  const s3 = await sharedS3()
  const bucket = await s3.createBucket()
  const s3Env = { S3_ENDPOINT: s3.endpoint, S3_REGION: s3.region, S3_ACCESS_KEY_ID: s3.accessKeyId, S3_SECRET_ACCESS_KEY: s3.secretAccessKey }
  return { dataDir, databaseUrl, s3Env, bucket }
}

/** The command's environment: the service's, with both classes on their default directories under DATA_DIR. */
const commandEnv = (setup: Setup): Record<string, string | undefined> => ({
  DATA_DIR: setup.dataDir,
  DATABASE_URL: setup.databaseUrl,
  HOT_STORAGE_ROOT: undefined,
  COLD_STORAGE_ROOT: undefined,
  INLINE_MAX_BYTES: undefined,
  LOG_LEVEL: 'warn',
  ...setup.s3Env,
})

/** This process's environment with `env` over it; an undefined value unsets a variable. */
function environmentOf(env: Record<string, string | undefined>): Record<string, string> {
  const environment: Record<string, string | undefined> = { ...process.env, ...env }
  for (const [name, value] of Object.entries(environment)) if (value === undefined) delete environment[name]
  return environment as Record<string, string>
}

/** The hot class's store on the bucket, as a service with HOT_STORAGE_ROOT=`to` opens it. */
const bucketStore = (setup: Setup, to: string) => blobStoresOf(loadConfig({ DATA_DIR: setup.dataDir, HOT_STORAGE_ROOT: to, ...setup.s3Env })).hot

/** `done` of every progress line the command printed. */
const progressCounts = (output: string) => [...output.matchAll(/migrate-storage: (\d+)\/(\d+) blobs: /g)].map((match) => Number(match[1]))

/** The figures of the command's last line about the whole run. */
function finalFigures(output: string) {
  const match = /migrate-storage: done: (\d+)\/(\d+) blobs: copied (\d+), already there (\d+), failed (\d+); ([\d.]+) MiB copied in ([\d.]+) s/.exec(output)
  if (!match) return null
  const [done, total, copied, alreadyThere, failed, mib, seconds] = match.slice(1).map(Number) as [number, number, number, number, number, number, number]
  return { done, total, copied, alreadyThere, failed, mib, seconds }
}

describe('migrate-storage', () => {
  test('moves the hot class of a stopped service into a bucket: refused beside the service, resumed after kill -9, then served from the bucket', async () => {
    const setup = await setUp('migrate')
    const to = `s3://${setup.bucket}/juststorage/hot`
    const args = ['scripts/migrate-storage.ts', '--class', 'hot', '--to', to]
    const env = commandEnv(setup)
    const destination = bucketStore(setup, to)
    const hotRoot = join(setup.dataDir, 'hot')

    // Directory classes with the default inline limit: small bodies in the database, larger ones in files.
    let child = await startChild({ databaseUrl: setup.databaseUrl, dataDir: setup.dataDir, env: { INLINE_MAX_BYTES: String(inlineMaxBytes) } })
    children.push(child)
    const inlineBodies = [0, 1, 1000, 30 * KiB, inlineMaxBytes].map(random)
    const fileBodies = [inlineMaxBytes + 1, ...Array<number>(30).fill(3 * MiB), 20 * MiB, 20 * MiB].map(random)
    const plan: [Uint8Array<ArrayBuffer>, StorageClass][] = [
      ...inlineBodies.map((bytes) => [bytes, 'hot'] as [Uint8Array<ArrayBuffer>, StorageClass]),
      ...fileBodies.map((bytes) => [bytes, 'hot'] as [Uint8Array<ArrayBuffer>, StorageClass]),
      // Duplicates: one blob, several objects.
      [fileBodies[3]!, 'hot'],
      [fileBodies[3]!, 'hot'],
      [inlineBodies[2]!, 'hot'],
      // The cold class stays on its directory.
      [random(MiB), 'cold'],
      [random(100 * KiB), 'cold'],
      [random(10 * KiB), 'cold'],
    ]
    const started = performance.now()
    const sent = await inPool(plan, 4, ([bytes, storageClass]) => upload(child.url, bytes, storageClass))
    // A deleted object leaves its blob's row unreferenced until GC; its file is still there.
    const deleted = await upload(child.url, random(2 * MiB), 'hot')
    expect((await fetch(`${child.url}/v1/objects/${deleted.id}?tenant_id=${tenant}`, { method: 'DELETE' })).status).toBe(204)
    console.info(`migrate proof: ${sent.length + 1} uploads in ${((performance.now() - started) / 1000).toFixed(1)} s`)

    const hotFiles = sorted([...sent.filter((s) => s.storageClass === 'hot' && s.bytes.byteLength > inlineMaxBytes).map((s) => s.hex), deleted.hex])
    const hotInline = sorted(sent.filter((s) => s.storageClass === 'hot' && s.bytes.byteLength <= inlineMaxBytes).map((s) => s.hex))
    // The mix is what the proof needs: the database holds the hot rows expected, inline or not.
    const sqlClient = connectPostgres(setup.databaseUrl, { max: 1 })
    try {
      const rows = await sqlClient<{ hex: string; inline: boolean }[]>`
        select substr(content_hash, 8) as hex, inline_data is not null as inline from blobs where storage_class = 'hot'`
      expect(sorted(rows.filter((row) => !row.inline).map((row) => row.hex))).toEqual(hotFiles)
      expect(sorted(rows.filter((row) => row.inline).map((row) => row.hex))).toEqual(hotInline)
    } finally {
      await sqlClient.end({ timeout: 5 })
    }
    expect(hotFiles.length).toBe(34)
    expect(hotInline.length).toBe(5)

    // Beside a running service it refuses and copies nothing.
    const beside = await runToExit(args, env)
    expect(beside.output).toMatch(/in use/)
    expect(beside.code).toBe(1)
    expect(await storedHexes(destination)).toEqual([])

    await child.stop()
    const before = snapshot(hotRoot)
    expect(Object.keys(before).filter((path) => path.startsWith('sha256/')).length).toBe(hotFiles.length)

    // A dry run, through the package's script: counts, and nothing copied.
    const dry = await runToExit(['run', 'migrate-storage', '--', '--class', 'hot', '--to', to, '--dry-run'], env)
    expect(dry.output).toContain(`dry run: ${hotFiles.length} blobs (`)
    expect(dry.output).toContain(`inline blobs, which stay in the database: ${hotInline.length} (`)
    expect(dry.code).toBe(0)
    expect(await storedHexes(destination)).toEqual([])

    // The first run, killed with -9 once it has reported some blobs done.
    const first = Bun.spawn([process.execPath, ...args, '--progress-every', '1'], { cwd: repoRoot, env: environmentOf(env), stdout: 'pipe', stderr: 'pipe' })
    let firstOutput = ''
    let killedAt = -1
    const readErr = new Response(first.stderr).text()
    const decoder = new TextDecoder()
    for await (const chunk of first.stdout) {
      firstOutput += decoder.decode(chunk, { stream: true })
      const counts = progressCounts(firstOutput)
      if (killedAt < 0 && counts.length > 0 && Math.max(...counts) >= 8) {
        killedAt = Math.max(...counts)
        first.kill('SIGKILL')
      }
    }
    await first.exited
    firstOutput += await readErr
    // A request the killed process had sent (a server-side copy) may still complete in the gateway: wait until
    // the bucket's listing holds still.
    const afterKill = await settled(() => storedHexes(destination))
    const reported = Math.max(0, ...progressCounts(firstOutput))
    // The kill landed midway: the run never finished and never printed the setting.
    expect(first.signalCode).toBe('SIGKILL')
    expect(killedAt).toBeGreaterThanOrEqual(8)
    expect(firstOutput).not.toContain('migrate-storage: done:')
    expect(firstOutput).not.toContain('HOT_STORAGE_ROOT=')
    const leftoversAfterKill = (await leftoversOf(destination)).length
    // Every blob reported done is in the bucket, and only blobs of the class are.
    expect(afterKill.length).toBeGreaterThanOrEqual(reported)
    expect(afterKill.length).toBeLessThan(hotFiles.length)
    for (const hex of afterKill) expect(hotFiles).toContain(hex)

    // Objects under blobs' names that are not those blobs (a half-written one, one of the right size with other
    // bytes) are never taken for copies: the rerun replaces them.
    const bytesOf = new Map(sent.map((s) => [s.hex, s.bytes]))
    const [truncatedHex, wrongHex] = hotFiles.filter((hex) => !afterKill.includes(hex) && bytesOf.has(hex))
    const bucketClient = (await sharedS3()).client(setup.bucket)
    const keyOf = (hex: string) => `juststorage/hot/sha256/${hex.slice(0, 2)}/${hex.slice(2, 4)}/${hex}`
    await bucketClient.write(keyOf(truncatedHex!), bytesOf.get(truncatedHex!)!.slice(0, MiB))
    await bucketClient.write(keyOf(wrongHex!), random(bytesOf.get(wrongHex!)!.byteLength))
    expect(wrongHex).toBeDefined()
    expect(await destination.size(wrongHex!)).toBe(bytesOf.get(wrongHex!)!.byteLength)
    expect(await storedHexes(destination)).toEqual(sorted([...afterKill, truncatedHex!, wrongHex!]))

    // The rerun goes on: what the first placed is already there, the rest is copied.
    const rerun = await runToExit([...args, '--progress-every', '10'], env, 300_000)
    const figures = finalFigures(rerun.output)
    console.info(`migrate proof: first run killed after ${reported} blobs reported (${afterKill.length} in the bucket, ${leftoversAfterKill} staged leftovers); rerun: ${rerun.output.match(/migrate-storage: done: .*/)?.[0]}`)
    if (rerun.code !== 0) console.error(rerun.output)
    expect(figures).not.toBeNull()
    expect(figures!.alreadyThere).toBe(afterKill.length)
    expect(figures!.copied).toBe(hotFiles.length - afterKill.length)
    expect(figures!.failed).toBe(0)
    expect(rerun.output).toContain('2 objects at the destination held other bytes than the blob they are named after')
    expect(rerun.output).not.toContain('WARNING')
    expect(figures!.done).toBe(hotFiles.length)
    expect(rerun.output).toContain(`\nHOT_STORAGE_ROOT=s3://${setup.bucket}/juststorage/hot/\n`)
    expect(rerun.code).toBe(0)
    console.info(`migrate proof: rerun copied ${figures!.copied} blobs, ${figures!.mib} MiB in ${figures!.seconds} s (${(figures!.mib / figures!.seconds).toFixed(1)} MiB/s), and verified ${figures!.alreadyThere} already there; ${rerun.output.match(/peak memory [\d.]+ MiB/)?.[0]}`)

    // The bucket holds exactly the class's blobs kept in files; the source directory is as it was.
    expect(await storedHexes(destination)).toEqual(hotFiles)
    expect(snapshot(hotRoot)).toEqual(before)

    // The service on the bucket serves every object, the cold ones from their directory still. Its GC (a pass runs
    // at start) keeps what is younger than the default grace of 600 s.
    const onBucket = { HOT_STORAGE_ROOT: to, ...setup.s3Env, INLINE_MAX_BYTES: String(inlineMaxBytes) }
    child = await startChild({ databaseUrl: setup.databaseUrl, dataDir: setup.dataDir, env: onBucket })
    children.push(child)
    expect(await unreadable(child.url, sent)).toEqual([])
    expect((await download(child.url, deleted.id)).status).toBe(404)

    // New uploads go to the bucket, the old directory is not written to.
    const fresh = [await upload(child.url, random(3 * MiB), 'hot'), await upload(child.url, random(1000), 'hot'), await upload(child.url, fileBodies[5]!, 'hot')]
    expect(await unreadable(child.url, fresh)).toEqual([])
    expect(await storedHexes(destination)).toEqual(sorted([...hotFiles, fresh[0]!.hex]))
    expect(snapshot(hotRoot)).toEqual(before)

    await child.stop()

    // GC on the bucket with no grace (scheduled at start, then asked for with its orphan sweep): the unreferenced
    // blob goes, the interrupted run's staged bytes go, and no migrated blob counts as an orphan.
    child = await startChild({ databaseUrl: setup.databaseUrl, dataDir: setup.dataDir, env: { ...onBucket, GC_GRACE_SECS: '0' } })
    children.push(child)
    const gcResponse = await fetch(`${child.url}/v1/admin/gc`, { method: 'POST', headers: adminHeaders })
    const gc = (await gcResponse.json()) as Record<string, number>
    expect(gcResponse.status).toBe(200)
    console.info(`migrate proof: gc on the bucket ${JSON.stringify(gc)}`)
    expect(await storedHexes(destination)).toEqual(sorted([...hotFiles.filter((hex) => hex !== deleted.hex), fresh[0]!.hex]))
    expect(await leftoversOf(destination)).toEqual([])
    expect(await unreadable(child.url, [...sent, ...fresh])).toEqual([])
    await child.stop()
  }, 300_000)

  test('a blob larger than the memory the command takes is streamed through, never held whole', async () => {
    const setup = await setUp('migrate_large')
    const to = `s3://${setup.bucket}/hot`
    const child = await startChild({ databaseUrl: setup.databaseUrl, dataDir: setup.dataDir })
    children.push(child)
    const size = 400 * MiB
    const hasher = new Bun.CryptoHasher('sha256')
    let sentBytes = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sentBytes >= size) return controller.close()
        const chunk = random(MiB)
        hasher.update(chunk)
        sentBytes += chunk.byteLength
        controller.enqueue(chunk)
      },
    })
    const response = await fetch(`${child.url}/v1/objects?namespace=${namespace}&tenant_id=${tenant}`, { method: 'POST', body })
    expect(response.status).toBe(201)
    const hex = hasher.digest('hex')
    await child.stop()

    const run = await runToExit(['scripts/migrate-storage.ts', '--class', 'hot', '--to', to], commandEnv(setup), 120_000)
    const peak = Number(/peak memory ([\d.]+) MiB/.exec(run.output)?.[1])
    console.info(`migrate proof (one ${size / MiB} MiB blob): ${run.output.match(/migrate-storage: done: .*/)?.[0]}; peak memory ${peak} MiB`)
    expect(run.code).toBe(0)
    expect(peak).toBeGreaterThan(0)
    expect(peak).toBeLessThan(size / MiB)
    const destination = bucketStore(setup, to)
    expect(await destination.size(hex)).toBe(size)
    const copied = new Bun.CryptoHasher('sha256')
    for await (const chunk of new Response(destination.read(hex, 0, size)).body!) copied.update(chunk)
    expect(copied.digest('hex')).toBe(hex)
  }, 180_000)

  test('a blob file damaged in place (same length) makes the command exit non-zero naming it; it is never copied and nothing is switched', async () => {
    const setup = await setUp('migrate_damaged')
    const to = `s3://${setup.bucket}/hot`
    const child = await startChild({ databaseUrl: setup.databaseUrl, dataDir: setup.dataDir, env: { INLINE_MAX_BYTES: String(inlineMaxBytes) } })
    children.push(child)
    const sent = await inPool([random(200 * KiB), random(3 * MiB), random(300 * KiB), random(100)], 2, (bytes) => upload(child.url, bytes, 'hot'))
    await child.stop()

    const damaged = sent[1]!
    const path = blobFile(join(setup.dataDir, 'hot'), damaged.hex)
    expect(statSync(path).size).toBe(damaged.bytes.byteLength)
    const changed = damaged.bytes.slice(MiB, MiB + 4096).map((byte) => byte ^ 0xff)
    const fd = openSync(path, 'r+')
    try {
      writeSync(fd, changed, 0, changed.byteLength, MiB)
    } finally {
      closeSync(fd)
    }
    expect(statSync(path).size).toBe(damaged.bytes.byteLength)
    expect(sha256(readFileSync(path))).not.toBe(damaged.hex)

    // An object under a blob name the database does not know: reported, and left alone.
    const stranger = sha256(random(100))
    await (await sharedS3()).client(setup.bucket).write(`hot/sha256/${stranger.slice(0, 2)}/${stranger.slice(2, 4)}/${stranger}`, 'not a blob of this class')

    const run = await runToExit(['scripts/migrate-storage.ts', '--class', 'hot', '--to', to], commandEnv(setup))
    console.info(`migrate proof (damaged source): exit ${run.code}\n${run.output.trim()}`)
    expect(run.output).toMatch(new RegExp(`FAILED sha256:${damaged.hex} \\(${damaged.bytes.byteLength} bytes\\): damaged at the source`))
    expect(run.output).not.toContain('HOT_STORAGE_ROOT=')
    expect(run.code).toBe(1)
    const destination = bucketStore(setup, to)
    // The others were copied; the damaged bytes were neither placed nor left staged.
    expect(run.output).toContain(`holds objects under blob names that are no blob of the hot class: 1 (sha256:${stranger})`)
    expect(await storedHexes(destination)).toEqual(sorted([sent[0]!.hex, sent[2]!.hex, stranger]))
    expect(await leftoversOf(destination)).toEqual([])
  }, 120_000)

  test('an open upload session in the class stops the command before anything is copied: its bytes would not follow', async () => {
    const setup = await setUp('migrate_session')
    const to = `s3://${setup.bucket}/hot`
    const child = await startChild({ databaseUrl: setup.databaseUrl, dataDir: setup.dataDir })
    children.push(child)
    await upload(child.url, random(200 * KiB), 'hot')
    const created = await fetch(`${child.url}/v1/uploads?namespace=migrate&tenant_id=acme`, { method: 'POST' })
    const { id } = (await created.json()) as { id: string }
    expect((await fetch(`${child.url}/v1/uploads/${id}?tenant_id=acme`, { method: 'PATCH', body: random(KiB), headers: { 'upload-offset': '0' } })).status).toBe(204)
    await child.stop()

    const run = await runToExit(['scripts/migrate-storage.ts', '--class', 'hot', '--to', to], commandEnv(setup))
    expect(run.code).toBe(1)
    expect(run.output).toContain('1 upload session is open in the hot class')
    expect(await storedHexes(bucketStore(setup, to))).toEqual([])
  }, 120_000)
})
