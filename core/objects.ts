import { existsSync, renameSync } from 'node:fs'
import { dirname } from 'node:path'
import { and, eq, sql } from 'drizzle-orm'
import { perDatabase, rowsOf, type Db, type Tx } from './db/client'
import { blobs, objects, type ObjectRow, type StorageClass } from './db/schema'
import { recordAudit } from './audit'
import { barrier } from './barriers'
import { ApiError } from './errors'
import { log } from './log'
import { ensureParentDirectory, fsyncDirectory } from './store/durable'
import { blobPath, hexOf, tempPath, type StorageRoots } from './store/paths'
import { collectBytes, readHead, readWhole, removeFile, writeStreamToFile, type BodyHead, type WrittenFile } from './store/writer'

/**
 * The object lifecycle: reserve → write → commit, replace, delete. This is the
 * only module that changes an object's status or a blob's reference count.
 */

export interface ObjectStore {
  db: Db
  roots: StorageRoots
  maxUploadBytes: number
  /** Bodies up to this size are kept in the blob row instead of a file (0: never). */
  inlineMaxBytes: number
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
  const reader = (body.body ?? emptyStream()).getReader()
  try {
    const head = inlineLimit > 0 ? await readHead(reader, inlineLimit) : { chunks: [], sizeBytes: 0, done: false }
    if (head.done) return await commitSmall(store, request, collectBytes(head.chunks.length === 1 ? head.chunks[0]! : Buffer.concat(head.chunks)))
    return await uploadFile(store, request, head, reader)
  } finally {
    reader.releaseLock()
  }
}

/** What an upload reads its bytes from: the request itself, never a framework's parsed copy. */
export type UploadBody = Pick<Request, 'body' | 'bytes'>

async function commitSmall(store: ObjectStore, request: UploadRequest, small: WrittenFile & { bytes: Uint8Array }): Promise<UploadResult> {
  checkReceived(request, small)
  return commitUpload(store, crypto.randomUUID(), request, small, { inline: small.bytes })
}

