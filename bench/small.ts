/**
 * 4 KiB objects under load, written and read every way users do: wrk with 16
 * connections uploads distinct bodies without a key, with a new key by POST
 * and by PUT, and replacing existing keys; deletes by key; downloads seeded
 * objects by id and by key. Any error response or socket error fails the phase;
 * afterwards the stored objects are counted and a sample is read back and
 * checked byte for byte.
 *
 * Given several replicas of the service (one database, one bucket), one wrk
 * goes round them: a thread per replica with an equal share of the
 * connections (see runWrk), and the samples are read back from the last
 * replica, which did not take every write.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Child } from '../tests/support/child'
import { authorization, authorized } from './credential'
import type { BenchOptions } from './options'
import { withPeakRss } from './rss'
import { tenant } from './service'
import { runWrk, type WrkResult, type WrkRun } from './wrk'

export const objectBytes = 4096

/** Every 4 KiB phase, in the order they run. */
export const smallPhases = ['post', 'post-key', 'put-new', 'replace', 'delete-by-key', 'get-by-id', 'get-by-key'] as const
export type SmallPhase = (typeof smallPhases)[number]

export const smallPhaseTitles: Record<SmallPhase, string> = {
  post: 'POST without a key',
  'post-key': 'POST with a new key',
  'put-new': 'PUT by key, new keys',
  replace: 'PUT by key, replacing',
  'delete-by-key': 'DELETE by key',
  'get-by-id': 'GET by id',
  'get-by-key': 'GET by key',
}

export type PhaseResult = WrkResult & { peakRssMiB: number }

export interface SmallResult {
  /** Replicas of the service the phases went round. */
  replicas: number
  phases: Record<SmallPhase, PhaseResult>
  /** Objects read back and compared after the write and read phases. */
  verified: { uploads: number; downloads: number }
}

/** Keys cycled by the replacing phase: enough that 16 connections rarely wait for one another's key. */
export const replacedKeys = 1000

const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')

/** A wrk run against the service, round its replicas when there are several. */
export const wrkSpec = (replicas: Child[], options: BenchOptions) => (script: string, args: string[], seconds: number): WrkRun => ({
  url: replicas[0]!.url,
  replicas: replicas.length > 1 ? replicas.map((r) => r.url) : undefined,
  script,
  args,
  seconds,
  connections: options.smallConcurrency,
})

