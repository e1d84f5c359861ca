import { and, desc, eq, getTableColumns, gt, isNull, lt, or, sql } from 'drizzle-orm'
import { barrier } from '../barriers'
import { anyOf } from '../db/any-of'
import type { Db, Tx } from '../db/client'
import { objects, statusIs, uploadSessions, type ObjectRow, type StorageClass, type UploadSessionRow } from '../db/schema'
import { decodeCursor, encodeCursor, isDatabaseTime } from '../cursor'
import { ApiError } from '../errors'
import { isUuid } from '../identifiers'
import { log } from '../log'
import { commitSealed, isCurrent, notExpired, quotaExceeded, quotaLimit, type ObjectStore, type UploadBody, type UploadRequest, type UploadResult } from '../objects'
import type { BlobStores, SessionPosition } from '../store/blob-store'
import type { SessionHashes } from './hashes'

/**
 * Resumable upload sessions: bytes arrive in any number of requests and become
 * an object only when completed. Every change of a session (an append, its
 * completion, a cancel, its expiry) holds the session's row lock while it
 * works on the bytes, taken without waiting: a second request at the same
 * time is refused, never queued, and a process that dies mid-request loses
 * the lock with its connection. An append is the session's only once the row
 * records it, after the bytes are durable, so an unacknowledged one is as if
 * it never happened (the store drops its bytes on the next append).
 */

export interface Sessions {
  store: ObjectStore
  hashes: SessionHashes
  ttlSecs: number
}

/** A session is placed and described as an upload is; its key policy is X-Overwrite's, and its length may be known up front. */
export type NewSession = Pick<UploadRequest, 'namespace' | 'tenantId' | 'key' | 'storageClass' | 'contentType' | 'metadata' | 'expectedHex' | 'expiresAt'> & {
  overwrite: boolean
  length: number | null
}

/** Which sessions a principal reaches: its tenant (null: an admin naming none reaches any by id) and namespace allow-list. */
export interface SessionScope {
  tenantId: string | null
  namespaces?: string[]
}

export async function createSession(sessions: Sessions, session: NewSession): Promise<UploadSessionRow> {
  const { store, ttlSecs } = sessions
  if (session.length !== null && session.length > store.maxUploadBytes) {
    throw new ApiError('payload_too_large', `The object exceeds the limit of ${store.maxUploadBytes} bytes`)
  }
  await quotaLimit(store, { ...session, declaredLength: session.length })
  if (session.key !== null && !session.overwrite && (await keyHeld(store.db, session))) {
    throw new ApiError('key_exists', 'An object with this key already exists; send X-Overwrite: true to replace it')
  }
  const { expectedHex, expiresAt, ...placement } = session
  const [row] = await store.db
    .insert(uploadSessions)
    .values({ id: crypto.randomUUID(), ...placement, expectedHash: expectedHex === undefined ? null : `sha256:${expectedHex}`, objectExpiresAt: expiresAt, expiresAt: sql`now() + make_interval(secs => ${ttlSecs})` })
    .returning()
  return row!
}

async function keyHeld(db: Db, session: NewSession): Promise<boolean> {
  const [held] = await db
    .select({ id: objects.id })
    .from(objects)
    .where(and(eq(objects.tenantId, session.tenantId), eq(objects.namespace, session.namespace), eq(objects.key, session.key!), statusIs(objects.status, 'COMMITTED'), isCurrent, notExpired))
    .limit(1)
  return held !== undefined
}

/** A live (not expired) session the scope reaches, open or completed; 404 otherwise, another tenant's alike. Its tail's bytes are left out. */
export async function findSession(db: Db | Tx, id: string, scope: SessionScope): Promise<Omit<UploadSessionRow, 'tail'>> {
  const { tail: _tail, ...columns } = getTableColumns(uploadSessions)
  const [row] = await db.select(columns).from(uploadSessions).where(reachable(id, scope))
  if (!row) throw new ApiError('not_found', 'No such upload session')
  return row
}

function reachable(id: string, scope: SessionScope) {
  return and(
    eq(uploadSessions.id, id),
    gt(uploadSessions.expiresAt, sql`now()`),
    scope.tenantId === null ? undefined : eq(uploadSessions.tenantId, scope.tenantId),
    scope.namespaces === undefined ? undefined : anyOf(uploadSessions.namespace, scope.namespaces, 'text'),
  )
}

const lockNotAvailable = '55P03'

