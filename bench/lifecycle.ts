/**
 * What the lifecycle features cost the requests that do not use them directly.
 *
 * Settings: the 4 KiB upload without a key, the replacing PUT by key and the
 * download by id, each on a namespace without settings and on one with
 * versioning and a quota far out of reach (so every upload takes a quota hold
 * before its commit and a replaced key keeps its old version, as users get), side by
 * side in the same run: plain, lifecycle, lifecycle, plain, so that a drift of
 * the disk falls on both alike. Every run must answer no error; the objects
 * counted afterwards match the answers, a replaced key of the versioned
 * namespace has kept its versions, and samples read back byte for byte.
 *
 * The pass: a namespace of `lifecycleObjects` objects, 1 % of them expired a
 * minute ago, is written straight into the database (as bench/list.ts does);
 * then 4 KiB downloads by id run for `smallSecs` with no pass and go on while
 * POST /v1/admin/lifecycle runs one pass. The pass must expire exactly the 1 %;
 * the latencies of the downloads in flight while it ran are set beside those
 * of the seconds before it.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { claimSlot } from '../core/jobs'
import { childAdminToken, type Child } from '../tests/support/child'
import { authorization, authorized } from './credential'
import { percentile, writeSeedBlob } from './list'
import type { BenchOptions } from './options'
import { openInstanceDatabase, tenant, type Instance } from './service'
import { countObjects, expectCount, objectBytes, replacedKeys, seedObjects, verifyDownloads, verifyStored, wrkPhase, wrkSpec, type Seeded } from './small'
import type { WrkResult, WrkRun } from './wrk'

/** The 4 KiB phases run beside their counterparts on a namespace with lifecycle settings. */
export const settingsPhases = ['post', 'replace', 'get-by-id'] as const
export type SettingsPhase = (typeof settingsPhases)[number]
export const settingsPhaseTitles: Record<SettingsPhase, string> = { post: 'POST without a key', replace: 'PUT by key, replacing', 'get-by-id': 'GET by id' }

export const namespaceSides = ['plain', 'lifecycle'] as const
export type NamespaceSide = (typeof namespaceSides)[number]

/** Versioning, and quotas no run comes near: 1 TiB and a billion objects. */
export const lifecycleSettings = { versioning: true, quota_bytes: 2 ** 40, quota_objects: 1_000_000_000 }

/** The order of the timed runs of each phase. */
const runOrder: NamespaceSide[] = ['plain', 'lifecycle', 'lifecycle', 'plain']

export interface SideResult {
  runs: WrkResult[]
  /** Means over the runs (of equal length). */
  opsPerSec: number
  p99Ms: number
}

export interface SettingsResult {
  phases: Record<SettingsPhase, Record<NamespaceSide, SideResult>>
  /** The most versions of any of the first keys replaced: with versioning at least 3 (created, then replaced in each run), without 1. */
  replacedKeyVersions: Record<NamespaceSide, number>
  verified: { uploads: number; downloads: number }
}

async function expectStatus(response: Response, status: number, what: string): Promise<Response> {
  if (response.status !== status) throw new Error(`${what} answered ${response.status}: ${await response.text()}`)
  return response
}

