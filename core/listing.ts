import { and, asc, desc, eq, gte, lt, lte, sql, type SQL } from 'drizzle-orm'
import type { Db } from './db/client'
import { objects, statusIs, type ObjectRow, type StorageClass } from './db/schema'
import { decodeCursor, encodeCursor, isDatabaseTime } from './cursor'
import { isUuid, type Timestamp } from './identifiers'

/** One page of a tenant's committed objects in a namespace, by keyset on (created_at, id). */

export interface ListQuery {
  tenantId: string
  namespace: string
  limit: number
  cursor: string | undefined
  order: 'asc' | 'desc'
  keyPrefix?: string
  keyContains?: string
  contentType?: string
  storageClass?: StorageClass
  minSize?: number
  maxSize?: number
  createdAfter?: Timestamp
  createdBefore?: Timestamp
  metadata?: Record<string, unknown>
}

export interface Page {
  objects: ObjectRow[]
  nextCursor: string | null
}

interface CursorPosition {
  createdAt: string
  id: string
}

const isOrder = (order: 'asc' | 'desc') => (value: unknown): value is 'asc' | 'desc' => value === order

/** A cursor carries the order it was issued for: following it in the other order would skip rows. */
function decodePosition(cursor: string, order: 'asc' | 'desc'): CursorPosition {
  const [createdAt, id] = decodeCursor(cursor, [isDatabaseTime, isUuid, isOrder(order)])
  return { createdAt, id }
}

// toISOString of years 1-9999 is a form PostgreSQL reads, and no object lies outside them.
const earliestMs = -62135596800000
const latestMs = 253402300799999
const isoTime = (ms: number) => new Date(Math.min(Math.max(ms, earliestMs), latestMs)).toISOString()

/** The page query; exported so tests can EXPLAIN exactly what runs. */
export function listingQuery(db: Db, query: ListQuery) {
  const conditions: (SQL | undefined)[] = [
    eq(objects.tenantId, query.tenantId),
    eq(objects.namespace, query.namespace),
    statusIs(objects.status, 'COMMITTED'),
  ]
  if (query.cursor !== undefined) {
    const after = decodePosition(query.cursor, query.order)
    const position = sql`(${objects.createdAt}, ${objects.id})`
    const bound = sql`(${after.createdAt}::timestamptz, ${after.id}::uuid)`
    conditions.push(query.order === 'desc' ? sql`${position} < ${bound}` : sql`${position} > ${bound}`)
  }
  // starts_with and strpos take the text literally: no LIKE wildcards to escape.
  if (query.keyPrefix !== undefined) conditions.push(sql`starts_with(${objects.key}, ${query.keyPrefix})`)
  if (query.keyContains !== undefined) conditions.push(sql`strpos(${objects.key}, ${query.keyContains}) > 0`)
  if (query.contentType !== undefined) conditions.push(sql`lower(${objects.contentType}) = lower(${query.contentType})`)
  if (query.storageClass !== undefined) conditions.push(eq(objects.storageClass, query.storageClass))
  if (query.minSize !== undefined) conditions.push(gte(objects.sizeBytes, query.minSize))
  if (query.maxSize !== undefined) conditions.push(lte(objects.sizeBytes, query.maxSize))
  // Clients see created_at to the millisecond, so bounds compare at that precision:
  // "after 07.123" must exclude an object stored at 07.123456, which shows as 07.123.
  if (query.createdAfter !== undefined) conditions.push(gte(objects.createdAt, isoTime(query.createdAfter.floorMs + 1)))
  if (query.createdBefore !== undefined) conditions.push(lt(objects.createdAt, isoTime(query.createdBefore.ceilMs)))
  if (query.metadata !== undefined) conditions.push(sql`${objects.metadata} @> ${JSON.stringify(query.metadata)}::jsonb`)

  const direction = query.order === 'desc' ? desc : asc
  return db
    .select()
    .from(objects)
    .where(and(...conditions))
    .orderBy(direction(objects.createdAt), direction(objects.id))
    .limit(query.limit + 1)
}

export async function listObjects(db: Db, query: ListQuery): Promise<Page> {
  const rows = await listingQuery(db, query)
  const page = rows.slice(0, query.limit)
  const last = page[page.length - 1]
  const nextCursor = rows.length > query.limit && last ? encodeCursor([last.createdAt, last.id, query.order]) : null
  return { objects: page, nextCursor }
}
