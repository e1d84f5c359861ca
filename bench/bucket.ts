/**
 * One large object at a time through the service with both storage classes on
 * a bucket, beside the same bucket reached directly with Bun's S3Client from
 * this process: MiB/s of a single stream, medians of several repetitions,
 * every byte hash-checked.
 *
 * The service's uploads are uploadOnce's (a generated body streamed by fetch,
 * its hash computed first and compared with the answer's). The direct upload
 * sends the same kind of body as one multipart upload, `client.write(key, new
 * Response(stream), { partSize: 8 MiB, queueSize: 2 })`: Bun's fastest way
 * with bounded memory, and the parts the service itself uploads in. Every
 * download, through the service and direct, is timed as a streamed read hashed
 * here, and its hash must be the one computed before the upload.
 */
import type { S3Client } from 'bun'
import type { S3Target } from '../tests/support/ceph'
import type { Child } from '../tests/support/child'
import { median, uploadOnce, type BulkRun } from './bulk'
import { generatedBody, sha256Hex } from './body'
import { authorized } from './credential'
import type { BenchOptions } from './options'
import { syncDisks } from './processes'
import { withPeakRss } from './rss'
import { tenant } from './service'

export interface BucketBulkResult {
  uploadMiBps: number
  downloadMiBps: number
  uploadPeakRssMiB: number
  downloadPeakRssMiB: number
  runs: { upload: BulkRun[]; download: BulkRun[] }
  /** The direct runs, each made beside one of the service's. */
  direct: { upload: BulkRun[]; download: BulkRun[] }
  /** The service's uploads whose answer's hash was checked, and its downloads hashed here. */
  hashesChecked: number
  /** Direct downloads hashed here: each proves the bytes of a direct upload too. */
  directHashesChecked: number
}

const MiB = 2 ** 20
export const directPartBytes = 8 * MiB
export const directQueueSize = 2

const mibps = (bytes: number, seconds: number) => bytes / MiB / seconds

/** One multipart upload of the body of `seed` straight to the bucket; the object must come out whole. */
async function directUpload(client: S3Client, key: string, bytes: number, seed: number): Promise<BulkRun> {
  const { hex } = await sha256Hex(generatedBody(bytes, seed))
  const started = performance.now()
  await client.write(key, new Response(generatedBody(bytes, seed)), { partSize: directPartBytes, queueSize: directQueueSize })
  const seconds = (performance.now() - started) / 1000
  const stored = await client.stat(key)
  if (stored.size !== bytes) throw new Error(`direct upload of ${key} stored ${stored.size} bytes, sent ${bytes}`)
  return { seconds, mibps: mibps(bytes, seconds), hex, id: key }
}

/** A timed read of a whole stream, hashed as it arrives; bytes and hash must be the uploaded ones. */
async function hashedDownload(what: string, open: () => Promise<ReadableStream<Uint8Array>>, hex: string, bytes: number): Promise<BulkRun> {
  const started = performance.now()
  const got = await sha256Hex(await open())
  const seconds = (performance.now() - started) / 1000
  if (got.hex !== hex || got.bytes !== bytes) throw new Error(`hash mismatch on ${what}: expected sha256:${hex} (${bytes} bytes), got sha256:${got.hex} (${got.bytes} bytes)`)
  return { seconds, mibps: mibps(bytes, seconds), hex }
}

function serviceDownload(service: Child, uploaded: BulkRun, bytes: number): Promise<BulkRun> {
  const url = `${service.url}/v1/objects/${uploaded.id}?tenant_id=${tenant}`
  return hashedDownload(
    `download of ${url}`,
    async () => {
      const response = await fetch(url, { headers: authorized() })
      if (response.status !== 200) throw new Error(`download of ${url}: status ${response.status}: ${await response.text()}`)
      return response.body!
    },
    uploaded.hex,
    bytes,
  )
}

function directDownload(client: S3Client, uploaded: BulkRun, bytes: number): Promise<BulkRun> {
  return hashedDownload(`direct GET of ${uploaded.id}`, async () => client.file(uploaded.id!).stream(), uploaded.hex, bytes)
}

/**
 * Each repetition times the service and the direct client back to back, in
 * alternating order (direct, service; service, direct; …), on bodies of the
 * same size: the disk under the OSD drifts by tens of per cent over a run, so
 * only runs made side by side compare fairly. `client` is a client of the
 * service's bucket; the direct objects go under `bench-direct/` and are
 * deleted at the end.
 */
export async function measureBucketBulk(service: Child, options: BenchOptions, client: S3Client): Promise<BucketBulkResult> {
  const direct: BucketBulkResult['direct'] = { upload: [], download: [] }
  const bytes = options.bulkBytes
  try {
    const uploads = await withPeakRss(service.pid, async () => {
      const runs: BulkRun[] = []
      for (let rep = 0; rep < options.bulkRepetitions; rep++) {
        for (const which of alternate(rep)) {
          syncDisks()
          if (which === 'service') runs.push(await uploadOnce(`${service.url}/v1/objects?tenant_id=${tenant}&namespace=bulk&storage_class=hot`, bytes, rep))
          else direct.upload.push(await directUpload(client, `bench-direct/${rep}`, bytes, rep + 1000))
        }
      }
      return runs
    })
    const downloads = await withPeakRss(service.pid, async () => {
      const runs: BulkRun[] = []
      for (const [rep, uploaded] of uploads.result.entries()) {
        for (let round = 0; round < options.bulkDownloadRounds; round++) {
          for (const which of alternate(rep * options.bulkDownloadRounds + round)) {
            if (which === 'service') runs.push(await serviceDownload(service, uploaded, bytes))
            else direct.download.push(await directDownload(client, direct.upload[rep]!, bytes))
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
      direct,
      hashesChecked: uploads.result.length + downloads.result.length,
      directHashesChecked: direct.download.length,
    }
  } finally {
    for (const run of direct.upload) await client.delete(run.id!).catch(() => {})
  }
}

const alternate = (rep: number) => (rep % 2 === 0 ? (['direct', 'service'] as const) : (['service', 'direct'] as const))

/**
 * Deletes every object of a bench bucket and the bucket, once its service has
 * stopped: best effort (a throwaway RGW goes anyway; an S3_ENDPOINT keeps
 * nothing of the bench's when this works).
 */
export async function emptyBucket(s3: S3Target, bucket: string): Promise<void> {
  const client = s3.client(bucket)
  try {
    for (let token: string | undefined, more = true; more; ) {
      const page = await client.list({ continuationToken: token, maxKeys: 1000 })
      for (const object of page.contents ?? []) await client.delete(object.key)
      token = page.nextContinuationToken
      more = Boolean(page.isTruncated && token)
    }
    await s3.deleteBucket(bucket)
  } catch (error) {
    console.error(`bench: could not empty and delete bucket ${bucket}: ${(error as Error).message}`)
  }
}
