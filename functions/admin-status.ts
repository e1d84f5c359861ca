import { statfsSync } from 'node:fs'
import { sql } from 'drizzle-orm'
import { Elysia, t } from 'elysia'
import { rowsOf, type Db } from '../core/db/client'
import { blobs } from '../core/db/schema'
import { collectable } from '../core/db/collectable'
import { jobStatus, type NextRuns } from '../core/runs'
import type { StorageRoots } from '../core/store/paths'
import { requireAdmin } from './admin-guard'
import { authErrors, errorResponses } from './openapi'

export interface StatusDeps {
  db: Db
  roots: Partial<StorageRoots>
  gcGraceSecs: number
  nextRuns: NextRuns
}

const LastRun = t.Object({
  started_at: t.Nullable(t.String()),
  finished_at: t.Nullable(t.String()),
  outcome: t.Nullable(t.Record(t.String(), t.Unknown())),
  error: t.Nullable(t.String()),
})

const AdminStatus = t.Object(
  {
    jobs: t.Record(t.String(), t.Object({ last_run: t.Nullable(LastRun), next_run_at: t.Nullable(t.String()) })),
    queues: t.Record(t.String(), t.Number()),
    disks: t.Record(t.String(), t.Object({ path: t.String(), free_bytes: t.Number(), total_bytes: t.Number() })),
  },
  {
    description:
      '`jobs`: gc, scrub, lifecycle, reaper and orphan_sweep, each with `last_run` (of the last run in any replica; null before the first) and `next_run_at` (when this replica runs it next; null if it does not schedule it). `queues`: counts of blobs and objects waiting for background work. `disks`: free and total bytes per storage root.',
  },
)

/** GET /v1/admin/status: each background job's last and next run, queue depths, free disk per root. */
export const adminStatusRoutes = (deps: StatusDeps) =>
  new Elysia({ name: 'admin-status' }).get(
    '/v1/admin/status',
    async () => ({
      jobs: await jobStatus(deps.db, deps.nextRuns),
      queues: await queueDepths(deps.db, deps.gcGraceSecs),
      disks: Object.fromEntries(Object.entries(deps.roots).map(([name, root]) => [name, diskUsage(root!)])),
    }),
    {
      beforeHandle: requireAdmin,
      response: { 200: AdminStatus },
      detail: { summary: 'Background jobs, queues and disks', responses: errorResponses(...authErrors) },
    },
  )

async function queueDepths(db: Db, graceSecs: number) {
  const [row] = rowsOf<Record<string, string | number>>(
    await db.execute(sql`select
      (select count(*) from blobs where ref_count = 0) as unreferenced_blobs,
      (select count(*) from ${blobs} where ${collectable(graceSecs)}) as collectable_blobs,
      (select count(*) from blobs where corrupt_at is not null) as corrupt_blobs,
      (select count(*) from objects where status = 'WRITING') as writing_uploads,
      (select count(*) from objects where status = 'DELETING') as deleting_objects`),
  )
  return Object.fromEntries(Object.entries(row ?? {}).map(([name, value]) => [name, Number(value)]))
}

function diskUsage(root: string) {
  const stats = statfsSync(root)
  return { path: root, free_bytes: stats.bavail * stats.bsize, total_bytes: stats.blocks * stats.bsize }
}
