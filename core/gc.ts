import { statSync } from 'node:fs'
import { unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import { and, eq, sql } from 'drizzle-orm'
import { barrier } from './barriers'
import { anyOf } from './db/any-of'
import { collectable } from './db/collectable'
import { rowsOf, type Db } from './db/client'
import { isUuid } from './identifiers'
import { blobs, objects, statusIs, type StorageClass } from './db/schema'
import { log } from './log'
import { gcUnremovableFiles } from './metrics'
import { recordRun } from './runs'
import { TimeSlice } from './time-slice'
import { foldUsageCounters } from './usage'
import { fsyncDirectoryAsync } from './store/durable'
import { blobPath, blobTreeDirectory, tempDirectory, tempPath, type StorageRoots } from './store/paths'
import { moveToTrash, restoreFromTrash, trashedHex, trashPath } from './store/trash'
import { entriesOf } from './store/directories'

/**
 * Garbage collection: reaps stuck uploads, deletes blobs unreferenced for the
 * grace period, finishes deletes, purges old tombstones, folds the usage
 * counters of closed connections and removes crash leftovers. Every step is safe to run in several replicas at once: blob rows
 * are claimed with FOR UPDATE SKIP LOCKED, the same row lock an upload's commit
 * takes, so a blob is never collected while a commit references it. File work
 * runs off the event loop, and unlinks and directory syncs run outside
 * transactions (see store/trash). A file that cannot be removed is counted,
 * logged and left for a later pass; it never stops the pass.
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
  await finishDeletes(db, settings.batchSize)
  await purgeTombstones(db, settings.tombstoneRetentionSecs, settings.batchSize)
  await foldUsageCounters(db)
  result.removed_temp_files = await sweepTempFiles(db, roots, settings.graceSecs)
  if (settings.sweepOrphans) Object.assign(result, await recordRun(db, 'orphan_sweep', () => sweepOrphanFiles(db, roots, settings.graceSecs)))
  return result
}

const storageClasses: StorageClass[] = ['hot', 'cold']

/** Unlinks a leftover file; false when it was gone already or cannot be removed (counted and logged, for a later pass). */
async function removeLeftover(path: string): Promise<boolean> {
  try {
    await unlink(path)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') unremovable(path, error)
    return false
  }
}

function unremovable(path: string, error: unknown): void {
  gcUnremovableFiles.inc()
  log.warn({ msg: 'gc could not remove a file; it is left for a later pass', path, error: String((error as Error)?.message ?? error) })
}

/** Makes the removals of a batch durable; a failure loses nothing (a file that comes back is a leftover for a later pass). */
async function syncDirectories(dirs: Iterable<string>): Promise<void> {
  await Promise.all(
    [...new Set(dirs)].map((dir) =>
      fsyncDirectoryAsync(dir).catch((error) => log.warn({ msg: 'gc could not sync a directory', path: dir, error: String((error as Error)?.message ?? error) })),
    ),
  )
}

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
    await Promise.all(reapedRows.map((row) => removeLeftover(tempPath(roots, row.storage_class, row.id))))
    reaped += reapedRows.length
    if (reapedRows.length < settings.batchSize) return { reaped_uploads: reaped }
  }
}

interface ClaimedBlob {
  storageClass: StorageClass
  contentHash: string
  sizeBytes: number
  unreferencedSince: string | null
}

/** A blob file taken out of the tree while its row is locked. */
interface TrashedFile {
  path: string
  trash: string
}

/**
 * Deletes collectable blobs batch by batch, in the order they became
 * unreferenced, each batch after the one before (so a blob whose file cannot
 * be moved is passed over, not met again and again). A blob's file leaves the
 * tree under its row lock, the row is deleted, and only after that commits is
 * the file unlinked. If the batch fails, its files go back before the error
 * is passed on: no row is left whose file the pass removed.
 */
