import { and, eq, sql } from 'drizzle-orm'
import { perDatabase, rowsOf, type Db, type Tx } from './db/client'
import { auditEvents, blobs, namespaceSettings, objects, statusIs, type ObjectRow, type StorageClass } from './db/schema'
import { barrier } from './barriers'
import { ApiError } from './errors'
import { log } from './log'
import type { BlobStore, BlobStores } from './store/blob-store'
import { collectBytes, readHead, readWhole, type BodyHead, type WrittenFile } from './store/writer'
import { hexOf } from './store/paths'
import type { QuotaHolds } from './lifecycle/quota-holds'
import { quotaRoom } from './lifecycle/settings'

/**
 * The object lifecycle: reserve → write → commit, replace, delete. This is the
 * only module that changes an object's status or a blob's reference count.
 */

export interface ObjectStore {
  db: Db
  blobs: BlobStores
  maxUploadBytes: number
  /** Bodies up to this size are kept in the blob row instead of a file (0: never). */
  inlineMaxBytes: number
  quotaHolds: QuotaHolds
}

export interface UploadRequest {
  namespace: string
  tenantId: string
  key: string | null
  storageClass: StorageClass
  contentType: string
  metadata: Record<string, unknown>
  declaredLength: number | null
  expectedHex: string | undefined
  /** What to do when the key is already held. */
  onExisting: KeyPolicy
  /** When the object expires (an ISO instant); null: the namespace's default_expires_in, if any. */
  expiresAt: string | null
}

export type KeyPolicy =
  | { kind: 'reject' } // POST without overwrite: 409
  | { kind: 'replace' } // POST with overwrite, PUT without preconditions
  | { kind: 'create-only' } // PUT If-None-Match: *
  | { kind: 'replace-if'; etags: string[] | '*' } // PUT If-Match

export interface UploadResult {
  object: ObjectRow
  replaced: boolean
}

/**
 * Stores a streamed body as a new object; on any failure nothing of it remains
 * visible or on disk. A small body is read whole and committed with its bytes
 * in one statement; a larger one is reserved, streamed to a temp file, synced
 * and then committed.
 */
export async function uploadObject(store: ObjectStore, request: UploadRequest, body: UploadBody): Promise<UploadResult> {
  if (request.declaredLength !== null && request.declaredLength > store.maxUploadBytes) {
    throw new ApiError('payload_too_large', `The object exceeds the limit of ${store.maxUploadBytes} bytes`)
  }
  const inlineLimit = Math.min(store.inlineMaxBytes, store.maxUploadBytes)
  // A body declared small is read whole at once, with none of a stream's per-chunk work.
  if (inlineLimit > 0 && request.declaredLength !== null && request.declaredLength <= inlineLimit) {
    return commitSmall(store, request, collectBytes(await readWhole(body)))
  }
  // A body that may be large is refused before it is stored where a quota has no room for it.
  const limit = await quotaLimit(store, request)
  const reader = (body.body ?? emptyStream()).getReader()
  try {
    const head = inlineLimit > 0 ? await readHead(reader, inlineLimit) : { chunks: [], sizeBytes: 0, done: false }
    if (head.done) return await commitSmall(store, request, collectBytes(head.chunks.length === 1 ? head.chunks[0]! : Buffer.concat(head.chunks)))
    return await uploadFile({ ...store, maxUploadBytes: limit.bytes }, request, head, reader).catch((error) => {
      throw limit.byQuota && error instanceof ApiError && error.code === 'payload_too_large' ? quotaExceeded() : error
    })
  } finally {
    reader.releaseLock()
  }
}

export const quotaExceeded = () => new ApiError('quota_exceeded', 'The upload would exceed a quota of its namespace or tenant')

/**
 * The most bytes an upload may bring, and whether a quota sets it: refused at
 * once when the declared length or one more object does not fit, and at the
 * crossing byte otherwise. The commit checks the quotas again, exactly.
 */
export async function quotaLimit(store: ObjectStore, request: Pick<UploadRequest, 'tenantId' | 'namespace' | 'key' | 'declaredLength'>): Promise<{ bytes: number; byQuota: boolean }> {
  const room = await quotaRoom(store.db, request.tenantId, request.namespace, request.key)
  if (room.objects === 0 || (room.bytes !== null && request.declaredLength !== null && request.declaredLength > room.bytes)) throw quotaExceeded()
  return room.bytes !== null && room.bytes < store.maxUploadBytes ? { bytes: room.bytes, byQuota: true } : { bytes: store.maxUploadBytes, byQuota: false }
}

