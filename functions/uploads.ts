import { Elysia, t } from 'elysia'
import { principalOf } from '../core/auth/authenticate'
import { authorizeObjects, requirePermission, tenantScope, visibleNamespaces } from '../core/auth/principal'
import type { UploadSessionRow } from '../core/db/schema'
import { parseDbTime } from '../core/db/time'
import { ApiError } from '../core/errors'
import { objectJson, ObjectSchema } from '../core/http/object-json'
import { RequestParams } from '../core/http/params'
import { parseExpectedDigest, parseMetadataHeader, parseNamespace, parseObjectId } from '../core/identifiers'
import { uploadBytes } from '../core/metrics'
import type { UploadSlots } from '../core/rate-limit'
import { appendToSession, cancelSession, completeSession, createSession, findSession, listSessions, type SessionScope, type Sessions } from '../core/uploads/sessions'
import { parseLimit } from './list'
import { authErrors, errorResponses, expiryHeaders, jsonResponses, pageQuery, tenantQuery } from './openapi'
import { parseExpiry } from '../core/lifecycle/expiry'

export const SessionSchema = t.Object({
  id: t.String({ format: 'uuid' }),
  namespace: t.String(),
  tenant_id: t.String(),
  key: t.Nullable(t.String()),
  storage_class: t.Union([t.Literal('hot'), t.Literal('cold')]),
  offset: t.Integer(),
  length: t.Nullable(t.Integer()),
  expires_at: t.String(),
  created_at: t.String(),
})

function sessionJson(row: Omit<UploadSessionRow, 'tail'>) {
  return {
    id: row.id,
    namespace: row.namespace,
    tenant_id: row.tenantId,
    key: row.key,
    storage_class: row.storageClass,
    offset: row.offset,
    length: row.length,
    expires_at: parseDbTime(row.expiresAt).toISOString(),
    created_at: parseDbTime(row.createdAt).toISOString(),
  }
}

/** The sessions an /v1/uploads/{id} request reaches, as for objects by id: an admin naming no tenant reaches any. */
function scopeOf(request: Request): SessionScope {
  const principal = principalOf(request)
  requirePermission(principal, 'objects:write')
  return { tenantId: tenantScope(principal, new RequestParams(request.url, request.headers).namedTenant()) ?? null, namespaces: visibleNamespaces(principal) }
}

const wholeNumber = (raw: string | null, name: string): number | null => {
  if (raw === null) return null
  if (!/^\d{1,16}$/.test(raw.trim()) || !Number.isSafeInteger(Number(raw.trim()))) throw new ApiError('bad_request', `${name} must be a whole number of bytes`)
  return Number(raw.trim())
}

const sessionDoc = { parameters: [tenantQuery] }
const offsetHeader = { 'Upload-Offset': { description: 'Bytes the session holds, durably', schema: { type: 'integer' } } } as const