/** Locks a session for a change; a request holding it already → 409 with the offset as it stands. */
async function lockSession(tx: Tx, id: string, scope: SessionScope): Promise<UploadSessionRow> {
  let row: UploadSessionRow | undefined
  try {
    // A savepoint of its own: the transaction goes on after a refused lock, to read the offset.
    ;[row] = await tx.transaction((savepoint) => savepoint.select().from(uploadSessions).where(reachable(id, scope)).for('update', { noWait: true }))
  } catch (error) {
    if (sqlStateOf(error) !== lockNotAvailable) throw error
    const current = await findSession(tx, id, scope)
    throw new ApiError('offset_mismatch', 'Another request is changing this upload session; retry from its offset', { 'upload-offset': String(current.offset) })
  }
  if (!row) throw new ApiError('not_found', 'No such upload session')
  return row
}

const sqlStateOf = (error: unknown): string | undefined => (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code

const positionOf = (row: UploadSessionRow): SessionPosition => ({ offset: row.offset, state: row.storeState, tail: row.tail })

export interface Chunk {
  offset: number
  declaredLength: number | null
  expectedHex: string | undefined
}

/**
 * Appends a request's body at the session's offset and answers the new offset
 * once the bytes are durable and recorded. A body that breaks off keeps what
 * arrived of it, unless it came with a digest of its own (which then cannot be
 * checked): then it keeps nothing.
 */
export async function appendToSession(sessions: Sessions, id: string, scope: SessionScope, chunk: Chunk, body: UploadBody): Promise<number> {
  const { store, hashes, ttlSecs } = sessions
  const result = await store.db.transaction(async (tx) => {
    const row = await lockSession(tx, id, scope)
    if (row.completed !== null) throw new ApiError('offset_mismatch', 'This upload session is completed', { 'upload-offset': String(row.offset) })
    if (chunk.offset !== row.offset) throw new ApiError('offset_mismatch', `The session is at offset ${row.offset}, not ${chunk.offset}`, { 'upload-offset': String(row.offset) })
    // A quota counts committed objects only: the session's bytes so far are within what it leaves.
    const quota = await quotaLimit(store, { ...row, declaredLength: row.length }).catch((error) => {
      throw withOffset(error, row)
    })
    const limit = Math.min(row.length ?? store.maxUploadBytes, quota.bytes)
    const overLimit = () => (quota.byQuota && quota.bytes < (row.length ?? store.maxUploadBytes) ? withOffset(quotaExceeded(), row) : tooLong(row, store.maxUploadBytes))
    const room = Math.max(0, limit - row.offset)
    if (chunk.declaredLength !== null && chunk.declaredLength > room) throw overLimit()
    const hasher = hashes.resume(id, row.offset)
    const chunkHasher = chunk.expectedHex === undefined ? null : new Bun.CryptoHasher('sha256')
    const reader = (body.body ?? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() })).getReader()
    let appended
    try {
      appended = await store.blobs[row.storageClass].sessions.append(id, positionOf(row), { chunks: [], sizeBytes: 0, done: false }, reader, room, (bytes) => {
        hasher?.update(bytes)
        chunkHasher?.update(bytes)
      })
    } catch (error) {
      throw error instanceof ApiError && error.code === 'payload_too_large' ? overLimit() : error
    } finally {
      reader.releaseLock()
    }
    if (appended.broke && chunkHasher) throw appended.broke
    if (chunkHasher && chunk.expectedHex !== chunkHasher.digest('hex')) {
      throw new ApiError('digest_mismatch', "The chunk's SHA-256 differs from the declared one; the session's offset is unchanged", { 'upload-offset': String(row.offset) })
    }
    const { at } = appended
    await tx
      .update(uploadSessions)
      .set({ offset: at.offset, storeState: at.state, tail: at.tail, updatedAt: sql`now()`, expiresAt: sql`now() + make_interval(secs => ${ttlSecs})` })
      .where(eq(uploadSessions.id, id))
    return { offset: at.offset, hasher, broke: appended.broke }
  })
  if (result.hasher) hashes.record(id, result.offset, result.hasher)
  // The client is gone; what arrived before it went is kept.
  if (result.broke) throw result.broke
  return result.offset
}

/** An append's refusal, with the offset the session stays at. */
function withOffset(error: unknown, row: UploadSessionRow): unknown {
  return error instanceof ApiError ? new ApiError(error.code, `${error.message}; the session's offset is unchanged`, { ...error.headers, 'upload-offset': String(row.offset) }) : error
}

function tooLong(row: UploadSessionRow, maxUploadBytes: number): ApiError {
  return row.length === null
    ? new ApiError('payload_too_large', `The object would exceed the limit of ${maxUploadBytes} bytes; the session's offset is unchanged`, { 'upload-offset': String(row.offset) })
    : new ApiError('payload_too_large', `The session's declared length is ${row.length} bytes; the offset is unchanged`, { 'upload-offset': String(row.offset) })
}

