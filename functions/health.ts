import { Elysia } from 'elysia'
import { pingDatabase, type Db } from '../core/db/client'
import type { BlobStores } from '../core/store/blob-store'
import { errorResponses, publicRoute } from './openapi'

export interface HealthDeps {
  db: Db
  stores: BlobStores
  /** True once shutdown has begun: stop taking traffic. */
  draining: () => boolean
}

/** Liveness (no dependencies touched) and readiness (database, migrations, storage classes able to take blobs). */
export const healthRoutes = (deps: HealthDeps) => {
  const ready = async ({ set }: { set: { status?: number | string; headers: Record<string, unknown> } }) => {
    const problems = await readinessProblems(deps)
    if (problems.length === 0) return { status: 'ready' }
    set.status = 503
    // The error envelope every client parses, plus the list a monitor can show.
    return { error: `Not ready: ${problems.join('; ')}`, code: 'unavailable', request_id: set.headers['x-request-id'], status: 'unavailable', problems }
  }
  return new Elysia({ name: 'health' })
    .get('/health', () => ({ status: 'ok' }), { detail: { summary: 'Liveness', ...publicRoute } })
    .get('/health/ready', ready, { detail: { summary: 'Readiness', ...publicRoute, responses: errorResponses(503) } })
    .get('/ready', ready, { detail: { summary: 'Readiness (alias)', ...publicRoute, responses: errorResponses(503) } })
}

async function readinessProblems(deps: HealthDeps): Promise<string[]> {
  const problems: string[] = []
  if (deps.draining()) problems.push('shutting down')
  try {
    // Migrations run before the server listens, so a database that answers is a migrated one.
    await pingDatabase(deps.db)
  } catch {
    problems.push('database unreachable')
  }
  for (const [name, store] of Object.entries(deps.stores)) {
    const problem = await store.readiness()
    if (problem !== null) problems.push(`${name} ${problem}`)
  }
  return problems
}
