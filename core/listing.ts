import { and, asc, desc, eq, gt, gte, lt, lte, sql, type SQL } from 'drizzle-orm'
import type { Db } from './db/client'
import { objects, type ObjectRow, type StorageClass } from './db/schema'
import { parseDbTime } from './db/time'
import { ApiError } from './errors'

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
  createdAfter?: string
  createdBefore?: string
  metadata?: Record<string, unknown>
}

export interface Page {
  objects: ObjectRow[]
  nextCursor: string | null
}

interface CursorPosition {
  createdAt: string
  id: string
  order: 'asc' | 'desc'
}

function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.id, position.order])).toString('base64url')
}

function decodeCursor(cursor: string, order: 'asc' | 'desc'): CursorPosition {
  try {
    const [createdAt, id, cursorOrder] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (
      typeof createdAt === 'string' && !Number.isNaN(parseDbTime(createdAt).getTime()) &&
      typeof id === 'string' && /^[0-9a-f-]{36}$/.test(id) &&
      cursorOrder === order
    ) {
      return { createdAt, id, order }
    }
  } catch {
    // fall through: any undecodable cursor is the client's mistake
  }
  throw new ApiError('invalid_cursor', 'cursor is not one this service issued for this order')
}

export async function listObjects(db: Db, query: ListQuery): Promise<Page> {
  const conditions: (SQL | undefined)[] = [
    eq(objects.tenantId, query.tenantId),
    eq(objects.namespace, query.namespace),
    eq(objects.status, 'COMMITTED'),
  ]
  if (query.cursor !== undefined) {
    const after = decodeCursor(query.cursor, query.order)
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
  if (query.createdAfter !== undefined) conditions.push(gt(objects.createdAt, query.createdAfter))
  if (query.createdBefore !== undefined) conditions.push(lt(objects.createdAt, query.createdBefore))
  if (query.metadata !== undefined) conditions.push(sql`${objects.metadata} @> ${JSON.stringify(query.metadata)}::jsonb`)

  const direction = query.order === 'desc' ? desc : asc
  const rows = await db
    .select()
    .from(objects)
    .where(and(...conditions))
    .orderBy(direction(objects.createdAt), direction(objects.id))
    .limit(query.limit + 1)
  const page = rows.slice(0, query.limit)
  const last = page[page.length - 1]
  const nextCursor = rows.length > query.limit && last ? encodeCursor({ createdAt: last.createdAt, id: last.id, order: query.order }) : null
  return { objects: page, nextCursor }
}
