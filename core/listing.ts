import { and, asc, desc, eq, gte, lt, lte, sql, type SQL } from 'drizzle-orm'
import type { Db, Tx } from './db/client'
import { objects, statusIs, type ObjectRow, type StorageClass } from './db/schema'
import { isCurrent, notExpired } from './objects'
import { decodeCursor, encodeCursor, isDatabaseTime } from './cursor'
import { isUuid, type Timestamp } from './identifiers'

/** One page of a tenant's committed objects in a namespace, by keyset on (created_at, id). */

export interface ListQuery {
  tenantId: string
  namespace: string
  limit: number
  cursor: string | undefined
  /** relevance: best match of `text` first, newest first among equals. */
  order: 'asc' | 'desc' | 'relevance'
  keyPrefix?: string
  keyContains?: string
  contentType?: string
  storageClass?: StorageClass
  minSize?: number
  maxSize?: number
  createdAfter?: Timestamp
  createdBefore?: Timestamp
  metadata?: Record<string, unknown>
  /** Words that must all be words of the key or of a metadata string value. */
  text?: string
}

export interface Page {
  objects: ObjectRow[]
  nextCursor: string | null
}

interface CursorPosition {
  /** The text's rank, in relevance order only. */
  rank?: number
  createdAt: string
  id: string
}

const isOrder = (order: ListQuery['order']) => (value: unknown): value is ListQuery['order'] => value === order
const isRank = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value)

/** A cursor carries the order it was issued for: following it in another order would skip rows. */
function decodePosition(cursor: string, order: ListQuery['order']): CursorPosition {
  if (order === 'relevance') {
    const [rank, createdAt, id] = decodeCursor(cursor, [isRank, isDatabaseTime, isUuid, isOrder(order)])
    return { rank, createdAt, id }
  }
  const [createdAt, id] = decodeCursor(cursor, [isDatabaseTime, isUuid, isOrder(order)])
  return { createdAt, id }
}

/**
 * The least string above every string that starts with `prefix`, in code point
 * order (which is UTF-8's byte order, the keys' collation): its last character
 * that can grow, grown. Null when every character is the greatest there is.
 */
export function prefixUpperBound(prefix: string): string | null {
  const chars = Array.from(prefix)
  while (chars.length > 0) {
    const last = chars.pop()!.codePointAt(0)!
    if (last < 0x10ffff) return chars.join('') + String.fromCodePoint(last + 1 === 0xd800 ? 0xe000 : last + 1)
  }
  return null
}

/** `%` and `_` of a LIKE pattern taken literally (backslash is LIKE's escape). */
const likeLiteral = (text: string) => text.replace(/[\\%_]/g, '\\$&')

// toISOString of years 1-9999 is a form PostgreSQL reads, and no object lies outside them.
const earliestMs = -62135596800000
const latestMs = 253402300799999
const isoTime = (ms: number) => new Date(Math.min(Math.max(ms, earliestMs), latestMs)).toISOString()