async function collectBlobs(db: Db, roots: StorageRoots, settings: GcSettings, result: GcResult): Promise<void> {
  let after: ClaimedBlob | undefined
  for (;;) {
    const trashed: TrashedFile[] = []
    let batch: { claimed: ClaimedBlob[]; deleted: ClaimedBlob[] }
    try {
      batch = await db.transaction(async (tx) => {
        // The ref_count condition is re-checked on the locked row, so a commit that
        // added a reference while we waited is seen; SKIP LOCKED passes over blobs
        // that a commit or another replica holds right now.
        const claimed = await tx
          .select({ storageClass: blobs.storageClass, contentHash: blobs.contentHash, sizeBytes: blobs.sizeBytes, unreferencedSince: blobs.unreferencedSince })
          .from(blobs)
          .where(and(collectable(settings.graceSecs), after && sql`
            (${blobs.unreferencedSince}, ${blobs.storageClass}, ${blobs.contentHash})
            > (${after.unreferencedSince}::timestamptz, ${after.storageClass}::storage_class, ${after.contentHash})`))
          .orderBy(blobs.unreferencedSince, blobs.storageClass, blobs.contentHash)
          .limit(settings.batchSize)
          .for('update', { skipLocked: true })
        const movable = await Promise.all(claimed.map((blob) => takeOutOfTree(roots, blob, trashed)))
        if (claimed.length > 0) await barrier('gc:blob-unlinked')
        const deleted = claimed.filter((_, i) => movable[i])
        for (const storageClass of storageClasses) {
          const hashes = deleted.filter((blob) => blob.storageClass === storageClass).map((blob) => blob.contentHash)
          if (hashes.length > 0) await tx.delete(blobs).where(and(eq(blobs.storageClass, storageClass), anyOf(blobs.contentHash, hashes)))
        }
        return { claimed, deleted }
      })
    } catch (error) {
      await putBack(trashed)
      throw error
    }
    await Promise.all(trashed.map((file) => removeLeftover(file.trash)))
    await syncDirectories(trashed.flatMap((file) => [dirname(file.path), dirname(file.trash)]))
    result.deleted_blobs += batch.deleted.length
    result.reclaimed_bytes += batch.deleted.reduce((sum, blob) => sum + blob.sizeBytes, 0)
    if (batch.claimed.length < settings.batchSize) return
    after = batch.claimed.at(-1)
  }
}

/**
 * Moves a claimed blob's file to the trash; true when its row may go (moved, or
 * no file: inline bytes). A file that cannot be moved keeps its row.
 */
async function takeOutOfTree(roots: StorageRoots, blob: ClaimedBlob, trashed: TrashedFile[]): Promise<boolean> {
  const hex = blob.contentHash.slice('sha256:'.length)
  const path = blobPath(roots, blob.storageClass, hex)
  const trash = trashPath(roots, blob.storageClass, hex)
  try {
    if (await moveToTrash(path, trash)) trashed.push({ path, trash })
    return true
  } catch (error) {
    unremovable(path, error)
    return false
  }
}

/** Returns a failed batch's files to the tree; one that cannot go back stays in the trash for the temp sweep to restore. */
async function putBack(trashed: TrashedFile[]): Promise<void> {
  await Promise.all(
    trashed.map((file) =>
      restoreFromTrash(file.trash, file.path).catch((error) => log.error({ msg: 'gc could not put a blob file back', path: file.path, trash: file.trash, error: String((error as Error)?.message ?? error) })),
    ),
  )
  await syncDirectories(trashed.map((file) => dirname(file.path)))
}

/**
 * A deleted object's blob work is done once its blob is either collected or
 * referenced again. In batches, each its own short statement, so that a
 * backlog of a million deletes never becomes one long transaction.
 */
async function finishDeletes(db: Db, batchSize: number): Promise<void> {
  for (;;) {
    const finished = rowsOf(
      await db.execute(sql`
        update ${objects} set status = 'DELETED', updated_at = now()
        where ${objects.id} in (
          select ${objects.id} from ${objects}
          where ${objects.status} = 'DELETING' and not exists (
            select 1 from ${blobs}
            where ${blobs.storageClass} = ${objects.storageClass} and ${blobs.contentHash} = ${objects.contentHash} and ${blobs.refCount} = 0)
          limit ${batchSize} for update skip locked)
        returning ${objects.id}`),
    )
    if (finished.length < batchSize) return
  }
}

async function purgeTombstones(db: Db, retentionSecs: number, batchSize: number): Promise<void> {
  for (;;) {
    // <=, not <: PGlite's clock ticks in milliseconds, so a delete finished by the
    // statement just before can carry this very now(); retention 0 must still purge it.
    const purged = rowsOf(
      await db.execute(sql`
        delete from ${objects}
        where ${objects.id} in (
          select ${objects.id} from ${objects}
          where ${objects.status} = 'DELETED' and ${objects.updatedAt} <= now() - make_interval(secs => ${retentionSecs})
          limit ${batchSize} for update skip locked)
        returning ${objects.id}`),
    )
    if (purged.length < batchSize) return
  }
}

function olderThan(path: string, graceSecs: number): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs >= graceSecs * 1000
  } catch {
    return false
  }
}

