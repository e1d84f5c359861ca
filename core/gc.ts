import { and, eq, sql } from 'drizzle-orm'
import { barrier } from './barriers'
import { anyOf } from './db/any-of'
import { collectable } from './db/collectable'
import { rowsOf, type Db } from './db/client'
import { isUuid } from './identifiers'
import { blobs, objects, statusIs, type StorageClass } from './db/schema'
import { log } from './log'
import { dropStaleQuotaHolds } from './lifecycle/quota-holds'
import { gcUnremovableFiles } from './metrics'
import { recordRun } from './runs'
import { TimeSlice } from './time-slice'
import { foldUsageCounters } from './usage'
import type { BlobStore, BlobStores, Leftover, Removal, StoredBlob } from './store/blob-store'
import { expireSessions, liveSessionIds } from './uploads/sessions'

/**
 * Garbage collection: reaps stuck uploads, deletes blobs unreferenced for the
 * grace period, finishes deletes, purges old tombstones, folds the usage
 * counters of closed connections and removes crash leftovers. Every step is safe to run in several replicas at once: blob rows
 * are claimed with FOR UPDATE SKIP LOCKED, the same row lock an upload's commit
 * takes, so a blob is never collected while a commit references it. A blob
 * leaves its store in two steps (store/blob-store's takeOut): out of reach
 * under the row lock, gone for good after the row's deletion commits. A blob
 * that cannot be removed is counted, logged and left for a later pass; it never
 * stops the pass.
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

export async function runGc(db: Db, stores: BlobStores, settings: GcSettings): Promise<GcResult> {
  const result: GcResult = { deleted_blobs: 0, reclaimed_bytes: 0, reaped_uploads: 0, removed_temp_files: 0, removed_orphan_files: 0 }
  // The reaper and the orphan sweep show on the status page as jobs of their own.
  Object.assign(result, await recordRun(db, 'reaper', () => reapStuckUploads(db, stores, settings)))
  // A hold outlives its commit only when the process died between the two.
  await dropStaleQuotaHolds(db, settings.stuckUploadTimeoutSecs)
  await collectBlobs(db, stores, settings, result)
  await finishDeletes(db, settings.batchSize)
  await purgeTombstones(db, settings.tombstoneRetentionSecs, settings.batchSize)
  await foldUsageCounters(db)
  result.removed_temp_files = await sweepLeftovers(db, stores, settings.graceSecs)
  if (settings.sweepOrphans) Object.assign(result, await recordRun(db, 'orphan_sweep', () => sweepOrphanBlobs(db, stores, settings.graceSecs)))
  return result
}

const storageClasses: StorageClass[] = ['hot', 'cold']

function unremovable(store: BlobStore, hex: string, error: unknown): void {
  gcUnremovableFiles.inc()
  log.warn({ msg: 'gc could not remove a blob; it is left for a later pass', store: store.location, hex, error: String((error as Error)?.message ?? error) })
}

/** Uploads in WRITING past the timeout lose their reservation (a still-running one then fails at commit); expired sessions go with their bytes. */
async function reapStuckUploads(db: Db, stores: BlobStores, settings: GcSettings): Promise<Pick<GcResult, 'reaped_uploads'>> {
  let reaped = 0
  for (;;) {
    const rows = await db.execute(sql`
      delete from ${objects} where ${objects.id} in (
        select ${objects.id} from ${objects}
        where ${objects.status} = 'WRITING' and ${objects.updatedAt} < now() - make_interval(secs => ${settings.stuckUploadTimeoutSecs})
        limit ${settings.batchSize} for update skip locked)
      returning ${objects.id}, ${objects.storageClass}`)
    const reapedRows = rowsOf<{ id: string; storage_class: StorageClass }>(rows)
    await Promise.all(reapedRows.map((row) => stores[row.storage_class].discard(row.id).catch((error) => unremovable(stores[row.storage_class], row.id, error))))
    reaped += reapedRows.length
    if (reapedRows.length < settings.batchSize) return { reaped_uploads: reaped + (await expireSessions(db, stores, settings.batchSize)) }
  }
}

interface ClaimedBlob {
  storageClass: StorageClass
  contentHash: string
  sizeBytes: number
  unreferencedSince: string | null
}

