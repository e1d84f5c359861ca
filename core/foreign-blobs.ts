import { sql } from 'drizzle-orm'
import { rowsOf, type Db } from './db/client'
import type { BlobStores } from './store/blob-store'

export class ForeignBlobs extends Error {}

/**
 * Blob files beside a database that knows no blob at all: the database is not
 * the one the files belong to (a lost database volume, a wrong DATABASE_URL,
 * a container recreated without its data). Serving would be wrong, and GC's
 * orphan sweep would delete every file after the grace period. Discarding
 * them is a deliberate step: fsck --repair removes files no row references.
 */
export async function refuseForeignBlobs(db: Db, stores: BlobStores): Promise<void> {
  const [{ known }] = rowsOf<{ known: boolean }>(await db.execute(sql`select exists (select 1 from blobs) as known`)) as [{ known: boolean }]
  if (known) return
  for (const [storageClass, store] of Object.entries(stores)) {
    for await (const blob of store.blobs()) {
      throw new ForeignBlobs(
        `the ${storageClass} store ${store.location} holds blobs (sha256:${blob.hex}) but the database holds no blob: it is not the database they belong to. ` +
          'Point DATABASE_URL (or DATA_DIR) at the right one or restore it; to discard the files instead, run npm run fsck -- --repair with the service stopped',
      )
    }
  }
}
