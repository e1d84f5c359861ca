/**
 * 4 KiB objects under load: wrk with 16 connections uploads distinct bodies,
 * then downloads seeded objects round-robin. Any error response or socket
 * error fails the phase; afterwards a sample is read back and checked byte for byte.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Child } from '../tests/support/child'
import { authorization, authorized } from './credential'
import type { BenchOptions } from './options'
import { withPeakRss } from './rss'
import { tenant } from './service'
import { runWrk, type WrkResult, type WrkRun } from './wrk'

const objectBytes = 4096

export interface SmallResult {
  upload: WrkResult
  download: WrkResult
  uploadPeakRssMiB: number
  downloadPeakRssMiB: number
  /** Objects read back and compared after each phase. */
  verified: { uploads: number; downloads: number }
}

const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')

async function wrkPhase(spec: WrkRun, phase: string): Promise<WrkResult> {
  const { output, ...result } = await runWrk(spec)
  if (result.errorResponses > 0 || result.socketErrors > 0 || result.requests === 0) {
    throw new Error(`${phase}: ${result.errorResponses} error responses, ${result.socketErrors} socket errors, ${result.requests} requests\n${output}`)
  }
  return result
}

export async function measureSmall(service: Child, options: BenchOptions, workDir: string): Promise<SmallResult> {
  const wrk = (script: string, args: string[], seconds: number): WrkRun => ({ url: service.url, script, args, seconds, connections: options.smallConcurrency })

  await wrkPhase(wrk('upload.lua', [tenant, 'small-0', authorization()], options.warmupSecs), '4 KiB upload warm-up')
  const upload = await withPeakRss(service.pid, () => wrkPhase(wrk('upload.lua', [tenant, 'small-1', authorization()], options.smallSecs), '4 KiB upload'))
  const uploadsChecked = await verifyUploads(service.url, 'small-1', upload.result.requests, options)

  const seeded = await seedObjects(service.url, options.smallSeeded, options.smallConcurrency)
  const idsFile = join(workDir, 'small-ids.txt')
  writeFileSync(idsFile, seeded.map((o) => o.id).join('\n') + '\n')
  await wrkPhase(wrk('download.lua', [idsFile, tenant, authorization()], options.warmupSecs), '4 KiB download warm-up')
  const download = await withPeakRss(service.pid, () => wrkPhase(wrk('download.lua', [idsFile, tenant, authorization()], options.smallSecs), '4 KiB download'))
  const downloadsChecked = await verifyDownloads(service.url, seeded, options.smallVerified)

  return {
    upload: upload.result,
    download: download.result,
    uploadPeakRssMiB: upload.peakRssMiB,
    downloadPeakRssMiB: download.peakRssMiB,
    verified: { uploads: uploadsChecked, downloads: downloadsChecked },
  }
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

/**
 * Every answered upload is a stored object (a few more may have committed while
 * wrk stopped), and a sample of them reads back as the 4 KiB wrk sent, hashing
 * to the object's content_hash.
 */
async function verifyUploads(base: string, namespace: string, answered: number, options: BenchOptions): Promise<number> {
  const usage = await getJson<{ by_namespace: { namespace: string; objects: number }[] }>(`${base}/v1/usage?tenant_id=${tenant}`)
  const stored = usage.by_namespace.filter((row) => row.namespace === namespace).reduce((sum, row) => sum + row.objects, 0)
  if (stored < answered || stored > answered + options.smallConcurrency) {
    throw new Error(`4 KiB upload: wrk got ${answered} answers but ${stored} objects are stored in ${namespace}`)
  }
  const page = await getJson<{ objects: { id: string; content_hash: string; size_bytes: number }[] }>(
    `${base}/v1/objects?tenant_id=${tenant}&namespace=${namespace}&limit=${Math.min(options.smallVerified, 1000)}`,
  )
  for (const object of page.objects) {
    const bytes = await getBytes(`${base}/v1/objects/${object.id}?tenant_id=${tenant}`)
    const text = new TextDecoder().decode(bytes.subarray(0, 4))
    if (bytes.byteLength !== objectBytes || object.size_bytes !== objectBytes || text !== 'wrk ' || `sha256:${sha256(bytes)}` !== object.content_hash) {
      throw new Error(`4 KiB upload: object ${object.id} reads back wrong (${bytes.byteLength} bytes, ${object.content_hash})`)
    }
  }
  return page.objects.length
}

interface Seeded {
  id: string
  hex: string
}

/** Uploads `count` distinct random 4 KiB objects, `concurrency` at a time, checking each answer's hash. */
async function seedObjects(base: string, count: number, concurrency: number): Promise<Seeded[]> {
  const seeded: Seeded[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++
        const body = crypto.getRandomValues(new Uint8Array(objectBytes))
        const hex = sha256(body)
        const response = await fetch(`${base}/v1/objects?tenant_id=${tenant}&namespace=small-seed`, {
          method: 'POST',
          body,
          headers: authorized({ 'content-type': 'application/octet-stream' }),
        })
        const answer = (await response.json()) as { id: string; content_hash: string }
        if (response.status !== 201) throw new Error(`seeding 4 KiB objects: ${response.status} ${JSON.stringify(answer)}`)
        if (answer.content_hash !== `sha256:${hex}`) throw new Error(`seeding 4 KiB objects: sent sha256:${hex}, stored ${answer.content_hash}`)
        seeded.push({ id: answer.id, hex })
      }
    }),
  )
  return seeded
}

async function verifyDownloads(base: string, seeded: Seeded[], sample: number): Promise<number> {
  const picks = Array.from({ length: Math.min(sample, seeded.length) }, () => seeded[Math.floor(Math.random() * seeded.length)]!)
  for (const object of picks) {
    const bytes = await getBytes(`${base}/v1/objects/${object.id}?tenant_id=${tenant}`)
    if (bytes.byteLength !== objectBytes || sha256(bytes) !== object.hex) throw new Error(`4 KiB download: object ${object.id} read back wrong bytes`)
  }
  return picks.length
}
