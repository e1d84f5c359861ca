import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { createApp, serveOptions, type AppDeps } from '../../app'
import { openDatabase, type Database } from '../../core/db/client'
import type { ObjectStore } from '../../core/objects'
import { startPostgres, type PostgresCluster } from './postgres'

export type Backend = 'pglite' | 'postgres'
export const backends: Backend[] = ['pglite', 'postgres']

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
  stop(): Promise<void>
}

let databaseCounter = 0

/** A real listening server on a free port, on a fresh data directory and database. */
export const adminToken = 'test-admin-token'

export interface ServerOptions {
  maxUploadBytes?: number
  gc?: Partial<AppDeps['gc']>
  scrubMaxBytesPerSec?: number
}

export async function startServer(backend: Backend, options: ServerOptions = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(`${tmpdir()}/juststorage-test-`)
  const roots = { hot: `${dataDir}/hot`, cold: `${dataDir}/cold` }
  for (const root of Object.values(roots)) mkdirSync(`${root}/tmp`, { recursive: true })
  const databaseUrl =
    backend === 'postgres' ? await (await sharedCluster()).createDatabase(`t${process.pid}_${++databaseCounter}_${Date.now()}`) : undefined
  const database = await openDatabase({ databaseUrl, dataDir, maxConnections: 40 })
  const store: ObjectStore = { db: database.db, roots, maxUploadBytes: options.maxUploadBytes ?? 64 * 2 ** 30 }
  const app = createApp({
    store,
    draining: () => false,
    adminToken,
    gc: { graceSecs: 0, batchSize: 100, stuckUploadTimeoutSecs: 3600, tombstoneRetentionSecs: 0, ...options.gc },
    scrubMaxBytesPerSec: options.scrubMaxBytesPerSec ?? 2 ** 30,
  })
  app.listen({ ...serveOptions, hostname: '127.0.0.1', port: 0 })
  return {
    url: `http://127.0.0.1:${app.server!.port}`,
    backend,
    dataDir,
    store,
    database,
    async stop() {
      await app.stop(true)
      await database.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
