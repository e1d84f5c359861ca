import { Elysia, t } from 'elysia'
import { ApiError } from '../core/errors'
import { PageSchema } from '../core/http/object-json'
import { RequestParams } from '../core/http/params'
import { parseKey, parseNamespace, parseStorageClass, parseTenant } from '../core/identifiers'
import { listObjects } from '../core/listing'
import type { ObjectStore } from '../core/objects'
import { optionalTime, pageJson, parseLimit } from './list'

const SearchBody = t.Object(
  {
    namespace: t.String(),
    tenant_id: t.Optional(t.String()),
    limit: t.Optional(t.Integer()),
    cursor: t.Optional(t.String()),
    order: t.Optional(t.Union([t.Literal('asc'), t.Literal('desc')])),
    key_prefix: t.Optional(t.String()),
    key_contains: t.Optional(t.String()),
    content_type: t.Optional(t.String()),
    storage_class: t.Optional(t.String()),
    min_size: t.Optional(t.Integer({ minimum: 0 })),
    max_size: t.Optional(t.Integer({ minimum: 0 })),
    created_after: t.Optional(t.String()),
    created_before: t.Optional(t.String()),
    metadata: t.Optional(t.Record(t.String(), t.Unknown())),
  },
  { additionalProperties: false },
)

/** POST /v1/objects/search: the list page with every filter of the contract. */
export const searchRoutes = (store: ObjectStore) =>
  new Elysia({ name: 'search' }).post(
    '/v1/objects/search',
    async ({ body, request }) => {
      const tenant = body.tenant_id ?? new RequestParams(request.url, request.headers).either('tenant_id', 'x-tenant')
      if (tenant === undefined) throw new ApiError('invalid_tenant', 'tenant_id (or X-Tenant) is required')
      const page = await listObjects(store.db, {
        tenantId: parseTenant(tenant),
        namespace: parseNamespace(body.namespace),
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
      })
      return pageJson(page)
    },
    {
      async parse({ request }) {
        const type = request.headers.get('content-type') ?? ''
        if (!/^application\/json\s*(;|$)/i.test(type)) throw new ApiError('unsupported_media_type', 'Send the search as application/json')
        try {
          return await request.json()
        } catch {
          throw new ApiError('bad_request', 'The body is not valid JSON')
        }
      },
      body: SearchBody,
      response: { 200: PageSchema },
      detail: { summary: 'Search objects by key, type, class, size, time and metadata' },
    },
  )
