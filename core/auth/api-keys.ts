import { createHash, randomBytes } from 'node:crypto'
import { and, arrayContained, desc, eq, isNotNull, isNull, lt, or, sql } from 'drizzle-orm'
import { perDatabase, type Db } from '../db/client'
import { anyOf } from '../db/any-of'
import { BatchedTouches } from '../db/batched-touches'
import { apiKeys, type ApiKeyRow } from '../db/schema'
import { parseDbTime } from '../db/time'
import { ApiError } from '../errors'
import { secretsEqual } from '../admin-token'
import { decodeCursor, encodeCursor, isDatabaseTime } from '../cursor'
import { isUuid } from '../identifiers'
import type { Permission, Principal } from './principal'

/**
 * API keys look like `jsk_<id hex>_<secret>`: the id finds the row without a
 * scan, the 256-bit secret is checked against its stored SHA-256 in constant
 * time. A fast hash suffices because the secret is random, not a password.
 */

const keyPattern = /^jsk_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/

const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex')
const uuidOf = (hex: string) => `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`

export const looksLikeApiKey = (secret: string): boolean => secret.startsWith('jsk_')

export interface NewApiKey {
  name: string
  tenantId: string
  permissions: Permission[]
  namespaces: string[] | null
  expiresAt: string | null
  createdBy: string
}

export async function createApiKey(db: Db, input: NewApiKey): Promise<{ row: ApiKeyRow; key: string }> {
  const id = crypto.randomUUID()
  const secret = randomBytes(32).toString('base64url')
  const [row] = await db
    .insert(apiKeys)
    .values({ id, ...input, secretHash: hashSecret(secret) })
    .returning()
  return { row: row!, key: `jsk_${id.replaceAll('-', '')}_${secret}` }
}

// Every request with a key runs this lookup: prepared once, no SQL built per request.
const apiKeyById = perDatabase((db) => db.select().from(apiKeys).where(eq(apiKeys.id, sql.placeholder('id'))).prepare('api_key_by_id'))

/**
 * Key rows read in the last moment, per database: a client's requests reuse
 * its key, and looking it up each time would double the database work of a
 * small read. The secret, revocation and expiry are still checked on every
 * request; a revocation reaches this replica at once and others within
 * keyRowTtlMs. Unknown keys are never kept.
 */
export const keyRowTtlMs = 2000
const maxCachedKeys = 10_000
const recentKeyRows = perDatabase(() => new Map<string, { row: ApiKeyRow; readAt: number }>())

async function keyRow(db: Db, id: string): Promise<ApiKeyRow | undefined> {
  const cache = recentKeyRows(db)
  const cached = cache.get(id)
  if (cached && performance.now() - cached.readAt < keyRowTtlMs) return cached.row
  const [row] = await apiKeyById(db).execute({ id })
  if (!row) return undefined
  if (cache.size >= maxCachedKeys) cache.clear()
  cache.set(id, { row, readAt: performance.now() })
  return row
}

/** The principal of a presented key, or 401 for malformed, unknown, revoked or expired keys. */
export async function principalOfApiKey(db: Db, presented: string, lastUsed: LastUsedTracker): Promise<Principal> {
  const match = keyPattern.exec(presented)
  const unauthenticated = new ApiError('unauthenticated', 'The API key is not valid', { 'www-authenticate': 'Bearer error="invalid_token"' })
  if (!match) throw unauthenticated
  const row = await keyRow(db, uuidOf(match[1]!))
  if (!row || !secretsEqual(hashSecret(match[2]!), row.secretHash)) throw unauthenticated
  if (row.revokedAt !== null) throw unauthenticated
  if (row.expiresAt !== null && parseDbTime(row.expiresAt).getTime() <= Date.now()) throw unauthenticated
  lastUsed.touch(row.id)
  return keyPrincipal(row)
}

/** The principal an API key's row grants. */
export function keyPrincipal(row: Pick<ApiKeyRow, 'id' | 'tenantId' | 'permissions' | 'namespaces' | 'expiresAt'>): Principal {
  return {
    kind: 'api-key',
    id: `api-key:${row.id}`,
    tenantId: row.tenantId,
    permissions: new Set(row.permissions as Permission[]),
    namespaces: row.namespaces === null ? null : new Set(row.namespaces),
    expiresAt: row.expiresAt === null ? null : parseDbTime(row.expiresAt).getTime(),
  }
}

/**
 * The keys a manager may see and revoke: those of its tenant (null: every
 * tenant) that are limited to its namespaces (null: any key), so a key of
 * wider reach than the manager's own is as absent to it as another tenant's.
 */
export interface KeyScope {
  tenantId: string | null
  namespaces: string[] | null
}

const withinScope = (scope: KeyScope) =>
  and(
    scope.tenantId === null ? undefined : eq(apiKeys.tenantId, scope.tenantId),
    scope.namespaces === null ? undefined : and(isNotNull(apiKeys.namespaces), arrayContained(apiKeys.namespaces, scope.namespaces)),
  )

/** A live (not revoked) key within the scope. */
export async function findApiKey(db: Db, id: string, scope: KeyScope): Promise<ApiKeyRow> {
  const [row] = await db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt), withinScope(scope)))
  if (!row) throw new ApiError('not_found', 'No such API key')
  return row
}

export async function revokeApiKey(db: Db, id: string, scope: KeyScope): Promise<ApiKeyRow> {
  const [row] = await db
    .update(apiKeys)
    .set({ revokedAt: sql`now()` })
    .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt), withinScope(scope)))
    .returning()
  if (!row) throw new ApiError('not_found', 'No such API key')
  recentKeyRows(db).delete(row.id)
  return row
}

/** Newest first, keyset on (created_at, id). */
export async function listApiKeys(db: Db, scope: KeyScope, limit: number, cursor: string | undefined) {
  let position: { createdAt: string; id: string } | undefined
  if (cursor !== undefined) {
    const [createdAt, id] = decodeCursor(cursor, [isDatabaseTime, isUuid])
    position = { createdAt, id }
  }
  const rows = await db
    .select()
    .from(apiKeys)
    .where(
      and(
        isNull(apiKeys.revokedAt),
        withinScope(scope),
        position && or(lt(apiKeys.createdAt, position.createdAt), and(eq(apiKeys.createdAt, position.createdAt), lt(apiKeys.id, position.id))),
      ),
    )
    .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id))
    .limit(limit + 1)
  const page = rows.slice(0, limit)
  const last = page[page.length - 1]
  const nextCursor = rows.length > limit && last ? encodeCursor([last.createdAt, last.id]) : null
  return { rows: page, nextCursor }
}

/** Remembers when keys were used and writes it in one batch now and then, not once per request. */
export class LastUsedTracker extends BatchedTouches {
  constructor() {
    super((db, ids) => db.update(apiKeys).set({ lastUsedAt: sql`now()` }).where(anyOf(apiKeys.id, ids, 'uuid')))
  }
}
