import { sql } from 'drizzle-orm'
import { BatchedTouches } from '../db/batched-touches'
import { anyOf } from '../db/any-of'
import { rowsOf, type Db } from '../db/client'
import { objects, type StorageClass } from '../db/schema'
import { log } from '../log'
import type { BlobStores } from '../store/blob-store'
import { hexOf } from '../store/paths'

/**
 * Tiering by idleness: a hot object of a namespace with cold_after_idle_secs
 * that no read has used for that long moves to cold. Its bytes are copied to
 * the cold store and verified against its hash first; then move_object
 * (migrations/0012) switches its reference in one transaction, placing the
 * copy while the cold blob's row is locked, as a commit does. Until that
 * commit every read finds the object hot, after it cold: either way whole.
 */

/** How often each replica writes the reads it served (main.ts). */
export const readFlushSecs = 30

/**
 * A read another replica served may be unwritten for a flush interval, and
 * its flush may take a moment: an object counts as idle only once that much
 * more has passed, so no replica's read is missed.
 */
const unwrittenReadSecs = 2 * readFlushSecs

interface Candidate {
  id: string
  content_hash: string
  size_bytes: number
  inline: boolean
  idle_before: string
}

/** Moves up to `limit` idle objects per call until none is left; answers how many moved. */
export async function moveIdleObjects(db: Db, stores: BlobStores, limit: number): Promise<number> {
  let moved = 0
  for (;;) {
    const candidates = await idleObjects(db, limit)
    let movedNow = 0
    for (const candidate of candidates) if (await moveObject(db, stores, candidate, 'hot', 'cold')) movedNow++
    moved += movedNow
    // A batch where nothing moved is one of objects others hold or that changed meanwhile: leave them to a later pass.
    if (candidates.length < limit || movedNow === 0) return moved
  }
}

/**
 * Hot objects idle past their namespace's cold_after_idle_secs (and the reads
 * not yet written), least recently
 * used first (objects_idle_idx, a range per namespace), whose blob is sound:
 * damaged bytes stay for the scrubber's report.
 */
async function idleObjects(db: Db, limit: number): Promise<Candidate[]> {
  return rowsOf<Candidate>(
    await db.execute(sql`
      select idle.* from namespace_settings s
      cross join lateral (
        select o.id, o.content_hash, o.size_bytes, b.inline_data is not null as inline,
          (now() - make_interval(secs => s.cold_after_idle_secs + ${unwrittenReadSecs}))::text as idle_before
        from objects o join blobs b on b.storage_class = o.storage_class and b.content_hash = o.content_hash
        where o.tenant_id = s.tenant_id and o.namespace = s.namespace and o.status = 'COMMITTED' and o.storage_class = 'hot'
          and coalesce(o.last_read_at, o.created_at) <= now() - make_interval(secs => s.cold_after_idle_secs + ${unwrittenReadSecs})
          and b.corrupt_at is null
        order by coalesce(o.last_read_at, o.created_at)
        limit ${limit}) idle
      where s.cold_after_idle_secs is not null
      limit ${limit}`),
  ).map((row) => ({ ...row, size_bytes: Number(row.size_bytes) }))
}

async function moveObject(db: Db, stores: BlobStores, object: Candidate, from: StorageClass, to: StorageClass): Promise<boolean> {
  const hex = hexOf(object.content_hash)
  // The staged copy carries its own id, so that no upload or other move shares it.
  const stagedId = crypto.randomUUID()
  try {
    if (!object.inline) {
      const reader = readable(stores[from].read(hex, 0, object.size_bytes)).getReader()
      try {
        const written = await stores[to].stage(stagedId, { chunks: [], sizeBytes: 0, done: false }, reader, object.size_bytes)
        if (written.hex !== hex || written.sizeBytes !== object.size_bytes) {
          log.error({ msg: 'an object to move to cold reads back wrong; it stays where it is', object_id: object.id, content_hash: object.content_hash })
          return false
        }
      } finally {
        reader.releaseLock()
      }
    }
    return await db.transaction(async (tx) => {
      const [row] = rowsOf<{ moved: boolean; keeps_own_bytes: boolean }>(
        await tx.execute(sql`select moved, keeps_own_bytes from move_object(${object.id}::uuid, ${from}::storage_class, ${to}::storage_class, ${object.content_hash}, ${object.idle_before}::timestamptz)`),
      )
      if (row!.moved && !row!.keeps_own_bytes) await stores[to].place(stagedId, hex)
      return row!.moved
    })
  } catch (error) {
    // The object stays where it was, whole; the next pass tries again.
    log.warn({ msg: 'moving an object to cold failed; it stays', object_id: object.id, error: String((error as Error)?.message ?? error) })
    return false
  } finally {
    if (!object.inline) await stores[to].discard(stagedId).catch(() => {})
  }
}

const readable = (body: Blob | ReadableStream<Uint8Array>): ReadableStream<Uint8Array> => (body instanceof Blob ? body.stream() : body)

/** Reads of objects, written in batches: tiering needs to know what is idle, not a write per request. */
export class ReadTracker extends BatchedTouches {
  constructor() {
    super((db, ids) => db.update(objects).set({ lastReadAt: sql`now()` }).where(anyOf(objects.id, ids, 'uuid')))
  }
}