/** The page query; exported so tests can EXPLAIN exactly what runs. */
export function listingQuery(db: Db | Tx, query: ListQuery) {
  const conditions: (SQL | undefined)[] = [
    eq(objects.tenantId, query.tenantId),
    eq(objects.namespace, query.namespace),
    statusIs(objects.status, 'COMMITTED'),
    isCurrent,
    notExpired,
  ]
  // The range lets the live-key index find the prefix; starts_with is the exact test.
  if (query.keyPrefix !== undefined) {
    const upper = prefixUpperBound(query.keyPrefix)
    conditions.push(sql`${objects.key} >= ${query.keyPrefix}`, upper === null ? undefined : sql`${objects.key} < ${upper}`, sql`starts_with(${objects.key}, ${query.keyPrefix})`)
  }
  // LIKE, unlike strpos, can use the trigram index.
  if (query.keyContains !== undefined) conditions.push(sql`${objects.key} like ${`%${likeLiteral(query.keyContains)}%`}`)
  if (query.contentType !== undefined) conditions.push(sql`lower(${objects.contentType}) = lower(${query.contentType})`)
  if (query.storageClass !== undefined) conditions.push(eq(objects.storageClass, query.storageClass))
  if (query.minSize !== undefined) conditions.push(gte(objects.sizeBytes, query.minSize))
  if (query.maxSize !== undefined) conditions.push(lte(objects.sizeBytes, query.maxSize))
  // Clients see created_at to the millisecond, so bounds compare at that precision:
  // "after 07.123" must exclude an object stored at 07.123456, which shows as 07.123.
  if (query.createdAfter !== undefined) conditions.push(gte(objects.createdAt, isoTime(query.createdAfter.floorMs + 1)))
  if (query.createdBefore !== undefined) conditions.push(lt(objects.createdAt, isoTime(query.createdBefore.ceilMs)))
  if (query.metadata !== undefined) conditions.push(sql`${objects.metadata} @> ${JSON.stringify(query.metadata)}::jsonb`)
  const words = sql`object_words(${objects.key}, ${objects.metadata})`
  if (query.text !== undefined) conditions.push(sql`${words} @@ object_query(${query.text})`)

  if (query.order === 'relevance') {
    const rank = sql<number>`ts_rank(${words}, object_query(${query.text ?? ''}))`
    if (query.cursor !== undefined) {
      const after = decodePosition(query.cursor, query.order)
      conditions.push(sql`(${rank}, ${objects.createdAt}, ${objects.id}) < (${after.rank}::real, ${after.createdAt}::timestamptz, ${after.id}::uuid)`)
    }
    return db
      .select({ object: objects, rank })
      .from(objects)
      .where(and(...conditions))
      .orderBy(desc(rank), desc(objects.createdAt), desc(objects.id))
      .limit(query.limit + 1)
  }
  if (query.cursor !== undefined) {
    const after = decodePosition(query.cursor, query.order)
    const position = sql`(${objects.createdAt}, ${objects.id})`
    const bound = sql`(${after.createdAt}::timestamptz, ${after.id}::uuid)`
    conditions.push(query.order === 'desc' ? sql`${position} < ${bound}` : sql`${position} > ${bound}`)
  }
  const direction = query.order === 'desc' ? desc : asc
  return db
    .select({ object: objects, rank: sql<null>`null` })
    .from(objects)
    .where(and(...conditions))
    .orderBy(direction(objects.createdAt), direction(objects.id))
    .limit(query.limit + 1)
}

const filtersOf = (query: ListQuery) =>
  [query.keyPrefix, query.keyContains, query.contentType, query.storageClass, query.minSize, query.maxSize, query.createdAfter, query.createdBefore, query.metadata, query.text]

/**
 * A page. A plain list reuses one generic plan; a search is planned for its
 * values each time, since the best index depends on them (a key prefix that
 * matches nothing, or a metadata filter that matches everything).
 */
export async function listObjects(db: Db, query: ListQuery): Promise<Page> {
  const rows = filtersOf(query).every((filter) => filter === undefined)
    ? await listingQuery(db, query)
    : await db.transaction(async (tx) => {
        await tx.execute(sql`set local plan_cache_mode = force_custom_plan`)
        return listingQuery(tx, query)
      })
  const page = rows.slice(0, query.limit)
  const last = page[page.length - 1]
  const position = (row: (typeof rows)[number]) =>
    query.order === 'relevance' ? [row.rank!, row.object.createdAt, row.object.id, query.order] : [row.object.createdAt, row.object.id, query.order]
  const nextCursor = rows.length > query.limit && last ? encodeCursor(position(last)) : null
  return { objects: page.map((row) => row.object), nextCursor }
}

export interface VersionsQuery {
  tenantId: string
  namespace: string
  key: string
  limit: number
  cursor: string | undefined
}

/** One page of a key's versions, newest first, the current one among them (objects_versions_idx). */
export async function listVersions(db: Db, query: VersionsQuery): Promise<Page> {
  const conditions: (SQL | undefined)[] = [
    eq(objects.tenantId, query.tenantId),
    eq(objects.namespace, query.namespace),
    eq(objects.key, query.key),
    statusIs(objects.status, 'COMMITTED'),
    notExpired,
  ]
  if (query.cursor !== undefined) {
    const after = decodePosition(query.cursor, 'desc')
    conditions.push(sql`(${objects.createdAt}, ${objects.id}) < (${after.createdAt}::timestamptz, ${after.id}::uuid)`)
  }
  const rows = await db.select().from(objects).where(and(...conditions)).orderBy(desc(objects.createdAt), desc(objects.id)).limit(query.limit + 1)
  const page = rows.slice(0, query.limit)
  const last = page[page.length - 1]
  return { objects: page, nextCursor: rows.length > query.limit && last ? encodeCursor([last.createdAt, last.id, 'desc']) : null }
}
