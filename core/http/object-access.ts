import { principalOf } from '../auth/authenticate'
import { authorizeObjects, requirePermission, tenantScope, visibleNamespaces, type Permission } from '../auth/principal'
import { ApiError } from '../errors'
import { parseObjectId } from '../identifiers'
import type { ObjectSelector } from '../objects'
import { RequestParams, parseByKeyPath } from './params'

/** The object an /v1/objects/{id} request names, limited to what its principal may reach; an admin naming no tenant reaches it in any. */
export function selectById(request: Request, id: string, permission: Permission): ObjectSelector {
  const principal = principalOf(request)
  requirePermission(principal, permission)
  const tenantId = tenantScope(principal, new RequestParams(request.url, request.headers).namedTenant())
  return { tenantId, id: parseObjectId(id), namespaces: visibleNamespaces(principal) }
}

/**
 * The object an /v1/objects/by-key/{namespace}/{tenant}/{key…} request names; naming what the
 * principal may not use is 403. The path names the tenant; tenant_id or X-Tenant naming another → 400.
 */
export function selectByKey(request: Request, permission: Permission): { tenantId: string; namespace: string; key: string } {
  const { namespace, tenantId, key } = parseByKeyPath(request.url)
  const named = new RequestParams(request.url, request.headers).namedTenant()
  if (named !== undefined && named !== tenantId) throw new ApiError('bad_request', `The path names tenant ${tenantId}, but tenant_id or X-Tenant names ${named}`)
  return { tenantId: authorizeObjects(principalOf(request), permission, { tenant: tenantId, namespace }), namespace, key }
}
