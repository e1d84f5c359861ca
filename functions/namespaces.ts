import { Type } from '@sinclair/typebox'
import { Elysia, t } from 'elysia'
import { principalOf } from '../core/auth/authenticate'
import { authorizeObjects, visibleNamespaces } from '../core/auth/principal'
import { recordAudit } from '../core/audit'
import type { Db } from '../core/db/client'
import { jsonRequestBody, strictJson } from '../core/http/json-body'
import { RequestParams } from '../core/http/params'
import { parseNamespace } from '../core/identifiers'
import { maxExpiresInSecs } from '../core/lifecycle/expiry'
import { namespaceSettingsOf, tenantNamespaces, updateNamespaceSettings, type NamespaceSettings } from '../core/lifecycle/settings'
import { tenantUsage } from '../core/usage'
import { authErrors, errorResponses, placedTenantQuery } from './openapi'

const count = (description: string) => Type.Union([Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }), Type.Null()], { description })

const SettingsBody = Type.Object(
  {
    versioning: Type.Optional(Type.Boolean({ description: 'Keep a replaced or deleted object as a noncurrent version' })),
    keep_versions: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 100_000 }), Type.Null()], { description: 'Noncurrent versions kept per key; older ones are deleted (null: all)' })),
    default_expires_in: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: maxExpiresInSecs }), Type.Null()], { description: 'Seconds after its upload that an object sent without an expiry expires' })),
    cold_after_idle_secs: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: maxExpiresInSecs }), Type.Null()], { description: 'Seconds without a read after which a hot object moves to cold' })),
    quota_bytes: Type.Optional(count('Logical bytes the namespace may hold')),
    quota_objects: Type.Optional(count('Committed objects the namespace may hold')),
  },
  { additionalProperties: false },
)

const settingsFields = {
  namespace: t.String(),
  tenant_id: t.String(),
  versioning: t.Boolean(),
  keep_versions: t.Nullable(t.Integer()),
  default_expires_in: t.Nullable(t.Integer()),
  cold_after_idle_secs: t.Nullable(t.Integer()),
  quota_bytes: t.Nullable(t.Integer()),
  quota_objects: t.Nullable(t.Integer()),
}
const SettingsSchema = t.Object(settingsFields)
const NamespaceSchema = t.Object({ ...settingsFields, usage: t.Object({ objects: t.Integer(), logical_bytes: t.Integer(), physical_bytes: t.Integer() }) })

function settingsJson(tenantId: string, namespace: string, settings: NamespaceSettings) {
  return {
    namespace,
    tenant_id: tenantId,
    versioning: settings.versioning,
    keep_versions: settings.keepVersions,
    default_expires_in: settings.defaultExpiresIn,
    cold_after_idle_secs: settings.coldAfterIdleSecs,
    quota_bytes: settings.quotaBytes,
    quota_objects: settings.quotaObjects,
  }
}

function changesOf(body: typeof SettingsBody.static): Partial<NamespaceSettings> {
  const changes: Partial<NamespaceSettings> = {}
  if (body.versioning !== undefined) changes.versioning = body.versioning
  if (body.keep_versions !== undefined) changes.keepVersions = body.keep_versions
  if (body.default_expires_in !== undefined) changes.defaultExpiresIn = body.default_expires_in
  if (body.cold_after_idle_secs !== undefined) changes.coldAfterIdleSecs = body.cold_after_idle_secs
  if (body.quota_bytes !== undefined) changes.quotaBytes = body.quota_bytes
  if (body.quota_objects !== undefined) changes.quotaObjects = body.quota_objects
  return changes
}

/** The namespace a /v1/namespaces/{namespace} request names, with its tenant; `permission` checked as for objects. */
function placeOf(request: Request, raw: string, permission: 'keys:manage' | 'objects:read') {
  const namespace = parseNamespace(raw)
  const tenantId = authorizeObjects(principalOf(request), permission, { tenant: new RequestParams(request.url, request.headers).namedTenant(), namespace })
  return { namespace, tenantId }
}

/** /v1/namespaces: a tenant's namespaces, with their lifecycle settings and usage; settings changed by keys:manage, audited. */
export const namespaceRoutes = (db: Db) =>
  new Elysia({ name: 'namespaces' })
    .put(
      '/v1/namespaces/:namespace',
      async ({ body, request, params, set }) => {
        const { namespace, tenantId } = placeOf(request, params.namespace, 'keys:manage')
        const settings = await updateNamespaceSettings(db, tenantId, namespace, changesOf(body))
        await recordAudit(db, { actor: principalOf(request).id, tenantId, action: 'namespace.settings', target: namespace, requestId: String(set.headers['x-request-id']) })
        return settingsJson(tenantId, namespace, settings)
      },
      {
        parse: strictJson(SettingsBody),
        body: SettingsBody,
        response: { 200: SettingsSchema },
        detail: {
          summary: "Change a namespace's lifecycle settings (absent fields keep their value)",
          parameters: [placedTenantQuery],
          requestBody: jsonRequestBody(SettingsBody),
          responses: errorResponses(400, ...authErrors, 415),
        },
      },
    )
    .get(
      '/v1/namespaces/:namespace',
      async ({ request, params }) => {
        const { namespace, tenantId } = placeOf(request, params.namespace, 'objects:read')
        return settingsJson(tenantId, namespace, await namespaceSettingsOf(db, tenantId, namespace))
      },
      { response: { 200: SettingsSchema }, detail: { summary: "A namespace's lifecycle settings", parameters: [placedTenantQuery], responses: errorResponses(400, ...authErrors) } },
    )
    .get(
      '/v1/namespaces',
      async ({ request }) => {
        const principal = principalOf(request)
        const tenantId = authorizeObjects(principal, 'objects:read', { tenant: new RequestParams(request.url, request.headers).namedTenant() })
        const allowed = visibleNamespaces(principal)
        const [namespaces, usage] = await Promise.all([tenantNamespaces(db, tenantId, allowed), tenantUsage(db, tenantId, allowed)])
        const usageOf = (namespace: string) => {
          const rows = usage.byNamespace.filter((row) => row.namespace === namespace)
          const sum = (field: 'objects' | 'logicalBytes' | 'physicalBytes') => rows.reduce((total, row) => total + row[field], 0)
          return { objects: sum('objects'), logical_bytes: sum('logicalBytes'), physical_bytes: sum('physicalBytes') }
        }
        return { namespaces: namespaces.map(({ namespace, ...settings }) => ({ ...settingsJson(tenantId, namespace, settings), usage: usageOf(namespace) })) }
      },
      {
        response: { 200: t.Object({ namespaces: t.Array(NamespaceSchema) }) },
        detail: { summary: "The tenant's namespaces (with settings or objects), their settings and usage", parameters: [placedTenantQuery], responses: errorResponses(400, ...authErrors) },
      },
    )
