import { Cron } from 'croner'
import { Elysia, t } from 'elysia'
import type { Db } from '../core/db/client'
import { runGc, type GcSettings } from '../core/gc'
import { nextFiring, recordRun, type Schedule } from '../core/runs'
import type { StorageRoots } from '../core/store/paths'
import { principalOf } from '../core/auth/authenticate'
import { recordAudit } from '../core/audit'
import { requireAdmin } from './admin-guard'
import { authErrors, errorResponses } from './openapi'
import { log } from '../core/log'
import { gcDeletedBlobs, gcFailures, gcReclaimedBytes, gcRuns } from '../core/metrics'

export interface GcDeps {
  db: Db
  roots: StorageRoots
  settings: Omit<GcSettings, 'sweepOrphans'>
}

const GcResultSchema = t.Object({
  deleted_blobs: t.Integer(),
  reclaimed_bytes: t.Integer(),
  reaped_uploads: t.Integer(),
  removed_temp_files: t.Integer(),
  removed_orphan_files: t.Integer(),
})

/** One full pass, the same for the schedule and the admin route; logs one line. */
export async function gcPass(deps: GcDeps, sweepOrphans: boolean) {
  const started = performance.now()
  const result = await recordRun(deps.db, 'gc', () => runGc(deps.db, deps.roots, { ...deps.settings, sweepOrphans })).catch((error) => {
    gcFailures.inc()
    throw error
  })
  gcRuns.inc()
  gcDeletedBlobs.inc(result.deleted_blobs)
  gcReclaimedBytes.inc(result.reclaimed_bytes)
  log.info({ msg: 'gc pass', duration_ms: Math.round(performance.now() - started), ...result })
  return result
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

const orphanSweepEveryMs = 3600_000

/** Every GC_INTERVAL_SECS in each replica; walking every blob file for orphans only hourly. */
export function scheduleGc(deps: GcDeps, intervalSecs: number): Schedule {
  let lastOrphanSweep = 0
  const cron = new Cron('* * * * * *', { interval: intervalSecs, protect: true }, async () => {
    const sweepOrphans = Date.now() - lastOrphanSweep >= orphanSweepEveryMs
    try {
      await gcPass(deps, sweepOrphans)
      if (sweepOrphans) lastOrphanSweep = Date.now()
    } catch (error) {
      // The next tick retries; the failure is on the status page and in the log.
      log.error({ msg: 'gc pass failed', error: String((error as Error)?.message ?? error) })
    }
  })
  const nextPass = () => nextFiring(cron)
  // The sweep rides on the first pass at least an hour after the last one.
  const nextOrphanSweep = () => {
    let pass = nextPass()
    while (pass !== null && pass.getTime() - lastOrphanSweep < orphanSweepEveryMs) pass = cron.nextRun(pass)
    return pass
  }
  return { nextRuns: { gc: nextPass, reaper: nextPass, orphan_sweep: nextOrphanSweep }, stop: () => cron.stop() }
}
