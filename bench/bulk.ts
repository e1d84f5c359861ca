/**
 * One large object at a time, uploaded and downloaded whole: MiB/s of a single
 * stream, the median of several repetitions, every byte hash-checked.
 *
 * Uploads stream a generated body from this process with fetch (repetition i
 * sends the same bytes to every target, a different body per repetition; its
 * hash is computed before the timed upload). Downloads are timed with curl
 * draining to /dev/null, which needs far less CPU per byte than fetch; each
 * object is then downloaded once more, untimed, and re-hashed here.
 */
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Child } from '../tests/support/child'
import { generatedBody, sha256Hex } from './body'
import { authorized } from './credential'
import type { BenchOptions } from './options'
import { curlDownload, startBareServer, syncDisks } from './processes'
import { withPeakRss } from './rss'
import { tenant } from './service'

export interface BulkRun {
  seconds: number
  mibps: number
  hex: string
  /** The object's id when the target is the service. */
  id?: string
}

export interface BulkResult {
  uploadMiBps: number
  downloadMiBps: number
  uploadPeakRssMiB: number
  downloadPeakRssMiB: number
  runs: { upload: BulkRun[]; download: BulkRun[] }
  /** The bare pipeline's runs, each paired with one of the service's. */
  bare: { upload: BulkRun[]; download: BulkRun[] }
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const mibps = (bytes: number, seconds: number) => bytes / 2 ** 20 / seconds

/** Uploads the body of `seed`; unless `verify` is false, the answer's content_hash must be the one computed here. */
export async function uploadOnce(url: string, bytes: number, seed: number, verify = true): Promise<BulkRun> {
  const expected = verify ? (await sha256Hex(generatedBody(bytes, seed))).hex : ''
  const started = performance.now()
  const response = await fetch(url, {
    method: 'POST',
    body: generatedBody(bytes, seed),
    headers: authorized({ 'content-type': 'application/octet-stream', 'content-length': String(bytes) }),
    duplex: 'half',
  } as RequestInit)
  const answer = (await response.json().catch(() => ({}))) as { id?: string; content_hash?: string; size_bytes?: number }
  const seconds = (performance.now() - started) / 1000
  if (response.status !== 201) throw new Error(`upload to ${url} answered ${response.status}: ${JSON.stringify(answer)}`)
  if (answer.size_bytes !== bytes) throw new Error(`upload to ${url} stored ${answer.size_bytes} bytes, sent ${bytes}`)
  if (verify && answer.content_hash !== `sha256:${expected}`) {
    throw new Error(`hash mismatch on upload to ${url}: sent sha256:${expected}, stored ${answer.content_hash}`)
  }
  return { seconds, mibps: mibps(bytes, seconds), hex: expected, id: answer.id }
}

/** A timed curl download; with `verify`, one more untimed download whose bytes are re-hashed. */
export async function downloadOnce(url: string, hex: string, bytes: number, verify: boolean): Promise<BulkRun> {
  const timed = await curlDownload(url)
  if (timed.status !== 200 || timed.bytes !== bytes) throw new Error(`download of ${url}: status ${timed.status}, ${timed.bytes} of ${bytes} bytes`)
  if (verify) {
    const response = await fetch(url, { headers: authorized() })
    if (response.status !== 200) throw new Error(`verifying download of ${url}: status ${response.status}`)
    const got = await sha256Hex(response.body!)
    if (got.hex !== hex || got.bytes !== bytes) throw new Error(`hash mismatch on download of ${url}: expected sha256:${hex} (${bytes} bytes), got sha256:${got.hex} (${got.bytes} bytes)`)
  }
  return { seconds: timed.seconds, mibps: mibps(bytes, timed.seconds), hex }
}

/**
 * Each repetition times the service and the bare pipeline back to back, in
 * alternating order, on bodies of the same size; each download pair reads the
 * same blob file. This disk's speed drifts by tens of per cent over a run, so
 * only runs made side by side compare fairly.
 */
export async function measureBulk(service: Child, options: BenchOptions, blobFileOf: (hex: string) => string): Promise<BulkResult> {
  const bareDir = join(options.workRoot, `bare-${service.pid}`)
  mkdirSync(bareDir, { recursive: true })
  const bareUpload = await startBareServer('bare-upload-server.ts', [bareDir])
  const bareDownload = await startBareServer('bare-download-server.ts', [])
  const bare: BulkResult['bare'] = { upload: [], download: [] }
  try {
    const uploads = await withPeakRss(service.pid, async () => {
      const runs: BulkRun[] = []
      for (let rep = 0; rep < options.bulkRepetitions; rep++) {
        const serviceRun = () => uploadOnce(`${service.url}/v1/objects?tenant_id=${tenant}&namespace=bulk&storage_class=hot`, options.bulkBytes, rep)
        const bareRun = () => uploadOnce(`${bareUpload.url}/`, options.bulkBytes, rep + 1000)
        for (const which of alternate(rep)) {
          syncDisks()
          if (which === 'service') runs.push(await serviceRun())
          else bare.upload.push(await bareRun())
        }
      }
      return runs
    })
    rmSync(bareDir, { recursive: true, force: true })
    const downloads = await withPeakRss(service.pid, async () => {
      const runs: BulkRun[] = []
      // A download from the page cache takes a fraction of a second, so each
      // blob is downloaded in several rounds to take the median of more pairs.
      for (const [rep, uploaded] of uploads.result.entries()) {
        const path = blobFileOf(uploaded.hex)
        for (let round = 0; round < options.bulkDownloadRounds; round++) {
          const first = round === 0
          for (const which of alternate(rep * options.bulkDownloadRounds + round)) {
            if (which === 'service') runs.push(await downloadOnce(`${service.url}/v1/objects/${uploaded.id}?tenant_id=${tenant}`, uploaded.hex, options.bulkBytes, first))
            else bare.download.push(await downloadOnce(`${bareDownload.url}/?path=${encodeURIComponent(path)}`, uploaded.hex, options.bulkBytes, first && rep === 0))
          }
        }
      }
      return runs
    })
    return {
      uploadMiBps: median(uploads.result.map((r) => r.mibps)),
      downloadMiBps: median(downloads.result.map((r) => r.mibps)),
      uploadPeakRssMiB: uploads.peakRssMiB,
      downloadPeakRssMiB: downloads.peakRssMiB,
      runs: { upload: uploads.result, download: downloads.result },
      bare,
    }
  } finally {
    await bareUpload.stop()
    await bareDownload.stop()
    rmSync(bareDir, { recursive: true, force: true })
  }
}

const alternate = (rep: number) => (rep % 2 === 0 ? (['bare', 'service'] as const) : (['service', 'bare'] as const))
