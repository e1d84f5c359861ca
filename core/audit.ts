import { and, desc, eq, lt } from 'drizzle-orm'
import type { Db, Tx } from './db/client'
import { auditEvents } from './db/schema'
import { parseDbTime } from './db/time'
import { decodeCursor, encodeCursor, isPositiveInteger } from './cursor'

/** The audit trail: key creation and revocation, deletes and admin actions. */

export interface AuditEntry {
  actor: string
  tenantId: string | null
  action: 'api_key.create' | 'api_key.revoke' | 'object.delete' | 'admin.gc' | 'admin.scrub' | 'admin.lifecycle' | 'namespace.settings' | 'tenant.quota'
  target: string | null
  requestId: string | null
}

export async function recordAudit(db: Db | Tx, entry: AuditEntry): Promise<void> {
  await db.insert(auditEvents).values(entry)
}

/** Newest first, keyset on the event id. */
export async function listAudit(db: Db, options: { limit: number; cursor?: string; tenantId?: string }) {
  const [before] = options.cursor === undefined ? [] : decodeCursor(options.cursor, [isPositiveInteger])
  const rows = await db
    .select()
    .from(auditEvents)
    .where(and(before === undefined ? undefined : lt(auditEvents.id, before), options.tenantId === undefined ? undefined : eq(auditEvents.tenantId, options.tenantId)))
    .orderBy(desc(auditEvents.id))
    .limit(options.limit + 1)
  const page = rows.slice(0, options.limit)
  const last = page[page.length - 1]
  return {
    events: page.map((row) => ({
      id: row.id,
      at: parseDbTime(row.at).toISOString(),
      actor: row.actor,
      tenant_id: row.tenantId,
      action: row.action,
      target: row.target,
      request_id: row.requestId,
    })),
    next_cursor: rows.length > options.limit && last ? encodeCursor([last.id]) : null,
  }
}