async function uploadFile(store: ObjectStore, request: UploadRequest, head: BodyHead, reader: ReadableStreamDefaultReader<Uint8Array>): Promise<UploadResult> {
  const id = crypto.randomUUID()
  const temp = tempPath(store.roots, request.storageClass, id)
  await reserveUpload(store.db, id, request)
  try {
    const written = await writeStreamToFile(head, reader, temp, store.maxUploadBytes)
    try {
      checkReceived(request, written)
      return await commitUpload(store, id, request, written, { temp })
    } finally {
      removeFile(temp)
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

async function reserveUpload(db: Db, id: string, request: UploadRequest): Promise<void> {
  await db.insert(objects).values({ ...uploadRow(id, request), status: 'WRITING' })
}

/**
 * Removes a failed upload's reservation. It never throws: the client is owed the
 * reason the upload failed, and a reservation left behind is the stuck-upload
 * reaper's to remove.
 */
async function abandonUpload(db: Db, id: string): Promise<void> {
  try {
    await db.delete(objects).where(and(eq(objects.id, id), eq(objects.status, 'WRITING')))
  } catch (error) {
    log.warn({ msg: "a failed upload's reservation is left for the stuck-upload reaper", upload_id: id, error: String((error as Error)?.message ?? error) })
  }
}

const retryableSqlStates = new Set(['40P01', '40001'])

/** Where a verified body is: a synced temp file (its upload reserved), or the small body itself. */
type Bytes = { temp: string } | { inline: Uint8Array }

async function commitUpload(store: ObjectStore, id: string, request: UploadRequest, written: WrittenFile, bytes: Bytes): Promise<UploadResult> {
  if ('inline' in bytes && request.key === null) return { object: await commitSmallUnkeyed(store.db, id, request, written, bytes.inline), replaced: false }
  // A deadlock between two replacing commits is detected by PostgreSQL before any
  // file is moved (files move last), so the transaction can simply run again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await store.db.transaction((tx) => commitInTransaction(tx, store.roots, id, request, written, bytes))
    } catch (error) {
      const code = (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code
      if (attempt >= 3 || !code || !retryableSqlStates.has(code) || ('temp' in bytes && !existsSync(bytes.temp))) throw error
    }
  }
}

/**
 * The one rule for a commit that holds verified bytes: the blob row keeps its own
 * bytes only when they are inline and not marked corrupt. Any other row (marked
 * corrupt, or backed by a file that may be gone or damaged in place) takes the
 * verified bytes: a small body inline, a synced temp file renamed over its path.
 */
const keepsOwnBytes = sql<boolean>`(${blobs.inlineData} is not null and ${blobs.corruptAt} is null)`

/**
 * When an object becomes visible: the start of its commit's last statement,
 * after every lock wait of the statements before. now(), the transaction's
 * start, would put it seconds before visibility after a wait for a key or blob
 * lock, and a consumer polling created_after would miss the object.
 */
const visibleNow = sql`statement_timestamp()`

/**
 * The common small upload (no key) as one statement, so one round trip and one
 * WAL flush: the blob row is created with the bytes or gains a reference (an
 * upsert, which also re-creates a row GC removed meanwhile), and the object is
 * inserted committed.
 */
async function commitSmallUnkeyed(db: Db, id: string, request: UploadRequest, written: WrittenFile, inline: Uint8Array): Promise<ObjectRow> {
  const contentHash = `sha256:${written.hex}`
  const result = await db.execute(sql`
    with blob as (
      insert into ${blobs} (storage_class, content_hash, size_bytes, ref_count, inline_data)
      values (${request.storageClass}, ${contentHash}, ${written.sizeBytes}, 1, ${inline})
      on conflict (storage_class, content_hash) do update set
        ref_count = ${blobs.refCount} + 1,
        unreferenced_since = null,
        inline_data = case when ${keepsOwnBytes} then ${blobs.inlineData} else excluded.inline_data end,
        generation = case when ${keepsOwnBytes} then ${blobs.generation} else ${blobs.generation} + 1 end,
        corrupt_at = null
      -- Read after the upsert, which may have waited for the blob row's lock: see visibleNow.
      returning clock_timestamp() as visible_at)
    insert into ${objects} (id, namespace, tenant_id, key, status, storage_class, content_hash, size_bytes, content_type, metadata, created_at, updated_at)
    select ${id}, ${request.namespace}, ${request.tenantId}, null, 'COMMITTED', ${request.storageClass}, ${contentHash},
      ${written.sizeBytes}, ${request.contentType}, ${JSON.stringify(request.metadata)}::jsonb, visible_at, visible_at
    from blob
    returning created_at::text as created_at, updated_at::text as updated_at`)
  const [times] = rowsOf<{ created_at: string; updated_at: string }>(result)
  return {
    id,
    namespace: request.namespace,
    tenantId: request.tenantId,
    key: null,
    status: 'COMMITTED',
    storageClass: request.storageClass,
    contentHash,
    sizeBytes: written.sizeBytes,
    contentType: request.contentType,
    metadata: request.metadata,
    createdAt: times!.created_at,
    updatedAt: times!.updated_at,
  }
}

async function commitInTransaction(tx: Tx, roots: StorageRoots, id: string, request: UploadRequest, written: WrittenFile, bytes: Bytes): Promise<UploadResult> {
  const contentHash = `sha256:${written.hex}`
  const current = request.key === null ? undefined : await lockLiveKey(tx, request.tenantId, request.namespace, request.key)
  checkKeyPolicy(request.onExisting, current)

  const target: BlobKey = { storageClass: request.storageClass, contentHash }
  const previous = current && { storageClass: current.storageClass, contentHash: current.contentHash! }
  const inline = 'inline' in bytes ? bytes.inline : null
  // Two blob rows are locked in one global order so that commits never deadlock each other.
  const previousFirst = previous !== undefined && blobOrder(previous) < blobOrder(target)
  if (previousFirst) await lockBlob(tx, previous)
  const blob = await lockTargetBlob(tx, target, written.sizeBytes, inline)
  if (previous && !previousFirst && blobOrder(previous) !== blobOrder(target)) await lockBlob(tx, previous)
  await barrier('commit:blobs-locked')

  if (current) await releaseObject(tx, current)
  await addReference(tx, target, blob.keepsOwnBytes ? undefined : { storedInline: inline })
  const committed = { status: 'COMMITTED' as const, contentHash, sizeBytes: written.sizeBytes, createdAt: visibleNow, updatedAt: visibleNow }
  const [object] =
    'temp' in bytes
      ? await tx.update(objects).set(committed).where(and(eq(objects.id, id), eq(objects.status, 'WRITING'))).returning()
      : await tx.insert(objects).values({ ...uploadRow(id, request), ...committed }).returning()
  // The stuck-upload reaper may have given up on this upload while it streamed.
  if (!object) throw new ApiError('unavailable', 'The upload took too long and was abandoned; retry it', { 'retry-after': '1' })

  // Last step before COMMIT: the blob row is locked, so no garbage collection can
  // remove the file between the rename and the commit.
  if ('temp' in bytes && !blob.keepsOwnBytes) placeBlobFile(blobPath(roots, request.storageClass, written.hex), bytes.temp)
  return { object, replaced: current !== undefined }
}

/** Serialises writers of one key (including writers that create it), then returns its live object. */
async function lockLiveKey(tx: Tx, tenantId: string, namespace: string, key: string): Promise<ObjectRow | undefined> {
  // '/' cannot occur in a tenant or a namespace, so the lock name is unambiguous.
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`${tenantId}/${namespace}/${key}`}, 0))`)
  const [current] = await tx
    .select()
    .from(objects)
    .where(and(eq(objects.tenantId, tenantId), eq(objects.namespace, namespace), eq(objects.key, key), eq(objects.status, 'COMMITTED')))
    .for('update')
  return current
}

export const etagOf = (contentHash: string): string => `"${contentHash}"`

function checkKeyPolicy(policy: KeyPolicy, current: ObjectRow | undefined): void {
  switch (policy.kind) {
    case 'reject':
      if (current) throw new ApiError('key_exists', 'An object with this key already exists; send X-Overwrite: true to replace it')
      return
    case 'create-only':
      if (current) throw new ApiError('precondition_failed', 'An object with this key already exists (If-None-Match: *)')
      return
    case 'replace-if':
      if (!current || (policy.etags !== '*' && !policy.etags.includes(etagOf(current.contentHash!)))) {
        throw new ApiError('precondition_failed', 'The current object does not match If-Match')
      }
      return
    case 'replace':
      return
  }
}

interface BlobKey {
  storageClass: StorageClass
  contentHash: string
}

const blobOrder = (key: BlobKey) => `${key.storageClass}:${key.contentHash}`

/**
 * Locks the blob row a commit adds its reference to, creating it when absent,
 * and tells whether the row keeps its own bytes (see keepsOwnBytes); a row just
 * created holds the commit's small bytes, or awaits its file.
 * Garbage collection deletes rows under this same lock, so the row can vanish
 * between the insert attempt and the lock: then it is simply created again.
 */
async function lockTargetBlob(tx: Tx, key: BlobKey, sizeBytes: number, inlineData: Uint8Array | null): Promise<{ keepsOwnBytes: boolean }> {
  for (;;) {
    const inserted = await tx
      .insert(blobs)
      .values({ ...key, sizeBytes, refCount: 0, inlineData })
      .onConflictDoNothing()
      .returning({ contentHash: blobs.contentHash })
    if (inserted.length > 0) return { keepsOwnBytes: inlineData !== null }
    const [row] = await tx
      .select({ keepsOwnBytes })
      .from(blobs)
      .where(and(eq(blobs.storageClass, key.storageClass), eq(blobs.contentHash, key.contentHash)))
      .for('update')
    if (row) return row
  }
}

/** Locks an existing, referenced blob row (one a committed object holds). */
async function lockBlob(tx: Tx, key: BlobKey): Promise<void> {
  await tx
    .select({ refCount: blobs.refCount })
    .from(blobs)
    .where(and(eq(blobs.storageClass, key.storageClass), eq(blobs.contentHash, key.contentHash)))
    .for('update')
}

/**
 * Adds a reference. A row that takes the commit's verified bytes loses any
 * corrupt mark, holds them inline (a small body) or none inline (its file is
 * the temp renamed over), and gets a new generation.
 */
async function addReference(tx: Tx, key: BlobKey, replacement?: { storedInline: Uint8Array | null }): Promise<void> {
  await tx
    .update(blobs)
    .set({
      refCount: sql`${blobs.refCount} + 1`,
      unreferencedSince: null,
      ...(replacement ? { corruptAt: null, inlineData: replacement.storedInline, generation: sql`${blobs.generation} + 1` } : {}),
    })
    .where(and(eq(blobs.storageClass, key.storageClass), eq(blobs.contentHash, key.contentHash)))
}

async function dropReference(tx: Tx, storageClass: StorageClass, contentHash: string): Promise<void> {
  await tx
    .update(blobs)
    .set({
      refCount: sql`${blobs.refCount} - 1`,
      unreferencedSince: sql`case when ${blobs.refCount} = 1 then now() else ${blobs.unreferencedSince} end`,
    })
    .where(and(eq(blobs.storageClass, storageClass), eq(blobs.contentHash, contentHash)))
}

/** Makes a committed object invisible and drops its reference; its bytes are left for garbage collection. */
async function releaseObject(tx: Tx, object: ObjectRow): Promise<void> {
  // DELETING until garbage collection has settled its blob; then DELETED, then purged.
  await tx.update(objects).set({ status: 'DELETING', updatedAt: sql`now()` }).where(eq(objects.id, object.id))
  await dropReference(tx, object.storageClass, object.contentHash!)
}

/**
 * Renames the verified temp file to the blob's path, over any file there: that
 * file may have been damaged in place since it was written, and a rename is
 * atomic (a reader of the old file keeps it) and cheap next to the sync already
 * paid. It also replaces a leftover from a crashed commit, and makes new and
 * duplicate content take the same time.
 */
function placeBlobFile(finalPath: string, temp: string): void {
  ensureParentDirectory(finalPath)
  renameSync(temp, finalPath)
  fsyncDirectory(dirname(finalPath))
}

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
 * in the tenant (by id, in any when it is null), within the principal's
 * namespace allow-list (null: every namespace). Placeholders, filled by
 * selectorValues, so each form is prepared once.
 */
function visibleObject(by: 'id' | 'key') {
  return and(
    eq(objects.status, 'COMMITTED'),
    by === 'id'
      ? // The primary key finds the row whether or not a tenant is given.
        and(eq(objects.id, sql.placeholder('id')), sql`(${sql.placeholder('tenantId')}::text is null or ${objects.tenantId} = ${sql.placeholder('tenantId')})`)
      : and(eq(objects.tenantId, sql.placeholder('tenantId')), eq(objects.namespace, sql.placeholder('namespace')), eq(objects.key, sql.placeholder('key'))),
    sql`(${sql.placeholder('namespaces')}::text[] is null or ${objects.namespace} = any(${sql.placeholder('namespaces')}::text[]))`,
  )
}

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

// Every read runs one of these two statements, prepared once.
const readable = (db: Db, by: 'id' | 'key') =>
  db
    .select({ object: objects, corruptAt: blobs.corruptAt, inline: blobs.inlineData })
    .from(objects)
    .leftJoin(blobs, and(eq(blobs.storageClass, objects.storageClass), eq(blobs.contentHash, objects.contentHash)))
    .where(visibleObject(by))
    .limit(1)
    .prepare(`readable_object_by_${by}`)
const readableById = perDatabase((db) => readable(db, 'id'))
const readableByKey = perDatabase((db) => readable(db, 'key'))

export async function isCommitted(db: Db, id: string): Promise<boolean> {
  const [row] = await db.select({ id: objects.id }).from(objects).where(and(eq(objects.id, id), eq(objects.status, 'COMMITTED')))
  return row !== undefined
}

/** Deletes a committed object: invisible and its key free from the commit on; the bytes go with garbage collection. */
export async function deleteObject(db: Db, selector: ObjectSelector, by: { actor: string; requestId: string }): Promise<void> {
  await db.transaction(async (tx) => {
    const form = selectorForm(selector)
    const [object] = await tx.select().from(objects).where(visibleObject(form)).for('update').prepare(`deleted_object_by_${form}`).execute(selectorValues(selector))
    if (!object) throw new ApiError('not_found', 'No such object')
    await lockBlob(tx, { storageClass: object.storageClass, contentHash: object.contentHash! })
    await releaseObject(tx, object)
    await recordAudit(tx, { ...by, tenantId: object.tenantId, action: 'object.delete', target: object.id })
  })
}

export function blobPathOf(roots: StorageRoots, object: ObjectRow): string {
  return blobPath(roots, object.storageClass, hexOf(object.contentHash!))
}
