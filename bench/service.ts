/** The service under test, as its own process (`bun main.ts`), on a PostgreSQL server (DATABASE_URL) or its embedded default. */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { openDatabase, type Database } from '../core/db/client'
import { childAdminToken, startChild, type Child } from '../tests/support/child'
import { issueApiKey } from './credential'
import type { PostgresCluster } from '../tests/support/postgres'

/** A PostgreSQL server through its Unix socket and through TCP, and the embedded default. */
export type Backend = 'postgres' | 'postgres-tcp' | 'embedded'
export const backends: Backend[] = ['postgres', 'postgres-tcp', 'embedded']
export const backendTitles: Record<Backend, string> = { postgres: 'PostgreSQL', 'postgres-tcp': 'PostgreSQL, TCP', embedded: 'embedded' }

/** The bench's PostgreSQL server, reachable through its socket and, by tcpUrl, through TCP. */
export type BenchCluster = PostgresCluster & { tcpUrl: (databaseUrl: string) => string }

export const tenant = 'bench'

/** A fresh data directory and, on PostgreSQL, a fresh database (the embedded default makes its own): one service instance's state. */
export interface Instance {
  backend: Backend
  dataDir: string
  databaseUrl?: string
}

let instances = 0

export async function freshInstance(backend: Backend, workRoot: string, cluster: BenchCluster): Promise<Instance> {
  const name = `${backend}-${++instances}`
  const dataDir = join(workRoot, name)
  mkdirSync(dataDir, { recursive: true })
  // The server runs beside the service here: reached through its Unix socket, as a co-located deployment would, or through TCP, as across machines.
  const onServer = backend === 'embedded' ? undefined : await cluster.createDatabase(`bench_${instances}`)
  const databaseUrl = onServer !== undefined && backend === 'postgres-tcp' ? cluster.tcpUrl(onServer) : onServer
  return { backend, dataDir, databaseUrl }
}

/** Opens the instance's database in this process (migrated), for seeding before the service starts. */
export function openInstanceDatabase(instance: Instance): Promise<Database> {
  return openDatabase({ databaseUrl: instance.databaseUrl, dataDir: instance.dataDir, maxConnections: 1 })
}

/** Starts the service with authentication on, and gives the bench an API key of the bench tenant. */
export async function startService(instance: Instance): Promise<Child> {
  const service = await startChild({
    databaseUrl: instance.databaseUrl,
    dataDir: instance.dataDir,
    // Recovery of a large seeded database may take a while.
    readyTimeoutMs: 120_000,
    env: {
      LOG_LEVEL: 'warn',
      // The rate limiter is a policy, not a cost to measure: at its default it would answer 429 to a fast client.
      RATE_LIMIT_PER_SEC: '0',
      AUTH_DISABLED: 'false',
    },
  })
  await issueApiKey(service.url, childAdminToken, tenant)
  return service
}
