import { statSync } from 'node:fs'
import { and, eq, sql } from 'drizzle-orm'
import { rowsOf, type Db } from './db/client'
import { anyOf } from './db/any-of'
import { blobs, objects, statusIs, type StorageClass } from './db/schema'
import { isUuid } from './identifiers'
import { blobPath, tempDirectory, type StorageRoots } from './store/paths'
import { removeFile } from './store/writer'
import { blobFilesUnder, entriesOf } from './store/directories'

/** Offline consistency check of the database against the disk, for `bun run fsck`. */

export interface FsckReport {
  blobsChecked: number
  objectsChecked: number
  wrongRefCounts: { storage_class: StorageClass; content_hash: string; ref_count: number; live_references: number }[]
  missingBlobRows: { object_id: string; storage_class: StorageClass; content_hash: string }[]
  missingFiles: { storage_class: StorageClass; content_hash: string }[]
  wrongSizes: { storage_class: StorageClass; content_hash: string; expected: number; actual: number }[]
  orphanFiles: string[]
  staleTempFiles: string[]
  /** Namespaces whose usage counters disagree with their committed objects. */
  wrongUsage: { tenant_id: string; namespace: string; storage_class: StorageClass }[]
}

export const isClean = (report: FsckReport): boolean =>
  report.wrongRefCounts.length +
    report.missingBlobRows.length +
    report.missingFiles.length +
    report.wrongSizes.length +
    report.orphanFiles.length +
    report.staleTempFiles.length +
    report.wrongUsage.length ===
  0

const storageClasses: StorageClass[] = ['hot', 'cold']

export async function checkConsistency(db: Db, roots: StorageRoots): Promise<FsckReport> {
  const report: FsckReport = {
    blobsChecked: 0,
    objectsChecked: 0,
    wrongRefCounts: [],
    missingBlobRows: [],
    missingFiles: [],
    wrongSizes: [],
    orphanFiles: [],
    staleTempFiles: [],
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
  report.wrongUsage = rowsOf<FsckReport['wrongUsage'][number]>(
    await db.execute(sql`
      with counted as (
        select tenant_id, namespace, storage_class, sum(objects) as objects, sum(logical_bytes) as logical_bytes,
          sum(physical_bytes) as physical_bytes, sum(tenant_physical_bytes) as tenant_physical_bytes
        from usage_counters group by tenant_id, namespace, storage_class
        having sum(objects) <> 0 or sum(logical_bytes) <> 0 or sum(physical_bytes) <> 0 or sum(tenant_physical_bytes) <> 0)
      select tenant_id, namespace, storage_class from counted c full join exact_usage() e using (tenant_id, namespace, storage_class)
      where (c.objects, c.logical_bytes, c.physical_bytes, c.tenant_physical_bytes)
        is distinct from (e.objects, e.logical_bytes, e.physical_bytes, e.tenant_physical_bytes)`),
  )
  const [counts] = rowsOf<{ objects: number }>(await db.execute(sql`select count(*)::int as objects from ${objects} where status = 'COMMITTED'`))
  report.objectsChecked = counts?.objects ?? 0

  const known = new Set<string>()
  const inline = sql<boolean>`${blobs.inlineData} is not null`
  for (const blob of await db.select({ storageClass: blobs.storageClass, contentHash: blobs.contentHash, sizeBytes: blobs.sizeBytes, refCount: blobs.refCount, inline }).from(blobs)) {
    report.blobsChecked++
    const path = blobPath(roots, blob.storageClass, blob.contentHash.slice('sha256:'.length))
    known.add(path)
    // Inline bytes live in the row; the scrubber, not fsck, re-hashes them.
    if (blob.inline) continue
    const size = fileSize(path)
    // An unreferenced blob may have lost its file: a GC pass stopped before its deletion committed leaves it in the temp directory.
    if (size === null) {
      if (blob.refCount > 0) report.missingFiles.push({ storage_class: blob.storageClass, content_hash: blob.contentHash })
    } else if (size !== blob.sizeBytes) {
      report.wrongSizes.push({ storage_class: blob.storageClass, content_hash: blob.contentHash, expected: blob.sizeBytes, actual: size })
    }
  }
  // A committed object's file whose row is missing is its only copy, not an orphan for repair to delete.
  for (const object of report.missingBlobRows) known.add(blobPath(roots, object.storage_class, object.content_hash.slice('sha256:'.length)))
  for (const storageClass of storageClasses) {
    report.orphanFiles.push(...[...blobFilesUnder(roots[storageClass])].filter((path) => !known.has(path)))
    const tmp = tempDirectory(roots[storageClass])
    const names = entriesOf(tmp)
    const writing = new Set(
      names.length === 0 ? [] : (await db.select({ id: objects.id }).from(objects).where(and(statusIs(objects.status, 'WRITING'), anyOf(objects.id, names.filter(isUuid), 'uuid')))).map((row) => row.id),
    )
    report.staleTempFiles.push(...names.filter((name) => !writing.has(name)).map((name) => `${tmp}/${name}`))
  }
  return report
}

/** Fixes what is safe while no server runs: reference counts, usage counters, orphan files, stale temp files. */
export async function repair(db: Db, report: FsckReport): Promise<void> {
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
  for (const path of [...report.orphanFiles, ...report.staleTempFiles]) removeFile(path)
}

function fileSize(path: string): number | null {
  try {
    return statSync(path).size
  } catch {
    return null
  }
}

