import { Elysia, t } from 'elysia'
import { listAudit } from '../core/audit'
import type { Db } from '../core/db/client'
import { RequestParams } from '../core/http/params'
import { requireAdmin } from './admin-guard'
import { parseLimit } from './list'
import { authErrors, errorResponses, pageQuery } from './openapi'

const AuditEventSchema = t.Object({
  id: t.Integer(),
  at: t.String(),
  actor: t.String(),
  tenant_id: t.Nullable(t.String()),
  action: t.String(),
  target: t.Nullable(t.String()),
  request_id: t.Nullable(t.String()),
})

/** GET /v1/admin/audit: the audit trail, newest first, optionally for one tenant. */
export const auditRoutes = (db: Db) =>
  new Elysia({ name: 'audit' }).get(
    '/v1/admin/audit',
    async ({ request }) => {
      const params = new RequestParams(request.url, request.headers)
      return listAudit(db, { limit: parseLimit(params.query('limit')), cursor: params.query('cursor'), tenantId: params.namedTenant() })
    },
    {
      beforeHandle: requireAdmin,
      response: { 200: t.Object({ events: t.Array(AuditEventSchema), next_cursor: t.Nullable(t.String()) }) },
      detail: { summary: 'The audit trail (key changes, deletes, admin actions)', parameters: [...pageQuery, { in: 'query', name: 'tenant_id', required: false, description: "Only this tenant's events (or X-Tenant)", schema: { type: 'string' } }], responses: errorResponses(400, ...authErrors) },
    },
  )
