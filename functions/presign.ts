import { Type } from '@sinclair/typebox'
import { Elysia, t } from 'elysia'
import { principalOf } from '../core/auth/authenticate'
import { permissionFor, presignedUrl, type PresignKeys } from '../core/auth/presign'
import { authorizeObjects } from '../core/auth/principal'
import { ApiError } from '../core/errors'
import { jsonRequestBody, strictJson } from '../core/http/json-body'
import { RequestParams } from '../core/http/params'
import { parseKey, parseNamespace, parseObjectId, parseTenant } from '../core/identifiers'
import { authErrors, errorResponses } from './openapi'

const maxExpiresInSecs = 7 * 86400

const PresignBody = Type.Object(
  {
    method: Type.Union([Type.Literal('GET'), Type.Literal('PUT')]),
    namespace: Type.String(),
    tenant_id: Type.Optional(Type.String()),
    key: Type.Optional(Type.String()),
    id: Type.Optional(Type.String()),
    expires_in: Type.Optional(Type.Integer({ minimum: 1, maximum: maxExpiresInSecs })),
    max_bytes: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
  },
  { additionalProperties: false },
)

const PresignResponse = t.Object({ url: t.String(), method: t.String(), expires_at: t.String() })

/** POST /v1/presign: a URL that downloads an object, or uploads to a key, without a credential until it expires. */
export const presignRoutes = (keys: PresignKeys, maxUploadBytes: number) =>
  new Elysia({ name: 'presign' }).post(
    '/v1/presign',
    ({ body, request }) => {
      const principal = principalOf(request)
      const elsewhere = new RequestParams(request.url, request.headers).namedTenant()
      const named = body.tenant_id === undefined ? elsewhere : parseTenant(body.tenant_id)
      if (elsewhere !== undefined && named !== elsewhere) throw new ApiError('bad_request', 'tenant_id and X-Tenant disagree')
      const namespace = parseNamespace(body.namespace)
      if ((body.key === undefined) === (body.id === undefined)) throw new ApiError('bad_request', 'Name the object by exactly one of key and id')
      if (body.method === 'PUT' && body.key === undefined) throw new ApiError('bad_request', 'A presigned PUT uploads to a key: name key, not id')
      if (body.max_bytes !== undefined && body.method !== 'PUT') throw new ApiError('bad_request', 'max_bytes limits an upload: only a PUT takes it')
      if (body.max_bytes !== undefined && body.max_bytes > maxUploadBytes) throw new ApiError('bad_request', `max_bytes may be at most MAX_UPLOAD_BYTES, ${maxUploadBytes}`)
      const id = body.id === undefined ? undefined : parseObjectId(body.id)
      const key = body.key === undefined ? undefined : parseKey(body.key)
      const tenantId = authorizeObjects(principal, permissionFor(body.method), { tenant: named, namespace })
      const path = id !== undefined ? `/v1/objects/${id}` : byKeyPath(namespace, tenantId, key!)
      // At least as long as asked, but never past its signer's credential (a JWT's exp, a key's expires_at).
      const asked = Math.ceil((Date.now() + (body.expires_in ?? 3600) * 1000) / 1000)
      const expires = principal.expiresAt === null ? asked : Math.min(asked, Math.floor(principal.expiresAt / 1000))
      const url = presignedUrl(keys, principal, { method: body.method, path, tenantId, namespace, expires, maxBytes: body.max_bytes })
      return { url, method: body.method, expires_at: new Date(expires * 1000).toISOString() }
    },
    {
      parse: strictJson(PresignBody),
      body: PresignBody,
      response: { 200: PresignResponse },
      detail: {
        summary: 'Presign a download (GET, also HEAD) of an object or key, or an upload (PUT) to a key',
        description:
          'The url is a path with query on this service that does that one operation without a credential until expires_at, acting with the signer\'s rights in that tenant and namespace. ' +
          'A changed path, method or parameter, a forged signature or an expired URL → 403; a revoked or expired signing key → 401.',
        requestBody: jsonRequestBody(PresignBody),
        responses: errorResponses(400, ...authErrors, 415),
      },
    },
  )

/**
 * The by-key path with every part percent-encoded, a key's `/` too: a literal
 * `/../` in a key would otherwise be folded away by every URL parser on the way.
 */
function byKeyPath(namespace: string, tenantId: string, key: string): string {
  const path = `/v1/objects/by-key/${encodeURIComponent(namespace)}/${encodeURIComponent(tenantId)}/${encodeURIComponent(key)}`
  // Keys such as "." and ".." are dot segments even when encoded.
  if (new URL(path, 'http://localhost').pathname !== path) throw new ApiError('invalid_key', 'This key cannot be written in a URL path; presign a download by the object\'s id')
  return path
}
