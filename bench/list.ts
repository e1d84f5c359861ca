/**
 * Listing one namespace of a million objects: the first page, and a page
 * `listDepth` objects deep reached by following cursors, each timed over many
 * sequential requests. The rows are written straight into the database before
 * the service starts (over HTTP a million uploads would take longer than the rest).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { sql } from 'drizzle-orm'
import { blobPath } from '../core/store/paths'
import type { Child } from '../tests/support/child'
import type { BenchOptions } from './options'
import { withPeakRss } from './rss'
import { openInstanceDatabase, tenant, type Instance } from './service'
import { authorized } from './credential'

const namespace = 'list'
const batchRows = 100_000

export interface Latency {
  p50Ms: number
  p99Ms: number
}

export interface ListResult {
  depth1: Latency
  deep: Latency
  depth: number
  peakRssMiB: number
}

const keyOf = (i: number) => `item/${String(i).padStart(7, '0')}`

/**
 * `count` COMMITTED objects 1 ms apart, all referencing one 4 KiB blob (row and
 * file both exist, ref_count = count, so the store stays consistent).
 */
export async function seedListObjects(instance: Instance, count: number): Promise<void> {
  const body = new Uint8Array(4096).fill(7)
  const hex = new Bun.CryptoHasher('sha256').update(body).digest('hex')
  const file = blobPath({ hot: join(instance.dataDir, 'hot'), cold: join(instance.dataDir, 'cold') }, 'hot', hex)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, body)

  const database = await openInstanceDatabase(instance)
  try {
    const { db } = database
    const contentHash = `sha256:${hex}`
    await db.execute(sql`insert into blobs (storage_class, content_hash, size_bytes, ref_count) values ('hot', ${contentHash}, 4096, ${count})`)
    for (let first = 1; first <= count; first += batchRows) {
      const last = Math.min(count, first + batchRows - 1)
      await db.execute(sql`
        insert into objects (id, namespace, tenant_id, key, status, storage_class, content_hash, size_bytes, content_type, created_at, updated_at)
        select gen_random_uuid(), ${namespace}, ${tenant}, 'item/' || lpad(i::text, 7, '0'), 'COMMITTED', 'hot', ${contentHash}, 4096,
               'application/octet-stream', t, t
        from generate_series(${first}::int, ${last}::int) as i,
             lateral (select timestamptz '2026-01-01 00:00:00+00' + i * interval '1 millisecond') as stamp(t)`)
    }
    // A store that has held its objects a while is vacuumed and checkpointed:
    // without this, autovacuum and the writeback of a million fresh rows
    // would run during the measurement.
    await db.execute(sql`vacuum analyze objects`)
    await db.execute(sql`vacuum analyze blobs`)
    await db.execute(sql`checkpoint`)
  } finally {
    await database.close()
  }
}

interface Page {
  objects: { key: string | null }[]
  next_cursor: string | null
}

async function getPage(url: string): Promise<{ page: Page; ms: number }> {
  const started = performance.now()
  const response = await fetch(url, { headers: authorized() })
  const page = (await response.json()) as Page
  const ms = performance.now() - started
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}: ${JSON.stringify(page)}`)
  return { page, ms }
}

/** Nearest-rank percentile. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

export async function measureList(service: Child, options: BenchOptions): Promise<ListResult> {
  const size = options.listPageSize
  const base = `${service.url}/v1/objects?tenant_id=${tenant}&namespace=${namespace}&limit=${size}`

  /** Times `listTimed` requests of one page after `listWarmup`; every answer must start at `firstIndex`, newest first. */
  const timePage = async (url: string, firstIndex: number): Promise<Latency> => {
    const samples: number[] = []
    for (let i = 0; i < options.listWarmup + options.listTimed; i++) {
      const { page, ms } = await getPage(url)
      if (page.objects.length !== size || page.objects[0]?.key !== keyOf(firstIndex)) {
        throw new Error(`list page at ${url} starts at ${page.objects[0]?.key} with ${page.objects.length} objects; expected ${keyOf(firstIndex)} and ${size}`)
      }
      if (i >= options.listWarmup) samples.push(ms)
    }
    return { p50Ms: percentile(samples, 50), p99Ms: percentile(samples, 99) }
  }

  const { result, peakRssMiB } = await withPeakRss(service.pid, async () => {
    const depth1 = await timePage(base, options.listObjects)
    let cursor: string | null = null
    for (let skipped = 0; skipped < options.listDepth; skipped += size) {
      const { page }: { page: Page } = await getPage(cursor === null ? base : `${base}&cursor=${encodeURIComponent(cursor)}`)
      if (!page.next_cursor) throw new Error(`list ended after ${skipped + page.objects.length} objects; ${options.listObjects} were seeded`)
      cursor = page.next_cursor
    }
    const deep = await timePage(`${base}&cursor=${encodeURIComponent(cursor!)}`, options.listObjects - options.listDepth)
    return { depth1, deep }
  })
  return { ...result, depth: options.listDepth, peakRssMiB }
}
