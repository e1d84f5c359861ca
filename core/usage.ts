import { and, eq, sql } from 'drizzle-orm'
import type { Db } from './db/client'
import { anyOf } from './db/any-of'
import { objects, statusIs, type StorageClass } from './db/schema'

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
 * The committed objects of a tenant, summed per namespace and storage class.
 * `namespaces` (a principal's allow-list) limits what is counted: a restricted
 * credential learns nothing about the namespaces it may not use.
 */
export async function tenantUsage(db: Db, tenantId: string, namespaces?: string[]): Promise<Usage> {
  const rows = namespaces?.length === 0 ? [] : await usageQuery(db, tenantId, namespaces)
  const byNamespace = rows.map(({ tenantPhysicalBytes: _, ...row }) => row)
  return {
    tenantId,
    objects: sum(rows, 'objects'),
    logicalBytes: sum(rows, 'logicalBytes'),
    physicalBytes: sum(rows, 'tenantPhysicalBytes'),
    byNamespace,
  }
}

/**
 * One pass over the tenant's committed objects (the listing index's
 * tenant_id, namespace prefix), grouped first by blob within each namespace
 * and class, so each row counts a blob once. A blob the tenant holds in several
 * namespaces is charged to the tenant total through one of them only, picked
 * by a window over the blob, so the total is deduplicated across namespaces.
 * Exported so tests can EXPLAIN exactly what runs.
 */
export function usageQuery(db: Db, tenantId: string, namespaces?: string[]) {
  const perBlob = db
    .select({
      namespace: objects.namespace,
      storageClass: objects.storageClass,
      objects: sql<string>`count(*)`.as('objects'),
      logical: sql<string>`sum(${objects.sizeBytes})`.as('logical'),
      // Equal hashes mean equal bytes, so every reference has the blob's size.
      size: sql<string>`max(${objects.sizeBytes})`.as('size'),
      firstReference: sql<boolean>`row_number() over (partition by ${objects.storageClass}, ${objects.contentHash}) = 1`.as('first_reference'),
    })
    .from(objects)
    .where(
      and(
        eq(objects.tenantId, tenantId),
        statusIs(objects.status, 'COMMITTED'),
        namespaces === undefined ? undefined : anyOf(objects.namespace, namespaces),
      ),
    )
    .groupBy(objects.namespace, objects.storageClass, objects.contentHash)
    .as('per_blob')
  return db
    .select({
      namespace: perBlob.namespace,
      storageClass: perBlob.storageClass,
      objects: sql`sum(${perBlob.objects})`.mapWith(Number),
      logicalBytes: sql`sum(${perBlob.logical})`.mapWith(Number),
      physicalBytes: sql`sum(${perBlob.size})`.mapWith(Number),
      tenantPhysicalBytes: sql`coalesce(sum(${perBlob.size}) filter (where ${perBlob.firstReference}), 0)`.mapWith(Number),
    })
    .from(perBlob)
    .groupBy(perBlob.namespace, perBlob.storageClass)
    // Byte order, the same on every server whatever its collation; the enum compared as text (cold before hot).
    .orderBy(sql`${perBlob.namespace} collate "C"`, sql`${perBlob.storageClass}::text collate "C"`)
}

function sum<K extends string>(rows: Record<K, number>[], field: K): number {
  return rows.reduce((total, row) => total + row[field], 0)
}
