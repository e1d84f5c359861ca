import { and, eq, sql } from 'drizzle-orm'
import type { AnyPgColumn } from 'drizzle-orm/pg-core'
import { rowsOf, type Db } from './db/client'
import { anyOf } from './db/any-of'
import { objects, statusIs, usageCounters, type StorageClass } from './db/schema'

/** What a tenant stores: logical bytes as clients uploaded them, physical bytes as blobs on disk. */

export interface UsageRow {
  namespace: string
  storageClass: StorageClass
  objects: number
  logicalBytes: number
  physicalBytes: number
}

export interface Usage {
  tenantId: string
  objects: number
  logicalBytes: number
  physicalBytes: number
  byNamespace: UsageRow[]
}

/**
 * The committed objects of a tenant, per namespace and storage class, from the
 * usage counters that every commit and release keeps (migrations/0008): a few
 * rows, however many objects. `namespaces` (a principal's allow-list) limits
 * what is counted: a restricted credential learns nothing about the namespaces
 * it may not use. Its total is deduplicated across its own namespaces only, which
 * the counters cannot tell past one namespace: then the blobs are counted anew.
 */
export async function tenantUsage(db: Db, tenantId: string, namespaces?: string[]): Promise<Usage> {
  if (namespaces?.length === 0) return { tenantId, objects: 0, logicalBytes: 0, physicalBytes: 0, byNamespace: [] }
  const rows = await usageQuery(db, tenantId, namespaces)
  // A namespace whose objects are all gone has no usage row, though it may still carry a blob the
  // tenant holds elsewhere: its share of the tenant's deduplicated bytes stays in the total.
  const byNamespace = rows.filter((row) => row.objects > 0).map(({ tenantPhysicalBytes: _, ...row }) => row)
  const physicalBytes =
    namespaces === undefined ? sum(rows, 'tenantPhysicalBytes') : namespaces.length === 1 ? sum(rows, 'physicalBytes') : await distinctBlobBytes(db, tenantId, namespaces)
  return { tenantId, objects: sum(rows, 'objects'), logicalBytes: sum(rows, 'logicalBytes'), physicalBytes, byNamespace }
}

/** The counter rows of a tenant summed per namespace and class. Exported so tests can EXPLAIN exactly what runs. */
export function usageQuery(db: Db, tenantId: string, namespaces?: string[]) {
  const total = (column: AnyPgColumn) => sql`sum(${column})`.mapWith(Number)
  return (
    db
      .select({
        namespace: usageCounters.namespace,
        storageClass: usageCounters.storageClass,
        objects: total(usageCounters.objects),
        logicalBytes: total(usageCounters.logicalBytes),
        physicalBytes: total(usageCounters.physicalBytes),
        tenantPhysicalBytes: total(usageCounters.tenantPhysicalBytes),
      })
      .from(usageCounters)
      .where(and(eq(usageCounters.tenantId, tenantId), namespaces === undefined ? undefined : anyOf(usageCounters.namespace, namespaces)))
      .groupBy(usageCounters.namespace, usageCounters.storageClass)
      // Byte order, the same on every server whatever its collation; the enum compared as text (cold before hot).
      .orderBy(sql`${usageCounters.namespace} collate "C"`, sql`${usageCounters.storageClass}::text collate "C"`)
  )
}

/** The bytes of the distinct blobs (per storage class) the committed objects of some namespaces reference. */
async function distinctBlobBytes(db: Db, tenantId: string, namespaces: string[]): Promise<number> {
  const blobs = db
    .selectDistinct({ storageClass: objects.storageClass, contentHash: objects.contentHash, size: objects.sizeBytes })
    .from(objects)
    .where(and(eq(objects.tenantId, tenantId), anyOf(objects.namespace, namespaces), statusIs(objects.status, 'COMMITTED')))
    .as('blobs')
  const [row] = await db.select({ bytes: sql`coalesce(sum(${blobs.size}), 0)`.mapWith(Number) }).from(blobs)
  return row?.bytes ?? 0
}

/** Folds the counter rows of closed database connections into one per namespace and class; answers how many were folded. */
export async function foldUsageCounters(db: Db): Promise<number> {
  const [row] = rowsOf<{ folded: number }>(await db.execute(sql`select fold_usage_counters() as folded`))
  return row?.folded ?? 0
}

function sum<K extends string>(rows: Record<K, number>[], field: K): number {
  return rows.reduce((total, row) => total + row[field], 0)
}
