import { principalOf } from '../auth/authenticate'
import { authorizeObjects, requirePermission, tenantScope, visibleNamespaces, type Permission } from '../auth/principal'
import { ApiError } from '../errors'
import { isUuid, parseObjectId } from '../identifiers'
import type { CopySource, ObjectSelector } from '../objects'
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

/**
 * The source an X-Copy-Source header names (null without one), limited to what
 * the principal may read as a download by id is. A copy brings no body: one
 * sent with it, or a value neither an id nor a content hash, → 400.
 */
export function selectCopySource(request: Request): CopySource | null {
  const raw = request.headers.get('x-copy-source')
  if (raw === null) return null
  const length = request.headers.get('content-length')
  if (request.headers.has('transfer-encoding') || (length !== null && !/^0+$/.test(length.trim()))) {
    throw new ApiError('bad_request', 'A copy takes no body: send X-Copy-Source with an empty body')
  }
  const value = raw.trim()
  const source = isUuid(value) ? { id: value.toLowerCase() } : /^sha256:[0-9a-f]{64}$/.test(value) ? { contentHash: value } : null
  if (!source) throw new ApiError('bad_request', 'X-Copy-Source must be an object id or sha256:<64 lowercase hex>')
  const principal = principalOf(request)
  requirePermission(principal, 'objects:read')
  return { ...source, namespaces: visibleNamespaces(principal) }
}