/**
 * Deletes collectable blobs batch by batch, in the order they became
 * unreferenced, each batch after the one before (so a blob that cannot be
 * taken out is passed over, not met again and again). A blob leaves its store
 * under its row lock, the row is deleted, and only after that commits is the
 * removal finished. If the batch fails, its blobs go back before the error is
 * passed on: no row is left whose bytes the pass removed.
 */
async function collectBlobs(db: Db, stores: BlobStores, settings: GcSettings, result: GcResult): Promise<void> {
  let after: ClaimedBlob | undefined
  for (;;) {
    const removals: Removal[] = []
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
        const movable = await Promise.all(claimed.map((blob) => takeOut(stores[blob.storageClass], blob.contentHash, removals)))
        if (claimed.length > 0) await barrier('gc:blob-unlinked')
        const deleted = claimed.filter((_, i) => movable[i])
        for (const storageClass of storageClasses) {
          const hashes = deleted.filter((blob) => blob.storageClass === storageClass).map((blob) => blob.contentHash)
          if (hashes.length > 0) await tx.delete(blobs).where(and(eq(blobs.storageClass, storageClass), anyOf(blobs.contentHash, hashes)))
        }
        return { claimed, deleted }
      })
    } catch (error) {
      await putBack(removals)
      throw error
    }
    await Promise.all(removals.map((removal) => removal.finish()))
    result.deleted_blobs += batch.deleted.length
    result.reclaimed_bytes += batch.deleted.reduce((sum, blob) => sum + blob.sizeBytes, 0)
    if (batch.claimed.length < settings.batchSize) return
    after = batch.claimed.at(-1)
  }
}

/** Takes a claimed blob out of its store; true when its row may go (taken, or nothing to take: inline bytes). One that cannot be taken keeps its row. */
async function takeOut(store: BlobStore, contentHash: string, removals: Removal[]): Promise<boolean> {
  const hex = contentHash.slice('sha256:'.length)
  try {
    const removal = await store.takeOut(hex)
    if (removal) removals.push(removal)
    return true
  } catch (error) {
    unremovable(store, hex, error)
    return false
  }
}

