import { Elysia } from 'elysia'
import { barrier } from '../core/barriers'
import { parseDbTime } from '../core/db/time'
import type { ObjectRow } from '../core/db/schema'
import type { ReadTracker } from '../core/lifecycle/tiering'
import { ApiError } from '../core/errors'
import { decideRead } from '../core/http/conditional'
import { selectById, selectByKey } from '../core/http/object-access'
import { etagOf, findReadableObject, isCommitted, type ObjectSelector, type ObjectStore } from '../core/objects'
import { downloadDoc } from './openapi'
import { downloadBytes } from '../core/metrics'
import { hexOf } from '../core/store/paths'

/** GET and HEAD of an object by id or by key: streamed, with Range and conditional requests. */
export const downloadRoutes = (store: ObjectStore, reads: ReadTracker) => {
  const byId = (request: Request, id: string) => serveObject(store, reads, request, selectById(request, id, 'objects:read'))
  const byKey = (request: Request) => serveObject(store, reads, request, selectByKey(request, 'objects:read'))
  const detail = (summary: string, byId: boolean) => ({ detail: { summary, ...downloadDoc(byId) } })
  return new Elysia({ name: 'download' })
    // Elysia answers HEAD on a wildcard route by running its GET handler and
    // counting the body, which would read a whole object and reports length 0
    // for our bodiless HEAD; so HEAD by key is answered before routing.
    .onRequest(async ({ request }) => {
      if (request.method === 'HEAD' && new URL(request.url).pathname.startsWith('/v1/objects/by-key/')) return byKey(request)
    })
    .get('/v1/objects/:id', ({ request, params }) => byId(request, params.id), detail('Download an object by id', true))
    .head('/v1/objects/:id', ({ request, params }) => byId(request, params.id), detail('Headers of an object by id', true))
    .get('/v1/objects/by-key/*', ({ request }) => byKey(request), detail('Download an object by key', false))
    .head('/v1/objects/by-key/*', ({ request }) => byKey(request), detail('Headers of an object by key', false))
}

/** `again`: a second look, after the bytes the first one found were gone (a second look is final). */
async function serveObject(store: ObjectStore, reads: ReadTracker, request: Request, selector: ObjectSelector, again = false): Promise<Response> {
  const { object, inline } = await findReadableObject(store.db, selector)
  // A read is a use: tiering leaves recently read objects hot.
  if (request.method === 'GET') reads.touch(object.id)
  const representation = { etag: etagOf(object.contentHash!), lastModified: parseDbTime(object.createdAt), size: object.sizeBytes! }
  const isHead = request.method === 'HEAD'
  const decision = decideRead(representation, readHeaders(request.headers), isHead)
  const headers = representationHeaders(object, representation.etag, representation.lastModified, request.url)
  if (decision.kind === 'not-modified') return new Response(null, { status: 304, headers })

  const { start, end } = decision.kind === 'partial' ? decision : { start: 0, end: object.sizeBytes! }
  headers.set('content-length', String(end - start))
  if (decision.kind === 'partial') headers.set('content-range', `bytes ${start}-${end - 1}/${object.sizeBytes}`)
  const status = decision.kind === 'partial' ? 206 : 200
  if (isHead) return new Response(null, { status, headers })

  if (inline) {
    if (inline.byteLength !== object.sizeBytes) throw new ApiError('corrupt_object', 'The stored bytes of this object do not match its size')
    downloadBytes.inc({ storage_class: object.storageClass }, end - start)
    return new Response(inline.subarray(start, end) as Uint8Array<ArrayBuffer>, { status, headers })
  }
  await barrier('download:before-send')
  const blobs = store.blobs[object.storageClass]
  const hex = hexOf(object.contentHash!)
  const stored = await blobs.size(hex)
  if (stored === null) {
    // Deleted and collected since the lookup: the delete came first, so it is gone.
    if (!(await isCommitted(store.db, object.id))) throw new ApiError('not_found', 'No such object')
    // Moved to the other class since the lookup, and its old blob collected: read it where it is now.
    if (!again) return serveObject(store, reads, request, { ...selector, id: object.id }, true)
    throw new ApiError('corrupt_object', 'The stored bytes of this object are missing')
  }
  if (stored !== object.sizeBytes) throw new ApiError('corrupt_object', 'The stored bytes of this object do not match its size')
  downloadBytes.inc({ storage_class: object.storageClass }, end - start)
  return new Response(blobs.read(hex, start, end), { status, headers })
}

function readHeaders(headers: Headers): Parameters<typeof decideRead>[1] {
  return {
    ifMatch: headers.get('if-match'),
    ifNoneMatch: headers.get('if-none-match'),
    ifModifiedSince: headers.get('if-modified-since'),
    ifUnmodifiedSince: headers.get('if-unmodified-since'),
    ifRange: headers.get('if-range'),
    range: headers.get('range'),
  }
}

/** Every header set explicitly: nothing from the file on disk may leak into the response. */
function representationHeaders(object: ObjectRow, etag: string, lastModified: Date, url: string): Headers {
  const headers = new Headers({
    'content-type': object.contentType,
    etag,
    'x-content-hash': object.contentHash!,
    'last-modified': lastModified.toUTCString(),
    'accept-ranges': 'bytes',
  })
  // Always set: otherwise Bun names the file on disk in a Content-Disposition of its own.
  const download = new URL(url).searchParams.get('download')
  headers.set('content-disposition', download === '1' || download === 'true' ? attachment(object) : 'inline')
  return headers
}

/** RFC 6266: an ASCII fallback plus the exact UTF-8 name of the key's last part. */
function attachment(object: ObjectRow): string {
  const name = (object.key ?? object.id).split('/').filter(Boolean).pop() ?? object.id
  const fallback = name.replace(/[^\x20-\x7e]|["\\]/g, '_')
  // encodeURIComponent leaves ' ( ) * as they are, which RFC 8187 value-chars do not allow.
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`
}
