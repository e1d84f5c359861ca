import { Cron } from 'croner'
import { Elysia, t } from 'elysia'
import { perDatabase, type Db } from '../core/db/client'
import { claimSlot, SharedPass, tracked } from '../core/jobs'
import { runLifecycle, type LifecycleResult, type LifecycleSettings } from '../core/lifecycle/pass'
import { nextFiring, recordRun, type Schedule } from '../core/runs'
import { principalOf } from '../core/auth/authenticate'
import { recordAudit } from '../core/audit'
import { requireAdmin } from './admin-guard'
import { authErrors, errorResponses } from './openapi'
import { log } from '../core/log'
import { lifecycleExpired, lifecycleFailures, lifecycleMoved, lifecyclePruned } from '../core/metrics'
import type { BlobStores } from '../core/store/blob-store'
import type { ReadTracker } from '../core/lifecycle/tiering'

export interface LifecycleDeps {
  db: Db
  stores: BlobStores
  /** This process's reads not yet written, written before idleness is judged. */
  reads: ReadTracker
  settings: LifecycleSettings
}

const LifecycleResultSchema = t.Object({ expired: t.Integer(), pruned_versions: t.Integer(), moved_to_cold: t.Integer() })

const lifecyclePasses = perDatabase(() => new SharedPass<void, LifecycleResult>())

/** One pass, the same for the schedule and the admin route; callers arriving while one runs in this process share it. */
export function lifecyclePass(deps: LifecycleDeps): Promise<LifecycleResult> {
  return lifecyclePasses(deps.db).run(undefined, async () => {
    const started = performance.now()
    const run = async () => {
      await deps.reads.flush(deps.db)
      return runLifecycle(deps.db, deps.stores, deps.settings)
    }
    const result = await recordRun(deps.db, 'lifecycle', run).catch((error) => {
      lifecycleFailures.inc()
      throw error
    })
    lifecycleExpired.inc(result.expired)
    lifecyclePruned.inc(result.pruned_versions)
    lifecycleMoved.inc(result.moved_to_cold)
    log.info({ msg: 'lifecycle pass', duration_ms: Math.round(performance.now() - started), ...result })
    return result
  })
}

/** POST /v1/admin/lifecycle runs one pass now. */
export const lifecycleRoutes = (deps: LifecycleDeps) =>
  new Elysia({ name: 'lifecycle' }).post('/v1/admin/lifecycle', async ({ request, set }) => {
    await recordAudit(deps.db, { actor: principalOf(request).id, tenantId: null, action: 'admin.lifecycle', target: null, requestId: String(set.headers['x-request-id']) })
    return lifecyclePass(deps)
  }, {
    beforeHandle: requireAdmin,
    response: { 200: LifecycleResultSchema },
    detail: { summary: 'Run one lifecycle pass now (expiry, version retention, tiering)', responses: errorResponses(...authErrors) },
  })

/**
 * Every LIFECYCLE_INTERVAL_SECS in each replica; the one whose claim in the
 * database moves the job's slot on runs the pass, so replicas take turns
 * instead of repeating each other's work.
 */
export function scheduleLifecycle(deps: LifecycleDeps, intervalSecs: number): Schedule {
  const scheduledPass = async () => {
    try {
      // A little under the interval: replicas' timers drift, and a pass skipped for a few ms would wait a whole interval.
      if ((await claimSlot(deps.db, 'lifecycle', new Date(), intervalSecs * 0.9)).claimed) await lifecyclePass(deps)
    } catch (error) {
      log.error({ msg: 'lifecycle pass failed', error: String((error as Error)?.message ?? error) })
    }
  }
  const cron = new Cron('* * * * * *', { interval: intervalSecs, protect: true }, () => tracked(scheduledPass()))
  return { nextRuns: { lifecycle: () => nextFiring(cron) }, stop: () => cron.stop() }
}
