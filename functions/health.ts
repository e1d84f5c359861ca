import { accessSync, constants } from 'node:fs'
import { Elysia } from 'elysia'
import { pingDatabase, type Db } from '../core/db/client'
import type { StorageRoots } from '../core/store/paths'

export interface HealthDeps {
  db: Db
  roots: StorageRoots
  /** True once shutdown has begun: stop taking traffic. */
  draining: () => boolean
}

/** Liveness (no dependencies touched) and readiness (database, migrations, writable roots). */
export const healthRoutes = (deps: HealthDeps) => {
  const ready = async ({ set }: { set: { status?: number | string } }) => {
    const problems = await readinessProblems(deps)
    set.status = problems.length === 0 ? 200 : 503
    return problems.length === 0 ? { status: 'ready' } : { status: 'unavailable', problems }
  }
  return new Elysia({ name: 'health' })
    .get('/health', () => ({ status: 'ok' }), { detail: { summary: 'Liveness' } })
    .get('/health/ready', ready, { detail: { summary: 'Readiness' } })
    .get('/ready', ready, { detail: { summary: 'Readiness (alias)' } })
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
  for (const [name, root] of Object.entries(deps.roots)) {
    try {
      accessSync(root, constants.W_OK)
    } catch {
      problems.push(`${name} storage root not writable`)
    }
  }
  return problems
}
