import { and, eq, sql } from 'drizzle-orm'
import { rowsOf, type Db } from './db/client'
import { blobs, objects, type StorageClass } from './db/schema'
import type { BlobStores, Leftover } from './store/blob-store'
import { isLive, liveUploads } from './gc'

/** Offline consistency check of the database against the blob stores, for `bun run fsck`. */

export interface FsckReport {
  blobsChecked: number
  objectsChecked: number
  wrongRefCounts: { storage_class: StorageClass; content_hash: string; ref_count: number; live_references: number }[]
  missingBlobRows: { object_id: string; storage_class: StorageClass; content_hash: string }[]
  /** Referenced blobs whose bytes are not in their store. */
  missingFiles: { storage_class: StorageClass; content_hash: string }[]
  wrongSizes: { storage_class: StorageClass; content_hash: string; expected: number; actual: number }[]
  /** Stored blobs with no row. */
  orphanBlobs: { storage_class: StorageClass; content_hash: string }[]
  /** What uploads and GC passes left in the stores (by path or key), no upload in progress owning it. */
  leftovers: { storage_class: StorageClass; name: string }[]
  /** Namespaces (or a tenant's deduplicated total, as namespace '(all namespaces)') whose usage counters disagree with the committed objects. */
  wrongUsage: { tenant_id: string; namespace: string; storage_class: StorageClass }[]
}

export const isClean = (report: FsckReport): boolean =>
  report.wrongRefCounts.length +
    report.missingBlobRows.length +
    report.missingFiles.length +
    report.wrongSizes.length +
    report.orphanBlobs.length +
    report.leftovers.length +
    report.wrongUsage.length ===
  0

const storageClasses: StorageClass[] = ['hot', 'cold']

