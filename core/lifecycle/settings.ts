import { and, eq, sql } from 'drizzle-orm'
import { rowsOf, type Db } from '../db/client'
import { anyOf } from '../db/any-of'
import { namespaceSettings, tenantQuotas, usageCounters, type NamespaceSettingsRow } from '../db/schema'

/**
 * Namespace settings and tenant quotas (contract: "Lifecycle"). The settings
 * are read where they act: commit_object reads versioning, the default expiry
 * and the quotas in the commit itself; the lifecycle pass reads keep_versions.
 */

export type NamespaceSettings = Pick<NamespaceSettingsRow, 'versioning' | 'keepVersions' | 'defaultExpiresIn' | 'coldAfterIdleSecs' | 'quotaBytes' | 'quotaObjects'>

export const defaultSettings: NamespaceSettings = { versioning: false, keepVersions: null, defaultExpiresIn: null, coldAfterIdleSecs: null, quotaBytes: null, quotaObjects: null }

export interface Quotas {
  quotaBytes: number | null
  quotaObjects: number | null
}

export async function namespaceSettingsOf(db: Db, tenantId: string, namespace: string): Promise<NamespaceSettings> {
  const [row] = await db.select().from(namespaceSettings).where(and(eq(namespaceSettings.tenantId, tenantId), eq(namespaceSettings.namespace, namespace)))
  return row ? settingsOf(row) : defaultSettings
}

const settingsOf = ({ versioning, keepVersions, defaultExpiresIn, coldAfterIdleSecs, quotaBytes, quotaObjects }: NamespaceSettingsRow): NamespaceSettings => ({
  versioning, keepVersions, defaultExpiresIn, coldAfterIdleSecs, quotaBytes, quotaObjects,
})

/** Sets the fields given, keeping the others, in one statement; answers the settings as they now stand. */
export async function updateNamespaceSettings(db: Db, tenantId: string, namespace: string, changes: Partial<NamespaceSettings>): Promise<NamespaceSettings> {
  const values = { ...defaultSettings, ...changes, tenantId, namespace }
  const [row] = await db
    .insert(namespaceSettings)
    .values(values)
    .onConflictDoUpdate({ target: [namespaceSettings.tenantId, namespaceSettings.namespace], set: { ...changes, updatedAt: sql`now()` } })
    .returning()
  return settingsOf(row!)
}

/** The namespaces of a tenant that have settings or objects, within an allow-list (undefined: all), in byte order. */
export async function tenantNamespaces(db: Db, tenantId: string, namespaces?: string[]): Promise<(NamespaceSettings & { namespace: string })[]> {
  const rows = rowsOf<{ namespace: string }>(
    await db.execute(sql`
      select namespace from (
        select namespace from ${namespaceSettings} where tenant_id = ${tenantId}
        union
        select namespace from ${usageCounters} where tenant_id = ${tenantId}
        group by namespace having sum(objects) > 0) named
      order by namespace collate "C"`),
  ).filter((row) => namespaces === undefined || namespaces.includes(row.namespace))
  if (rows.length === 0) return []
  const settings = new Map(
    (await db.select().from(namespaceSettings).where(and(eq(namespaceSettings.tenantId, tenantId), anyOf(namespaceSettings.namespace, rows.map((row) => row.namespace))))).map((row) => [row.namespace, settingsOf(row)]),
  )
  return rows.map(({ namespace }) => ({ namespace, ...(settings.get(namespace) ?? defaultSettings) }))
}

export async function tenantQuotasOf(db: Db, tenantId: string): Promise<Quotas> {
  const [row] = await db.select().from(tenantQuotas).where(eq(tenantQuotas.tenantId, tenantId))
  return { quotaBytes: row?.quotaBytes ?? null, quotaObjects: row?.quotaObjects ?? null }
}

export async function updateTenantQuotas(db: Db, tenantId: string, changes: Partial<Quotas>): Promise<Quotas> {
  const [row] = await db
    .insert(tenantQuotas)
    .values({ quotaBytes: null, quotaObjects: null, ...changes, tenantId })
    .onConflictDoUpdate({ target: tenantQuotas.tenantId, set: { ...changes, updatedAt: sql`now()` } })
    .returning()
  return { quotaBytes: row!.quotaBytes, quotaObjects: row!.quotaObjects }
}

/**
 * What an upload to a namespace may still add before a quota of the namespace
 * or of its tenant is reached (null: no such quota), counting an object the
 * upload would replace as freed. An estimate for refusing early: the commit
 * checks again, exactly (quota-holds.ts).
 */
export async function quotaRoom(db: Db, tenantId: string, namespace: string, key: string | null): Promise<{ bytes: number | null; objects: number | null }> {
  const [row] = rowsOf<{ bytes: string | null; objects: string | null }>(
    await db.execute(sql`
      with quotas as (
        select s.quota_bytes, s.quota_objects, true as in_namespace from namespace_settings s where s.tenant_id = ${tenantId} and s.namespace = ${namespace}
        union all
        select q.quota_bytes, q.quota_objects, false from tenant_quotas q where q.tenant_id = ${tenantId}),
      replaced as (
        select coalesce(sum(o.size_bytes), 0) as bytes, count(*) as objects from objects o
        left join namespace_settings s on s.tenant_id = o.tenant_id and s.namespace = o.namespace
        where ${key}::text is not null and o.tenant_id = ${tenantId} and o.namespace = ${namespace} and o.key = ${key}
          and o.status = 'COMMITTED' and o.noncurrent_since is null and not coalesce(s.versioning, false))
      select min(q.quota_bytes - u.bytes + r.bytes)::text as bytes, min(q.quota_objects - u.objects + r.objects)::text as objects
      from quotas q cross join replaced r
      cross join lateral (
        select coalesce(sum(c.logical_bytes), 0) as bytes, coalesce(sum(c.objects), 0) as objects from usage_counters c
        where c.tenant_id = ${tenantId} and (not q.in_namespace or c.namespace = ${namespace})) u`),
  )
  const figure = (value: string | null | undefined) => (value == null ? null : Math.max(0, Number(value)))
  return { bytes: figure(row?.bytes), objects: figure(row?.objects) }
}
