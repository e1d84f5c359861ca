/**
 * The service under test, as its own process (`bun main.ts`), on a PostgreSQL
 * server (DATABASE_URL) or its embedded default, with its storage classes in
 * directories or on a bucket of an S3-compatible store.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { openDatabase, type Database } from '../core/db/client'
import { childAdminToken, startChild, type Child } from '../tests/support/child'
import type { S3Target } from '../tests/support/ceph'
import { issueApiKey } from './credential'
import type { PostgresCluster } from '../tests/support/postgres'

/**
 * A PostgreSQL server through its Unix socket and through TCP, the embedded
 * default, and the socket's server with both storage classes on a bucket.
 */
export type Backend = 'postgres' | 'postgres-tcp' | 'embedded' | 's3'
export const backends: Backend[] = ['postgres', 'postgres-tcp', 'embedded', 's3']
export const backendTitles: Record<Backend, string> = { postgres: 'PostgreSQL', 'postgres-tcp': 'PostgreSQL, TCP', embedded: 'embedded', s3: 'S3 bucket' }

/** Replicas of the service (one database, one bucket) that the 4 KiB phases of a backend go round. */
export const replicasOf = (backend: Backend): number => (backend === 's3' ? 2 : 1)

/**
 * The bench's PostgreSQL server, reachable through its socket and, by tcpUrl,
 * through TCP, and the S3 endpoint (a throwaway Ceph RGW) whose buckets the s3
 * backend's instances take.
 */
export type BenchCluster = PostgresCluster & { tcpUrl: (databaseUrl: string) => string; s3: S3Target }

export const tenant = 'bench'

/**
 * A fresh data directory and, on PostgreSQL, a fresh database (the embedded
 * default makes its own), and on the s3 backend a fresh bucket: one service
 * instance's state, which several replicas may share.
 */
export interface Instance {
  backend: Backend
  dataDir: string
  databaseUrl?: string
  /** The bucket both storage classes are on (s3 backend). */
  bucket?: string
  /** The service's settings for that bucket. */
  env: Record<string, string>
}

let instances = 0

export async function freshInstance(backend: Backend, workRoot: string, cluster: BenchCluster): Promise<Instance> {
  const name = `${backend}-${++instances}`
  const dataDir = join(workRoot, name)
  mkdirSync(dataDir, { recursive: true })
  // The server runs beside the service here: reached through its Unix socket, as a co-located deployment would, or through TCP, as across machines.
  const onServer = backend === 'embedded' ? undefined : await cluster.createDatabase(`bench_${instances}`)
  const databaseUrl = onServer !== undefined && backend === 'postgres-tcp' ? cluster.tcpUrl(onServer) : onServer
  if (backend !== 's3') return { backend, dataDir, databaseUrl, env: {} }
  const bucket = await cluster.s3.createBucket(`bench-${process.pid}-${instances}-${Date.now().toString(36)}`)
  const env = {
    HOT_STORAGE_ROOT: `s3://${bucket}/hot`,
    COLD_STORAGE_ROOT: `s3://${bucket}/cold`,
    S3_ENDPOINT: cluster.s3.endpoint,
    S3_REGION: cluster.s3.region,
    S3_ACCESS_KEY_ID: cluster.s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: cluster.s3.secretAccessKey,
  }
  return { backend, dataDir, databaseUrl, bucket, env }
}

/** Opens the instance's database in this process (migrated), for seeding before the service starts. */
export function openInstanceDatabase(instance: Instance): Promise<Database> {
  return openDatabase({ databaseUrl: instance.databaseUrl, dataDir: instance.dataDir, maxConnections: 1 })
}

/**
 * Starts the service with authentication on, and gives the bench an API key
 * of the bench tenant. Replica n > 0 of an instance has a data directory of
 * its own, as on another machine, and shares the database and the bucket.
 */
export async function startService(instance: Instance, replica = 0): Promise<Child> {
  const dataDir = replica === 0 ? instance.dataDir : join(instance.dataDir, `replica-${replica}`)
  mkdirSync(dataDir, { recursive: true })
  const service = await startChild({
    databaseUrl: instance.databaseUrl,
    dataDir,
    // Recovery of a large seeded database may take a while.
    readyTimeoutMs: 120_000,
    env: {
      LOG_LEVEL: 'warn',
      // The rate limiter is a policy, not a cost to measure: at its default it would answer 429 to a fast client.
      RATE_LIMIT_PER_SEC: '0',
      AUTH_DISABLED: 'false',
      ...instance.env,
    },
  })
  await issueApiKey(service.url, childAdminToken, tenant)
  return service
}
