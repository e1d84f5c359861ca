import { sql, type SQL } from 'drizzle-orm'
import { type AnyPgColumn, bigint, boolean, check, customType, index, integer, jsonb, pgEnum, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'

export const objectStatus = pgEnum('object_status', ['WRITING', 'COMMITTED', 'DELETING', 'DELETED'])
export const storageClass = pgEnum('storage_class', ['hot', 'cold'])

/**
 * `status = '<status>'` with the status written into the statement, never a
 * parameter: only then can a prepared statement's generic plan use the partial
 * indexes whose predicates name it (a parameter would make the planner plan
 * every execution anew).
 */
export const statusIs = (column: AnyPgColumn, status: (typeof objectStatus.enumValues)[number]): SQL => sql`${column} = ${sql.raw(`'${status}'`)}`

const instant = (name: string) => timestamp(name, { withTimezone: true, precision: 6, mode: 'string' })
const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({ dataType: () => 'bytea' })

/**
 * One stored copy per (storage class, content hash); objects reference it. The
 * copy is a file, or for small blobs the inline_data column, so that a small
 * upload commits with one database transaction instead of file syncs.
 */
export const blobs = pgTable(
  'blobs',
  {
    storageClass: storageClass('storage_class').notNull(),
    contentHash: text('content_hash').notNull(),
    sizeBytes: bigint('size_bytes', { mode: 'number' }).notNull(),
    refCount: integer('ref_count').notNull().default(0),
    // Set when the last reference goes; garbage collection waits a grace period from here.
    unreferencedSince: instant('unreferenced_since'),
    // Set by the scrubber when the file is missing or its bytes no longer hash to content_hash.
    corruptAt: instant('corrupt_at'),
    createdAt: instant('created_at').notNull().defaultNow(),
    // The bytes of a small blob; null when they are in the blob's file.
    inlineData: bytea('inline_data'),
    // Bumped whenever a commit puts new verified bytes in place (a file renamed over, inline bytes
    // replaced): the scrubber marks a blob only if the bytes it checked are still the ones there.
    generation: integer('generation').notNull().default(0),
  },
  (table) => [
    primaryKey({ columns: [table.storageClass, table.contentHash] }),
    check('blobs_ref_count_non_negative', sql`${table.refCount} >= 0`),
    index('blobs_unreferenced_idx').on(table.unreferencedSince).where(sql`${table.refCount} = 0`),
  ],
)

export const objects = pgTable(
  'objects',
  {
    id: uuid('id').primaryKey(),
    namespace: text('namespace').notNull(),
    tenantId: text('tenant_id').notNull(),
    key: text('key'),
    status: objectStatus('status').notNull(),
    storageClass: storageClass('storage_class').notNull(),
    contentHash: text('content_hash'),
    sizeBytes: bigint('size_bytes', { mode: 'number' }),
    contentType: text('content_type').notNull(),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: instant('created_at').notNull().defaultNow(),
    updatedAt: instant('updated_at').notNull().defaultNow(),
    // From this instant the object is invisible; the lifecycle pass deletes it.
    expiresAt: instant('expires_at'),
    // Set when a versioned namespace's key moved on: the object is a noncurrent version, readable by id only.
    noncurrentSince: instant('noncurrent_since'),
    // When a read last used it, written in batches (null: never read); tiering moves the idle to cold.
    lastReadAt: instant('last_read_at'),
  },
  (table) => [
    // A key names at most one current object per tenant and namespace.
    uniqueIndex('objects_live_key_idx')
      .on(table.tenantId, table.namespace, table.key)
      .where(sql`${table.status} = 'COMMITTED' and ${table.key} is not null and ${table.noncurrentSince} is null`),
    // The versions of a key, newest first.
    index('objects_versions_idx')
      .on(table.tenantId, table.namespace, table.key, table.createdAt, table.id)
      .where(sql`${table.status} = 'COMMITTED' and ${table.key} is not null`),
    // The lifecycle pass finds what has expired, and the keys with noncurrent versions, without a walk.
    index('objects_expiry_idx').on(table.expiresAt).where(sql`${table.status} = 'COMMITTED' and ${table.expiresAt} is not null`),
    // Tiering finds a namespace's idle hot objects, least recently used first, without a walk.
    index('objects_idle_idx')
      .on(table.tenantId, table.namespace, sql`coalesce(${table.lastReadAt}, ${table.createdAt})`)
      .where(sql`${table.status} = 'COMMITTED' and ${table.storageClass} = 'hot'`),
    index('objects_noncurrent_idx')
      .on(table.tenantId, table.namespace, table.key)
      .where(sql`${table.status} = 'COMMITTED' and ${table.noncurrentSince} is not null`),
    // Keyset pagination over visible objects: every page is one index range scan.
    index('objects_listing_idx')
      .on(table.tenantId, table.namespace, table.createdAt, table.id)
      .where(sql`${table.status} = 'COMMITTED'`),
    index('objects_writing_idx').on(table.updatedAt).where(sql`${table.status} = 'WRITING'`),
    // Garbage collection finishes deletes and purges tombstones by age.
    index('objects_deleted_idx').on(table.status, table.updatedAt).where(sql`${table.status} in ('DELETING', 'DELETED')`),
    // The objects of a blob; with the tenant and namespace, whether a tenant or a namespace still holds it (usage counts it once).
    index('objects_blob_idx').on(table.storageClass, table.contentHash, table.tenantId, table.namespace),
    // Searches: each common filter has an index, so a search matching nothing reads nothing.
    // key_prefix is a range of objects_live_key_idx (keys compare bytewise: COLLATE "C").
    index('objects_content_type_idx')
      .on(table.tenantId, table.namespace, sql`lower(${table.contentType})`, table.createdAt, table.id)
      .where(sql`${table.status} = 'COMMITTED'`),
    index('objects_metadata_idx').using('gin', table.metadata.op('jsonb_path_ops')).where(sql`${table.status} = 'COMMITTED'`),
    index('objects_key_trigram_idx')
      .using('gin', table.key.op('gin_trgm_ops'))
      .where(sql`${table.status} = 'COMMITTED' and ${table.key} is not null`),
    index('objects_words_idx').using('gin', sql`object_words(${table.key}, ${table.metadata})`).where(sql`${table.status} = 'COMMITTED'`),
  ],
)

/**
 * Running usage totals per tenant, namespace and storage class, kept by
 * commit_object and release_object (migrations/0008) so that usage reads a few
 * rows instead of the tenant's objects. Each database connection adds to its own
 * row (slot = its backend pid), so concurrent commits never wait on one another;
 * garbage collection folds the rows of closed connections into slot 0. The
 * tenant's figure is the sum of the rows.
 */
export const usageCounters = pgTable(
  'usage_counters',
  {
    tenantId: text('tenant_id').notNull(),
    namespace: text('namespace').notNull(),
    storageClass: storageClass('storage_class').notNull(),
    slot: integer('slot').notNull(),
    objects: bigint('objects', { mode: 'number' }).notNull().default(0),
    logicalBytes: bigint('logical_bytes', { mode: 'number' }).notNull().default(0),
    // Each blob the namespace references counted once.
    physicalBytes: bigint('physical_bytes', { mode: 'number' }).notNull().default(0),
    // Each blob the tenant references counted once, in the namespace that made it the tenant's.
    tenantPhysicalBytes: bigint('tenant_physical_bytes', { mode: 'number' }).notNull().default(0),
  },
  (table) => [primaryKey({ columns: [table.tenantId, table.namespace, table.storageClass, table.slot] })],
)

/**
 * Resumable upload sessions: bytes arrive over many requests and become an
 * object on completion. `offset` counts the bytes acknowledged durable; what
 * the blob store keeps of them is `store_state` (a multipart upload's parts)
 * and, for a bucket, `tail`: the bytes after the last whole part, kept here
 * until a part is full. A completed session keeps its answer until it expires.
 */
export const uploadSessions = pgTable(
  'upload_sessions',
  {
    id: uuid('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    namespace: text('namespace').notNull(),
    key: text('key'),
    storageClass: storageClass('storage_class').notNull(),
    contentType: text('content_type').notNull(),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    overwrite: boolean('overwrite').notNull(),
    expectedHash: text('expected_hash'),
    length: bigint('length', { mode: 'number' }),
    offset: bigint('offset', { mode: 'number' }).notNull().default(0),
    storeState: jsonb('store_state').$type<Record<string, unknown>>().notNull().default({}),
    tail: bytea('tail'),
    // The object JSON of the completion, answered again to a repeated complete.
    completed: jsonb('completed').$type<Record<string, unknown>>(),
    createdAt: instant('created_at').notNull().defaultNow(),
    updatedAt: instant('updated_at').notNull().defaultNow(),
    expiresAt: instant('expires_at').notNull(),
    // When the completed object expires (X-Expires-At / X-Expires-In at creation).
    objectExpiresAt: instant('object_expires_at'),
  },
  (table) => [
    index('upload_sessions_open_idx').on(table.tenantId, table.namespace, table.createdAt, table.id).where(sql`${table.completed} is null`),
    index('upload_sessions_expiry_idx').on(table.expiresAt),
  ],
)

/**
 * A namespace's lifecycle settings (contract: "Lifecycle"); a namespace
 * without a row has the defaults: no versioning, expiry, tiering or quota.
 */
export const namespaceSettings = pgTable(
  'namespace_settings',
  {
    tenantId: text('tenant_id').notNull(),
    namespace: text('namespace').notNull(),
    versioning: boolean('versioning').notNull().default(false),
    keepVersions: integer('keep_versions'),
    defaultExpiresIn: bigint('default_expires_in', { mode: 'number' }),
    coldAfterIdleSecs: bigint('cold_after_idle_secs', { mode: 'number' }),
    quotaBytes: bigint('quota_bytes', { mode: 'number' }),
    quotaObjects: bigint('quota_objects', { mode: 'number' }),
    updatedAt: instant('updated_at').notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.tenantId, table.namespace] })],
)

