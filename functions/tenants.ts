import { Type } from '@sinclair/typebox'
import { Elysia, t } from 'elysia'
import { principalOf } from '../core/auth/authenticate'
import { recordAudit } from '../core/audit'
import type { Db } from '../core/db/client'
import { jsonRequestBody, strictJson } from '../core/http/json-body'
import { parseTenant } from '../core/identifiers'
import { tenantQuotasOf, updateTenantQuotas, type Quotas } from '../core/lifecycle/settings'
import { requireAdmin } from './admin-guard'
import { authErrors, errorResponses } from './openapi'

const count = (description: string) => Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }), Type.Null()], { description }))
const QuotaBody = Type.Object(
  { quota_bytes: count('Logical bytes the tenant may hold (null: no limit)'), quota_objects: count('Committed objects the tenant may hold (null: no limit)') },
  { additionalProperties: false },
)
const QuotaSchema = t.Object({ tenant_id: t.String(), quota_bytes: t.Nullable(t.Integer()), quota_objects: t.Nullable(t.Integer()) })

const quotaJson = (tenantId: string, quotas: Quotas) => ({ tenant_id: tenantId, quota_bytes: quotas.quotaBytes, quota_objects: quotas.quotaObjects })

/** /v1/admin/tenants/{tenant_id}: a tenant's quotas, set by an admin (absent fields keep their value), audited. */
export const tenantRoutes = (db: Db) =>
  new Elysia({ name: 'tenants' })
    .put(
      '/v1/admin/tenants/:tenant_id',
      async ({ body, request, params, set }) => {
        const tenantId = parseTenant(params.tenant_id)
        const changes: Partial<Quotas> = {}
        if (body.quota_bytes !== undefined) changes.quotaBytes = body.quota_bytes
        if (body.quota_objects !== undefined) changes.quotaObjects = body.quota_objects
        const quotas = await updateTenantQuotas(db, tenantId, changes)
        await recordAudit(db, { actor: principalOf(request).id, tenantId, action: 'tenant.quota', target: tenantId, requestId: String(set.headers['x-request-id']) })
        return quotaJson(tenantId, quotas)
      },
      {
        beforeHandle: requireAdmin,
        parse: strictJson(QuotaBody),
        body: QuotaBody,
        response: { 200: QuotaSchema },
        detail: { summary: "Set a tenant's quotas", requestBody: jsonRequestBody(QuotaBody), responses: errorResponses(400, ...authErrors, 415) },
      },
    )
    .get(
      '/v1/admin/tenants/:tenant_id',
      async ({ params }) => {
        const tenantId = parseTenant(params.tenant_id)
        return quotaJson(tenantId, await tenantQuotasOf(db, tenantId))
      },
      { beforeHandle: requireAdmin, response: { 200: QuotaSchema }, detail: { summary: "A tenant's quotas", responses: errorResponses(400, ...authErrors) } },
    )