export interface Completion {
  object: ObjectRow
  /** `created`, `replaced` (a key's previous object), or `repeated`: an earlier completion's answer. */
  outcome: 'created' | 'replaced' | 'repeated'
}

/**
 * Completes a session: checks its length and digest, seals its bytes, and
 * commits them as a new object with the upload's key policy. The digest was
 * carried as the bytes arrived; a process that did not carry it reads the
 * sealed bytes once. A wrong length or digest leaves the session open.
 */
export async function completeSession(sessions: Sessions, id: string, scope: SessionScope, expectedHex: string | undefined): Promise<Completion> {
  const { store, hashes } = sessions
  const sealed = await store.db.transaction(async (tx) => {
    const row = await lockSession(tx, id, scope)
    if (row.completed !== null) return { row, repeated: true as const }
    if (row.length !== null && row.offset !== row.length) throw new ApiError('bad_request', `The session has ${row.offset} of its ${row.length} declared bytes`)
    const expected = expectedDigest(row, expectedHex)
    // Checked before sealing when it can be: a bucket's sealed session takes no more bytes.
    const carried = hashes.digest(id, row.offset)
    if (carried !== null) checkDigest(carried, expected)
    const at = await store.blobs[row.storageClass].sessions.seal(id, positionOf(row))
    await tx.update(uploadSessions).set({ storeState: at.state, tail: at.tail }).where(eq(uploadSessions.id, id))
    return { row, at, expected, carried, repeated: false as const }
  })
  if (sealed.repeated) return { object: completedObject(sealed.row), outcome: 'repeated' }
  const { row, at, expected } = sealed
  await barrier('complete:sealed')
  const blobs = store.blobs[row.storageClass]
  const hex = sealed.carried ?? (await hashStream(blobs.sessions.readSealed(id, at)))
  checkDigest(hex, expected)
  const result = await retryingDeadlocks(() =>
    store.db.transaction(async (tx): Promise<Completion> => {
      const again = await lockSession(tx, id, scope)
      if (again.completed !== null) return { object: completedObject(again), outcome: 'repeated' }
      if (again.offset !== row.offset) throw new ApiError('offset_mismatch', 'Bytes were appended while the session was completing; complete it again', { 'upload-offset': String(again.offset) })
      // Sealed again under this lock: a request that appended since the first seal and failed may have left bytes past the offset.
      await blobs.sessions.seal(id, positionOf(again))
      const committed: UploadResult = await commitSealed(tx, store, crypto.randomUUID(), requestOf(row), { hex, sizeBytes: row.offset }, id)
      await tx.update(uploadSessions).set({ completed: committed.object as unknown as Record<string, unknown>, tail: null, updatedAt: sql`now()` }).where(eq(uploadSessions.id, id))
      return { object: committed.object, outcome: committed.replaced ? 'replaced' : 'created' }
    }),
  )
  if (result.outcome !== 'repeated') {
    hashes.forget(id)
    // Moved into place by the commit, or not wanted (the blob was there); what stays is the leftover sweep's.
    await blobs.discard(id).catch((error) => log.warn({ msg: "a completed session's staged bytes are left for the leftover sweep", session_id: id, error: String((error as Error)?.message ?? error) }))
  }
  return result
}

function expectedDigest(row: UploadSessionRow, given: string | undefined): string | undefined {
  const declared = row.expectedHash?.replace(/^sha256:/, '')
  if (given !== undefined && declared !== undefined && given !== declared) {
    throw new ApiError('bad_request', `The digest given (${given}) differs from the one the session was created with (${declared})`)
  }
  return given ?? declared
}

function checkDigest(hex: string, expected: string | undefined): void {
  if (expected !== undefined && hex !== expected) {
    throw new ApiError('digest_mismatch', `The session's bytes hash to ${hex}, not the declared ${expected}; the session stays open`)
  }
}

const completedObject = (row: UploadSessionRow): ObjectRow => row.completed as unknown as ObjectRow

function requestOf(row: UploadSessionRow): UploadRequest {
  return {
    namespace: row.namespace,
    tenantId: row.tenantId,
    key: row.key,
    storageClass: row.storageClass,
    contentType: row.contentType,
    metadata: row.metadata,
    declaredLength: null,
    expectedHex: undefined,
    onExisting: row.overwrite ? { kind: 'replace' } : { kind: 'reject' },
    expiresAt: row.objectExpiresAt,
  }
}

async function hashStream(stream: ReadableStream<Uint8Array>): Promise<string> {
  const hasher = new Bun.CryptoHasher('sha256')
  for await (const chunk of stream) hasher.update(chunk)
  return hasher.digest('hex')
}

