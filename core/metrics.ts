import { statfsSync } from 'node:fs'
import { sql, type SQL } from 'drizzle-orm'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { rowsOf, type Db } from './db/client'
import { blobs } from './db/schema'
import { collectable } from './db/collectable'
import { claimSlot, publishedResult, publishResult } from './jobs'
import type { StorageRoots } from './store/paths'

/**
 * Prometheus metrics, in a registry of our own (no default process metrics:
 * Bun's are unreliable). Gauges of what the database holds are refreshed on a
 * schedule by refreshStorageMetrics, never per request.
 */
export const registry = new Registry()
const p = 'juststorage_'

export const requestsTotal = new Counter({ name: `${p}requests_total`, help: 'HTTP requests by route template and status', labelNames: ['method', 'route', 'status'], registers: [registry] })
export const requestDuration = new Histogram({
  name: `${p}request_duration_seconds`,
  help: 'HTTP request duration until the response is sent',
  labelNames: ['method', 'route'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [registry],
})
export const uploadBytes = new Counter({ name: `${p}upload_bytes_total`, help: 'Bytes of committed uploads', labelNames: ['storage_class'], registers: [registry] })
export const downloadBytes = new Counter({ name: `${p}download_bytes_total`, help: 'Bytes of object bodies served (200 and 206)', labelNames: ['storage_class'], registers: [registry] })
export const storageBackendDuration = new Histogram({
  name: `${p}storage_backend_request_duration_seconds`,
  help: 'Requests of a storage class to its bucket (and waits for an upload part or a download chunk), by operation',
  labelNames: ['backend', 'operation'],
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
  registers: [registry],
})
export const storageBackendErrors = new Counter({
  name: `${p}storage_backend_errors_total`,
  help: 'Requests of a storage class to its bucket that failed: no answer in time, no connection, or a server error',
  labelNames: ['backend', 'operation'],
  registers: [registry],
})
export const objectsGauge = new Gauge({ name: `${p}objects`, help: 'Committed objects', labelNames: ['namespace', 'tenant', 'storage_class'], registers: [registry] })
export const storageBytes = new Gauge({ name: `${p}storage_bytes`, help: 'Bytes stored: logical (sum of objects) and physical (sum of deduplicated blobs)', labelNames: ['storage_class', 'kind'], registers: [registry] })
export const lifecycleExpired = new Counter({ name: `${p}lifecycle_expired_objects_total`, help: 'Expired objects deleted by the lifecycle pass', registers: [registry] })
export const lifecyclePruned = new Counter({ name: `${p}lifecycle_pruned_versions_total`, help: 'Noncurrent versions beyond keep_versions deleted by the lifecycle pass', registers: [registry] })
export const lifecycleMoved = new Counter({ name: `${p}lifecycle_moved_to_cold_total`, help: 'Idle objects moved from hot to cold by the lifecycle pass', registers: [registry] })
export const lifecycleFailures = new Counter({ name: `${p}lifecycle_failures_total`, help: 'Lifecycle passes that failed', registers: [registry] })
export const gcRuns = new Counter({ name: `${p}gc_runs_total`, help: 'Garbage collection passes completed', registers: [registry] })
export const gcFailures = new Counter({ name: `${p}gc_failures_total`, help: 'Garbage collection passes that failed', registers: [registry] })
export const gcDeletedBlobs = new Counter({ name: `${p}gc_deleted_blobs_total`, help: 'Blobs deleted by garbage collection', registers: [registry] })
export const gcUnremovableFiles = new Counter({
  name: `${p}gc_unremovable_files_total`,
  help: 'Files garbage collection failed to move or unlink; each is left in place (a blob keeps its row) and tried again by a later pass',
  registers: [registry],
})
export const gcReclaimedBytes = new Counter({ name: `${p}gc_reclaimed_bytes_total`, help: 'Bytes reclaimed by garbage collection', registers: [registry] })
export const scrubCorruptBlobs = new Counter({ name: `${p}scrub_corrupt_blobs_total`, help: 'Blobs the scrubber found corrupt or missing', registers: [registry] })
export const rateLimited = new Counter({
  name: `${p}rate_limited_total`,
  help: 'Requests refused with 429: over the per-principal or per-client-IP rate, or over the concurrent uploads of a tenant',
  labelNames: ['limit'],
  registers: [registry],
})
export const quotaLimit = new Gauge({
  name: `${p}quota_limit`,
  help: 'A quota: logical bytes or objects a tenant (namespace "") or a namespace may hold',
  labelNames: ['tenant', 'namespace', 'kind'],
  registers: [registry],
})
export const quotaUsed = new Gauge({ name: `${p}quota_used`, help: "What a quota's tenant or namespace holds, in the quota's kind", labelNames: ['tenant', 'namespace', 'kind'], registers: [registry] })
export const gcQueueDepth = new Gauge({ name: `${p}gc_queue_depth`, help: 'Unreferenced blobs past the grace period, waiting for collection', registers: [registry] })

// Where the storage roots are; statfs runs at scrape time.
let watchedRoots: Partial<StorageRoots> | null = null
export function watchStorageRoots(roots: Partial<StorageRoots>): void {
  watchedRoots = roots
}

function rootGauge(name: string, help: string, read: (stats: ReturnType<typeof statfsSync>) => number) {
  return new Gauge({
    name,
    help,
    labelNames: ['root'],
    registers: [registry],
    collect() {
      this.reset()
      if (!watchedRoots) return
      for (const [root, path] of Object.entries(watchedRoots)) {
        try {
          this.set({ root }, read(statfsSync(path)))
        } catch {
          // A root that cannot be read has no value rather than a wrong one.
        }
      }
    },
  })
}
rootGauge(`${p}storage_root_free_bytes`, 'Bytes available to the service on each storage root', (s) => Number(s.bavail) * Number(s.bsize))
rootGauge(`${p}storage_root_size_bytes`, 'Total bytes of the file system of each storage root', (s) => Number(s.blocks) * Number(s.bsize))

new Gauge({
  name: `${p}process_resident_memory_bytes`,
  help: 'Resident memory of the process',
  registers: [registry],
  collect() {
    this.set(process.memoryUsage().rss)
  },
})

/** How the storage walk goes: heap pages per query, and a pause between queries. */
export interface WalkPace {
  batchPages: number
  pauseMs: number
}

// 128 pages of 8 KiB hold about 5,000 object rows.
const defaultPace: WalkPace = { batchPages: 128, pauseMs: 10 }

/** What the storage walk found: the values of the storage gauges. */
export interface StorageSnapshot {
  objects: { namespace: string; tenant: string; storageClass: string; n: number }[]
  logical: Record<string, number>
  physical: Record<string, number>
  gcQueue: number
  /** Every quota set, beside its use; namespace '' is the tenant's own. */
  quotas?: { tenant: string; namespace: string; kind: 'bytes' | 'objects'; limit: number; used: number }[]
}

/** Walks the database (walkStorage) into this process's gauges. */
export async function refreshStorageMetrics(db: Db, gcGraceSecs: number, pace: WalkPace = defaultPace): Promise<void> {
  showStorage(await walkStorage(db, gcGraceSecs, pace))
}

/** The gauges are refreshed every 30 s, at :00 and :30: the slot a refresh at `now` belongs to in every replica. */
export const storageWalkSlot = (now = Date.now()): Date => new Date(Math.floor(now / 30_000) * 30_000)

/**
 * One walk per slot across the replicas: the replica whose claim wins the
 * slot walks and publishes what it found; the others show what was published
 * last (at most one slot older). Answers whether this replica walked.
 */
export async function refreshSharedStorageMetrics(db: Db, gcGraceSecs: number, slot: Date): Promise<'walked' | 'read'> {
  if ((await claimSlot(db, 'storage_walk', slot)).claimed) {
    const snapshot = await walkStorage(db, gcGraceSecs, defaultPace)
    await publishResult(db, 'storage_walk', slot, snapshot)
    showStorage(snapshot)
    return 'walked'
  }
  const published = await publishedResult<StorageSnapshot>(db, 'storage_walk')
  if (published) showStorage(published.result)
  return 'read'
}

/**
 * Reads object counts, stored bytes and the GC queue from the database. Each
 * table is read in the order it lies on disk, a range of pages per query with
 * a pause between, so a large store never puts one long scan on the database:
 * a million objects take a few hundred short queries. Rows that move during
 * the walk may be counted in the next one instead.
 */
async function walkStorage(db: Db, gcGraceSecs: number, pace: WalkPace): Promise<StorageSnapshot> {
  const objectCounts = new Map<string, { namespace: string; tenant: string; storageClass: string; n: number }>()
  const logical: Record<string, number> = { hot: 0, cold: 0 }
  await walk(db, 'objects', pace, (pages) => sql`
    select namespace, tenant_id, storage_class::text as storage_class, count(*)::text as n, coalesce(sum(size_bytes), 0)::text as bytes
    from objects where ${pages} and status = 'COMMITTED' group by namespace, tenant_id, storage_class`,
    (row: { namespace: string; tenant_id: string; storage_class: string; n: string; bytes: string }) => {
      const key = JSON.stringify([row.namespace, row.tenant_id, row.storage_class])
      const counted = objectCounts.get(key) ?? { namespace: row.namespace, tenant: row.tenant_id, storageClass: row.storage_class, n: 0 }
      counted.n += Number(row.n)
      objectCounts.set(key, counted)
      logical[row.storage_class] = (logical[row.storage_class] ?? 0) + Number(row.bytes)
    },
  )
  const physical: Record<string, number> = Object.fromEntries(Object.keys(logical).map((storageClass) => [storageClass, 0]))
  await walk(db, 'blobs', pace, (pages) => sql`
    select storage_class::text as storage_class, coalesce(sum(size_bytes), 0)::text as bytes from blobs where ${pages} group by storage_class`,
    (row: { storage_class: string; bytes: string }) => void (physical[row.storage_class] = (physical[row.storage_class] ?? 0) + Number(row.bytes)),
  )
  // The collectable blobs are few and found through their own partial index.
  const [queue] = rowsOf<{ n: string }>(await db.execute(sql`select count(*)::text as n from ${blobs} where ${collectable(gcGraceSecs)}`))
  return { objects: [...objectCounts.values()], logical, physical, gcQueue: Number(queue?.n ?? 0), quotas: await quotaUse(db) }
}

/** The quotas and their use, from the usage counters: a row per quota set, however many objects. */
async function quotaUse(db: Db): Promise<NonNullable<StorageSnapshot['quotas']>> {
  const rows = rowsOf<{ tenant: string; namespace: string; quota_bytes: string | null; quota_objects: string | null; bytes: string; objects: string }>(
    await db.execute(sql`
      with quotas as (
        select tenant_id, namespace, quota_bytes, quota_objects from namespace_settings where quota_bytes is not null or quota_objects is not null
        union all
        select tenant_id, '', quota_bytes, quota_objects from tenant_quotas where quota_bytes is not null or quota_objects is not null)
      select q.tenant_id as tenant, q.namespace, q.quota_bytes::text, q.quota_objects::text,
        coalesce(sum(u.logical_bytes), 0)::text as bytes, coalesce(sum(u.objects), 0)::text as objects
      from quotas q left join usage_counters u on u.tenant_id = q.tenant_id and (q.namespace = '' or u.namespace = q.namespace)
      group by q.tenant_id, q.namespace, q.quota_bytes, q.quota_objects`),
  )
  return rows.flatMap((row) => [
    ...(row.quota_bytes === null ? [] : [{ tenant: row.tenant, namespace: row.namespace, kind: 'bytes' as const, limit: Number(row.quota_bytes), used: Number(row.bytes) }]),
    ...(row.quota_objects === null ? [] : [{ tenant: row.tenant, namespace: row.namespace, kind: 'objects' as const, limit: Number(row.quota_objects), used: Number(row.objects) }]),
  ])
}

function showStorage(snapshot: StorageSnapshot): void {
  objectsGauge.reset()
  for (const { namespace, tenant, storageClass, n } of snapshot.objects) objectsGauge.set({ namespace, tenant, storage_class: storageClass }, n)
  storageBytes.reset()
  for (const [storageClass, bytes] of Object.entries(snapshot.logical)) storageBytes.set({ storage_class: storageClass, kind: 'logical' }, bytes)
  for (const [storageClass, bytes] of Object.entries(snapshot.physical)) storageBytes.set({ storage_class: storageClass, kind: 'physical' }, bytes)
  gcQueueDepth.set(snapshot.gcQueue)
  quotaLimit.reset()
  quotaUsed.reset()
  for (const { tenant, namespace, kind, limit, used } of snapshot.quotas ?? []) {
    quotaLimit.set({ tenant, namespace, kind }, limit)
    quotaUsed.set({ tenant, namespace, kind }, used)
  }
}

/**
 * Runs `query` over consecutive ranges of the table's heap pages (a TID range
 * scan each) until it reaches the table's end, which is read again there in
 * case the table grew meanwhile.
 */
async function walk<Row>(db: Db, table: 'objects' | 'blobs', pace: WalkPace, query: (pages: SQL) => SQL, add: (row: Row) => void): Promise<void> {
  let pages = await heapPages(db, table)
  for (let first = 0; first < pages; first += pace.batchPages) {
    const range = sql`ctid >= ${`(${first},0)`}::tid and ctid < ${`(${first + pace.batchPages},0)`}::tid`
    for (const row of rowsOf<Row>(await db.execute(query(range)))) add(row)
    if (first + pace.batchPages >= pages) pages = await heapPages(db, table)
    await Bun.sleep(pace.pauseMs)
  }
}

async function heapPages(db: Db, table: 'objects' | 'blobs'): Promise<number> {
  const [size] = rowsOf<{ pages: number }>(
    await db.execute(sql`select (pg_relation_size(${table}::regclass) / current_setting('block_size')::bigint)::int as pages`),
  )
  return size!.pages
}
