import type { Cron } from 'croner'
import { eq, sql } from 'drizzle-orm'
import { rowsOf, type Db } from './db/client'
import { jobClaims } from './db/schema'
import { parseDbTime } from './db/time'

/**
 * How background work runs beside requests. In one process a job has at most
 * one pass at a time, which callers arriving meanwhile share. Across replicas,
 * scheduled work is claimed in PostgreSQL, so that one replica runs it per
 * slot. And every pass is tracked, so that a shutdown can wait for it before
 * it closes the database.
 */

const inFlight = new Set<Promise<unknown>>()

/** Background work, tracked until it settles. */
export function tracked<T>(work: Promise<T>): Promise<T> {
  inFlight.add(work)
  const settled = () => void inFlight.delete(work)
  work.then(settled, settled)
  return work
}

/** Waits until no tracked work runs, or until the deadline (ms since the epoch); false when some still runs then. */
export async function backgroundWorkSettled(deadline: number): Promise<boolean> {
  while (inFlight.size > 0) {
    const remaining = deadline - Date.now()
    if (remaining <= 0) return false
    await Promise.race([Promise.allSettled([...inFlight]), Bun.sleep(remaining)])
  }
  return true
}

/**
 * One pass of a job at a time. A caller arriving while a pass runs shares its
 * outcome when that pass does what it asks (`covers`); otherwise it waits for
 * that pass to end and then starts, or shares, the next.
 */
export class SharedPass<Options, Outcome> {
  private running: { options: Options; outcome: Promise<Outcome> } | null = null

  constructor(private readonly covers: (running: Options, wanted: Options) => boolean = () => true) {}

  async run(options: Options, pass: (options: Options) => Promise<Outcome>): Promise<Outcome> {
    while (this.running !== null) {
      if (this.covers(this.running.options, options)) return this.running.outcome
      await this.running.outcome.catch(() => {})
    }
    const outcome = tracked(pass(options))
    const running = { options, outcome }
    this.running = running
    const done = () => {
      if (this.running === running) this.running = null
    }
    outcome.then(done, done)
    return outcome
  }
}

/**
 * Claims `job` for `slot` on behalf of every replica: the claim succeeds in the
 * one replica that moves the job's slot forward, by more than `gapSecs`. Also
 * answers the job's slot as it stands (this claim's, or the one that won).
 */
export async function claimSlot(db: Db, job: string, slot: Date, gapSecs = 0): Promise<{ claimed: boolean; slot: Date }> {
  const claimed = rowsOf<{ job: string }>(
    await db.execute(sql`
      insert into ${jobClaims} (job, slot) values (${job}, ${slot.toISOString()})
      on conflict (job) do update set slot = excluded.slot
      where ${jobClaims.slot} < excluded.slot - make_interval(secs => ${gapSecs})
      returning job`),
  )
  if (claimed.length > 0) return { claimed: true, slot }
  const [current] = await db.select({ slot: jobClaims.slot }).from(jobClaims).where(eq(jobClaims.job, job))
  return { claimed: false, slot: parseDbTime(current!.slot) }
}

/** Keeps what a claimed run found, for the replicas that did not run it; a later claim has replaced it if the slot moved on. */
export async function publishResult(db: Db, job: string, slot: Date, result: unknown): Promise<void> {
  await db.execute(sql`update ${jobClaims} set result = ${JSON.stringify(result)}::jsonb where job = ${job} and slot = ${slot.toISOString()}::timestamptz`)
}

/** What the latest run of `job` published, with its slot; null before the first. */
export async function publishedResult<T>(db: Db, job: string): Promise<{ slot: Date; result: T } | null> {
  const [row] = await db.select({ slot: jobClaims.slot, result: jobClaims.result }).from(jobClaims).where(eq(jobClaims.job, job))
  return row && row.result !== null ? { slot: parseDbTime(row.slot), result: row.result as T } : null
}

/** The scheduled time a croner job's current firing belongs to: the same instant in every replica, whatever their timers' lateness. */
export function scheduledSlot(cron: Cron): Date {
  return cron.previousRuns(1, new Date(Date.now() + 1))[0] ?? new Date()
}
