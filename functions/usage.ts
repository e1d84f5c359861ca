import { Elysia, t } from 'elysia'
import { principalOf } from '../core/auth/authenticate'
import { authorizeObjects, visibleNamespaces } from '../core/auth/principal'
import type { Db } from '../core/db/client'
import { RequestParams } from '../core/http/params'
import { tenantUsage } from '../core/usage'
import { tenantNamespaces, tenantQuotasOf } from '../core/lifecycle/settings'
import { authErrors, errorResponses } from './openapi'

const counts = {
  objects: t.Integer({ minimum: 0 }),
  logical_bytes: t.Integer({ minimum: 0, description: 'Sum of the sizes of every committed object' }),
  physical_bytes: t.Integer({ minimum: 0, description: 'Sum of the sizes of the distinct blobs referenced (per storage class)' }),
}

const quotaFields = {
  quota_bytes: t.Nullable(t.Integer({ description: 'Logical bytes allowed (null: no quota)' })),
  quota_objects: t.Nullable(t.Integer({ description: 'Committed objects allowed (null: no quota)' })),
}

const UsageSchema = t.Object({
  tenant_id: t.String(),
  ...counts,
  ...quotaFields,
  by_namespace: t.Array(t.Object({ namespace: t.String(), storage_class: t.Union([t.Literal('hot'), t.Literal('cold')]), ...counts })),
  namespace_quotas: t.Array(t.Object({ namespace: t.String(), objects: counts.objects, logical_bytes: counts.logical_bytes, ...quotaFields })),
})

/** GET /v1/usage: what the request's tenant stores, logically and on disk. */
export const usageRoutes = (db: Db) =>
  new Elysia({ name: 'usage' }).get(
    '/v1/usage',
    async ({ request }) => {
      const principal = principalOf(request)
      const tenantId = authorizeObjects(principal, 'objects:read', { tenant: new RequestParams(request.url, request.headers).namedTenant() })
      const allowed = visibleNamespaces(principal)
      const [usage, quotas, namespaces] = await Promise.all([tenantUsage(db, tenantId, allowed), tenantQuotasOf(db, tenantId), tenantNamespaces(db, tenantId, allowed)])
      const used = (namespace: string, field: 'objects' | 'logicalBytes') =>
        usage.byNamespace.filter((row) => row.namespace === namespace).reduce((total, row) => total + row[field], 0)
      return {
        tenant_id: usage.tenantId,
        objects: usage.objects,
        logical_bytes: usage.logicalBytes,
        physical_bytes: usage.physicalBytes,
        quota_bytes: quotas.quotaBytes,
        quota_objects: quotas.quotaObjects,
        by_namespace: usage.byNamespace.map((row) => ({
          namespace: row.namespace,
          storage_class: row.storageClass,
          objects: row.objects,
          logical_bytes: row.logicalBytes,
          physical_bytes: row.physicalBytes,
        })),
        namespace_quotas: namespaces
          .filter((row) => row.quotaBytes !== null || row.quotaObjects !== null)
          .map((row) => ({ namespace: row.namespace, objects: used(row.namespace, 'objects'), logical_bytes: used(row.namespace, 'logicalBytes'), quota_bytes: row.quotaBytes, quota_objects: row.quotaObjects })),
      }
    },
    {
      query: t.Object({ tenant_id: t.Optional(t.String({ description: 'Tenant (or X-Tenant); an admin must name one' })) }, { additionalProperties: true }),
      response: { 200: UsageSchema },
      detail: {
        summary: "The tenant's object count and logical and physical (deduplicated) bytes, per namespace and storage class",
        responses: errorResponses(400, ...authErrors),
      },
    },
  )
