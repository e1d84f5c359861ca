import { Elysia } from 'elysia'
import { RequestParams, parseByKeyPath } from '../core/http/params'
import { parseObjectId } from '../core/identifiers'
import { deleteObject, type ObjectStore } from '../core/objects'

/** DELETE by id or by key: invisible at once, bytes reclaimed later by garbage collection. */
export const deleteRoutes = (store: ObjectStore) =>
  new Elysia({ name: 'delete' })
    .delete(
      '/v1/objects/:id',
      async ({ request, params, set }) => {
        const tenantId = new RequestParams(request.url, request.headers).tenant()
        await deleteObject(store.db, { tenantId, id: parseObjectId(params.id) })
        set.status = 204
      },
      { detail: { summary: 'Delete an object by id' } },
    )
    .delete(
      '/v1/objects/by-key/*',
      async ({ request, set }) => {
        await deleteObject(store.db, parseByKeyPath(request.url))
        set.status = 204
      },
      { detail: { summary: 'Delete an object by key' } },
    )
