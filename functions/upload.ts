import { Elysia } from 'elysia'
import { ApiError } from '../core/errors'
import { principalOf } from '../core/auth/authenticate'
import { authorizeObjects } from '../core/auth/principal'
import { selectByKey, selectCopySource } from '../core/http/object-access'
import { RequestParams } from '../core/http/params'
import type { UploadSlots } from '../core/rate-limit'
import { parseEntityTags } from '../core/http/conditional'
import { parseExpectedDigest, parseMetadataHeader } from '../core/identifiers'
import { objectJson, ObjectSchema } from '../core/http/object-json'
import { copyObject, uploadObject, type CopyRequest, type KeyPolicy, type ObjectStore, type UploadRequest, type UploadResult } from '../core/objects'
import { authErrors, errorResponses, jsonResponses, uploadDoc } from './openapi'
import { uploadBytes } from '../core/metrics'
import { parseExpiry } from '../core/lifecycle/expiry'

/** POST /v1/objects and PUT /v1/objects/by-key/…: streamed raw-body uploads. */
export const uploadRoutes = (store: ObjectStore, slots: UploadSlots) =>
  new Elysia({ name: 'upload' })
    .post(
      '/v1/objects',
      async ({ request, set }) => {
        const params = new RequestParams(request.url, request.headers)
        const onExisting: KeyPolicy = params.overwrite() ? { kind: 'replace' } : { kind: 'reject' }
        const namespace = params.namespace()
        const tenantId = authorizeObjects(principalOf(request), 'objects:write', { tenant: params.namedTenant(), namespace })
        const upload = describeUpload(request.headers, {
          namespace,
          tenantId,
          key: params.key(),
          storageClass: params.storageClass(),
          onExisting,
        })
        const { object } = await createObject(store, slots, request, upload)
        set.status = 201
        set.headers.location = `/v1/objects/${object.id}`
        return objectJson(object)
      },
      {
        // Never let the framework buffer the body: it is streamed to disk as it arrives.
        parse: 'none',
        detail: {
          summary: 'Upload an object (raw body, streamed)',
          ...uploadDoc(true),
          responses: { ...jsonResponses({ 201: ObjectSchema }), ...errorResponses(400, ...authErrors, 404, 409, 413, 415, 503, 507) },
        },
      },
    )
    .put(
      '/v1/objects/by-key/*',
      async ({ request, set }) => {
        const params = new RequestParams(request.url, request.headers)
        const upload = describeUpload(request.headers, {
          ...selectByKey(request, 'objects:write'),
          storageClass: params.storageClass(),
          onExisting: upsertPolicy(request.headers),
        })
        // A presigned URL's max_bytes lowers the limit both on Content-Length and on the streamed bytes.
        const limit = principalOf(request).maxUploadBytes
        const limited = limit === undefined ? store : { ...store, maxUploadBytes: Math.min(store.maxUploadBytes, limit) }
        const { object, replaced } = await createObject(limited, slots, request, upload)
        set.status = replaced ? 200 : 201
        set.headers.location = `/v1/objects/${object.id}`
        return objectJson(object)
      },
      {
        parse: 'none',
        detail: {
          summary: 'Create or replace the object at a key (raw body, streamed)',
          ...uploadDoc(false),
          responses: { ...jsonResponses({ 200: ObjectSchema, 201: ObjectSchema }), ...errorResponses(400, ...authErrors, 404, 412, 413, 415, 503, 507) },
        },
      },
    )

/** The body as a new object; with X-Copy-Source, bytes the service already holds instead. */
async function createObject(store: ObjectStore, slots: UploadSlots, request: Request, upload: UploadRequest): Promise<UploadResult> {
  const source = selectCopySource(request)
  if (source) return uploadWithin(slots, upload, () => copyObject(store, { ...upload, ...sentDescription(request.headers) }, source))
  const uploaded = await uploadWithin(slots, upload, () => uploadObject(store, upload, request))
  uploadBytes.inc({ storage_class: uploaded.object.storageClass }, uploaded.object.sizeBytes ?? 0)
  return uploaded
}

/** Runs an upload in one of its tenant's slots; over the cap → 429. */
async function uploadWithin<T>(slots: UploadSlots, upload: UploadRequest, run: () => Promise<T>): Promise<T> {
  const release = slots.acquire(upload.tenantId)
  try {
    return await run()
  } finally {
    release()
  }
}

type Placement = Pick<UploadRequest, 'namespace' | 'tenantId' | 'key' | 'storageClass' | 'onExisting'>

function describeUpload(headers: Headers, placement: Placement): UploadRequest {
  const sent = sentDescription(headers)
  return {
    ...placement,
    contentType: sent.contentType ?? 'application/octet-stream',
    metadata: sent.metadata ?? {},
    declaredLength: contentLength(headers),
    expectedHex: parseExpectedDigest(headers.get('x-content-sha256'), headers.get('content-digest')),
    expiresAt: parseExpiry(headers),
  }
}

/** The Content-Type and X-Metadata the request itself sent; null for each it did not (a copy then keeps the source's). */
function sentDescription(headers: Headers): Pick<CopyRequest, 'contentType' | 'metadata'> {
  const metadataHeader = headers.get('x-metadata')
  return { contentType: headers.get('content-type') || null, metadata: metadataHeader === null ? null : parseMetadataHeader(metadataHeader) }
}

function contentLength(headers: Headers): number | null {
  const raw = headers.get('content-length')
  if (raw === null) return null
  if (!/^\d+$/.test(raw.trim())) throw new ApiError('bad_request', 'Content-Length must be a whole number')
  return Number(raw.trim())
}

function upsertPolicy(headers: Headers): KeyPolicy {
  const ifNoneMatch = headers.get('if-none-match')
  const ifMatch = headers.get('if-match')
  if (ifNoneMatch !== null && ifMatch !== null) throw new ApiError('bad_request', 'Send If-Match or If-None-Match, not both')
  if (ifNoneMatch !== null) {
    if (ifNoneMatch.trim() !== '*') throw new ApiError('bad_request', 'If-None-Match on upload must be *')
    return { kind: 'create-only' }
  }
  if (ifMatch !== null) return { kind: 'replace-if', etags: parseEntityTags(ifMatch) }
  return { kind: 'replace' }
}