/** A tenant's quotas, set by an admin. */
export const tenantQuotas = pgTable('tenant_quotas', {
  tenantId: text('tenant_id').primaryKey(),
  quotaBytes: bigint('quota_bytes', { mode: 'number' }),
  quotaObjects: bigint('quota_objects', { mode: 'number' }),
  updatedAt: instant('updated_at').notNull().defaultNow(),
})

/**
 * Room a commit has been granted under a quota before it runs (hold_quotas,
 * migrations/0013): taken in a short transaction under the tenant's quota
 * lock, and removed by the commit itself, which then needs no lock. Quota
 * checks count the holds beside the usage counters. Unlogged (in the
 * migration): a hold lives for one commit, and one lost in a crash only means
 * its commit is checked under the lock. A hold whose commit never came (its
 * process died) is removed by GC after STUCK_UPLOAD_TIMEOUT_SECS.
 */
export const quotaHolds = pgTable(
  'quota_holds',
  {
    /** The object the commit creates. */
    id: uuid('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    namespace: text('namespace').notNull(),
    bytes: bigint('bytes', { mode: 'number' }).notNull(),
    objects: integer('objects').notNull(),
    createdAt: instant('created_at').notNull().default(sql`clock_timestamp()`),
  },
  (table) => [index('quota_holds_tenant_idx').on(table.tenantId, table.namespace)],
)

/** The last run of each background job, for the admin status page. */
export const backgroundRuns = pgTable('background_runs', {
  job: text('job').primaryKey(),
  startedAt: instant('started_at').notNull(),
  finishedAt: instant('finished_at'),
  outcome: jsonb('outcome').$type<Record<string, unknown>>(),
  error: text('error'),
})

/**
 * Background work the replicas share: the latest slot each job was claimed for
 * (a scheduled time, or when a sweep began), so that one replica runs it per
 * slot, and what the run found where other replicas need it (the storage gauges).
 */
export const jobClaims = pgTable('job_claims', {
  job: text('job').primaryKey(),
  slot: instant('slot').notNull(),
  result: jsonb('result').$type<unknown>(),
})

/** API keys: only a SHA-256 of the secret is stored; the id is also the lookup part of the key. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey(),
    name: text('name').notNull(),
    tenantId: text('tenant_id').notNull(),
    secretHash: text('secret_hash').notNull(),
    permissions: text('permissions').array().notNull(),
    // null: every namespace of the tenant
    namespaces: text('namespaces').array(),
    expiresAt: instant('expires_at'),
    createdAt: instant('created_at').notNull().defaultNow(),
    createdBy: text('created_by').notNull(),
    lastUsedAt: instant('last_used_at'),
    revokedAt: instant('revoked_at'),
  },
  (table) => [index('api_keys_tenant_idx').on(table.tenantId, table.createdAt, table.id)],
)

/** Who did what to which target, for security-relevant actions. */
export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    at: instant('at').notNull().defaultNow(),
    actor: text('actor').notNull(),
    tenantId: text('tenant_id'),
    action: text('action').notNull(),
    target: text('target'),
    requestId: text('request_id'),
  },
  (table) => [index('audit_events_tenant_idx').on(table.tenantId, table.id)],
)

/** Service-wide settings kept in the database (the admin token's hash). */
export const settings = pgTable('settings', {
  name: text('name').primaryKey(),
  value: text('value').notNull(),
})

export type ApiKeyRow = typeof apiKeys.$inferSelect
export type ObjectRow = typeof objects.$inferSelect
export type UploadSessionRow = typeof uploadSessions.$inferSelect
export type NamespaceSettingsRow = typeof namespaceSettings.$inferSelect
export type StorageClass = (typeof storageClass.enumValues)[number]