/** Returns a failed batch's blobs; one that cannot go back is left for the leftover sweep to restore. */
async function putBack(removals: Removal[]): Promise<void> {
  await Promise.all(removals.map((removal) => removal.undo().catch((error) => log.error({ msg: 'gc could not put a blob back', error: String((error as Error)?.message ?? error) }))))
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

/**
 * What uploads and passes left behind: staged bytes whose upload is no longer
 * WRITING (crashed, reaped or finished) go; so do blobs a pass took out,
 * unless their row survived.
 */
async function sweepLeftovers(db: Db, stores: BlobStores, graceSecs: number): Promise<number> {
  let removed = 0
  for (const storageClass of storageClasses) {
    const old: Leftover[] = []
    for await (const leftover of stores[storageClass].leftovers()) if (leftover.ageMs >= graceSecs * 1000) old.push(leftover)
    for (let i = 0; i < old.length; i += 500) {
      const chunk = old.slice(i, i + 500)
      const live = await liveUploads(db, chunk)
      for (const leftover of chunk) {
        if (isLive(leftover, live)) continue
        const gone = leftover.kind === 'staged' ? await leftover.remove() : await settleTakenOut(db, storageClass, leftover)
        if (gone) removed++
      }
    }
  }
  return removed
}

/** The upload ids of these leftovers whose bytes are still wanted: an upload still WRITING, or a session not yet gone. */
export async function liveUploads(db: Db, leftovers: Leftover[]): Promise<Set<string>> {
  const ids = leftovers.flatMap((leftover) => (leftover.kind === 'staged' && leftover.uploadId !== null && isUuid(leftover.uploadId) ? [leftover.uploadId] : []))
  if (ids.length === 0) return new Set()
  const writing = await db
    .select({ id: objects.id })
    .from(objects)
    .where(and(anyOf(objects.id, ids, 'uuid'), statusIs(objects.status, 'WRITING')))
  return new Set([...writing.map((row) => row.id), ...(await liveSessionIds(db, ids))])
}

export const isLive = (leftover: Leftover, live: Set<string>): boolean => leftover.kind === 'staged' && leftover.uploadId !== null && live.has(leftover.uploadId)

/**
 * A blob taken out by a pass, found after it: gone with its row, unless the row
 * survived (a pass that failed, or stopped between taking it out and its
 * commit); then it goes back, unless the store holds a fresh copy. A row locked
 * now belongs to a pass in flight, which settles its own. True when removed.
 */
async function settleTakenOut(db: Db, storageClass: StorageClass, leftover: Extract<Leftover, { kind: 'taken-out' }>): Promise<boolean> {
  const row = and(eq(blobs.storageClass, storageClass), eq(blobs.contentHash, `sha256:${leftover.hex}`))
  const outcome = await db.transaction(async (tx) => {
    const [seen] = await tx.select({ inline: sql<boolean>`${blobs.inlineData} is not null` }).from(blobs).where(row)
    if (!seen) return 'remove'
    const [locked] = await tx.select({ inline: sql<boolean>`${blobs.inlineData} is not null` }).from(blobs).where(row).for('update', { skipLocked: true })
    if (!locked) return 'skip'
    if (locked.inline) return 'remove'
    // Under the row lock: a commit placing its own copy waits, and a copy already there is kept.
    await leftover.restore()
    return 'restored'
  })
  return outcome === 'remove' && (await leftover.remove())
}

/**
 * Stored blobs with no row are leftovers of commits that placed their bytes and
 * then failed. To tell them from a commit in flight, claim the row by inserting
 * it: an uncommitted insert by a commit makes ours wait and then conflict.
 */
async function sweepOrphanBlobs(db: Db, stores: BlobStores, graceSecs: number): Promise<Pick<GcResult, 'removed_orphan_files'>> {
  let removed = 0
  for (const storageClass of storageClasses) {
    const old = (blob: StoredBlob) => blob.ageMs >= graceSecs * 1000
    for await (const hex of blobsWithoutRows(db, stores[storageClass], storageClass, old)) if (await removeIfOrphan(db, stores[storageClass], storageClass, hex)) removed++
  }
  return { removed_orphan_files: removed }
}

/** The stored blobs of a class (those `wanted`) that have no blob row, looked up 500 at a time. */
export async function* blobsWithoutRows(db: Db, store: BlobStore, storageClass: StorageClass, wanted: (blob: StoredBlob) => boolean = () => true): AsyncIterable<string> {
  const slice = new TimeSlice()
  let batch: string[] = []
  async function* rowless() {
    const known = await db
      .select({ contentHash: blobs.contentHash })
      .from(blobs)
      .where(and(eq(blobs.storageClass, storageClass), anyOf(blobs.contentHash, batch.map((hex) => `sha256:${hex}`))))
    const knownHashes = new Set(known.map((row) => row.contentHash))
    yield* batch.filter((hex) => !knownHashes.has(`sha256:${hex}`))
    batch = []
  }
  for await (const blob of store.blobs()) {
    // A large store is listed without holding the event loop.
    await slice.yield()
    if (!wanted(blob)) continue
    batch.push(blob.hex)
    if (batch.length >= 500) yield* rowless()
  }
  if (batch.length > 0) yield* rowless()
}

/** Takes an orphan out under the claimed row, and finishes its removal once the claim is over. */
async function removeIfOrphan(db: Db, store: BlobStore, storageClass: StorageClass, hex: string): Promise<boolean> {
  const removals: Removal[] = []
  let removed = false
  try {
    await db.transaction(async (tx) => {
      const claimed = await tx
        .insert(blobs)
        .values({ storageClass, contentHash: `sha256:${hex}`, sizeBytes: 0, refCount: 0, unreferencedSince: sql`now()` })
        .onConflictDoNothing()
        .returning({ contentHash: blobs.contentHash })
      if (claimed.length === 0) return
      await takeOut(store, `sha256:${hex}`, removals)
      await tx.delete(blobs).where(and(eq(blobs.storageClass, storageClass), eq(blobs.contentHash, `sha256:${hex}`)))
    })
  } finally {
    // The blob had no row when it was claimed: it is garbage whether or not the claim's removal committed.
    for (const removal of removals) removed = await removal.finish()
  }
  return removed
}