export async function measureSmall(replicas: Child[], options: BenchOptions, workDir: string): Promise<SmallResult> {
  const service = replicas[0]!
  const reader = replicas.at(-1)!
  const spec = wrkSpec(replicas, options)
  const phases = {} as Record<SmallPhase, PhaseResult>
  const timed = async (phase: SmallPhase, run: WrkRun) => {
    const { result, peakRssMiB } = await withPeakRss(replicas.map((r) => r.pid), () => wrkPhase(run, smallPhaseTitles[phase]))
    phases[phase] = { ...result, peakRssMiB }
    return result
  }
  const write = (mode: string, namespace: string, seconds: number) => spec('write.lua', [mode, tenant, namespace, authorization(), String(replacedKeys)], seconds)
  const objectsIn = (namespace: string) => countObjects(service.url, namespace)

  await wrkPhase(write('post', 'small-warm', options.warmupSecs), 'warm-up')
  const posted = await timed('post', write('post', 'small-post', options.smallSecs))
  expectCount('POST without a key', await objectsIn('small-post'), posted.requests, options.smallConcurrency)
  const keyed = await timed('post-key', write('post-key', 'small-post-key', options.smallSecs))
  expectCount('POST with a key', await objectsIn('small-post-key'), keyed.requests, options.smallConcurrency)
  const put = await timed('put-new', write('put-new', 'small-put', options.smallSecs))
  expectCount('PUT by key', await objectsIn('small-put'), put.requests, options.smallConcurrency)

  // The warm-up creates every key the timed phase then replaces; on a machine too busy to reach them all in time it runs again, twice as long.
  for (let seconds = Math.max(options.warmupSecs, 2); ; seconds *= 2) {
    await wrkPhase(write('replace', 'small-replace', seconds), 'replacing warm-up')
    const created = await objectsIn('small-replace')
    if (created === replacedKeys) break
    if (created > replacedKeys || seconds >= 16) throw new Error(`the replacing warm-up left ${created} of ${replacedKeys} keys`)
  }
  await timed('replace', write('replace', 'small-replace', options.smallSecs))
  if ((await objectsIn('small-replace')) !== replacedKeys) throw new Error(`replacing changed the number of keys to ${await objectsIn('small-replace')}`)
  const uploadsChecked = (await verifyStored(service.url, reader.url, 'small-post', options)) + (await verifyStored(service.url, reader.url, 'small-replace', options))

  // Deletes take the keys the two keyed phases stored, alternating.
  const deletable = interleave(await keyPaths(service.url, 'small-post-key'), await keyPaths(service.url, 'small-put'))
  const deleteFile = join(workDir, 'small-deletes.txt')
  writeFileSync(deleteFile, deletable.join('\n') + '\n')
  const before = (await objectsIn('small-post-key')) + (await objectsIn('small-put'))
  // Half as long as a write phase: deletes consume in it the keys of two write phases, so even at four times their rate the keys last.
  const deleted = await timed('delete-by-key', spec('paths.lua', [deleteFile, 'DELETE', authorization()], Math.max(1, Math.floor(options.smallSecs / 2))))
  if (deleted.requests > deletable.length) throw new Error(`DELETE by key ran out of keys: ${deleted.requests} deletes of ${deletable.length} keys`)
  const after = (await objectsIn('small-post-key')) + (await objectsIn('small-put'))
  expectCount('DELETE by key', before - after, deleted.requests, options.smallConcurrency)

  const seeded = await seedObjects(service.url, options.smallSeeded, options.smallConcurrency)
  const byId = join(workDir, 'small-ids.txt')
  const byKey = join(workDir, 'small-keys.txt')
  writeFileSync(byId, seeded.map((o) => `/v1/objects/${o.id}?tenant_id=${tenant}`).join('\n') + '\n')
  writeFileSync(byKey, seeded.map((o) => `/v1/objects/by-key/small-seed/${tenant}/${o.key}`).join('\n') + '\n')
  await wrkPhase(spec('paths.lua', [byId, 'GET', authorization()], options.warmupSecs), 'download warm-up')
  await timed('get-by-id', spec('paths.lua', [byId, 'GET', authorization()], options.smallSecs))
  await timed('get-by-key', spec('paths.lua', [byKey, 'GET', authorization()], options.smallSecs))
  const downloadsChecked = await verifyDownloads(reader.url, seeded, options.smallVerified)

  return { replicas: replicas.length, phases, verified: { uploads: uploadsChecked, downloads: downloadsChecked } }
}

export async function wrkPhase(spec: WrkRun, phase: string): Promise<WrkResult> {
  const { output, ...result } = await runWrk(spec)
  if (result.errorResponses > 0 || result.socketErrors > 0 || result.requests === 0) {
    throw new Error(`${phase}: ${result.errorResponses} error responses, ${result.socketErrors} socket errors, ${result.requests} requests\n${output}`)
  }
  return result
}

/** Every answered request took effect; a few more may have while wrk stopped. */
export function expectCount(phase: string, counted: number, answered: number, inFlight: number): void {
  if (counted < answered || counted > answered + inFlight) throw new Error(`${phase}: wrk got ${answered} answers but ${counted} objects changed`)
}

