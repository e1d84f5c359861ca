/**
 * What the hardware and Bun allow with no framework and no database, measured
 * with the same clients as the service: the ceiling each service number is
 * compared with.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from '../tests/support/child'
import { sha256Rate } from './body'
import { median, uploadOnce, type BulkRun } from './bulk'
import type { BenchOptions } from './options'
import { run, startBareServer, syncDisks } from './processes'

export interface Limits {
  /** Bun's SHA-256 over bulkBytes in 1 MiB updates. */
  sha256MiBps: number
  /** The upload client against a server that reads and discards: the client's own ceiling. */
  uploadClientMiBps: number
  /** Receive + hash + write + fdatasync + rename + directory fsync, in a bare Bun.serve (runs paired with the service's). */
  bareUploadMiBps: number
  /** `new Response(Bun.file(path))` of the service's own blob files, in a bare Bun.serve (runs paired with the service's). */
  bareDownloadMiBps: number
  /** Durable 4 KiB puts (write + fdatasync + rename + directory fsync) at smallConcurrency. */
  durablePutOpsPerSec: number
  /** A single-stream multipart upload to the s3 backend's bucket with Bun's S3Client, from the bench process (runs paired with the service's). */
  directUploadMiBps: number
  /** A GET of such an object with Bun's S3Client, streamed and hashed in the bench process (runs paired with the service's). */
  directDownloadMiBps: number
  runs: { upload: BulkRun[]; download: BulkRun[] }
  /** The direct runs against the bucket. */
  directRuns: { upload: BulkRun[]; download: BulkRun[] }
}

/** The limits measured on their own; the bare upload and download are measured beside the service (see measureBulk), the direct ones beside it on a bucket (see measureBucketBulk). */
export type StandaloneLimits = Pick<Limits, 'sha256MiBps' | 'uploadClientMiBps' | 'durablePutOpsPerSec'>

export async function measureLimits(options: BenchOptions): Promise<StandaloneLimits> {
  const dir = join(options.workRoot, 'limits')
  mkdirSync(dir, { recursive: true })
  const sha256MiBps = sha256Rate(options.bulkBytes)

  const upload = await startBareServer('bare-upload-server.ts', [dir])
  let uploadClientMiBps: number
  try {
    const ceiling: BulkRun[] = []
    for (let rep = 0; rep < options.bulkRepetitions; rep++) ceiling.push(await uploadOnce(`${upload.url}/discard`, options.bulkBytes, rep, false))
    uploadClientMiBps = median(ceiling.map((r) => r.mibps))
  } finally {
    await upload.stop()
  }

  const putsDir = join(dir, 'puts')
  mkdirSync(putsDir)
  syncDisks()
  const puts = JSON.parse(
    await run([process.execPath, join(repoRoot, 'bench', 'bare-durable-puts.ts'), putsDir, String(options.smallSecs), String(options.smallConcurrency)]),
  ) as { ops: number; seconds: number }

  return { sha256MiBps, uploadClientMiBps, durablePutOpsPerSec: puts.ops / puts.seconds }
}
