import { fileURLToPath } from 'node:url'
import { sql } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import { refuseUnmigratedPgliteStore, startEmbeddedDatabase } from './embedded'
import { claimDatabase, type Presence } from './presence'
import * as schema from './schema'
import { connectPostgres } from './connect'

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]

export interface Database {
  /** The pool that serves requests. */
  db: Db
  /**
   * A small pool of its own for scheduled work (GC, scrub, metrics refresh):
   * postgres.js queues a query behind a busy connection's current one, so a
   * second-long aggregate there would stall every request queued behind it.
   */
  background: Db
  /** `embedded`: the service's own cluster in the data directory; `postgres`: DATABASE_URL. */
  kind: 'postgres' | 'embedded'
  /** Where the database is, for tools that connect themselves (fsck, tests). */
  url: string
  close(): Promise<void>
}

export const migrationsFolder = fileURLToPath(new URL('../../migrations', import.meta.url))
// Any fixed number: every replica takes the same lock so only one migrates at a time.
const migrationLockId = 0x6a757374
/** Connections of the background pool, on top of DB_MAX_CONNECTIONS. */
const backgroundConnections = 2

export interface OpenOptions {
  databaseUrl?: string
  dataDir: string
  maxConnections: number
  /** A request's statement running longer is cancelled (503 to its client); unset for tools whose scans may take longer. */
  statementTimeoutSecs?: number
  /** `service` (the default) beside other replicas; `exclusive` for fsck, which no service may run beside. */
  presence?: Presence
}

/**
 * Connects to PostgreSQL (DATABASE_URL), or starts the embedded cluster in the
 * data directory and connects to it through its socket; claims the database
 * for as long as it stays open; then migrates.
 */
export async function openDatabase(options: OpenOptions): Promise<Database> {
  const presence = options.presence ?? 'service'
  // A request's query reads a page or a row: starting parallel workers would cost it more (about 40 ms here) than they save.
  const requestSettings: Settings = {
    max_parallel_workers_per_gather: '0',
    ...(options.statementTimeoutSecs === undefined ? {} : { statement_timeout: String(options.statementTimeoutSecs * 1000) }),
  }
  if (options.databaseUrl) return openPostgres(options.databaseUrl, options.maxConnections, presence, requestSettings)
  refuseUnmigratedPgliteStore(options.dataDir)
  return openEmbedded(options.dataDir, options.maxConnections, presence, requestSettings)
}

/** The embedded cluster's database, migrated; stopping with close(). */
export async function openEmbedded(dataDir: string, maxConnections: number, presence: Presence = 'service', requestSettings: Settings = {}): Promise<Database> {
  const embedded = await startEmbeddedDatabase(dataDir, maxConnections + backgroundConnections)
  try {
    const database = await openPostgres(embedded.url, maxConnections, presence, requestSettings)
    return {
      ...database,
      kind: 'embedded',
      close: async () => {
        await database.close()
        await embedded.stop()
      },
    }
  } catch (error) {
    await embedded.stop()
    throw error
  }
}

/** Session settings of a pool's connections, as text: postgres.js drops a setting whose value is falsy, such as the number 0. */
type Settings = Record<string, string>

async function openPostgres(databaseUrl: string, maxConnections: number, presence: Presence, requestSettings: Settings = {}): Promise<Database> {
  const claim = await claimDatabase(databaseUrl, presence)
  const pool = (max: number, settings: Settings = {}) =>
    connectPostgres(databaseUrl, {
      max,
      connect_timeout: 10,
      idle_timeout: 60,
      // Reconnect quickly once the database is back; the default waits up to 20 s.
      backoff: (attempts) => Math.min(0.05 * 2 ** attempts, 1),
      // A blob lock held across an fsync must not hang forever if the peer vanished.
      connection: { application_name: 'juststorage', lock_timeout: 30_000, idle_in_transaction_session_timeout: 120_000, ...settings },
    })
  const requests = pool(maxConnections, requestSettings)
  // Background scans run on one core: parallel workers would take the cores requests need.
  const background = pool(backgroundConnections, { max_parallel_workers_per_gather: '0' })
  const closePools = () => Promise.all([requests.end({ timeout: 5 }), background.end({ timeout: 5 })])
  try {
    await migratePostgresLocked(databaseUrl)
  } catch (error) {
    await closePools()
    await claim.release()
    throw error
  }
  return {
    db: drizzlePostgres(requests, { schema }) as unknown as Db,
    background: drizzlePostgres(background, { schema }) as unknown as Db,
    kind: 'postgres',
    url: databaseUrl,
    close: async () => {
      await closePools()
      await claim.release()
    },
  }
}

/** Applies migrations on one dedicated session holding the advisory lock, so replicas starting together take turns. */
async function migratePostgresLocked(databaseUrl: string): Promise<void> {
  const session = connectPostgres(databaseUrl, { max: 1, connect_timeout: 10 })
  try {
    await session`select pg_advisory_lock(${migrationLockId})`
    await migratePostgres(drizzlePostgres(session, { schema }), { migrationsFolder })
    await session`select pg_advisory_unlock(${migrationLockId})`
  } finally {
    await session.end({ timeout: 5 })
  }
}

export async function pingDatabase(db: Db): Promise<void> {
  await db.execute(sql`select 1`)
}

/**
 * One value per database, built on first use: prepared statements (hot paths
 * skip building SQL on every request) and the caches that go with them.
 */
export function perDatabase<T>(build: (db: Db) => T): (db: Db) => T {
  const built = new WeakMap<Db, T>()
  return (db) => {
    let value = built.get(db)
    if (value === undefined) built.set(db, (value = build(db)))
    return value
  }
}

/** The rows of a `db.execute` result, typed: postgres.js returns them as the result itself. */
export function rowsOf<T>(result: unknown): T[] {
  return result as T[]
}