/**
 * Temp files whose upload is no longer WRITING (crashed, reaped or finished)
 * are leftovers; so is the trash of a pass, unless the blob's row survived.
 */
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
        .where(and(anyOf(objects.id, ids, 'uuid'), statusIs(objects.status, 'WRITING')))
      const liveIds = new Set(live.map((row) => row.id))
      for (const name of chunk) {
        if (liveIds.has(name)) continue
        const hex = trashedHex(name)
        const gone = hex === null ? await removeLeftover(`${dir}/${name}`) : await settleTrash(db, roots, storageClass, hex, `${dir}/${name}`)
        if (gone) removed++
      }
    }
  }
  return removed
}

/**
 * A trashed blob file found after its pass: gone with its row, unless the row
 * survived (a pass that failed, or stopped between the move and its commit)
 * and the tree has no file for it; then it goes back. A row locked now belongs
 * to a pass in flight, which settles its own trash. True when unlinked.
 */
async function settleTrash(db: Db, roots: StorageRoots, storageClass: StorageClass, hex: string, trash: string): Promise<boolean> {
  const row = and(eq(blobs.storageClass, storageClass), eq(blobs.contentHash, `sha256:${hex}`))
  const outcome = await db.transaction(async (tx) => {
    const [seen] = await tx.select({ inline: sql<boolean>`${blobs.inlineData} is not null` }).from(blobs).where(row)
    if (!seen) return 'remove'
    const [locked] = await tx.select({ inline: sql<boolean>`${blobs.inlineData} is not null` }).from(blobs).where(row).for('update', { skipLocked: true })
    if (!locked) return 'skip'
    if (locked.inline) return 'remove'
    // Under the row lock: a commit placing its own copy waits, and a copy already there is kept.
    await restoreFromTrash(trash, blobPath(roots, storageClass, hex))
    return 'restored'
  })
  if (outcome === 'restored') await syncDirectories([dirname(blobPath(roots, storageClass, hex)), dirname(trash)])
  return outcome === 'remove' && (await removeLeftover(trash))
}

/**
 * Blob files with no row are leftovers of commits that renamed and then failed.
 * To tell them from a commit in flight, claim the row by inserting it: an
 * uncommitted insert by a commit makes ours wait and then conflict.
 */
async function sweepOrphanFiles(db: Db, roots: StorageRoots, graceSecs: number): Promise<Pick<GcResult, 'removed_orphan_files'>> {
  let removed = 0
  const slice = new TimeSlice()
  for (const storageClass of storageClasses) {
    const base = blobTreeDirectory(roots[storageClass])
    for (const level1 of entriesOf(base)) {
      for (const level2 of entriesOf(`${base}/${level1}`)) {
        // A tree of many small directories is listed without a query between them.
        await slice.yield()
        const dir = `${base}/${level1}/${level2}`
        const names = entriesOf(dir).filter((name) => /^[0-9a-f]{64}$/.test(name) && olderThan(`${dir}/${name}`, graceSecs))
        if (names.length === 0) continue
        const known = await db
          .select({ contentHash: blobs.contentHash })
          .from(blobs)
          .where(and(eq(blobs.storageClass, storageClass), anyOf(blobs.contentHash, names.map((hex) => `sha256:${hex}`))))
        const knownHashes = new Set(known.map((row) => row.contentHash))
        for (const hex of names) {
          if (knownHashes.has(`sha256:${hex}`)) continue
          if (await removeIfOrphan(db, roots, storageClass, hex)) removed++
        }
      }
    }
  }
  return { removed_orphan_files: removed }
}

/** Moves an orphan to the trash under the claimed row, and unlinks it once the claim is over. */
async function removeIfOrphan(db: Db, roots: StorageRoots, storageClass: StorageClass, hex: string): Promise<boolean> {
  const trashed: TrashedFile[] = []
  let removed = false
  try {
    await db.transaction(async (tx) => {
      const claimed = await tx
        .insert(blobs)
        .values({ storageClass, contentHash: `sha256:${hex}`, sizeBytes: 0, refCount: 0, unreferencedSince: sql`now()` })
        .onConflictDoNothing()
        .returning({ contentHash: blobs.contentHash })
      if (claimed.length === 0) return
      await takeOutOfTree(roots, { storageClass, contentHash: `sha256:${hex}`, sizeBytes: 0, unreferencedSince: null }, trashed)
      await tx.delete(blobs).where(and(eq(blobs.storageClass, storageClass), eq(blobs.contentHash, `sha256:${hex}`)))
    })
  } finally {
    // The file had no row when it was claimed: it is garbage whether or not the claim's removal committed.
    for (const file of trashed) removed = await removeLeftover(file.trash)
    await syncDirectories(trashed.flatMap((file) => [dirname(file.path), dirname(file.trash)]))
  }
  return removed
}
