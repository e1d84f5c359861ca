import { and, asc, eq, gt, isNull, or, sql } from 'drizzle-orm'
import type { Db } from './db/client'
import { blobs, type StorageClass } from './db/schema'
import { blobPath, type StorageRoots } from './store/paths'

/** Re-hashes every stored blob at a bounded rate and marks those whose file is missing or changed. */

export interface ScrubResult {
  checked: number
  corrupt: { content_hash: string; storage_class: StorageClass }[]
}

const pageSize = 100

export async function runScrub(db: Db, roots: StorageRoots, maxBytesPerSec: number): Promise<ScrubResult> {
  const result: ScrubResult = { checked: 0, corrupt: [] }
  const throttle = new Throttle(maxBytesPerSec)
  let after: { storageClass: StorageClass; contentHash: string } | undefined
  for (;;) {
    const page = await db
      .select({ storageClass: blobs.storageClass, contentHash: blobs.contentHash, sizeBytes: blobs.sizeBytes })
      .from(blobs)
      .where(
        and(
          isNull(blobs.corruptAt),
          after && or(gt(blobs.storageClass, after.storageClass), and(eq(blobs.storageClass, after.storageClass), gt(blobs.contentHash, after.contentHash))),
        ),
      )
      .orderBy(asc(blobs.storageClass), asc(blobs.contentHash))
      .limit(pageSize)
    for (const blob of page) {
      const hex = blob.contentHash.slice('sha256:'.length)
      const intact = await fileMatches(blobPath(roots, blob.storageClass, hex), hex, blob.sizeBytes, throttle)
      result.checked++
      if (!intact && (await markCorrupt(db, blob.storageClass, blob.contentHash))) {
        result.corrupt.push({ content_hash: blob.contentHash, storage_class: blob.storageClass })
      }
    }
    if (page.length < pageSize) return result
    after = page[page.length - 1]
  }
}

async function fileMatches(path: string, hex: string, sizeBytes: number, throttle: Throttle): Promise<boolean> {
  const file = Bun.file(path)
  if (!(await file.exists()) || file.size !== sizeBytes) return false
  const hasher = new Bun.CryptoHasher('sha256')
  for await (const chunk of file.stream()) {
    hasher.update(chunk)
    await throttle.consume(chunk.byteLength)
  }
  return hasher.digest('hex') === hex
}

/**
 * Marks a blob corrupt unless it vanished meanwhile (collected by GC), which is
 * also why a missing file alone is not proof: the row must still be there.
 */
async function markCorrupt(db: Db, storageClass: StorageClass, contentHash: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .select({ sizeBytes: blobs.sizeBytes })
      .from(blobs)
      .where(and(eq(blobs.storageClass, storageClass), eq(blobs.contentHash, contentHash)))
      .for('update')
    if (!row) return false
    await tx
      .update(blobs)
      .set({ corruptAt: sql`now()` })
      .where(and(eq(blobs.storageClass, storageClass), eq(blobs.contentHash, contentHash)))
    return true
  })
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
