import { sql } from 'drizzle-orm'
import type { Db } from './db/client'
import { backgroundRuns } from './db/schema'
import { parseDbTime } from './db/time'

export type Job = 'gc' | 'scrub'

/** Runs a background job and records its start, end and outcome for the admin status page. */
export async function recordRun<T extends object>(db: Db, job: Job, run: () => Promise<T>): Promise<T> {
  const startedAt = new Date().toISOString()
  try {
    const outcome = await run()
    await saveRun(db, job, startedAt, outcome as Record<string, unknown>, null)
    return outcome
  } catch (error) {
    await saveRun(db, job, startedAt, null, String((error as Error)?.message ?? error)).catch(() => {})
    throw error
  }
}

async function saveRun(db: Db, job: Job, startedAt: string, outcome: Record<string, unknown> | null, error: string | null): Promise<void> {
  const values = { job, startedAt, finishedAt: sql`now()`, outcome, error }
  await db.insert(backgroundRuns).values(values).onConflictDoUpdate({ target: backgroundRuns.job, set: values })
}

export async function lastRuns(db: Db) {
  const rows = await db.select().from(backgroundRuns)
  const time = (value: string | null) => (value === null ? null : parseDbTime(value).toISOString())
  return Object.fromEntries(
    rows.map((row) => [row.job, { started_at: time(row.startedAt), finished_at: time(row.finishedAt), outcome: row.outcome, error: row.error }]),
  )
}
