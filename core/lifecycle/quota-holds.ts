import { sql } from 'drizzle-orm'
import { rowsOf, type Db } from '../db/client'
import { ApiError } from '../errors'
import { log } from '../log'

/**
 * Quotas without a lock across commits. Before committing into a namespace
 * under a quota (its own or its tenant's), an upload takes a hold on the room
 * it needs (hold_quotas, migrations/0013): a short transaction of its own
 * under the tenant's quota lock, which needs no WAL flush. Its commit then
 * turns the hold into usage without that lock, so a tenant's commits flush
 * together instead of one after another. The holds a tenant's uploads ask for
 * while one call is out go together in the next, as commits share a flush.
 * A commit no hold covers (none taken, or the key's object changed
 * meanwhile) is checked under the lock by commit_object itself: the quota
 * stays exact whatever this process believes about which namespaces have one.
 */
export class QuotaHolds {
  private readonly known = new Map<string, { applies: Promise<boolean>; readAt: number }>()
  /** Per tenant, the holds waiting for the call out to return. */
  private readonly waiting = new Map<string, Wanted[]>()

  constructor(
    private readonly db: Db,
    /** How long an answer to "does a quota apply here?" is trusted; a quota set meanwhile costs the lock, not exactness. */
    private readonly trustMs = 5_000,
  ) {}

  /**
   * Holds room for the commit of object `id`; false when no quota applies.
   * No room: 413 quota_exceeded.
   */
  async take(id: string, tenantId: string, namespace: string, key: string | null, sizeBytes: number): Promise<boolean> {
    if (!(await this.applies(tenantId, namespace))) return false
    return new Promise<boolean>((resolve, reject) => {
      const wanted: Wanted = { id, namespace, key, sizeBytes, resolve, reject }
      const queue = this.waiting.get(tenantId)
      if (queue) queue.push(wanted)
      else {
        this.waiting.set(tenantId, [wanted])
        void this.holdWaiting(tenantId)
      }
    })
  }

  /** Calls hold_quotas for what waits, again and again until nothing does; outside any transaction, as it must. */
  private async holdWaiting(tenantId: string): Promise<void> {
    for (;;) {
      const batch = this.waiting.get(tenantId)!
      if (batch.length === 0) {
        this.waiting.delete(tenantId)
        return
      }
      this.waiting.set(tenantId, [])
      try {
        const rows = rowsOf<{ hold_id: string; held: boolean; refused: 'namespace' | 'tenant' | null }>(
          await this.db.execute(sql`
            select hold_id, held, refused from hold_quotas(${tenantId},
              ${sql.param(batch.map((w) => w.id))}::uuid[], ${sql.param(batch.map((w) => w.namespace))}::text[],
              ${sql.param(batch.map((w) => w.key))}::text[], ${sql.param(batch.map((w) => w.sizeBytes))}::bigint[])`),
        )
        const answers = new Map(rows.map((row) => [row.hold_id, row]))
        for (const wanted of batch) {
          const answer = answers.get(wanted.id)!
          if (answer.refused) wanted.reject(new ApiError('quota_exceeded', `The ${answer.refused}'s quota would be exceeded`))
          else wanted.resolve(answer.held)
        }
      } catch (error) {
        for (const wanted of batch) wanted.reject(error)
      }
    }
  }

  /** Gives up the hold of a commit that did not happen. Never throws: a hold left behind is GC's to remove. */
  async drop(id: string): Promise<void> {
    try {
      await this.db.execute(sql`delete from quota_holds where id = ${id}::uuid`)
    } catch (error) {
      log.warn({ msg: 'a quota hold is left for GC', upload_id: id, error: String((error as Error)?.message ?? error) })
    }
  }

  private applies(tenantId: string, namespace: string): Promise<boolean> {
    const name = `${tenantId}/${namespace}`
    const now = performance.now()
    const known = this.known.get(name)
    if (known && now - known.readAt < this.trustMs) return known.applies
    // Bounded: the namespaces written to within the trust period, at most.
    if (this.known.size >= 10_000) for (const [other, entry] of this.known) if (now - entry.readAt >= this.trustMs) this.known.delete(other)
    const applies = this.read(tenantId, namespace)
    this.known.set(name, { applies, readAt: now })
    applies.catch(() => this.known.delete(name))
    return applies
  }

  private async read(tenantId: string, namespace: string): Promise<boolean> {
    const [row] = rowsOf<{ applies: boolean }>(
      await this.db.execute(sql`
        select exists (select 1 from namespace_settings s where s.tenant_id = ${tenantId} and s.namespace = ${namespace}
                         and (s.quota_bytes is not null or s.quota_objects is not null))
            or exists (select 1 from tenant_quotas q where q.tenant_id = ${tenantId}
                         and (q.quota_bytes is not null or q.quota_objects is not null)) as applies`),
    )
    return row!.applies
  }
}

/** Removes holds whose commit never came (its process died) once older than `ageSecs`; their room is then free again. */
export async function dropStaleQuotaHolds(db: Db, ageSecs: number): Promise<number> {
  return rowsOf(await db.execute(sql`delete from quota_holds where created_at < now() - make_interval(secs => ${ageSecs}) returning id`)).length
}

interface Wanted {
  id: string
  namespace: string
  key: string | null
  sizeBytes: number
  resolve(held: boolean): void
  reject(error: unknown): void
}
