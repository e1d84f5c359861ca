import { Type } from '@sinclair/typebox'
import { Elysia } from 'elysia'
import { principalOf } from '../core/auth/authenticate'
import { authorizeObjects } from '../core/auth/principal'
import { ApiError } from '../core/errors'
import { jsonRequestBody, strictJson } from '../core/http/json-body'
import { PageSchema } from '../core/http/object-json'
import { RequestParams } from '../core/http/params'
import { parseKey, parseNamespace, parseStorageClass, parseTenant } from '../core/identifiers'
import { listObjects } from '../core/listing'
import type { ObjectStore } from '../core/objects'
import { optionalTime, pageJson, parseLimit } from './list'
import { authErrors, errorResponses } from './openapi'

const size = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })
const SearchBody = Type.Object(
  {
    namespace: Type.Optional(Type.String()),
    tenant_id: Type.Optional(Type.String()),
    limit: Type.Optional(Type.Integer()),
    cursor: Type.Optional(Type.String()),
    order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc'), Type.Literal('relevance')])),
    key_prefix: Type.Optional(Type.String()),
    key_contains: Type.Optional(Type.String()),
    content_type: Type.Optional(Type.String()),
    storage_class: Type.Optional(Type.String()),
    min_size: Type.Optional(size),
    max_size: Type.Optional(size),
    created_after: Type.Optional(Type.String()),
    created_before: Type.Optional(Type.String()),
    metadata: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    text: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
)

/** POST /v1/objects/search: the list page with every filter of the contract. */
export const searchRoutes = (store: ObjectStore) =>
  new Elysia({ name: 'search' }).post(
    '/v1/objects/search',
    async ({ body, request }) => {
      const elsewhere = new RequestParams(request.url, request.headers).either('tenant_id', 'x-tenant')
      if (body.tenant_id !== undefined && elsewhere !== undefined && body.tenant_id !== elsewhere) {
        throw new ApiError('bad_request', 'tenant_id and X-Tenant disagree')
      }
      const tenant = body.tenant_id ?? elsewhere
      if (body.namespace === undefined) throw new ApiError('invalid_namespace', 'namespace is required')
      const namespace = parseNamespace(body.namespace)
      const text = body.text === undefined ? undefined : parseSearchText(body.text)
      if (body.order === 'relevance' && text === undefined) throw new ApiError('bad_request', 'order relevance needs a text to rank by')
      const page = await listObjects(store.db, {
        tenantId: authorizeObjects(principalOf(request), 'objects:read', { tenant: tenant === undefined ? undefined : parseTenant(tenant), namespace }),
        namespace,
        limit: parseLimit(body.limit),
        cursor: body.cursor,
        order: body.order ?? 'desc',
        keyPrefix: body.key_prefix === undefined ? undefined : parseKey(body.key_prefix),
        keyContains: body.key_contains === undefined ? undefined : parseKey(body.key_contains),
        contentType: body.content_type,
        storageClass: body.storage_class === undefined ? undefined : parseStorageClass(body.storage_class),
        minSize: body.min_size,
        maxSize: body.max_size,
        createdAfter: optionalTime(body.created_after, 'created_after'),
        createdBefore: optionalTime(body.created_before, 'created_before'),
        metadata: body.metadata,
        text,
      })
      return pageJson(page)
    },
    {
      parse: strictJson(SearchBody),
      body: SearchBody,
      response: { 200: PageSchema },
      detail: { summary: 'Search objects by key, type, class, size, time, metadata and words (full text)', requestBody: jsonRequestBody(SearchBody), responses: errorResponses(400, ...authErrors, 415) },
    },
  )

/** 1–1000 characters with at least one word: punctuation and white space only separate words. */
function parseSearchText(text: string): string {
  if (text.length < 1 || text.length > 1000) throw new ApiError('bad_request', 'text must be 1 to 1000 characters')
  if (/\u0000/.test(text)) throw new ApiError('bad_request', 'text must not contain NUL')
  if (!/[^\p{P}\p{S}\s]/u.test(text)) throw new ApiError('bad_request', 'text has no words to search for')
  return text
}
