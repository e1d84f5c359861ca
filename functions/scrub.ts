import { Cron } from 'croner'
import { Elysia, t } from 'elysia'
import { perDatabase, type Db } from '../core/db/client'
import { claimSlot, scheduledSlot, SharedPass, tracked } from '../core/jobs'
import { nextFiring, recordRun, type Schedule } from '../core/runs'
import { runScrub, type ScrubResult } from '../core/scrub'
import type { BlobStores } from '../core/store/blob-store'
import { principalOf } from '../core/auth/authenticate'
import { recordAudit } from '../core/audit'
import { requireAdmin } from './admin-guard'
import { authErrors, errorResponses } from './openapi'
import { log } from '../core/log'
import { scrubCorruptBlobs } from '../core/metrics'

export interface ScrubDeps {
  db: Db
  stores: BlobStores
  maxBytesPerSec: number
}

const ScrubResultSchema = t.Object({
  checked: t.Integer(),
  corrupt: t.Array(t.Object({ content_hash: t.String(), storage_class: t.String() })),
})

const scrubPasses = perDatabase(() => new SharedPass<void, ScrubResult>())

/** One pass over every blob; callers arriving while a pass runs in this process share it. */
export function scrubPass(deps: ScrubDeps): Promise<ScrubResult> {
  return scrubPasses(deps.db).run(undefined, async () => {
    const started = performance.now()
    const result = await recordRun(deps.db, 'scrub', () => runScrub(deps.db, deps.stores, deps.maxBytesPerSec))
    scrubCorruptBlobs.inc(result.corrupt.length)
    log.info({ msg: 'scrub pass', duration_ms: Math.round(performance.now() - started), checked: result.checked, corrupt: result.corrupt.length })
    return result
  })
}

/** POST /v1/admin/scrub re-hashes every stored blob now. */
export const scrubRoutes = (deps: ScrubDeps) =>
  new Elysia({ name: 'scrub' }).post('/v1/admin/scrub', async ({ request, set }) => {
    await recordAudit(deps.db, { actor: principalOf(request).id, tenantId: null, action: 'admin.scrub', target: null, requestId: String(set.headers['x-request-id']) })
    return scrubPass(deps)
  }, {
    beforeHandle: requireAdmin,
    response: { 200: ScrubResultSchema },
    detail: { summary: 'Re-hash every stored blob now', responses: errorResponses(...authErrors) },
  })

/** On SCRUB_CRON in every replica; the one whose claim in the database wins the scheduled time runs the pass. */
export function scheduleScrub(deps: ScrubDeps, cron: string): Schedule {
  const scheduledPass = async () => {
    try {
      if ((await claimSlot(deps.db, 'scrub', scheduledSlot(job))).claimed) await scrubPass(deps)
    } catch (error) {
      log.error({ msg: 'scrub pass failed', error: String((error as Error)?.message ?? error) })
    }
  }
  const job = new Cron(cron, { protect: true }, () => tracked(scheduledPass()))
  return { nextRuns: { scrub: () => nextFiring(job) }, stop: () => job.stop() }
}