export async function checkConsistency(db: Db, stores: BlobStores): Promise<FsckReport> {
  const report: FsckReport = {
    blobsChecked: 0,
    objectsChecked: 0,
    wrongRefCounts: [],
    missingBlobRows: [],
    missingFiles: [],
    wrongSizes: [],
    orphanBlobs: [],
    leftovers: [],
    wrongUsage: [],
  }
  report.wrongRefCounts = rowsOf<FsckReport['wrongRefCounts'][number]>(
    await db.execute(sql`
      select b.storage_class, b.content_hash, b.ref_count, count(o.id)::int as live_references
      from ${blobs} b left join ${objects} o
        on o.storage_class = b.storage_class and o.content_hash = b.content_hash and o.status = 'COMMITTED'
      group by b.storage_class, b.content_hash, b.ref_count
      having b.ref_count <> count(o.id)`),
  )
  report.missingBlobRows = rowsOf<FsckReport['missingBlobRows'][number]>(
    await db.execute(sql`
      select o.id as object_id, o.storage_class, o.content_hash from ${objects} o
      where o.status = 'COMMITTED' and not exists (
        select 1 from ${blobs} b where b.storage_class = o.storage_class and b.content_hash = o.content_hash)`),
  )
  // Per namespace the counts; per tenant the deduplicated bytes, which the counters may charge to another
  // of its namespaces than exact_usage() picks (the one that first held the blob, maybe emptied since).
  report.wrongUsage = rowsOf<FsckReport['wrongUsage'][number]>(
    await db.execute(sql`
      with counted as (
        select tenant_id, namespace, storage_class, sum(objects) as objects, sum(logical_bytes) as logical_bytes, sum(physical_bytes) as physical_bytes
        from usage_counters group by tenant_id, namespace, storage_class
        having sum(objects) <> 0 or sum(logical_bytes) <> 0 or sum(physical_bytes) <> 0),
      exact as (select * from exact_usage()),
      tenant_counted as (select tenant_id, storage_class, sum(tenant_physical_bytes) as bytes from usage_counters group by tenant_id, storage_class having sum(tenant_physical_bytes) <> 0),
      tenant_exact as (select tenant_id, storage_class, sum(tenant_physical_bytes) as bytes from exact group by tenant_id, storage_class having sum(tenant_physical_bytes) <> 0)
      select tenant_id, namespace, storage_class from counted c full join exact e using (tenant_id, namespace, storage_class)
      where (c.objects, c.logical_bytes, c.physical_bytes) is distinct from (e.objects, e.logical_bytes, e.physical_bytes)
      union all
      select tenant_id, '(all namespaces)', storage_class from tenant_counted t full join tenant_exact x using (tenant_id, storage_class)
      where t.bytes is distinct from x.bytes`),
  )
  const [counts] = rowsOf<{ objects: number }>(await db.execute(sql`select count(*)::int as objects from ${objects} where status = 'COMMITTED'`))
  report.objectsChecked = counts?.objects ?? 0

  const known = new Set<string>()
  const inline = sql<boolean>`${blobs.inlineData} is not null`
  for (const blob of await db.select({ storageClass: blobs.storageClass, contentHash: blobs.contentHash, sizeBytes: blobs.sizeBytes, refCount: blobs.refCount, inline }).from(blobs)) {
    report.blobsChecked++
    known.add(`${blob.storageClass}:${blob.contentHash}`)
    // Inline bytes live in the row; the scrubber, not fsck, re-hashes them.
    if (blob.inline) continue
    const size = await stores[blob.storageClass].size(blob.contentHash.slice('sha256:'.length))
    // An unreferenced blob may have lost its bytes: a GC pass stopped before its deletion committed took them out.
    if (size === null) {
      if (blob.refCount > 0) report.missingFiles.push({ storage_class: blob.storageClass, content_hash: blob.contentHash })
    } else if (size !== blob.sizeBytes) {
      report.wrongSizes.push({ storage_class: blob.storageClass, content_hash: blob.contentHash, expected: blob.sizeBytes, actual: size })
    }
  }
  // A committed object's blob whose row is missing is its only copy, not an orphan for repair to delete.
  for (const object of report.missingBlobRows) known.add(`${object.storage_class}:${object.content_hash}`)
  for (const storageClass of storageClasses) {
    for await (const blob of stores[storageClass].blobs()) {
      if (!known.has(`${storageClass}:sha256:${blob.hex}`)) report.orphanBlobs.push({ storage_class: storageClass, content_hash: `sha256:${blob.hex}` })
    }
    const found: Leftover[] = []
    for await (const leftover of stores[storageClass].leftovers()) found.push(leftover)
    const live = await liveUploads(db, found)
    for (const leftover of found) {
      if (isLive(leftover, live)) continue
      report.leftovers.push({ storage_class: storageClass, name: leftover.name })
    }
  }
  return report
}

/** Fixes what is safe while no server runs: reference counts, usage counters, orphan blobs, leftovers. */
export async function repair(db: Db, stores: BlobStores, report: FsckReport): Promise<void> {
  for (const blob of report.wrongRefCounts) {
    await db
      .update(blobs)
      .set({
        refCount: blob.live_references,
        unreferencedSince: blob.live_references === 0 ? sql`coalesce(${blobs.unreferencedSince}, now())` : null,
      })
      .where(and(eq(blobs.storageClass, blob.storage_class), eq(blobs.contentHash, blob.content_hash)))
  }
  if (report.wrongUsage.length > 0) await db.execute(sql`select recount_usage()`)
  for (const blob of report.orphanBlobs) await (await stores[blob.storage_class].takeOut(blob.content_hash.slice('sha256:'.length)))?.finish()
  for (const storageClass of storageClasses) {
    const reported = new Set(report.leftovers.filter((leftover) => leftover.storage_class === storageClass).map((leftover) => leftover.name))
    if (reported.size === 0) continue
    for await (const leftover of stores[storageClass].leftovers()) if (reported.has(leftover.name)) await leftover.remove()
  }
}