/** What an upload reads its bytes from: the request itself, never a framework's parsed copy. */
export type UploadBody = Pick<Request, 'body' | 'bytes'>

async function commitSmall(store: ObjectStore, request: UploadRequest, small: WrittenFile & { bytes: Uint8Array }): Promise<UploadResult> {
  checkReceived(request, small)
  return commitUpload(store, crypto.randomUUID(), request, small, { inline: small.bytes })
}

async function uploadFile(store: ObjectStore, request: UploadRequest, head: BodyHead, reader: ReadableStreamDefaultReader<Uint8Array>): Promise<UploadResult> {
  const id = crypto.randomUUID()
  const blobs = store.blobs[request.storageClass]
  await reserveUpload(store.db, id, request)
  try {
    const written = await blobs.stage(id, head, reader, store.maxUploadBytes)
    try {
      checkReceived(request, written)
      return await commitUpload(store, id, request, written, { staged: blobs })
    } finally {
      // Placed by the commit, or not wanted: a dedup hit, or a failure. What stays is a leftover for GC's sweep, never the client's error.
      await blobs.discard(id).catch((error) => log.warn({ msg: "an upload's staged bytes are left for the leftover sweep", upload_id: id, error: String((error as Error)?.message ?? error) }))
    }
  } catch (error) {
    await abandonUpload(store.db, id)
    throw error
  }
}

function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (controller) => controller.close() })
}

function checkReceived(request: UploadRequest, written: WrittenFile): void {
  if (request.declaredLength !== null && written.sizeBytes !== request.declaredLength) {
    throw new ApiError('bad_request', `The body ended after ${written.sizeBytes} of ${request.declaredLength} declared bytes`)
  }
  if (request.expectedHex !== undefined && request.expectedHex !== written.hex) {
    throw new ApiError('digest_mismatch', `The body's SHA-256 is ${written.hex}, not the declared ${request.expectedHex}`)
  }
}

function uploadRow(id: string, request: UploadRequest) {
  const { namespace, tenantId, key, storageClass, contentType, metadata } = request
  return { id, namespace, tenantId, key, storageClass, contentType, metadata }
}

async function reserveUpload(db: Db | Tx, id: string, request: UploadRequest): Promise<void> {
  await db.insert(objects).values({ ...uploadRow(id, request), status: 'WRITING' })
}

/**
 * Removes a failed upload's reservation. It never throws: the client is owed the
 * reason the upload failed, and a reservation left behind is the stuck-upload
 * reaper's to remove.
 */
async function abandonUpload(db: Db, id: string): Promise<void> {
  try {
    await db.delete(objects).where(and(eq(objects.id, id), statusIs(objects.status, 'WRITING')))
  } catch (error) {
    log.warn({ msg: "a failed upload's reservation is left for the stuck-upload reaper", upload_id: id, error: String((error as Error)?.message ?? error) })
  }
}

const retryableSqlStates = new Set(['40P01', '40001'])

/** Where a verified body is: staged durably in its class's store (its upload reserved), the small body itself, or a blob the class holds already (a copy). */
type Bytes = { staged: BlobStore } | { inline: Uint8Array } | { existing: true }

/**
 * Commits verified bytes with commit_object (migrations/0006): one statement,
 * so a small body's commit is one round trip and one WAL flush; a file's runs
 * in a transaction that renames the temp file into place before COMMIT, while
 * the blob row is locked, so no garbage collection can remove the file between
 * the rename and the commit.
 */
async function commitUpload(store: ObjectStore, id: string, request: UploadRequest, written: WrittenFile, bytes: Bytes): Promise<UploadResult> {
  const held = await store.quotaHolds.take(id, request.tenantId, request.namespace, request.key, written.sizeBytes)
  try {
    if (held) await barrier('commit:quota-held')
    return await commitOnce(store, id, request, written, bytes)
  } catch (error) {
    if (held) await store.quotaHolds.drop(id)
    throw error
  }
}

