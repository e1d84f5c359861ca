import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type postgres from 'postgres'
import { ClusterError, clusterUrl, openCluster, type Cluster } from './cluster'
import { connectPostgres } from './connect'

/** The service's database in its embedded cluster. */
const databaseName = 'juststorage'
/** Besides the pools: the data directory's claim, the migration session, fsck, and an operator's psql. */
const spareConnections = 6
// Any fixed number: held by the one process that uses this data directory.
const claimLockId = 0x6a757375

export interface EmbeddedDatabase {
  url: string
  stop(): Promise<void>
}

/**
 * The embedded default (no DATABASE_URL): a PostgreSQL cluster of the
 * service's own in `<data dir>/pg`, started with the service and stopped with
 * it. One process at a time uses it (the service, or fsck while it is
 * stopped): it holds an advisory lock for as long as it runs, which the
 * server drops by itself when that process dies, even by kill -9.
 */
export async function startEmbeddedDatabase(dataDir: string, poolConnections: number): Promise<EmbeddedDatabase> {
  const cluster = await openCluster(clusterDir(dataDir), { maxConnections: poolConnections + spareConnections })
  if (cluster.running()) await refuseIfClaimed(cluster)
  await cluster.start()
  try {
    await ensureDatabase(cluster.url('postgres'), databaseName)
    const claimed = await claim(cluster)
    return {
      url: cluster.url(databaseName),
      stop: async () => {
        await claimed.end({ timeout: 5 })
        await cluster.stop()
      },
    }
  } catch (error) {
    await cluster.stop()
    throw error
  }
}

const clusterDir = (dataDir: string) => join(dataDir, 'pg')

/** Where the embedded database of a data directory is reached while the service runs. */
export function embeddedDatabaseUrl(dataDir: string): string {
  return clusterUrl(clusterDir(dataDir), databaseName)
}

class DataDirInUse extends ClusterError {}

/** Takes the data directory's lock on a session that stays open, or refuses naming the process that holds it. */
async function claim(cluster: Cluster): Promise<postgres.Sql> {
  const session = connect(cluster.url('postgres'), { application_name: `juststorage pid ${process.pid}` })
  const [{ claimed }] = await session<[{ claimed: boolean }]>`select pg_try_advisory_lock(${claimLockId}) as claimed`
  if (claimed) return session
  const [holder] = await session<{ name: string }[]>`
    select a.application_name as name from pg_locks l join pg_stat_activity a on a.pid = l.pid
    where l.locktype = 'advisory' and l.granted and l.objid = ${claimLockId}`
  await session.end({ timeout: 5 })
  throw new DataDirInUse(`${cluster.dir} is in use by another process (${holder?.name || 'unknown'}); stop it first, or give this one its own DATA_DIR`)
}

/**
 * A postmaster still running belongs to another live process (refuse) or was
 * left behind by a killed one (start() restarts it); one that does not answer
 * is left to start() too.
 */
async function refuseIfClaimed(cluster: Cluster): Promise<void> {
  let session: postgres.Sql
  try {
    session = await claim(cluster)
  } catch (error) {
    if (error instanceof DataDirInUse) throw error
    return
  }
  await session.end({ timeout: 5 })
}

/** Where earlier versions kept the embedded store, in PGlite. */
export const pgliteStoreDir = (dataDir: string) => join(dataDir, 'meta')

/** Starting empty beside a PGlite store would hide every object it holds. */
export function refuseUnmigratedPgliteStore(dataDir: string): void {
  const meta = pgliteStoreDir(dataDir)
  if (!existsSync(join(meta, 'PG_VERSION'))) return
  throw new ClusterError(
    `${meta} holds a store of the earlier embedded database (PGlite). Migrate it into the embedded PostgreSQL first, with the service stopped and the same DATA_DIR: npm run migrate-pglite`,
  )
}

async function ensureDatabase(serverUrl: string, name: string): Promise<void> {
  const sql = connect(serverUrl)
  try {
    const [found] = await sql`select 1 from pg_database where datname = ${name}`
    if (!found) await sql`create database ${sql(name)}`
  } finally {
    await sql.end({ timeout: 5 })
  }
}

function connect(databaseUrl: string, connection: Record<string, string> = {}): postgres.Sql {
  return connectPostgres(databaseUrl, { max: 1, idle_timeout: 0, connection })
}
