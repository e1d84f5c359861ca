import { Elysia } from 'elysia'
import { principalOf } from '../core/auth/authenticate'
import { selectById, selectByKey } from '../core/http/object-access'
import { deleteObject, type ObjectSelector, type ObjectStore } from '../core/objects'
import { authErrors, errorResponses, tenantQuery } from './openapi'

/** DELETE by id or by key: invisible at once, bytes reclaimed later by garbage collection; audited. */
export const deleteRoutes = (store: ObjectStore) => {
  const remove = async (request: Request, selector: ObjectSelector, requestId: unknown) => {
    await deleteObject(store.db, selector, { actor: principalOf(request).id, requestId: String(requestId) })
  }
  return new Elysia({ name: 'delete' })
    .delete(
      '/v1/objects/:id',
      async ({ request, params, set }) => {
        await remove(request, selectById(request, params.id, 'objects:delete'), set.headers['x-request-id'])
        set.status = 204
      },
      { detail: { summary: 'Delete an object by id', parameters: [tenantQuery], responses: { 204: { description: 'Deleted' }, ...errorResponses(400, ...authErrors, 404) } } },
    )
    .delete(
      '/v1/objects/by-key/*',
      async ({ request, set }) => {
        await remove(request, selectByKey(request, 'objects:delete'), set.headers['x-request-id'])
        set.status = 204
      },
      { detail: { summary: 'Delete an object by key', responses: { 204: { description: 'Deleted' }, ...errorResponses(400, ...authErrors, 404) } } },
    )
}
