import { principalOf } from '../auth/authenticate'
import { authorizeObjects, visibleNamespaces, type Permission } from '../auth/principal'
import { parseObjectId } from '../identifiers'
import type { ObjectSelector } from '../objects'
import { RequestParams, parseByKeyPath } from './params'

/** The object an /v1/objects/{id} request names, limited to what its principal may reach. */
export function selectById(request: Request, id: string, permission: Permission): ObjectSelector {
  const principal = principalOf(request)
  const tenantId = authorizeObjects(principal, permission, { tenant: new RequestParams(request.url, request.headers).namedTenant() })
  return { tenantId, id: parseObjectId(id), namespaces: visibleNamespaces(principal) }
}

/** The object an /v1/objects/by-key/{namespace}/{tenant}/{key…} request names; naming what the principal may not use is 403. */
export function selectByKey(request: Request, permission: Permission): Required<Pick<ObjectSelector, 'tenantId' | 'namespace' | 'key'>> {
  const { namespace, tenantId, key } = parseByKeyPath(request.url)
  return { tenantId: authorizeObjects(principalOf(request), permission, { tenant: tenantId, namespace }), namespace, key }
}
