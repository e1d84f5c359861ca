/**
 * Listing and searching one namespace of a million objects: the first page, a
 * page `listDepth` objects deep reached by following cursors, searches by each
 * indexed filter that match nothing and that match 1 % of the objects, and the
 * tenant's usage, each timed over many sequential requests. The rows are written straight into the database before
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
  searches: Record<SearchKind, { none: Latency; onePercent: Latency }>
  usage: Latency
  peakRssMiB: number
}

/** Every hundredth object is a hit for every search: its key holds "hit", its content type is text/plain, its tag t0. */
const keyOf = (i: number) => `item/${i % 100 === 0 ? 'hit' : 'run'}/${String(i).padStart(7, '0')}`

export const searchKinds = ['key_prefix', 'key_contains', 'content_type', 'metadata', 'text'] as const
export type SearchKind = (typeof searchKinds)[number]

/** Each search's filters: matching no object, and matching 1 % of them. */
const searchFilters: Record<SearchKind, { none: Record<string, unknown>; onePercent: Record<string, unknown> }> = {
  key_prefix: { none: { key_prefix: 'item/none/' }, onePercent: { key_prefix: 'item/hit/' } },
  key_contains: { none: { key_contains: '/none/' }, onePercent: { key_contains: '/hit/' } },
  content_type: { none: { content_type: 'image/png' }, onePercent: { content_type: 'text/plain' } },
  metadata: { none: { metadata: { tag: 'absent' } }, onePercent: { metadata: { tag: 't0' } } },
  text: { none: { text: 'absent' }, onePercent: { text: 't0' } },
}

/** The one 4 KiB hot blob file, of `fill` bytes, that seeded objects share; answers its hex digest. */
export function writeSeedBlob(instance: Instance, fill: number): string {
  const body = new Uint8Array(4096).fill(fill)
  const hex = new Bun.CryptoHasher('sha256').update(body).digest('hex')
  const file = blobPath({ hot: join(instance.dataDir, 'hot'), cold: join(instance.dataDir, 'cold') }, 'hot', hex)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, body)
  return hex
}

/**
 * `count` COMMITTED objects 1 ms apart, all referencing one 4 KiB blob (row and
 * file both exist, ref_count = count, so the store stays consistent).
 */
export async function seedListObjects(instance: Instance, count: number): Promise<void> {
  const hex = writeSeedBlob(instance, 7)

  const database = await openInstanceDatabase(instance)
  try {
    const { db } = database
    const contentHash = `sha256:${hex}`
    await db.execute(sql`insert into blobs (storage_class, content_hash, size_bytes, ref_count) values ('hot', ${contentHash}, 4096, ${count})`)
    for (let first = 1; first <= count; first += batchRows) {
      const last = Math.min(count, first + batchRows - 1)
      await db.execute(sql`
        insert into objects (id, namespace, tenant_id, key, status, storage_class, content_hash, size_bytes, content_type, created_at, updated_at, metadata)
        select gen_random_uuid(), ${namespace}, ${tenant}, 'item/' || (case when i % 100 = 0 then 'hit' else 'run' end) || '/' || lpad(i::text, 7, '0'),
               'COMMITTED', 'hot', ${contentHash}, 4096, case when i % 100 = 0 then 'text/plain' else 'application/octet-stream' end, t, t, jsonb_build_object('tag', 't' || (i % 100))
        from generate_series(${first}::int, ${last}::int) as i,
             lateral (select timestamptz '2026-01-01 00:00:00+00' + i * interval '1 millisecond') as stamp(t)`)
    }
    // Inserted beside commit_object, so their usage is counted as after any bulk import.
    await db.execute(sql`select recount_usage()`)
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

async function getPage(url: string, search?: Record<string, unknown>): Promise<{ page: Page; ms: number }> {
  const started = performance.now()
  const response = await fetch(
    url,
    search === undefined ? { headers: authorized() } : { method: 'POST', body: JSON.stringify(search), headers: authorized({ 'content-type': 'application/json' }) },
  )
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

    const hits = Math.floor(options.listObjects / 100)
    /** Times a search's first page; it must hold exactly the expected hits, newest first. */
    const timeSearch = async (filters: Record<string, unknown>, expected: number): Promise<Latency> => {
      const samples: number[] = []
      const body = { namespace, tenant_id: tenant, limit: size, ...filters }
      for (let i = 0; i < options.listWarmup + options.listTimed; i++) {
        const { page, ms } = await getPage(`${service.url}/v1/objects/search`, body)
        const keys = page.objects.map((o) => o.key)
        const first = keyOf(100 * hits)
        if (keys.length !== Math.min(size, expected) || (expected > 0 && (keys[0] !== first || keys.some((k) => !k?.includes('/hit/'))))) {
          throw new Error(`search ${JSON.stringify(filters)} answered ${keys.length} objects starting at ${keys[0]}; expected ${Math.min(size, expected)} hits from ${first}`)
        }
        if (i >= options.listWarmup) samples.push(ms)
      }
      return { p50Ms: percentile(samples, 50), p99Ms: percentile(samples, 99) }
    }
    const searches = {} as ListResult['searches']
    for (const kind of searchKinds) {
      searches[kind] = { none: await timeSearch(searchFilters[kind].none, 0), onePercent: await timeSearch(searchFilters[kind].onePercent, hits) }
    }

    const usageSamples: number[] = []
    for (let i = 0; i < options.listWarmup + options.listTimed; i++) {
      const started = performance.now()
      const response = await fetch(`${service.url}/v1/usage?tenant_id=${tenant}`, { headers: authorized() })
      const usage = (await response.json()) as { objects: number }
      if (response.status !== 200 || usage.objects < options.listObjects) throw new Error(`usage answered ${response.status}: ${JSON.stringify(usage)}`)
      if (i >= options.listWarmup) usageSamples.push(performance.now() - started)
    }
    return { depth1, deep, searches, usage: { p50Ms: percentile(usageSamples, 50), p99Ms: percentile(usageSamples, 99) } }
  })
  return { ...result, depth: options.listDepth, peakRssMiB }
}
