import { ApiError } from '../errors'

/** Who a request acts as, and what it may do. */

export const permissions = ['objects:read', 'objects:write', 'objects:delete', 'keys:manage', 'admin'] as const
export type Permission = (typeof permissions)[number]

export interface Principal {
  kind: 'admin-token' | 'api-key' | 'jwt' | 'auth-disabled'
  /** Stable name for logs and the audit trail, e.g. `api-key:<id>`. */
  id: string
  /** null for an admin with no tenant of its own. */
  tenantId: string | null
  permissions: ReadonlySet<Permission>
  /** null: every namespace. */
  namespaces: ReadonlySet<string> | null
  /** When the credential stops working, in ms since the epoch; null: never. Keys it creates expire no later. */
  expiresAt: number | null
  /** A presigned upload's max_bytes: no upload of this principal may store more. */
  maxUploadBytes?: number
}

export const isAdmin = (principal: Principal): boolean => principal.permissions.has('admin')

export function adminPrincipal(kind: Principal['kind']): Principal {
  return { kind, id: kind, tenantId: null, permissions: new Set(permissions), namespaces: null, expiresAt: null }
}

export function parsePermissions(raw: unknown): Permission[] {
  if (!Array.isArray(raw) || raw.some((p) => typeof p !== 'string' || !(permissions as readonly string[]).includes(p))) {
    throw new ApiError('bad_request', `permissions must be a list of ${permissions.join(', ')}`)
  }
  return [...new Set(raw as Permission[])]
}

/** 403 unless the principal holds the permission (admin holds every one). */
export function requirePermission(principal: Principal, permission: Permission): void {
  if (!principal.permissions.has(permission) && !isAdmin(principal)) {
    throw new ApiError('forbidden', `This credential lacks the ${permission} permission`)
  }
}

/**
 * The tenant a request acts on: the one it names, or the principal's own.
 * Naming another tenant is 403 unless admin; an admin must name one.
 */
export function tenantFor(principal: Principal, named: string | undefined): string {
  if (named !== undefined) {
    if (!isAdmin(principal) && named !== principal.tenantId) throw new ApiError('forbidden', 'This credential may not act for that tenant')
    return named
  }
  if (principal.tenantId === null) throw new ApiError('invalid_tenant', 'Name the tenant (tenant_id or X-Tenant): an admin credential has none of its own')
  return principal.tenantId
}

/**
 * The tenant a request that finds what exists (an object by id, API keys) is
 * confined to: the one it names, or the principal's own; null (every tenant)
 * for an admin that names none, as it may act for any tenant anyway. Requests
 * that place or scope objects use tenantFor: there an admin must name one.
 */
export function tenantScope(principal: Principal, named: string | undefined): string | null {
  if (isAdmin(principal) && named === undefined) return null
  return tenantFor(principal, named)
}

/** Checks a request on objects: the permission, then the tenant and namespace it names; returns the tenant. */
export function authorizeObjects(principal: Principal, permission: Permission, named: { tenant: string | undefined; namespace?: string }): string {
  requirePermission(principal, permission)
  const tenantId = tenantFor(principal, named.tenant)
  if (named.namespace !== undefined) requireNamespace(principal, named.namespace)
  return tenantId
}

/** The namespaces a principal may see, for queries; undefined means all. */
export const visibleNamespaces = (principal: Principal): string[] | undefined => (principal.namespaces === null ? undefined : [...principal.namespaces])

/** 403 when a request names a namespace outside the principal's allow-list. */
export function requireNamespace(principal: Principal, namespace: string): void {
  if (!mayUseNamespace(principal, namespace)) throw new ApiError('forbidden', 'This credential may not use that namespace')
}

export function mayUseNamespace(principal: Principal, namespace: string): boolean {
  return principal.namespaces === null || principal.namespaces.has(namespace)
}