/** /v1/uploads: resumable upload sessions, for large objects over unreliable links. */
export const uploadSessionRoutes = (sessions: Sessions, slots: UploadSlots) =>
  new Elysia({ name: 'upload-sessions' })
    .post(
      '/v1/uploads',
      async ({ request, set }) => {
        const params = new RequestParams(request.url, request.headers)
        const namespace = params.namespace()
        const tenantId = authorizeObjects(principalOf(request), 'objects:write', { tenant: params.namedTenant(), namespace })
        const metadata = request.headers.get('x-metadata')
        const row = await createSession(sessions, {
          namespace,
          tenantId,
          key: params.key(),
          storageClass: params.storageClass(),
          contentType: request.headers.get('x-upload-content-type') || 'application/octet-stream',
          metadata: metadata === null ? {} : parseMetadataHeader(metadata),
          overwrite: params.overwrite(),
          expectedHex: parseExpectedDigest(request.headers.get('x-content-sha256'), request.headers.get('content-digest')),
          length: wholeNumber(request.headers.get('x-upload-content-length'), 'X-Upload-Content-Length'),
          expiresAt: parseExpiry(request.headers),
        })
        set.status = 201
        set.headers.location = `/v1/uploads/${row.id}`
        set.headers['upload-offset'] = '0'
        return sessionJson(row)
      },
      {
        parse: 'none',
        detail: {
          summary: 'Start a resumable upload session',
          parameters: [
            { in: 'query', name: 'namespace', schema: { type: 'string' }, description: 'Namespace (or X-Namespace)' },
            { in: 'query', name: 'tenant_id', schema: { type: 'string' }, description: 'Tenant (or X-Tenant)' },
            { in: 'query', name: 'key', schema: { type: 'string' }, description: 'Optional key of the object (or X-Key, percent-encoded)' },
            { in: 'query', name: 'storage_class', schema: { type: 'string' }, description: 'hot (default) or cold (or X-Storage-Class)' },
            { in: 'query', name: 'overwrite', schema: { type: 'string' }, description: 'true replaces an object holding the key at completion (or X-Overwrite)' },
            { in: 'header', name: 'X-Upload-Content-Type', schema: { type: 'string' }, description: "The object's Content-Type" },
            { in: 'header', name: 'X-Upload-Content-Length', schema: { type: 'integer' }, description: "The object's length, when known" },
            { in: 'header', name: 'X-Metadata', schema: { type: 'string' }, description: 'A JSON object (≤ 8 KiB) stored as metadata' },
            { in: 'header', name: 'X-Content-SHA256', schema: { type: 'string' }, description: "The whole object's expected SHA-256, hex" },
            ...expiryHeaders,
          ],
          responses: { ...jsonResponses({ 201: SessionSchema }), ...errorResponses(400, ...authErrors, 409, 413) },
        },
      },
    )
    .get(
      '/v1/uploads',
      async ({ request }) => {
        const params = new RequestParams(request.url, request.headers)
        const namespace = parseNamespace(params.query('namespace') ?? '')
        const tenantId = authorizeObjects(principalOf(request), 'objects:write', { tenant: params.namedTenant(), namespace })
        const page = await listSessions(sessions.store.db, tenantId, namespace, parseLimit(params.query('limit')), params.query('cursor'))
        return { uploads: page.rows.map(sessionJson), next_cursor: page.nextCursor }
      },
      {
        detail: {
          summary: "List a namespace's open upload sessions, newest first",
          parameters: [
            { in: 'query', name: 'namespace', required: true, schema: { type: 'string' } },
            { in: 'query', name: 'tenant_id', schema: { type: 'string' } },
            ...pageQuery,
          ],
          responses: { ...jsonResponses({ 200: t.Object({ uploads: t.Array(SessionSchema), next_cursor: t.Nullable(t.String()) }) }), ...errorResponses(400, ...authErrors) },
        },
      },
    )
    .get('/v1/uploads/:id', async ({ request, params }) => sessionJson(await findSession(sessions.store.db, parseObjectId(params.id), scopeOf(request))), {
      detail: { summary: 'An upload session', ...sessionDoc, responses: { ...jsonResponses({ 200: SessionSchema }), ...errorResponses(400, ...authErrors, 404) } },
    })
    .head(
      '/v1/uploads/:id',
      async ({ request, params, set }) => {
        const row = await findSession(sessions.store.db, parseObjectId(params.id), scopeOf(request))
        set.headers['upload-offset'] = String(row.offset)
        if (row.length !== null) set.headers['upload-length'] = String(row.length)
        set.headers['cache-control'] = 'no-store'
        return new Response(null, { status: 200, headers: set.headers as Record<string, string> })
      },
      { detail: { summary: "An upload session's offset", ...sessionDoc, responses: { 200: { description: 'Upload-Offset and Upload-Length', headers: offsetHeader }, ...errorResponses(400, ...authErrors, 404) } } },
    )
    .patch(
      '/v1/uploads/:id',
      async ({ request, params, set }) => {
        const id = parseObjectId(params.id)
        const scope = scopeOf(request)
        const offset = wholeNumber(request.headers.get('upload-offset'), 'Upload-Offset')
        if (offset === null) throw new ApiError('bad_request', 'Upload-Offset is required')
        const chunk = {
          offset,
          declaredLength: wholeNumber(request.headers.get('content-length'), 'Content-Length'),
          expectedHex: parseExpectedDigest(request.headers.get('x-content-sha256'), request.headers.get('content-digest')),
        }
        const session = await findSession(sessions.store.db, id, scope)
        const release = slots.acquire(session.tenantId)
        try {
          const reached = await appendToSession(sessions, id, scope, chunk, request)
          uploadBytes.inc({ storage_class: session.storageClass }, reached - offset)
          set.headers['upload-offset'] = String(reached)
        } finally {
          release()
        }
        set.status = 204
      },
      {
        // The chunk streams to the session's bytes as it arrives, never buffered.
        parse: 'none',
        detail: {
          summary: 'Append bytes at the session offset (raw body, streamed)',
          parameters: [
            tenantQuery,
            { in: 'header', name: 'Upload-Offset', required: true, schema: { type: 'integer' }, description: "The session's current offset" },
            { in: 'header', name: 'X-Content-SHA256', schema: { type: 'string' }, description: "This chunk's SHA-256, hex" },
          ],
          requestBody: { required: true, content: { 'application/offset+octet-stream': { schema: { type: 'string', format: 'binary' } }, '*/*': { schema: { type: 'string', format: 'binary' } } } },
          responses: { 204: { description: 'Appended and durable', headers: offsetHeader }, ...errorResponses(400, ...authErrors, 404, 409, 413, 503, 507) },
        },
      },
    )
    .post(
      '/v1/uploads/:id/complete',
      async ({ request, params, set }) => {
        const expected = parseExpectedDigest(request.headers.get('x-content-sha256'), request.headers.get('content-digest'))
        const { object, outcome } = await completeSession(sessions, parseObjectId(params.id), scopeOf(request), expected)
        set.status = outcome === 'created' ? 201 : 200
        set.headers.location = `/v1/objects/${object.id}`
        return objectJson(object)
      },
      {
        parse: 'none',
        detail: {
          summary: 'Complete a session: verify, then commit it as an object',
          parameters: [tenantQuery, { in: 'header', name: 'X-Content-SHA256', schema: { type: 'string' }, description: "The whole object's SHA-256, hex" }],
          responses: { ...jsonResponses({ 200: ObjectSchema, 201: ObjectSchema }), ...errorResponses(400, ...authErrors, 404, 409, 412, 503, 507) },
        },
      },
    )
    .delete(
      '/v1/uploads/:id',
      async ({ request, params, set }) => {
        await cancelSession(sessions, parseObjectId(params.id), scopeOf(request))
        set.status = 204
      },
      { detail: { summary: 'Cancel an upload session and remove its bytes', ...sessionDoc, responses: { 204: { description: 'Cancelled' }, ...errorResponses(400, ...authErrors, 404, 409) } } },
    )
