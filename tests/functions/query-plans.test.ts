import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql, type SQL } from 'drizzle-orm'
import { PgDialect } from 'drizzle-orm/pg-core'
import { rowsOf } from '../../core/db/client'
import { listingQuery } from '../../core/listing'
import { readableQuery } from '../../core/objects'
import { startServer, type TestServer } from '../support/server'

/**
 * Every query is a prepared statement, and after five executions PostgreSQL
 * runs its generic plan, made without the parameters' values, when that plan
 * is no dearer than planning anew. A generic plan can use a partial index only
 * if the query states the index's predicate itself: with `status = $1` for
 * 'COMMITTED' no partial index qualifies, and every by-key read was planned
 * anew each time (half the rate of reads by id).
 */
describe('query plans on postgres', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer('postgres')
    // Enough rows that a scan of the namespace costs more than an index probe.
    await server.database.db.execute(sql`
      insert into objects (id, namespace, tenant_id, key, status, storage_class, content_hash, size_bytes, content_type)
      select gen_random_uuid(), 'plans', 't', 'k-' || n, 'COMMITTED', 'hot', 'sha256:' || md5(n::text), 1, 'application/octet-stream'
      from generate_series(1, 20000) n`)
    await server.database.db.execute(sql`analyze objects`)
  })
  afterAll(() => server.stop())

  const dialect = new PgDialect()

  /** The generic plan's scans: each node's type and index, from EXPLAIN (GENERIC_PLAN) of the statement's text. */
  async function genericScans(query: SQL): Promise<{ type: string; index?: string }[]> {
    const text = dialect.sqlToQuery(query).sql
    const [row] = rowsOf<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(await server.database.db.execute(sql.raw(`explain (generic_plan, format json) ${text}`)))
    return flatten(row!['QUERY PLAN'][0]!.Plan)
      .filter((node) => node['Node Type'].includes('Scan'))
      .map((node) => ({ type: node['Node Type'], index: node['Index Name'] }))
  }

  test('a read by key probes the live-key index', async () => {
    const scans = await genericScans(readableQuery(server.database.db, 'key').getSQL())
    expect(scans[0]).toEqual({ type: 'Index Scan', index: 'objects_live_key_idx' })
    expect(scans.map((s) => s.type)).not.toContain('Seq Scan')
  })

  test('a read by id probes the primary key', async () => {
    const scans = await genericScans(readableQuery(server.database.db, 'id').getSQL())
    expect(scans[0]).toEqual({ type: 'Index Scan', index: 'objects_pkey' })
  })

  test('no query of the service starts parallel workers: their start costs a request more than a page or row read, and background scans leave the other cores to requests', async () => {
    for (const pool of [server.database.db, server.database.background]) {
      const [row] = rowsOf<{ max_parallel_workers_per_gather: string }>(await pool.execute(sql`show max_parallel_workers_per_gather`))
      expect(row!.max_parallel_workers_per_gather).toBe('0')
    }
  })

  test('a list page walks the listing index', async () => {
    for (const order of ['asc', 'desc'] as const) {
      const scans = await genericScans(listingQuery(server.database.db, { tenantId: 't', namespace: 'plans', limit: 100, cursor: undefined, order }).getSQL())
      expect(scans).toEqual([{ type: expect.stringMatching(/^Index (Only )?Scan$/), index: 'objects_listing_idx' }])
    }
  })
})

interface PlanNode {
  'Node Type': string
  'Index Name'?: string
  Plans?: PlanNode[]
}

function flatten(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(flatten)]
}
