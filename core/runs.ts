import type { Cron } from 'croner'
import { sql } from 'drizzle-orm'
import type { Db } from './db/client'
import { backgroundRuns } from './db/schema'
import { parseDbTime } from './db/time'

/** The background jobs; the reaper and the orphan sweep run inside a GC pass but are recorded on their own. */
export const jobs = ['gc', 'scrub', 'reaper', 'orphan_sweep', 'lifecycle'] as const
export type Job = (typeof jobs)[number]

/** When each job scheduled in this process runs next; a job missing here is not scheduled in this process. */
export type NextRuns = Partial<Record<Job, () => Date | null>>

/** A schedule started by this process: when its jobs run next, and how to stop it. */
export interface Schedule {
  nextRuns: NextRuns
  stop(): void
}

/**
 * When a croner job fires next. nextRun() counts an interval job's interval from
 * now; nextRuns() counts it from the last start, as the job's own timer does.
 */
export const nextFiring = (cron: Cron): Date | null => cron.nextRuns(1)[0] ?? null

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

/** Every job: its last run in any replica (null before the first) and its next run in this process (null if not scheduled here). */
export async function jobStatus(db: Db, nextRuns: NextRuns) {
  const rows = new Map((await db.select().from(backgroundRuns)).map((row) => [row.job, row]))
  const time = (value: string | null) => (value === null ? null : parseDbTime(value).toISOString())
  return Object.fromEntries(
    jobs.map((job) => {
      const row = rows.get(job)
      const lastRun = row ? { started_at: time(row.startedAt), finished_at: time(row.finishedAt), outcome: row.outcome, error: row.error } : null
      return [job, { last_run: lastRun, next_run_at: nextRuns[job]?.()?.toISOString() ?? null }]
    }),
  )
}
