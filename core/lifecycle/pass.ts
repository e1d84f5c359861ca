import { sql } from 'drizzle-orm'
import { barrier } from '../barriers'
import { anyOf } from '../db/any-of'
import { rowsOf, type Db } from '../db/client'
import { objects } from '../db/schema'
import type { BlobStores } from '../store/blob-store'
import { moveIdleObjects } from './tiering'

/**
 * The lifecycle pass: deletes expired objects and the noncurrent versions
 * beyond their namespace's keep_versions, then moves idle objects to cold
 * (tiering.ts). The deletes go in batches, each batch one statement (two
 * for retention, see pruneBatch) that releases its objects as a delete does
 * (their blobs are then GC's). Rows another transaction holds (a commit replacing the key, a
 * delete) are skipped, for a later pass: passes in several replicas at once
 * never wait on each other or on requests.
 */

export interface LifecycleResult {
  expired: number
  pruned_versions: number
  moved_to_cold: number
}

export interface LifecycleSettings {
  batchSize: number
}

/** Expiry first: what has expired is deleted, never moved. */
export async function runLifecycle(db: Db, stores: BlobStores, settings: LifecycleSettings): Promise<LifecycleResult> {
  const expired = await inBatches(() => expireBatch(db, settings.batchSize))
  const pruned = await inBatches(() => pruneBatch(db, settings.batchSize))
  return { expired, pruned_versions: pruned, moved_to_cold: await moveIdleObjects(db, stores, settings.batchSize) }
}

async function inBatches(batch: () => Promise<{ released: number; full: boolean }>): Promise<number> {
  let total = 0
  for (;;) {
    const { released, full } = await batch()
    total += released
    if (!full) return total
  }
}

/** Objects past their expiry instant (objects_expiry_idx). */
async function expireBatch(db: Db, limit: number) {
  const rows = rowsOf(
    await db.execute(sql`
      with target as (
        select id, storage_class, content_hash from objects
        where status = 'COMMITTED' and expires_at is not null and expires_at <= now()
        order by expires_at limit ${limit}
        for update skip locked)
      select release_object(id, storage_class, content_hash) from target`),
  )
  return { released: rows.length, full: rows.length === limit }
}

/**
 * Noncurrent versions past the newest keep_versions of their key
 * (objects_noncurrent_idx). The current version is never among them: it is
 * not noncurrent. The candidates are ranked and locked first; then, with the
 * locks held, ranked again among their keys' versions as they are now, and
 * only those still past keep_versions go. So a newer version deleted by id
 * meanwhile leaves an older one kept in its place, never both gone.
 */
async function pruneBatch(db: Db, limit: number) {
  return db.transaction(async (tx) => {
    const candidates = rowsOf<{ id: string }>(
      await tx.execute(sql`
        with ranked as (
          select o.id, s.keep_versions,
            row_number() over (partition by o.tenant_id, o.namespace, o.key order by o.created_at desc, o.id desc) as newer
          from objects o join namespace_settings s on s.tenant_id = o.tenant_id and s.namespace = o.namespace
          where o.status = 'COMMITTED' and o.noncurrent_since is not null and s.keep_versions is not null)
        select o.id from objects o join ranked r on r.id = o.id
        where r.newer > r.keep_versions and o.status = 'COMMITTED'
        limit ${limit}
        for update of o skip locked`),
    ).map((row) => row.id)
    if (candidates.length === 0) return { released: 0, full: false }
    await barrier('lifecycle:prune-locked')
    const released = rowsOf(
      await tx.execute(sql`
        with locked as (select id, tenant_id, namespace, key from objects where ${anyOf(objects.id, candidates, 'uuid')}),
        ranked as (
          select o.id, o.storage_class, o.content_hash, s.keep_versions,
            row_number() over (partition by o.tenant_id, o.namespace, o.key order by o.created_at desc, o.id desc) as newer
          from objects o
          join (select distinct tenant_id, namespace, key from locked) k on k.tenant_id = o.tenant_id and k.namespace = o.namespace and k.key = o.key
          join namespace_settings s on s.tenant_id = o.tenant_id and s.namespace = o.namespace
          where o.status = 'COMMITTED' and o.noncurrent_since is not null and s.keep_versions is not null)
        select release_object(r.id, r.storage_class, r.content_hash) from ranked r
        where r.newer > r.keep_versions and r.id in (select id from locked)`),
    )
    return { released: released.length, full: candidates.length === limit }
  })
}