/** The by-key path of every object in a namespace, from its listing. */
async function keyPaths(base: string, namespace: string): Promise<string[]> {
  const paths: string[] = []
  let cursor: string | null = null
  do {
    const page: { objects: { key: string }[]; next_cursor: string | null } = await getJson(
      `${base}/v1/objects?tenant_id=${tenant}&namespace=${namespace}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    )
    paths.push(...page.objects.map((o) => `/v1/objects/by-key/${namespace}/${tenant}/${encodeURIComponent(o.key)}`))
    cursor = page.next_cursor
  } while (cursor)
  return paths
}

function interleave<T>(a: T[], b: T[]): T[] {
  return Array.from({ length: Math.max(a.length, b.length) }, (_, i) => [a[i], b[i]]).flat().filter((x): x is T => x !== undefined)
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { headers: authorized() })
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}: ${await response.text()}`)
  return (await response.json()) as T
}

async function getBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url, { headers: authorized() })
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}: ${await response.text()}`)
  return new Uint8Array(await response.arrayBuffer())
}

export async function countObjects(base: string, namespace: string): Promise<number> {
  const usage = await getJson<{ by_namespace: { namespace: string; objects: number }[] }>(`${base}/v1/usage?tenant_id=${tenant}`)
  return usage.by_namespace.filter((row) => row.namespace === namespace).reduce((sum, row) => sum + row.objects, 0)
}

/** A sample of a namespace (listed from `base`) reads back from `reader` as the 4 KiB wrk sent, hashing to each object's content_hash. */
export async function verifyStored(base: string, reader: string, namespace: string, options: BenchOptions): Promise<number> {
  const page = await getJson<{ objects: { id: string; content_hash: string; size_bytes: number }[] }>(
    `${base}/v1/objects?tenant_id=${tenant}&namespace=${namespace}&limit=${Math.min(options.smallVerified, 1000)}`,
  )
  for (const object of page.objects) {
    const bytes = await getBytes(`${reader}/v1/objects/${object.id}?tenant_id=${tenant}`)
    const text = new TextDecoder().decode(bytes.subarray(0, 4))
    if (bytes.byteLength !== objectBytes || object.size_bytes !== objectBytes || text !== 'wrk ' || `sha256:${sha256(bytes)}` !== object.content_hash) {
      throw new Error(`4 KiB upload: object ${object.id} reads back wrong (${bytes.byteLength} bytes, ${object.content_hash})`)
    }
  }
  return page.objects.length
}

export interface Seeded {
  id: string
  key: string
  hex: string
}

/** Uploads `count` distinct random 4 KiB objects with keys into `namespace`, `concurrency` at a time, checking each answer's hash. */
export async function seedObjects(base: string, count: number, concurrency: number, namespace = 'small-seed'): Promise<Seeded[]> {
  const seeded: Seeded[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const key = `seed-${next++}`
        const body = crypto.getRandomValues(new Uint8Array(objectBytes))
        const hex = sha256(body)
        const response = await fetch(`${base}/v1/objects?tenant_id=${tenant}&namespace=${namespace}&key=${key}`, {
          method: 'POST',
          body,
          headers: authorized({ 'content-type': 'application/octet-stream' }),
        })
        const answer = (await response.json()) as { id: string; content_hash: string }
        if (response.status !== 201) throw new Error(`seeding 4 KiB objects: ${response.status} ${JSON.stringify(answer)}`)
        if (answer.content_hash !== `sha256:${hex}`) throw new Error(`seeding 4 KiB objects: sent sha256:${hex}, stored ${answer.content_hash}`)
        seeded.push({ id: answer.id, key, hex })
      }
    }),
  )
  return seeded
}

/** A sample of the objects seedObjects put in `namespace` reads back right, by id and by key. */
export async function verifyDownloads(base: string, seeded: Seeded[], sample: number, namespace = 'small-seed'): Promise<number> {
  const picks = Array.from({ length: Math.min(sample, seeded.length) }, () => seeded[Math.floor(Math.random() * seeded.length)]!)
  for (const object of picks) {
    for (const path of [`/v1/objects/${object.id}?tenant_id=${tenant}`, `/v1/objects/by-key/${namespace}/${tenant}/${object.key}`]) {
      const bytes = await getBytes(`${base}${path}`)
      if (bytes.byteLength !== objectBytes || sha256(bytes) !== object.hex) throw new Error(`4 KiB download: ${path} read back wrong bytes`)
    }
  }
  return 2 * picks.length
}