const retryableSqlStates = new Set(['40P01', '40001'])

/** Two commits replacing each other's keys may deadlock; PostgreSQL detects it before any bytes move, so the loser runs again. */
async function retryingDeadlocks<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run()
    } catch (error) {
      const code = sqlStateOf(error)
      if (attempt >= 3 || !code || !retryableSqlStates.has(code)) throw error
    }
  }
}

/** Cancels a session: its bytes removed and its row gone (a completed one's record only: its object stays). */
export async function cancelSession(sessions: Sessions, id: string, scope: SessionScope): Promise<void> {
  const { store, hashes } = sessions
  await store.db.transaction(async (tx) => {
    const row = await lockSession(tx, id, scope)
    if (row.completed === null) await store.blobs[row.storageClass].sessions.remove(id, positionOf(row))
    await tx.delete(uploadSessions).where(eq(uploadSessions.id, id))
  })
  hashes.forget(id)
}

/** One page of a tenant's open sessions in a namespace, newest first. */
export async function listSessions(db: Db, tenantId: string, namespace: string, limit: number, cursor: string | undefined) {
  let position: { createdAt: string; id: string } | undefined
  if (cursor !== undefined) {
    const [createdAt, id] = decodeCursor(cursor, [isDatabaseTime, isUuid])
    position = { createdAt, id }
  }
  const { tail: _tail, ...columns } = getTableColumns(uploadSessions)
  const rows = await db
    .select(columns)
    .from(uploadSessions)
    .where(
      and(
        eq(uploadSessions.tenantId, tenantId),
        eq(uploadSessions.namespace, namespace),
        isNull(uploadSessions.completed),
        gt(uploadSessions.expiresAt, sql`now()`),
        position && or(lt(uploadSessions.createdAt, position.createdAt), and(eq(uploadSessions.createdAt, position.createdAt), lt(uploadSessions.id, position.id))),
      ),
    )
    .orderBy(desc(uploadSessions.createdAt), desc(uploadSessions.id))
    .limit(limit + 1)
  const page = rows.slice(0, limit)
  const last = page[page.length - 1]
  return { rows: page, nextCursor: rows.length > limit && last ? encodeCursor([last.createdAt, last.id]) : null }
}

/**
 * Removes sessions idle past their expiry, batch by batch: an open one's bytes
 * first, then its row. A session a request holds is passed over (its request
 * renews it); one whose bytes cannot be removed now stays for a later pass.
 * Returns how many went.
 */
export async function expireSessions(db: Db, stores: BlobStores, batchSize: number): Promise<number> {
  let expired = 0
  const passedOver: string[] = []
  for (;;) {
    const batch = await db.transaction(async (tx) => {
      const rows = await tx
        .select()
        .from(uploadSessions)
        .where(and(sql`${uploadSessions.expiresAt} <= now()`, passedOver.length > 0 ? sql`not (${anyOf(uploadSessions.id, passedOver, 'uuid')})` : undefined))
        .orderBy(uploadSessions.expiresAt)
        .limit(batchSize)
        .for('update', { skipLocked: true })
      const removed: string[] = []
      for (const row of rows) {
        try {
          if (row.completed === null) await stores[row.storageClass].sessions.remove(row.id, positionOf(row))
          removed.push(row.id)
        } catch (error) {
          passedOver.push(row.id)
          log.warn({ msg: "an expired session's bytes could not be removed; it is left for a later pass", session_id: row.id, error: String((error as Error)?.message ?? error) })
        }
      }
      if (removed.length > 0) await tx.delete(uploadSessions).where(anyOf(uploadSessions.id, removed, 'uuid'))
      return { claimed: rows.length, removed: removed.length }
    })
    expired += batch.removed
    if (batch.claimed < batchSize) return expired
  }
}

/** How many sessions of a class are open (not completed, not expired), for moving the class elsewhere. */
export async function openSessionCount(db: Db, storageClass: StorageClass): Promise<number> {
  const [row] = await db
    .select({ count: sql<number>`count(*)::int` })
    .from(uploadSessions)
    .where(and(eq(uploadSessions.storageClass, storageClass), isNull(uploadSessions.completed), gt(uploadSessions.expiresAt, sql`now()`)))
  return row!.count
}

/** Which of these upload ids are sessions still alive (their staged bytes are no leftovers). */
export async function liveSessionIds(db: Db, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set()
  const rows = await db.select({ id: uploadSessions.id }).from(uploadSessions).where(anyOf(uploadSessions.id, ids, 'uuid'))
  return new Set(rows.map((row) => row.id))
}
