import { statSync } from 'node:fs'
import { dirname } from 'node:path'
import { and, eq, inArray, lte, sql } from 'drizzle-orm'
import { barrier } from './barriers'
import { rowsOf, type Db } from './db/client'
import { isUuid } from './identifiers'
import { blobs, objects, type StorageClass } from './db/schema'
import { recordRun } from './runs'
import { fsyncDirectory } from './store/durable'
import { blobPath, blobTreeDirectory, tempDirectory, tempPath, type StorageRoots } from './store/paths'
import { removeFile } from './store/writer'
import { entriesOf } from './store/directories'

/**
 * Garbage collection: reaps stuck uploads, deletes blobs unreferenced for the
 * grace period, finishes deletes, purges old tombstones and removes crash
 * leftovers. Every step is safe to run in several replicas at once: blob rows
 * are claimed with FOR UPDATE SKIP LOCKED, the same row lock an upload's commit
 * takes, so a blob is never collected while a commit references it.
 */

export interface GcSettings {
  graceSecs: number
  batchSize: number
  stuckUploadTimeoutSecs: number
  tombstoneRetentionSecs: number
  /** Walk every blob file for orphans (costly on big stores; scheduled passes do it hourly). */
  sweepOrphans: boolean
}

export interface GcResult {
  deleted_blobs: number
  reclaimed_bytes: number
  reaped_uploads: number
  removed_temp_files: number
  removed_orphan_files: number
}

export async function runGc(db: Db, roots: StorageRoots, settings: GcSettings): Promise<GcResult> {
  const result: GcResult = { deleted_blobs: 0, reclaimed_bytes: 0, reaped_uploads: 0, removed_temp_files: 0, removed_orphan_files: 0 }
  // The reaper and the orphan sweep show on the status page as jobs of their own.
  Object.assign(result, await recordRun(db, 'reaper', () => reapStuckUploads(db, roots, settings)))
  await collectBlobs(db, roots, settings, result)
  await finishDeletes(db)
  await purgeTombstones(db, settings.tombstoneRetentionSecs)
  result.removed_temp_files = await sweepTempFiles(db, roots, settings.graceSecs)
  if (settings.sweepOrphans) Object.assign(result, await recordRun(db, 'orphan_sweep', () => sweepOrphanFiles(db, roots, settings.graceSecs)))
  return result
}

const storageClasses: StorageClass[] = ['hot', 'cold']

/** Blobs GC may delete: unreferenced for at least the grace period. */
export const collectable = (graceSecs: number) =>
  and(eq(blobs.refCount, 0), lte(blobs.unreferencedSince, sql`now() - make_interval(secs => ${graceSecs})`))

/** Uploads in WRITING past the timeout lose their reservation; a still-running one then fails at commit. */
async function reapStuckUploads(db: Db, roots: StorageRoots, settings: GcSettings): Promise<Pick<GcResult, 'reaped_uploads'>> {
  let reaped = 0
  for (;;) {
    const rows = await db.execute(sql`
      delete from ${objects} where ${objects.id} in (
        select ${objects.id} from ${objects}
        where ${objects.status} = 'WRITING' and ${objects.updatedAt} < now() - make_interval(secs => ${settings.stuckUploadTimeoutSecs})
        limit ${settings.batchSize} for update skip locked)
      returning ${objects.id}, ${objects.storageClass}`)
    const reapedRows = rowsOf<{ id: string; storage_class: StorageClass }>(rows)
    for (const row of reapedRows) removeFile(tempPath(roots, row.storage_class, row.id))
    reaped += reapedRows.length
    if (reapedRows.length < settings.batchSize) return { reaped_uploads: reaped }
  }
}

async function collectBlobs(db: Db, roots: StorageRoots, settings: GcSettings, result: GcResult): Promise<void> {
  for (;;) {
    const batch = await db.transaction(async (tx) => {
      // The ref_count condition is re-checked on the locked row, so a commit that
      // added a reference while we waited is seen; SKIP LOCKED passes over blobs
      // that a commit or another replica holds right now.
      const claimed = await tx
        .select({ storageClass: blobs.storageClass, contentHash: blobs.contentHash, sizeBytes: blobs.sizeBytes })
        .from(blobs)
        .where(collectable(settings.graceSecs))
        .orderBy(blobs.unreferencedSince)
        .limit(settings.batchSize)
        .for('update', { skipLocked: true })
      for (const blob of claimed) {
        // Inline blobs have no file, unless an earlier, lower INLINE_MAX_BYTES left one.
        const path = blobPath(roots, blob.storageClass, blob.contentHash.slice('sha256:'.length))
        if (removeFile(path)) fsyncDirectory(dirname(path))
      }
      if (claimed.length > 0) await barrier('gc:blob-unlinked')
      for (const storageClass of storageClasses) {
        const hashes = claimed.filter((blob) => blob.storageClass === storageClass).map((blob) => blob.contentHash)
        if (hashes.length > 0) await tx.delete(blobs).where(and(eq(blobs.storageClass, storageClass), inArray(blobs.contentHash, hashes)))
      }
      return claimed
    })
    result.deleted_blobs += batch.length
    result.reclaimed_bytes += batch.reduce((sum, blob) => sum + blob.sizeBytes, 0)
    if (batch.length < settings.batchSize) return
  }
}