async function commitOnce(store: ObjectStore, id: string, request: UploadRequest, written: WrittenFile, bytes: Bytes): Promise<UploadResult> {
  // A deadlock between two replacing commits is detected by PostgreSQL before any
  // file is moved (files move last), so the commit can simply run again.
  for (let attempt = 1; ; attempt++) {
    try {
      if ('inline' in bytes) return await commitStatement(store.db, id, request, written, bytes.inline)
      if ('existing' in bytes) return await commitStatement(store.db, id, request, written, null, true)
      return await store.db.transaction(async (tx) => {
        const committed = await commitStatement(tx, id, request, written, null)
        await barrier('commit:blobs-locked')
        if (!committed.keepsOwnBytes) await bytes.staged.place(id, written.hex)
        return committed
      })
    } catch (error) {
      // commit_object's refusals (a held key, a failed precondition) become API errors in toApiError.
      const code = (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code
      if (attempt >= 3 || !code || !retryableSqlStates.has(code) || ('staged' in bytes && !(await bytes.staged.isStaged(id)))) throw error
    }
  }
}

/**
 * Commits a completed session's sealed bytes (staged under the session's id)
 * as a new object, in the caller's transaction, which holds the session's row:
 * placed while the blob row is locked, as an upload's file is.
 */
export async function commitSealed(tx: Tx, store: ObjectStore, id: string, request: UploadRequest, written: WrittenFile, sessionId: string): Promise<UploadResult> {
  // Reserved and committed in one transaction: no other sees the reservation.
  await reserveUpload(tx, id, request)
  const committed = await commitStatement(tx, id, request, written, null)
  if (!committed.keepsOwnBytes) await store.blobs[request.storageClass].place(sessionId, written.hex)
  return { object: committed.object, replaced: committed.replaced }
}

/** The key policy as commit_object takes it: its name, and the entity tags If-Match allows (null: any). */
function policyArguments(policy: KeyPolicy): { name: string; etags: string[] | null } {
  return { name: policy.kind, etags: policy.kind === 'replace-if' && policy.etags !== '*' ? policy.etags : null }
}

/** `existing`: the blob is already in the class (a copy), so the commit references it and never creates it (migrations/0009). */
async function commitStatement(db: Db | Tx, id: string, request: UploadRequest, written: WrittenFile, inline: Uint8Array | null, existing = false): Promise<UploadResult & { keepsOwnBytes: boolean }> {
  const contentHash = `sha256:${written.hex}`
  const policy = policyArguments(request.onExisting)
  const result = await db.execute(sql`
    select visible_at, replaced, keeps_own_bytes, expires_at from commit_object(
      ${id}::uuid, ${request.namespace}, ${request.tenantId}, ${request.key}, ${request.storageClass}::storage_class,
      ${contentHash}, ${written.sizeBytes}::bigint, ${request.contentType}, ${JSON.stringify(request.metadata)}::jsonb,
      ${inline}::bytea, ${inline === null && !existing}, ${policy.name}, ${sql.param(policy.etags)}::text[], ${existing},
      ${request.expiresAt}::timestamptz)`)
  const [row] = rowsOf<{ visible_at: string; replaced: boolean; keeps_own_bytes: boolean; expires_at: string | null }>(result)
  const object: ObjectRow = {
    ...uploadRow(id, request),
    status: 'COMMITTED',
    contentHash,
    sizeBytes: written.sizeBytes,
    createdAt: row!.visible_at,
    updatedAt: row!.visible_at,
    expiresAt: row!.expires_at,
    noncurrentSince: null,
    lastReadAt: null,
  }
  return { object, replaced: row!.replaced, keepsOwnBytes: row!.keeps_own_bytes }
}

/** What a copy is made from: an object by its id, or by its content hash one the tenant holds in the target's class. */
export type CopySource = ({ id: string } | { contentHash: string }) & {
  /** The principal's namespace allow-list: a source outside it is as good as missing. */
  namespaces?: string[]
}

/** A copy's request: an upload's, where a content type or metadata left null is the source's. */
export type CopyRequest = Omit<UploadRequest, 'contentType' | 'metadata'> & { contentType: string | null; metadata: Record<string, unknown> | null }

/**
 * Creates an object from bytes the service already holds, with an upload's key
 * policy and answer. Within the source's class it is one commit that adds a
 * reference to the source's blob, whatever the size; into the other class the
 * bytes are streamed through an upload, verified against the source's hash.
 */
export async function copyObject(store: ObjectStore, request: CopyRequest, source: CopySource): Promise<UploadResult> {
  const found = await findCopySource(store.db, request, source)
  const { object } = found
  const written = { hex: hexOf(object.contentHash!), sizeBytes: object.sizeBytes! }
  if (written.sizeBytes > store.maxUploadBytes) throw new ApiError('payload_too_large', `The object exceeds the limit of ${store.maxUploadBytes} bytes`)
  if (request.expectedHex !== undefined && request.expectedHex !== written.hex) {
    throw new ApiError('digest_mismatch', `The source's SHA-256 is ${written.hex}, not the declared ${request.expectedHex}`)
  }
  const upload: UploadRequest = {
    ...request,
    contentType: request.contentType ?? object.contentType,
    metadata: request.metadata ?? object.metadata,
    declaredLength: written.sizeBytes,
    expectedHex: written.hex,
  }
  if (object.storageClass === request.storageClass) return commitUpload(store, crypto.randomUUID(), upload, written, { existing: true })
  return copyAcross(store, upload, found)
}

/** A copy's source, as a read finds it; 404 alike for one that is absent, another tenant's, or outside the allow-list. */
async function findCopySource(db: Db, request: CopyRequest, source: CopySource): Promise<ReadableObject> {
  const missing = () => new ApiError('not_found', 'No such source object')
  if ('id' in source) {
    return findReadableObject(db, { tenantId: request.tenantId, id: source.id, namespaces: source.namespaces }).catch((error) => {
      throw error instanceof ApiError && error.code === 'not_found' ? missing() : error
    })
  }
  // objects_blob_idx: (storage_class, content_hash, tenant_id, namespace).
  const [found] = await db
    .select({ object: objects, corruptAt: blobs.corruptAt, inline: blobs.inlineData })
    .from(objects)
    .leftJoin(blobs, and(eq(blobs.storageClass, objects.storageClass), eq(blobs.contentHash, objects.contentHash)))
    .where(
      and(
        eq(objects.storageClass, request.storageClass),
        eq(objects.contentHash, source.contentHash),
        eq(objects.tenantId, request.tenantId),
        statusIs(objects.status, 'COMMITTED'),
        source.namespaces && sql`${objects.namespace} = any(${sql.param(source.namespaces)}::text[])`,
      ),
    )
    .limit(1)
  if (!found) throw missing()
  if (found.corruptAt !== null) throw new ApiError('corrupt_object', 'The stored bytes of the source object are damaged')
  return { object: found.object, inline: found.inline }
}

/** Streams the source's bytes into the other class as an upload whose expected hash is the source's. */
async function copyAcross(store: ObjectStore, upload: UploadRequest, source: ReadableObject): Promise<UploadResult> {
  const { object, inline } = source
  const damaged = () => new ApiError('corrupt_object', 'The stored bytes of the source object are damaged')
  const blobs = store.blobs[object.storageClass]
  if (inline === null) {
    const stored = await blobs.size(upload.expectedHex!)
    if (stored === null && !(await isCommitted(store.db, object.id))) throw new ApiError('not_found', 'No such source object')
    if (stored !== object.sizeBytes) throw damaged()
  }
  try {
    return await uploadObject(store, upload, new Response((inline as Uint8Array<ArrayBuffer> | null) ?? blobs.read(upload.expectedHex!, 0, object.sizeBytes!)))
  } catch (error) {
    // Bytes that end early or hash to another digest are the source's damage, not the client's error.
    if (error instanceof ApiError && (error.code === 'digest_mismatch' || error.code === 'bad_request')) throw damaged()
    throw error
  }
}

export const etagOf = (contentHash: string): string => `"${contentHash}"`

export interface ObjectSelector {
  /** null: every tenant, for an admin naming none; only with an id, which is unique across tenants. */
  tenantId: string | null
  id?: string
  namespace?: string
  key?: string
  /** The principal's namespace allow-list: objects outside it are as good as missing. */
  namespaces?: string[]
}

/**
 * The object a selector sees, one definition for reads and deletes: committed,
 * not expired, in the tenant (by id, in any when it is null), within the
 * principal's namespace allow-list (null: every namespace); by key the current
 * version, by id any version. Its values are placeholders,
 * filled by selectorValues, so that each form is prepared once; or, given a
 * selector, parameters.
 */
function visibleObject(by: 'id' | 'key', selector?: ObjectSelector) {
  const values = selector && selectorValues(selector)
  const value = (name: keyof ReturnType<typeof selectorValues>) => (values ? sql.param(values[name]) : sql.placeholder(name))
  return and(
    statusIs(objects.status, 'COMMITTED'),
    by === 'id'
      ? // The primary key finds the row whether or not a tenant is given.
        and(sql`${objects.id} = ${value('id')}`, sql`(${value('tenantId')}::text is null or ${objects.tenantId} = ${value('tenantId')})`)
      : and(sql`${objects.tenantId} = ${value('tenantId')}`, sql`${objects.namespace} = ${value('namespace')}`, sql`${objects.key} = ${value('key')}`, isCurrent),
    notExpired,
    sql`(${value('namespaces')}::text[] is null or ${objects.namespace} = any(${value('namespaces')}::text[]))`,
  )
}

/** An object is gone for every reader from its expiry instant on, before the lifecycle pass deletes it. */
export const notExpired = sql`(${objects.expiresAt} is null or ${objects.expiresAt} > now())`
/** The version a key reads; a versioned namespace's older ones are readable by id only. */
export const isCurrent = sql`${objects.noncurrentSince} is null`

const selectorForm = (selector: ObjectSelector) => (selector.id !== undefined ? 'id' : 'key')

function selectorValues(selector: ObjectSelector) {
  return { tenantId: selector.tenantId, id: selector.id, namespace: selector.namespace, key: selector.key, namespaces: selector.namespaces ?? null }
}

/** A committed object as read: its row, and its bytes when they are kept inline. */
export interface ReadableObject {
  object: ObjectRow
  inline: Uint8Array | null
}

/**
 * The committed object a selector names, for reading: 404 when there is none
 * (another tenant's object is indistinguishable from a missing one), 500
 * corrupt_object when the scrubber found its bytes damaged.
 */
export async function findReadableObject(db: Db, selector: ObjectSelector): Promise<ReadableObject> {
  const [found] = await (selectorForm(selector) === 'id' ? readableById : readableByKey)(db).execute(selectorValues(selector))
  if (!found) throw new ApiError('not_found', 'No such object')
  if (found.corruptAt !== null) throw new ApiError('corrupt_object', 'The stored bytes of this object are damaged')
  return { object: found.object, inline: found.inline }
}

/** The read of an object by id or by key, with its blob's mark and inline bytes; exported so tests can EXPLAIN exactly what runs. */
export const readableQuery = (db: Db, by: 'id' | 'key') =>
  db
    .select({ object: objects, corruptAt: blobs.corruptAt, inline: blobs.inlineData })
    .from(objects)
    .leftJoin(blobs, and(eq(blobs.storageClass, objects.storageClass), eq(blobs.contentHash, objects.contentHash)))
    .where(visibleObject(by))
    .limit(1)
// Every read runs one of these two statements, prepared once.
const readableById = perDatabase((db) => readableQuery(db, 'id').prepare('readable_object_by_id'))
const readableByKey = perDatabase((db) => readableQuery(db, 'key').prepare('readable_object_by_key'))

export async function isCommitted(db: Db, id: string): Promise<boolean> {
  const [row] = await db.select({ id: objects.id }).from(objects).where(and(eq(objects.id, id), statusIs(objects.status, 'COMMITTED')))
  return row !== undefined
}

/**
 * Deletes a committed object in one statement: locked, then released by
 * release_object (migrations/0008) as a replace releases the object it
 * replaces, so it is invisible and its key free from the commit on and its
 * bytes go with garbage collection; the delete audited. A key's delete in a
 * versioned namespace keeps the object as a noncurrent version instead; a
 * delete by id removes that version only.
 */
export async function deleteObject(db: Db, selector: ObjectSelector, by: { actor: string; requestId: string }): Promise<void> {
  const form = selectorForm(selector)
  const result = await db.execute(sql`
    with target as (
      select ${objects.id}, ${objects.tenantId}, ${objects.namespace}, ${objects.storageClass}, ${objects.contentHash} from ${objects}
      where ${visibleObject(form, selector)}
      for update),
    kept as (
      update ${objects} set noncurrent_since = clock_timestamp(), updated_at = now()
      from target join ${namespaceSettings} s on s.tenant_id = target.tenant_id and s.namespace = target.namespace and s.versioning
      where ${sql.raw(form === 'key' ? 'true' : 'false')} and ${objects.id} = target.id
      returning ${objects.id}),
    audited as (
      insert into ${auditEvents} (actor, tenant_id, action, target, request_id)
      select ${by.actor}, target.tenant_id, 'object.delete', target.id::text, ${by.requestId} from target)
    select id, case when id in (select id from kept) then null else release_object(id, storage_class, content_hash) end from target`)
  if (rowsOf(result).length === 0) throw new ApiError('not_found', 'No such object')
}
