import { Elysia, t } from 'elysia'
import { principalOf } from '../core/auth/authenticate'
import { authorizeObjects } from '../core/auth/principal'
import { ApiError } from '../core/errors'
import { objectJson, PageSchema } from '../core/http/object-json'
import { RequestParams } from '../core/http/params'
import { parseKey, parseStorageClass, parseTimestamp, type Timestamp } from '../core/identifiers'
import { listObjects, type Page } from '../core/listing'
import type { ObjectStore } from '../core/objects'
import { authErrors, errorResponses } from './openapi'

/** GET /v1/objects: one keyset page of a namespace, newest first by default. */
export const listRoutes = (store: ObjectStore) =>
  new Elysia({ name: 'list' }).get(
    '/v1/objects',
    async ({ request }) => {
      const params = new RequestParams(request.url, request.headers)
      const storageClass = params.query('storage_class')
      const prefix = params.query('prefix')
      const namespace = params.namespace()
      const page = await listObjects(store.db, {
        tenantId: authorizeObjects(principalOf(request), 'objects:read', { tenant: params.namedTenant(), namespace }),
        namespace,
        limit: parseLimit(params.query('limit')),
        cursor: params.query('cursor'),
        order: parseOrder(params.query('order')),
        keyPrefix: prefix === undefined ? undefined : parseKey(prefix),
        storageClass: storageClass === undefined ? undefined : parseStorageClass(storageClass),
        createdAfter: optionalTime(params.query('created_after'), 'created_after'),
        createdBefore: optionalTime(params.query('created_before'), 'created_before'),
      })
      return pageJson(page)
    },
    {
      query: t.Object({
        namespace: t.Optional(t.String()),
        tenant_id: t.Optional(t.String()),
        limit: t.Optional(t.String()),
        cursor: t.Optional(t.String()),
        prefix: t.Optional(t.String()),
        storage_class: t.Optional(t.String()),
        created_after: t.Optional(t.String()),
        created_before: t.Optional(t.String()),
        order: t.Optional(t.String()),
      }, { additionalProperties: true }),
      response: { 200: PageSchema },
      detail: { summary: 'List objects in a namespace (keyset pagination)', responses: errorResponses(400, ...authErrors) },
    },
  )

export function pageJson(page: Page) {
  return { objects: page.objects.map(objectJson), next_cursor: page.nextCursor }
}

export function parseLimit(raw: string | number | undefined): number {
  if (raw === undefined) return 100
  const value = typeof raw === 'number' ? raw : /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!Number.isInteger(value) || value < 1 || value > 1000) throw new ApiError('bad_request', 'limit must be a whole number from 1 to 1000')
  return value
}

function parseOrder(raw: string | undefined): 'asc' | 'desc' {
  if (raw === undefined || raw === 'desc') return 'desc'
  if (raw === 'asc') return 'asc'
  throw new ApiError('bad_request', 'order must be asc or desc')
}

export function optionalTime(raw: string | undefined, name: string): Timestamp | undefined {
  return raw === undefined ? undefined : parseTimestamp(raw, name)
}
