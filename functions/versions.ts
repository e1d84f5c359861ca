import { Elysia, t } from 'elysia'
import { principalOf } from '../core/auth/authenticate'
import { authorizeObjects } from '../core/auth/principal'
import { objectJson, ObjectSchema } from '../core/http/object-json'
import { RequestParams } from '../core/http/params'
import { listVersions } from '../core/listing'
import type { ObjectStore } from '../core/objects'
import { ApiError } from '../core/errors'
import { parseLimit } from './list'
import { authErrors, errorResponses } from './openapi'

const VersionSchema = t.Composite([ObjectSchema, t.Object({ is_current: t.Boolean() })])

/** GET /v1/objects/versions: a key's versions, newest first; every one readable by its id. */
export const versionRoutes = (store: ObjectStore) =>
  new Elysia({ name: 'versions' }).get(
    '/v1/objects/versions',
    async ({ request }) => {
      const params = new RequestParams(request.url, request.headers)
      const namespace = params.namespace()
      const key = params.key()
      if (key === null) throw new ApiError('invalid_key', 'key is required')
      const page = await listVersions(store.db, {
        tenantId: authorizeObjects(principalOf(request), 'objects:read', { tenant: params.namedTenant(), namespace }),
        namespace,
        key,
        limit: parseLimit(params.query('limit')),
        cursor: params.query('cursor'),
      })
      return { objects: page.objects.map((object) => ({ ...objectJson(object), is_current: object.noncurrentSince === null })), next_cursor: page.nextCursor }
    },
    {
      query: t.Object({
        namespace: t.Optional(t.String()),
        tenant_id: t.Optional(t.String()),
        key: t.Optional(t.String()),
        limit: t.Optional(t.String()),
        cursor: t.Optional(t.String()),
      }, { additionalProperties: true }),
      response: { 200: t.Object({ objects: t.Array(VersionSchema), next_cursor: t.Nullable(t.String()) }) },
      detail: { summary: "A key's versions, newest first (paged like a list)", responses: errorResponses(400, ...authErrors) },
    },
  )
