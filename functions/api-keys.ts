import { Type } from '@sinclair/typebox'
import { Elysia, t } from 'elysia'
import { createApiKey, findApiKey, listApiKeys, revokeApiKey, type KeyScope } from '../core/auth/api-keys'
import { principalOf } from '../core/auth/authenticate'
import { isAdmin, parsePermissions, permissions as allPermissions, requirePermission, tenantFor, tenantScope, type Principal } from '../core/auth/principal'
import { recordAudit } from '../core/audit'
import type { Db } from '../core/db/client'
import type { ApiKeyRow } from '../core/db/schema'
import { parseDbTime } from '../core/db/time'
import { ApiError } from '../core/errors'
import { jsonRequestBody, strictJson } from '../core/http/json-body'
import { RequestParams } from '../core/http/params'
import { parseNamespace, parseObjectId, parseTenant, parseTimestamp } from '../core/identifiers'
import { parseLimit } from './list'
import { authErrors, errorResponses, pageQuery } from './openapi'

const NewKeyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    tenant_id: Type.Optional(Type.String()),
    permissions: Type.Array(Type.String(), { minItems: 1 }),
    namespaces: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
    expires_at: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  },
  { additionalProperties: false },
)

const ApiKeySchema = t.Object({
  id: t.String(),
  name: t.String(),
  tenant_id: t.String(),
  permissions: t.Array(t.String({ enum: [...allPermissions] })),
  namespaces: t.Nullable(t.Array(t.String())),
  expires_at: t.Nullable(t.String()),
  created_at: t.String(),
  last_used_at: t.Nullable(t.String()),
})

const time = (value: string | null) => (value === null ? null : parseDbTime(value).toISOString())

function apiKeyJson(row: ApiKeyRow) {
  return {
    id: row.id,
    name: row.name,
    tenant_id: row.tenantId,
    permissions: row.permissions,
    namespaces: row.namespaces,
    expires_at: time(row.expiresAt),
    created_at: time(row.createdAt)!,
    last_used_at: time(row.lastUsedAt),
  }
}

/** The keys a principal manages: of its own tenant (an admin may name one or see all), within its own namespaces. */
function managedScope(principal: Principal, named: string | undefined): KeyScope {
  requirePermission(principal, 'keys:manage')
  return { tenantId: tenantScope(principal, named), namespaces: principal.namespaces === null ? null : [...principal.namespaces] }
}

/** A new key expires when asked, and never after the credential creating it: asked for none, it expires with that one. */
function newKeyExpiry(principal: Principal, requested: string | null | undefined): string | null {
  let expiresAt: number | null = null
  if (requested != null) {
    const parsed = parseTimestamp(requested, 'expires_at')
    if (parsed.floorMs <= Date.now()) throw new ApiError('bad_request', 'expires_at is in the past')
    expiresAt = parsed.floorMs
  }
  if (principal.expiresAt !== null) {
    if (expiresAt !== null && expiresAt > principal.expiresAt) {
      throw new ApiError('forbidden', `This credential expires at ${new Date(principal.expiresAt).toISOString()} and may not create a key that outlives it`)
    }
    expiresAt ??= principal.expiresAt
  }
  return expiresAt === null ? null : new Date(expiresAt).toISOString()
}

/** /v1/api-keys: create (shown once), list, read and revoke a tenant's keys; creation and revocation are audited. */
export const apiKeyRoutes = (db: Db) =>
  new Elysia({ name: 'api-keys' })
    .post(
      '/v1/api-keys',
      async ({ body, request, set }) => {
        const principal = principalOf(request)
        requirePermission(principal, 'keys:manage')
        // The tenant may be named in the body, or like on every route by tenant_id in the query or X-Tenant.
        const elsewhere = new RequestParams(request.url, request.headers).namedTenant()
        const named = body.tenant_id === undefined ? elsewhere : parseTenant(body.tenant_id)
        if (elsewhere !== undefined && named !== elsewhere) throw new ApiError('bad_request', 'tenant_id and X-Tenant disagree')
        const tenantId = tenantFor(principal, named)
        const granted = parsePermissions(body.permissions)
        // A key never carries more than its creator holds; only an admin grants admin.
        for (const permission of granted) {
          if (!isAdmin(principal) && (permission === 'admin' || !principal.permissions.has(permission))) {
            throw new ApiError('forbidden', `This credential may not grant ${permission}`)
          }
        }
        const namespaces = body.namespaces == null ? null : [...new Set(body.namespaces.map(parseNamespace))]
        if (principal.namespaces !== null && (namespaces === null || namespaces.some((n) => !principal.namespaces!.has(n)))) {
          throw new ApiError('forbidden', 'This credential may only grant namespaces it may use itself')
        }
        const expiresAt = newKeyExpiry(principal, body.expires_at)
        const { row, key } = await createApiKey(db, { name: body.name, tenantId, permissions: granted, namespaces, expiresAt, createdBy: principal.id })
        await recordAudit(db, { actor: principal.id, tenantId, action: 'api_key.create', target: row.id, requestId: String(set.headers['x-request-id']) })
        set.status = 201
        return { ...apiKeyJson(row), key }
      },
      {
        parse: strictJson(NewKeyBody),
        body: NewKeyBody,
        response: { 201: t.Composite([ApiKeySchema, t.Object({ key: t.String() })]) },
        detail: { summary: 'Create an API key (the secret is shown only in this response)', requestBody: jsonRequestBody(NewKeyBody), responses: errorResponses(400, ...authErrors, 415) },
      },
    )
    .get(
      '/v1/api-keys',
      async ({ request }) => {
        const params = new RequestParams(request.url, request.headers)
        const scope = managedScope(principalOf(request), params.namedTenant())
        const page = await listApiKeys(db, scope, parseLimit(params.query('limit')), params.query('cursor'))
        return { api_keys: page.rows.map(apiKeyJson), next_cursor: page.nextCursor }
      },
      {
        response: { 200: t.Object({ api_keys: t.Array(ApiKeySchema), next_cursor: t.Nullable(t.String()) }) },
        detail: { summary: 'List API keys of the tenant', parameters: [...pageQuery], responses: errorResponses(400, ...authErrors) },
      },
    )
    .get(
      '/v1/api-keys/:id',
      async ({ request, params }) => {
        const scope = managedScope(principalOf(request), new RequestParams(request.url, request.headers).namedTenant())
        return apiKeyJson(await findApiKey(db, parseObjectId(params.id), scope))
      },
      { response: { 200: ApiKeySchema }, detail: { summary: 'Read an API key (never its secret)', responses: errorResponses(400, ...authErrors, 404) } },
    )
    .delete(
      '/v1/api-keys/:id',
      async ({ request, params, set }) => {
        const principal = principalOf(request)
        const scope = managedScope(principal, new RequestParams(request.url, request.headers).namedTenant())
        const id = parseObjectId(params.id)
        const target = await findApiKey(db, id, scope)
        // Only an admin grants admin, and only an admin takes it away.
        if (!isAdmin(principal) && target.permissions.includes('admin')) throw new ApiError('forbidden', 'Only an admin may revoke a key holding admin')
        const row = await revokeApiKey(db, id, scope)
        await recordAudit(db, { actor: principal.id, tenantId: row.tenantId, action: 'api_key.revoke', target: row.id, requestId: String(set.headers['x-request-id']) })
        set.status = 204
      },
      { detail: { summary: 'Revoke an API key', responses: { 204: { description: 'Revoked' }, ...errorResponses(400, ...authErrors, 404) } } },
    )