/** Gives `namespace` the lifecycle settings, with the admin token (the bench's key lacks keys:manage), and checks the answer. */
async function configureNamespace(base: string, namespace: string): Promise<void> {
  const response = await fetch(`${base}/v1/namespaces/${namespace}?tenant_id=${tenant}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${childAdminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(lifecycleSettings),
  })
  await expectStatus(response, 200, `PUT /v1/namespaces/${namespace}`)
  const settings = (await response.json()) as Record<string, unknown>
  for (const [name, value] of Object.entries(lifecycleSettings)) {
    if (settings[name] !== value) throw new Error(`namespace ${namespace}: ${name} is ${settings[name]} after setting ${value}`)
  }
}

/** Creates the keys r-0 … r-(count - 1) that write.lua's replacing mode cycles over, `concurrency` at a time. */
async function createKeys(base: string, namespace: string, count: number, concurrency: number): Promise<void> {
  let next = 0
  const body = new Uint8Array(objectBytes).fill(46)
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const key = `r-${next++}`
        const response = await fetch(`${base}/v1/objects/by-key/${namespace}/${tenant}/${key}`, {
          method: 'PUT',
          body,
          headers: authorized({ 'content-type': 'application/octet-stream' }),
        })
        await expectStatus(response, 201, `PUT ${namespace}/${key}`)
        await response.arrayBuffer()
      }
    }),
  )
}

async function versionsOf(base: string, namespace: string, key: string): Promise<number> {
  const response = await fetch(`${base}/v1/objects/versions?tenant_id=${tenant}&namespace=${namespace}&key=${key}&limit=1000`, { headers: authorized() })
  await expectStatus(response, 200, `GET the versions of ${namespace}/${key}`)
  return ((await response.json()) as { objects: unknown[] }).objects.length
}

/**
 * The namespace's objects once the requests wrk left in flight have committed
 * (unchanged over 100 ms): when commits queue behind their quota holds they may land
 * well after wrk stops, and the next run of the same namespace must not count them.
 */
async function settledCount(base: string, namespace: string): Promise<number> {
  let count = await countObjects(base, namespace)
  for (let tries = 0; tries < 100; tries++) {
    await Bun.sleep(100)
    const now = await countObjects(base, namespace)
    if (now === count) return count
    count = now
  }
  throw new Error(`the objects of ${namespace} were still changing 10 s after wrk stopped`)
}

const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length

export async function measureSettings(replicas: Child[], options: BenchOptions, workDir: string): Promise<SettingsResult> {
  const service = replicas[0]!
  const reader = replicas.at(-1)!
  const namespaceOf = (phase: SettingsPhase, side: NamespaceSide) => `settings-${phase}-${side}`
  const spec = wrkSpec(replicas, options)
  const write = (mode: string, namespace: string, seconds: number) => spec('write.lua', [mode, tenant, namespace, authorization(), String(replacedKeys)], seconds)
  const phases = {} as SettingsResult['phases']

  // What the replacing and reading phases need is in place before the settings are: with a quota every commit of the tenant waits for the one before.
  const seeded = {} as Record<NamespaceSide, Seeded[]>
  const pathFiles = {} as Record<NamespaceSide, string>
  for (const side of namespaceSides) {
    await createKeys(service.url, namespaceOf('replace', side), replacedKeys, options.smallConcurrency)
    seeded[side] = await seedObjects(service.url, options.smallSeeded, options.smallConcurrency, namespaceOf('get-by-id', side))
    pathFiles[side] = join(workDir, `settings-ids-${side}.txt`)
    writeFileSync(pathFiles[side], seeded[side].map((o) => `/v1/objects/${o.id}?tenant_id=${tenant}`).join('\n') + '\n')
  }
  for (const phase of settingsPhases) await configureNamespace(service.url, namespaceOf(phase, 'lifecycle'))

  /** The runs of one phase in runOrder; `check`, if any, sees each run's answers and the namespace's objects before and after. */
  const alternate = async (phase: SettingsPhase, run: (side: NamespaceSide) => WrkRun, check?: (side: NamespaceSide, result: WrkResult, before: number, after: number) => void) => {
    const runs: Record<NamespaceSide, WrkResult[]> = { plain: [], lifecycle: [] }
    const counted = new Map<string, number>()
    for (const side of runOrder) {
      const namespace = namespaceOf(phase, side)
      const before = check && (counted.get(namespace) ?? (await settledCount(service.url, namespace)))
      const result = await wrkPhase(run(side), `4 KiB ${settingsPhaseTitles[phase]}, ${side} namespace`)
      if (check) {
        counted.set(namespace, await settledCount(service.url, namespace))
        check(side, result, before!, counted.get(namespace)!)
      }
      runs[side].push(result)
    }
    phases[phase] = Object.fromEntries(
      namespaceSides.map((side) => [side, { runs: runs[side], opsPerSec: mean(runs[side].map((r) => r.requestsPerSec)), p99Ms: mean(runs[side].map((r) => r.p99Ms)) }]),
    ) as Record<NamespaceSide, SideResult>
  }

  // No warm-up of its own: the 4 KiB phases, of the same requests, ran just before.
  await alternate('post', (side) => write('post', namespaceOf('post', side), options.settingsSecs), (side, result, before, after) =>
    expectCount(`POST without a key, ${side} namespace`, after - before, result.requests, options.smallConcurrency),
  )

  await alternate('replace', (side) => write('replace', namespaceOf('replace', side), options.settingsSecs), (side, result, before, after) => {
    // Without settings a replace removes the object it replaces; with versioning the old one stays, a version.
    if (side === 'plain' && (before !== replacedKeys || after !== replacedKeys)) throw new Error(`replacing in the plain namespace changed its ${replacedKeys} objects to ${after}`)
    if (side === 'lifecycle') expectCount('PUT by key, replacing, versioned namespace', after - before, result.requests, options.smallConcurrency)
  })
  // Each run's first requests replace the first few keys (r-1 is not among them: wrk calls request() once before the first it sends): the most versions among r-1 … r-16.
  const mostVersions = async (namespace: string) => Math.max(...(await Promise.all(Array.from({ length: 16 }, (_, i) => versionsOf(service.url, namespace, `r-${i + 1}`)))))
  const replacedKeyVersions = { plain: await mostVersions(namespaceOf('replace', 'plain')), lifecycle: await mostVersions(namespaceOf('replace', 'lifecycle')) }
  if (replacedKeyVersions.plain !== 1 || replacedKeyVersions.lifecycle < 3) {
    throw new Error(`after replacing, the first keys have at most ${replacedKeyVersions.plain} versions without settings and ${replacedKeyVersions.lifecycle} with versioning (expected 1, and 3: the creation and two runs)`)
  }
  let uploads = 0
  for (const side of namespaceSides) {
    uploads += await verifyStored(service.url, reader.url, namespaceOf('post', side), options)
    uploads += await verifyStored(service.url, reader.url, namespaceOf('replace', side), options)
  }

  // One warm-up reads both namespaces' objects, alternating.
  const warmFile = join(workDir, 'settings-ids-warm.txt')
  writeFileSync(warmFile, seeded.plain.flatMap((o, i) => [o, seeded.lifecycle[i]!]).map((o) => `/v1/objects/${o.id}?tenant_id=${tenant}`).join('\n') + '\n')
  await wrkPhase(spec('paths.lua', [warmFile, 'GET', authorization()], options.warmupSecs), 'settings download warm-up')
  await alternate('get-by-id', (side) => spec('paths.lua', [pathFiles[side], 'GET', authorization()], options.settingsSecs))
  let downloads = 0
  for (const side of namespaceSides) downloads += await verifyDownloads(reader.url, seeded[side], options.smallVerified, namespaceOf('get-by-id', side))

  return { phases, replacedKeyVersions, verified: { uploads, downloads } }
}

/** The namespace of the pass's objects, and the one of the objects read beside it. */
const passNamespace = 'lifecycle'
const readNamespace = 'lifecycle-read'
const batchRows = 100_000

/** Every hundredth seeded object has expired: floor(count / 100) of them. */
export const expiredOf = (count: number): number => Math.floor(count / 100)

/**
 * `count` COMMITTED objects written straight into the database, beside
 * commit_object as bench/list.ts does: 99 % reference one 4 KiB blob whose row
 * and file both exist (ref_count = their number); every hundredth expired a
 * minute ago and, like a distinct upload, holds a 4 KiB blob of its own, kept
 * in its row (as the service keeps bodies under INLINE_MAX_BYTES), ref_count 1.
 * The lifecycle job's slot is claimed now, so that no scheduled pass of the
 * service (which also gets a long LIFECYCLE_INTERVAL_SECS) expires them
 * before the one measured.
 */
export async function seedLifecycleObjects(instance: Instance, count: number): Promise<void> {
  const hex = writeSeedBlob(instance, 9)

  const database = await openInstanceDatabase(instance)
  try {
    const { db } = database
    const shared = `sha256:${hex}`
    await db.execute(sql`insert into blobs (storage_class, content_hash, size_bytes, ref_count) values ('hot', ${shared}, ${objectBytes}, ${count - expiredOf(count)})`)
    for (let first = 1; first <= count; first += batchRows) {
      const last = Math.min(count, first + batchRows - 1)
      await db.execute(sql`
        insert into blobs (storage_class, content_hash, size_bytes, ref_count, inline_data)
        select 'hot', 'sha256:' || encode(sha256(bytes), 'hex'), ${objectBytes}, 1, bytes
        from generate_series(${first}::int, ${last}::int) as i,
             lateral (select convert_to(rpad('expired ' || i, ${objectBytes}, '.'), 'UTF8')) as body(bytes)
        where i % 100 = 0`)
      await db.execute(sql`
        insert into objects (id, namespace, tenant_id, key, status, storage_class, content_hash, size_bytes, content_type, created_at, updated_at, expires_at)
        select gen_random_uuid(), ${passNamespace}, ${tenant}, 'item/' || lpad(i::text, 7, '0'), 'COMMITTED', 'hot',
               case when i % 100 = 0 then 'sha256:' || encode(sha256(convert_to(rpad('expired ' || i, ${objectBytes}, '.'), 'UTF8')), 'hex') else ${shared} end,
               ${objectBytes}, 'application/octet-stream', t, t,
               case when i % 100 = 0 then now() - interval '1 minute' end
        from generate_series(${first}::int, ${last}::int) as i,
             lateral (select timestamptz '2026-01-01 00:00:00+00' + i * interval '1 millisecond') as stamp(t)`)
    }
    await db.execute(sql`select recount_usage()`)
    await claimSlot(db, 'lifecycle', new Date())
    await db.execute(sql`vacuum analyze objects`)
    await db.execute(sql`vacuum analyze blobs`)
    await db.execute(sql`checkpoint`)
  } finally {
    await database.close()
  }
}

/** The service's settings for the instance of the pass: no scheduled pass during the bench. */
export const passServiceEnv = { LIFECYCLE_INTERVAL_SECS: '86400' }

export interface Latencies {
  requests: number
  p50Ms: number
  p99Ms: number
}

export interface LifecyclePassResult {
  objects: number
  expired: number
  prunedVersions: number
  movedToCold: number
  /** The POST /v1/admin/lifecycle request, sent to answered. */
  passMs: number
  /** Downloads of the `smallSecs` before the pass, and those in flight at any time during it. */
  without: Latencies
  during: Latencies
}

interface Sample {
  start: number
  end: number
}

/** Closed-loop 4 KiB downloads over `paths`, `concurrency` at a time, until stopped; every answer must be a 200 of 4 KiB. */
function startDownloads(base: string, paths: string[], concurrency: number): { samples: Sample[]; stop: () => Promise<void> } {
  const samples: Sample[] = []
  let stopped = false
  let next = 0
  const workers = Array.from({ length: concurrency }, async () => {
    while (!stopped) {
      const path = paths[next++ % paths.length]!
      const start = performance.now()
      const response = await fetch(`${base}${path}`, { headers: authorized() })
      const bytes = await response.arrayBuffer()
      const end = performance.now()
      if (response.status !== 200 || bytes.byteLength !== objectBytes) throw new Error(`GET ${path} beside the lifecycle pass answered ${response.status} with ${bytes.byteLength} bytes`)
      samples.push({ start, end })
    }
  })
  // A failure ends every worker at once; stop() reports it.
  const all = Promise.all(workers).catch((error) => {
    stopped = true
    throw error
  })
  all.catch(() => {})
  return {
    samples,
    stop: async () => {
      stopped = true
      await all
    },
  }
}

function latencies(samples: Sample[]): Latencies {
  if (samples.length === 0) throw new Error('no download completed in the window')
  const ms = samples.map((s) => s.end - s.start)
  return { requests: samples.length, p50Ms: percentile(ms, 50), p99Ms: percentile(ms, 99) }
}

export async function measureLifecyclePass(service: Child, options: BenchOptions): Promise<LifecyclePassResult> {
  const objects = options.lifecycleObjects
  if ((await countObjects(service.url, passNamespace)) !== objects) throw new Error(`the pass's namespace holds ${await countObjects(service.url, passNamespace)} objects; ${objects} were seeded`)
  const seeded = await seedObjects(service.url, options.smallSeeded, options.smallConcurrency, readNamespace)
  const paths = seeded.map((o) => `/v1/objects/${o.id}?tenant_id=${tenant}`)

  const load = startDownloads(service.url, paths, options.smallConcurrency)
  let window: { warm: number; passStart: number; passEnd: number }
  let answer: { expired: number; pruned_versions: number; moved_to_cold: number }
  try {
    await Bun.sleep(options.warmupSecs * 1000)
    const warm = performance.now()
    await Bun.sleep(options.smallSecs * 1000)
    const passStart = performance.now()
    const response = await fetch(`${service.url}/v1/admin/lifecycle`, { method: 'POST', headers: { authorization: `Bearer ${childAdminToken}` } })
    await expectStatus(response, 200, 'POST /v1/admin/lifecycle')
    answer = (await response.json()) as typeof answer
    const passEnd = performance.now()
    window = { warm, passStart, passEnd }
  } finally {
    await load.stop()
  }
  const expected = expiredOf(objects)
  if (answer.expired !== expected) throw new Error(`the lifecycle pass expired ${answer.expired} objects; ${expected} of the ${objects} seeded had expired`)
  const left = await countObjects(service.url, passNamespace)
  if (left !== objects - expected) throw new Error(`after the lifecycle pass the namespace holds ${left} objects; expected ${objects - expected}`)
  await verifyDownloads(service.url, seeded, options.smallVerified, readNamespace)

  return {
    objects,
    expired: answer.expired,
    prunedVersions: answer.pruned_versions,
    movedToCold: answer.moved_to_cold,
    passMs: window.passEnd - window.passStart,
    without: latencies(load.samples.filter((s) => s.start >= window.warm && s.end <= window.passStart)),
    during: latencies(load.samples.filter((s) => s.start < window.passEnd && s.end > window.passStart)),
  }
}