/** A deleted object's blob work is done once its blob is either collected or referenced again. */
async function finishDeletes(db: Db): Promise<void> {
  await db.execute(sql`
    update ${objects} set status = 'DELETED', updated_at = now()
    where ${objects.status} = 'DELETING' and not exists (
      select 1 from ${blobs}
      where ${blobs.storageClass} = ${objects.storageClass} and ${blobs.contentHash} = ${objects.contentHash} and ${blobs.refCount} = 0)`)
}

async function purgeTombstones(db: Db, retentionSecs: number): Promise<void> {
  // <=, not <: PGlite's clock ticks in milliseconds, so a delete finished by the
  // statement just before can carry this very now(); retention 0 must still purge it.
  await db.execute(sql`
    delete from ${objects}
    where ${objects.status} = 'DELETED' and ${objects.updatedAt} <= now() - make_interval(secs => ${retentionSecs})`)
}

function olderThan(path: string, graceSecs: number): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs >= graceSecs * 1000
  } catch {
    return false
  }
}

/** Temp files whose upload is no longer WRITING (crashed, reaped or finished) are leftovers. */
async function sweepTempFiles(db: Db, roots: StorageRoots, graceSecs: number): Promise<number> {
  let removed = 0
  for (const storageClass of storageClasses) {
    const dir = tempDirectory(roots[storageClass])
    const names = entriesOf(dir).filter((name) => olderThan(`${dir}/${name}`, graceSecs))
    for (let i = 0; i < names.length; i += 500) {
      const chunk = names.slice(i, i + 500)
      const ids = chunk.filter(isUuid)
      const live = ids.length === 0 ? [] : await db
        .select({ id: objects.id })
        .from(objects)
        .where(and(inArray(objects.id, ids), eq(objects.status, 'WRITING')))
      const liveIds = new Set(live.map((row) => row.id))
      for (const name of chunk) {
        if (!liveIds.has(name) && removeFile(`${dir}/${name}`)) removed++
      }
    }
  }
  return removed
}

/**
 * Blob files with no row are leftovers of commits that renamed and then failed.
 * To tell them from a commit in flight, claim the row by inserting it: an
 * uncommitted insert by a commit makes ours wait and then conflict.
 */
async function sweepOrphanFiles(db: Db, roots: StorageRoots, graceSecs: number): Promise<Pick<GcResult, 'removed_orphan_files'>> {
  let removed = 0
  for (const storageClass of storageClasses) {
    const base = blobTreeDirectory(roots[storageClass])
    for (const level1 of entriesOf(base)) {
      for (const level2 of entriesOf(`${base}/${level1}`)) {
        const dir = `${base}/${level1}/${level2}`
        const names = entriesOf(dir).filter((name) => /^[0-9a-f]{64}$/.test(name) && olderThan(`${dir}/${name}`, graceSecs))
        if (names.length === 0) continue
        const known = await db
          .select({ contentHash: blobs.contentHash })
          .from(blobs)
          .where(and(eq(blobs.storageClass, storageClass), inArray(blobs.contentHash, names.map((hex) => `sha256:${hex}`))))
        const knownHashes = new Set(known.map((row) => row.contentHash))
        for (const hex of names) {
          if (knownHashes.has(`sha256:${hex}`)) continue
          if (await removeIfOrphan(db, storageClass, hex, `${dir}/${hex}`)) removed++
        }
      }
    }
  }
  return { removed_orphan_files: removed }
}

async function removeIfOrphan(db: Db, storageClass: StorageClass, hex: string, path: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const claimed = await tx
      .insert(blobs)
      .values({ storageClass, contentHash: `sha256:${hex}`, sizeBytes: 0, refCount: 0, unreferencedSince: sql`now()` })
      .onConflictDoNothing()
      .returning({ contentHash: blobs.contentHash })
    if (claimed.length === 0) return false
    const removed = removeFile(path)
    fsyncDirectory(dirname(path))
    await tx.delete(blobs).where(and(eq(blobs.storageClass, storageClass), eq(blobs.contentHash, `sha256:${hex}`)))
    return removed
  })
}
