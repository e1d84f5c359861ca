import { Cron } from 'croner'
import { Elysia, t } from 'elysia'
import { perDatabase, type Db } from '../core/db/client'
import { runGc, type GcResult, type GcSettings } from '../core/gc'
import { claimSlot, SharedPass, tracked } from '../core/jobs'
import { nextFiring, recordRun, type Schedule } from '../core/runs'
import type { BlobStores } from '../core/store/blob-store'
import { principalOf } from '../core/auth/authenticate'
import { recordAudit } from '../core/audit'
import { requireAdmin } from './admin-guard'
import { authErrors, errorResponses } from './openapi'
import { log } from '../core/log'
import { gcDeletedBlobs, gcFailures, gcReclaimedBytes, gcRuns } from '../core/metrics'

export interface GcDeps {
  db: Db
  stores: BlobStores
  settings: Omit<GcSettings, 'sweepOrphans'>
}

const GcResultSchema = t.Object({
  deleted_blobs: t.Integer(),
  reclaimed_bytes: t.Integer(),
  reaped_uploads: t.Integer(),
  removed_temp_files: t.Integer(),
  removed_orphan_files: t.Integer(),
})

// A pass without the orphan sweep does not serve a caller who asks for one.
const gcPasses = perDatabase(() => new SharedPass<{ sweepOrphans: boolean }, GcResult>((running, wanted) => running.sweepOrphans || !wanted.sweepOrphans))

/**
 * One full pass, the same for the schedule and the admin route; logs one line.
 * Callers arriving while a pass runs in this process share it.
 */
export function gcPass(deps: GcDeps, sweepOrphans: boolean): Promise<GcResult> {
  return gcPasses(deps.db).run({ sweepOrphans }, async () => {
    const started = performance.now()
    const result = await recordRun(deps.db, 'gc', () => runGc(deps.db, deps.stores, { ...deps.settings, sweepOrphans })).catch((error) => {
      gcFailures.inc()
      throw error
    })
    gcRuns.inc()
    gcDeletedBlobs.inc(result.deleted_blobs)
    gcReclaimedBytes.inc(result.reclaimed_bytes)
    log.info({ msg: 'gc pass', duration_ms: Math.round(performance.now() - started), orphan_sweep: sweepOrphans, ...result })
    return result
  })
}

/** POST /v1/admin/gc runs a full pass now, orphan sweep included. */
export const gcRoutes = (deps: GcDeps) =>
  new Elysia({ name: 'gc' }).post('/v1/admin/gc', async ({ request, set }) => {
    await recordAudit(deps.db, { actor: principalOf(request).id, tenantId: null, action: 'admin.gc', target: null, requestId: String(set.headers['x-request-id']) })
    return gcPass(deps, true)
  }, {
    beforeHandle: requireAdmin,
    response: { 200: GcResultSchema },
    detail: { summary: 'Run one garbage collection pass now', responses: errorResponses(...authErrors) },
  })

const orphanSweepEverySecs = 3600

/**
 * Every GC_INTERVAL_SECS in each replica. The walk of every blob file for
 * orphans rides on the first pass, in any replica, an hour or more after the
 * last one began: the replica whose claim in the database moves the sweep on.
 */
export function scheduleGc(deps: GcDeps, intervalSecs: number): Schedule {
  // When the last sweep began in any replica, as this one last learned it.
  let lastOrphanSweep = 0
  const scheduledPass = async () => {
    try {
      const sweep = await claimSlot(deps.db, 'orphan_sweep', new Date(), orphanSweepEverySecs)
      lastOrphanSweep = sweep.slot.getTime()
      await gcPass(deps, sweep.claimed)
    } catch (error) {
      // The next tick retries; the failure is on the status page and in the log.
      log.error({ msg: 'gc pass failed', error: String((error as Error)?.message ?? error) })
    }
  }
  const cron = new Cron('* * * * * *', { interval: intervalSecs, protect: true }, () => tracked(scheduledPass()))
  const nextPass = () => nextFiring(cron)
  const nextOrphanSweep = () => {
    let pass = nextPass()
    while (pass !== null && pass.getTime() - lastOrphanSweep <= orphanSweepEverySecs * 1000) pass = cron.nextRun(pass)
    return pass
  }
  return { nextRuns: { gc: nextPass, reaper: nextPass, orphan_sweep: nextOrphanSweep }, stop: () => cron.stop() }
}
