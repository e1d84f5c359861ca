import { and, asc, eq, gt, or, sql } from 'drizzle-orm'
import { barrier } from './barriers'
import type { Db } from './db/client'
import { log } from './log'
import { blobs, type StorageClass } from './db/schema'
import type { BlobStore, BlobStores } from './store/blob-store'

/** Re-hashes every stored blob (file or inline bytes) at a bounded rate; marks those missing, changed or unreadable, clears marks of intact ones. */

export interface ScrubResult {
  checked: number
  corrupt: { content_hash: string; storage_class: StorageClass }[]
}

const pageSize = 100

export async function runScrub(db: Db, stores: BlobStores, maxBytesPerSec: number): Promise<ScrubResult> {
  const result: ScrubResult = { checked: 0, corrupt: [] }
  const throttle = new Throttle(maxBytesPerSec)
  let after: { storageClass: StorageClass; contentHash: string } | undefined
  for (;;) {
    const page = await db
      .select({ storageClass: blobs.storageClass, contentHash: blobs.contentHash, sizeBytes: blobs.sizeBytes, createdAt: blobs.createdAt, generation: blobs.generation, corruptAt: blobs.corruptAt, inline: blobs.inlineData })
      .from(blobs)
      .where(after && or(gt(blobs.storageClass, after.storageClass), and(eq(blobs.storageClass, after.storageClass), gt(blobs.contentHash, after.contentHash))))
      .orderBy(asc(blobs.storageClass), asc(blobs.contentHash))
      .limit(pageSize)
    for (const blob of page) {
      const hex = blob.contentHash.slice('sha256:'.length)
      const intact = blob.inline
        ? await bytesMatch(blob.inline, hex, blob.sizeBytes, throttle)
        : await storedMatches(stores[blob.storageClass], hex, blob.sizeBytes, throttle)
      result.checked++
      await barrier('scrub:blob-checked')
      if (intact) {
        if (blob.corruptAt !== null) await setCorrupt(db, blob, false)
      } else if (await setCorrupt(db, blob, true)) {
        result.corrupt.push({ content_hash: blob.contentHash, storage_class: blob.storageClass })
      }
    }
    if (page.length < pageSize) return result
    after = page[page.length - 1]
  }
}

/** Whether a stored blob holds its bytes. One that cannot be read (permissions, I/O errors) cannot be served either: it counts as damaged, and the pass goes on. */
async function storedMatches(store: BlobStore, hex: string, sizeBytes: number, throttle: Throttle): Promise<boolean> {
  try {
    if ((await store.size(hex)) !== sizeBytes) return false
    const hasher = new Bun.CryptoHasher('sha256')
    for await (const chunk of new Response(store.read(hex, 0, sizeBytes)).body!) {
      hasher.update(chunk)
      await throttle.consume(chunk.byteLength)
    }
    return hasher.digest('hex') === hex
  } catch (error) {
    log.warn({ msg: 'scrub could not read a blob', store: store.location, hex, error: String((error as Error)?.message ?? error) })
    return false
  }
}

async function bytesMatch(bytes: Uint8Array, hex: string, sizeBytes: number, throttle: Throttle): Promise<boolean> {
  await throttle.consume(bytes.byteLength)
  return bytes.byteLength === sizeBytes && new Bun.CryptoHasher('sha256').update(bytes).digest('hex') === hex
}

/**
 * Marks (or clears) a blob's corruption, only if the bytes checked are still
 * the ones in place: an upload may have put fresh, verified bytes there during
 * the check (a new generation), or GC removed the row and an upload re-created
 * it (another created_at).
 */
async function setCorrupt(db: Db, blob: { storageClass: StorageClass; contentHash: string; createdAt: string; generation: number }, corrupt: boolean): Promise<boolean> {
  const updated = await db
    .update(blobs)
    .set({ corruptAt: corrupt ? sql`coalesce(${blobs.corruptAt}, now())` : null })
    .where(and(eq(blobs.storageClass, blob.storageClass), eq(blobs.contentHash, blob.contentHash), eq(blobs.createdAt, blob.createdAt), eq(blobs.generation, blob.generation)))
    .returning({ contentHash: blobs.contentHash })
  return updated.length > 0
}

/** Keeps reads at or under a byte rate by sleeping once ahead of it. */
class Throttle {
  private readonly started = performance.now()
  private bytes = 0

  constructor(private readonly bytesPerSec: number) {}

  async consume(bytes: number): Promise<void> {
    this.bytes += bytes
    const dueMs = (this.bytes / this.bytesPerSec) * 1000
    const aheadMs = dueMs - (performance.now() - this.started)
    if (aheadMs > 1) await Bun.sleep(aheadMs)
  }
}
