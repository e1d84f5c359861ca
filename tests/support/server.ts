import { mkdirSync, rmSync } from 'node:fs'
import { assembleDeps, createApp, serveOptions } from '../../app'
import { loadConfig, storageDirectories } from '../../core/config'
import { openDatabase, type Database } from '../../core/db/client'
import type { ObjectStore } from '../../core/objects'
import { startPostgres, type PostgresCluster } from './postgres'
import { refreshStorageMetrics } from '../../core/metrics'
import { tempDirectory, type StorageRoots } from '../../core/store/paths'
import { sharedS3, type S3Target } from './ceph'
import { tempDir } from './temp'

/**
 * `embedded`: the server starts its own cluster in its data directory (no DATABASE_URL); `postgres`: a database of the shared cluster;
 * `s3`: that, with both storage classes on a fresh bucket of the shared Ceph RGW.
 */
export type Backend = 'embedded' | 'postgres' | 's3'
export const backends: Backend[] = ['embedded', 'postgres']
/** For suites that reach blobs only through the service and its blob stores: every backend, buckets too. */
export const storageBackends: Backend[] = [...backends, 's3']

let cluster: Promise<PostgresCluster> | undefined
/** One throwaway PostgreSQL cluster per test process; each server gets a fresh database in it. */
export function sharedCluster(): Promise<PostgresCluster> {
  cluster ??= startPostgres()
  return cluster
}

export async function stopSharedCluster(): Promise<void> {
  if (cluster) await (await cluster).stop()
  cluster = undefined
}

export interface TestServer {
  url: string
  backend: Backend
  dataDir: string
  store: ObjectStore
  database: Database
  /** The directories of the storage classes, for tests that look at the files. */
  roots: StorageRoots
  /** The server's database, for tests that connect themselves. */
  databaseUrl: string
  /** Reads the database into the storage gauges, as the service's 30 s schedule does (`batchPages` heap pages per query). */
  refreshMetrics(batchPages?: number): Promise<void>
  stop(): Promise<void>
}

let databaseCounter = 0

/** A real listening server on a free port, on a fresh data directory and database. */
export const adminToken = 'test-admin-token-of-at-least-32-bytes'

export interface ServerOptions {
  /** Authentication on; off (AUTH_DISABLED, every request acts as admin) by default for tests of object behaviour. */
  auth?: boolean
  maxUploadBytes?: number
  /** Most tests look at blob files, so bodies go to files unless a test keeps small ones inline. */
  inlineMaxBytes?: number
  gc?: { graceSecs?: number; batchSize?: number; stuckUploadTimeoutSecs?: number; tombstoneRetentionSecs?: number }
  uploadSessionTtlSecs?: number
  scrubMaxBytesPerSec?: number
  /** Further environment, as the service would read it. */
  env?: Record<string, string>
  /** The database of another test server, for a replica of it (with its bucket given in env). */
  databaseUrl?: string
}

export async function startServer(backend: Backend, options: ServerOptions = {}): Promise<TestServer> {
  const dataDir = tempDir('juststorage-test-')
  const databaseUrl =
    options.databaseUrl ?? (backend === 'embedded' ? undefined : await (await sharedCluster()).createDatabase(`t${process.pid}_${++databaseCounter}_${Date.now()}`))
  const buckets = backend === 's3' ? await bucketEnvironment() : {}
  const config = loadConfig({
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    DB_MAX_CONNECTIONS: '40',
    ADMIN_TOKEN: adminToken,
    AUTH_DISABLED: String(!options.auth),
    MAX_UPLOAD_BYTES: String(options.maxUploadBytes ?? 64 * 2 ** 30),
    INLINE_MAX_BYTES: String(options.inlineMaxBytes ?? 0),
    GC_GRACE_SECS: String(options.gc?.graceSecs ?? 0),
    GC_BATCH_SIZE: String(options.gc?.batchSize ?? 100),
    STUCK_UPLOAD_TIMEOUT_SECS: String(options.gc?.stuckUploadTimeoutSecs ?? 3600),
    UPLOAD_SESSION_TTL_SECS: String(options.uploadSessionTtlSecs ?? 86400),
    TOMBSTONE_RETENTION_SECS: String(options.gc?.tombstoneRetentionSecs ?? 0),
    SCRUB_MAX_BYTES_PER_SEC: String(options.scrubMaxBytesPerSec ?? 2 ** 30),
    // Tests run quietly unless one asks for logs.
    LOG_LEVEL: 'silent',
    ...buckets,
    ...options.env,
  })
  for (const root of Object.values(storageDirectories(config))) mkdirSync(tempDirectory(root), { recursive: true })
  const database = await openDatabase({ databaseUrl, dataDir, maxConnections: config.dbMaxConnections, statementTimeoutSecs: config.dbStatementTimeoutSecs })
  const deps = await assembleDeps(config, database, () => false)
  const store = deps.store
  const app = createApp(deps)
  app.listen({ ...serveOptions, hostname: '127.0.0.1', port: 0 })
  return {
    url: `http://127.0.0.1:${app.server!.port}`,
    backend,
    dataDir,
    store,
    database,
    // Meaningful on the backends with directories; tests that look at files run on those only.
    roots: deps.roots as StorageRoots,
    databaseUrl: database.url,
    refreshMetrics: (batchPages) => refreshStorageMetrics(database.background, config.gcGraceSecs, batchPages === undefined ? undefined : { batchPages, pauseMs: 0 }),
    async stop() {
      await app.stop(true)
      await database.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** Both storage classes on a fresh bucket of the shared RGW (or the server S3_ENDPOINT names), or of the one given. */
export async function bucketEnvironment(target?: S3Target): Promise<Record<string, string>> {
  const s3 = target ?? (await sharedS3())
  const bucket = await s3.createBucket()
  return {
    HOT_STORAGE_ROOT: `s3://${bucket}/hot`,
    COLD_STORAGE_ROOT: `s3://${bucket}/cold`,
    S3_ENDPOINT: s3.endpoint,
    S3_REGION: s3.region,
    S3_ACCESS_KEY_ID: s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
  }
}
