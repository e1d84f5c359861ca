import type postgres from 'postgres'
import { connectPostgres } from './connect'

/**
 * Who uses a database. Every service process holds this advisory lock in
 * shared mode for as long as it runs; fsck, which removes files the service
 * may have renamed but not yet committed, takes it exclusively. So fsck
 * refuses while any replica runs, and no replica starts while fsck runs.
 * PostgreSQL drops a lock when its session ends, so a killed process never
 * leaves it behind; but its backend ends a moment after the process, so a
 * claim waits a few seconds for a holder on its way out before refusing.
 */
export type Presence = 'service' | 'exclusive'

// Any fixed number, the same in every process.
export const presenceLockId = 0x6a757376

// How long a claim waits for the lock (a tool run right after a stop meets the stopped process's backend still ending).
const claimWaitMs = 3_000
const lockNotAvailable = '55P03'

export class DatabaseInUse extends Error {}

export interface Claim {
  release(): Promise<void>
}

export async function claimDatabase(databaseUrl: string, presence: Presence): Promise<Claim> {
  const connection = { application_name: `juststorage pid ${process.pid}`, lock_timeout: claimWaitMs }
  const session = connectPostgres(databaseUrl, { max: 1, idle_timeout: 0, connection })
  try {
    if (presence === 'service') await session`select pg_advisory_lock_shared(${presenceLockId})`
    else await session`select pg_advisory_lock(${presenceLockId})`
  } catch (error) {
    const inUse = (error as { code?: string }).code === lockNotAvailable
    const message = inUse ? `the database is in use by ${await holders(session)}; stop ${presence === 'service' ? 'it' : 'every service on it'} first` : ''
    await session.end({ timeout: 5 })
    throw inUse ? new DatabaseInUse(message) : error
  }
  return {
    // Unlocked before the session ends, so whoever claims next finds it free at once.
    release: async () => {
      // A session already gone holds no lock.
      await session`select pg_advisory_unlock_all()`.catch(() => undefined)
      await session.end({ timeout: 5 })
    },
  }
}

async function holders(session: postgres.Sql): Promise<string> {
  const rows = await session<{ name: string; mode: string }[]>`
    select a.application_name as name, l.mode from pg_locks l join pg_stat_activity a on a.pid = l.pid
    where l.locktype = 'advisory' and l.granted and l.objid = ${presenceLockId} order by 1`
  const names = rows.map((row) => `${row.name || 'another session'}${row.mode === 'ExclusiveLock' ? ' (fsck or another tool)' : ''}`)
  return names.length > 0 ? names.join(', ') : 'another process'
}
