import { t } from 'elysia'
import type { ObjectRow } from '../db/schema'
import { parseDbTime } from '../db/time'

/** The object as clients see it (contract: "Object JSON"). */
export const ObjectSchema = t.Object({
  id: t.String({ format: 'uuid' }),
  namespace: t.String(),
  tenant_id: t.String(),
  key: t.Nullable(t.String()),
  status: t.Literal('COMMITTED'),
  storage_class: t.Union([t.Literal('hot'), t.Literal('cold')]),
  content_hash: t.String(),
  size_bytes: t.Integer(),
  content_type: t.String(),
  metadata: t.Record(t.String(), t.Unknown()),
  created_at: t.String(),
  updated_at: t.String(),
  expires_at: t.Nullable(t.String()),
})

export const PageSchema = t.Object({ objects: t.Array(ObjectSchema), next_cursor: t.Nullable(t.String()) })

export function objectJson(object: ObjectRow) {
  return {
    id: object.id,
    namespace: object.namespace,
    tenant_id: object.tenantId,
    key: object.key,
    status: 'COMMITTED' as const,
    storage_class: object.storageClass,
    content_hash: object.contentHash!,
    size_bytes: object.sizeBytes!,
    content_type: object.contentType,
    metadata: object.metadata,
    created_at: parseDbTime(object.createdAt).toISOString(),
    updated_at: parseDbTime(object.updatedAt).toISOString(),
    // A session completed before expiry existed keeps an answer without the field.
    expires_at: object.expiresAt ? parseDbTime(object.expiresAt).toISOString() : null,
  }
}
