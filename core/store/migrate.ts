import { and, asc, eq, gt, isNull, sql } from 'drizzle-orm'
import type { Db } from '../db/client'
import { blobs, type StorageClass } from '../db/schema'
import { blobsWithoutRows } from '../gc'
import type { BlobStore } from './blob-store'
import { hexOf } from './paths'

/**
 * Copies the blobs of one storage class from one blob store into another (a
 * directory into a bucket), for a service that is stopped: the caller holds
 * the database exclusively, so no row and no blob changes meanwhile. The
 * database is only read; the source store is only read; nothing is switched.
 *
 * Each blob kept in a store (every row of the class without inline bytes) is
 * streamed from the source into the destination as an upload is (stage, then
 * place), and read back from the destination and hashed. A blob the
 * destination already holds with its size and its hash is left as it is, which
 * makes a run that was cut short resumable: the next one goes on where it
 * stopped. Bytes that do not hash to their blob's hash are never placed.
 */

export interface MigrateOptions {
  /** Blobs copied at the same time; each holds a few MiB in flight (the S3 store stages in 8 MiB parts). */
  concurrency?: number
  /** The progress callback is called every this many blobs, and once at the end. */
  progressEvery?: number
  /** Count what there is to copy and what the destination holds, and copy nothing. */
  dryRun?: boolean
  /** Rows read from the database at a time. */
  pageSize?: number
}

export interface MigrationProgress {
  /** Blobs of the class kept in a store (rows without inline bytes), and their bytes. */
  total: number
  totalBytes: number
  /** Blobs done so far: copied, already there, failed or skipped. */
  done: number
  /** Copied and verified at the destination. */
  copied: number
  /** Found at the destination with the right size and hash, so not copied again. */
  alreadyThere: number
  /** Objects the destination held under a blob's name with another size or hash: removed before the blob was copied. */
  replaced: number
  bytesCopied: number
  /** Bytes read back from the destination and hashed (copied and already there). */
  bytesVerified: number
  failed: number
  /** Since the start of the run. */
  seconds: number
  /** The report at the end of a run that went through every blob. */
  final: boolean
}

export interface BlobFailure {
  contentHash: string
  sizeBytes: number
  problem: string
}

export interface MigrationReport extends MigrationProgress {
  storageClass: StorageClass
  dryRun: boolean
  /** Rows of the class whose bytes are inline (in the database): nothing to copy. */
  inline: number
  inlineBytes: number
  /** Blobs that could not be copied, each with why; any of them means the class must not be switched. */
  failures: BlobFailure[]
  /**
   * Unreferenced blobs (ref_count 0, awaiting garbage collection) the source no
   * longer holds, such as one a GC pass moved aside before it was stopped: no
   * object reads them and any upload of the same bytes places them anew, so
   * they are not copied and are no failure. GC removes their rows.
   */
  goneUnreferenced: string[]
  /**
   * Blobs the destination held before the run that are no blob of the class
   * (no row): another deployment's prefix, or copies from a run before rows
   * were collected. They are left alone, but a service on the destination
   * would remove them as orphans after GC_GRACE_SECS.
   */
  strangers: { count: number; sample: string[] }
}

/** Whether every blob of the class is at the destination, verified, so that the class can be switched to it. */
export const migrationComplete = (report: MigrationReport): boolean => !report.dryRun && report.failures.length === 0 && report.done === report.total

interface Row {
  contentHash: string
  sizeBytes: number
  refCount: number
}

/**
 * Copies every blob of `storageClass` from `source` to `destination` and
 * verifies it there. A blob that cannot be copied because of its source
 * (missing, damaged, unreadable) is reported in `failures` and the others go
 * on; a failure of the destination (unreachable, refusing) ends the run with
 * that error once the copies in flight have settled. Either way a rerun
 * resumes.
 */
export async function migrateStorageClass(
  db: Db,
  source: BlobStore,
  destination: BlobStore,
  storageClass: StorageClass,
  options: MigrateOptions = {},
  onProgress: (progress: MigrationProgress) => void = () => {},
): Promise<MigrationReport> {
  const concurrency = Math.max(1, options.concurrency ?? 4)
  const progressEvery = Math.max(1, options.progressEvery ?? 100)
  const started = performance.now()
  const [counts] = await db
    .select({
      total: sql<number>`count(*) filter (where ${blobs.inlineData} is null)::int`,
      totalBytes: sql<number>`coalesce(sum(${blobs.sizeBytes}) filter (where ${blobs.inlineData} is null), 0)::bigint`,
      inline: sql<number>`count(*) filter (where ${blobs.inlineData} is not null)::int`,
      inlineBytes: sql<number>`coalesce(sum(${blobs.sizeBytes}) filter (where ${blobs.inlineData} is not null), 0)::bigint`,
    })
    .from(blobs)
    .where(eq(blobs.storageClass, storageClass))
  const report: MigrationReport = {
    storageClass,
    dryRun: options.dryRun === true,
    total: counts!.total,
    totalBytes: Number(counts!.totalBytes),
    inline: counts!.inline,
    inlineBytes: Number(counts!.inlineBytes),
    done: 0,
    copied: 0,
    alreadyThere: 0,
    replaced: 0,
    bytesCopied: 0,
    bytesVerified: 0,
    failed: 0,
    seconds: 0,
    final: false,
    failures: [],
    goneUnreferenced: [],
    strangers: { count: 0, sample: [] },
  }
  const progress = (final = false): MigrationProgress => {
    const { storageClass: _class, dryRun: _dry, inline: _inline, inlineBytes: _inlineBytes, failures: _failures, goneUnreferenced: _gone, strangers: _strangers, ...figures } = report
    return { ...figures, seconds: (performance.now() - started) / 1000, final }
  }
  report.strangers = await strangersAt(db, destination, storageClass)
  if (report.dryRun) {
    report.seconds = progress().seconds
    return report
  }

  // An async generator queues concurrent next() calls, so the workers share it safely.
  const rows = storedRows(db, storageClass, options.pageSize ?? 500)
  const failure: { stopped: boolean; error?: unknown } = { stopped: false }
  const worker = async () => {
    while (!failure.stopped) {
      const next = await rows.next()
      if (next.done) return
      try {
        await migrateBlob(next.value, source, destination, report)
      } catch (error) {
        if (!failure.stopped) Object.assign(failure, { stopped: true, error })
        return
      }
      report.done++
      if (report.done % progressEvery === 0) onProgress(progress())
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  await rows.return(undefined)
  const last = progress(!failure.stopped)
  report.seconds = last.seconds
  if (failure.stopped) throw failure.error
  report.final = true
  onProgress(last)
  return report
}

/** The destination's blobs that have no row of the class, as GC's orphan sweep tells them; the first ten found. */
async function strangersAt(db: Db, destination: BlobStore, storageClass: StorageClass): Promise<MigrationReport['strangers']> {
  const strangers: MigrationReport['strangers'] = { count: 0, sample: [] }
  for await (const hex of blobsWithoutRows(db, destination, storageClass)) {
    strangers.count++
    if (strangers.sample.length < 10) strangers.sample.push(`sha256:${hex}`)
  }
  return strangers
}

/** The class's rows without inline bytes, in hash order, a page at a time (the bytes of inline rows are never read). */
async function* storedRows(db: Db, storageClass: StorageClass, pageSize: number): AsyncGenerator<Row> {
  let after: string | null = null
  for (;;) {
    const page: Row[] = await db
      .select({ contentHash: blobs.contentHash, sizeBytes: blobs.sizeBytes, refCount: blobs.refCount })
      .from(blobs)
      .where(and(eq(blobs.storageClass, storageClass), isNull(blobs.inlineData), after === null ? undefined : gt(blobs.contentHash, after)))
      .orderBy(asc(blobs.contentHash))
      .limit(pageSize)
    yield* page
    if (page.length < pageSize) return
    after = page[page.length - 1]!.contentHash
  }
}

async function migrateBlob(row: Row, source: BlobStore, destination: BlobStore, report: MigrationReport): Promise<void> {
  const hex = hexOf(row.contentHash)
  const size = row.sizeBytes
  const fail = (problem: string) => {
    report.failed++
    report.failures.push({ contentHash: row.contentHash, sizeBytes: size, problem })
  }

  // What is at the destination is trusted only once its bytes hash right: the
  // S3 store writes a blob only whole (a placed object is a complete copy), but
  // the object may come from elsewhere, or have been changed since; reading it
  // back costs a read of what a rerun skips, never a wrong blob kept.
  const present = await destination.size(hex)
  if (present !== null) {
    if (present === size && (await digestOf(destination, hex, size)) === hex) {
      report.alreadyThere++
      report.bytesVerified += size
      return
    }
    // Wrong bytes under the blob's name would be kept by place(): they go first.
    await (await destination.takeOut(hex))?.finish()
    report.replaced++
  }

  const stored = await source.size(hex)
  if (stored === null) {
    if (row.refCount === 0) report.goneUnreferenced.push(row.contentHash)
    else fail('missing at the source')
    return
  }
  if (stored !== size) return fail(`damaged at the source: its file has ${stored} bytes, not ${size}`)

  const body = source.read(hex, 0, size)
  let sourceError: unknown = null
  const reader = watched(body instanceof Blob ? body.stream() : body, (error) => (sourceError ??= error)).getReader()
  const uploadId = crypto.randomUUID()
  try {
    let written
    try {
      written = await destination.stage(uploadId, { chunks: [], sizeBytes: 0, done: false }, reader, size)
    } catch (error) {
      if (sourceError !== null) return fail(`unreadable at the source: ${messageOf(sourceError)}`)
      throw error
    }
    if (written.sizeBytes !== size || written.hex !== hex) {
      return fail(`damaged at the source: its ${written.sizeBytes} bytes hash to sha256:${written.hex}`)
    }
    await destination.place(uploadId, hex)
  } finally {
    // Closes the source's file when the destination failed before the end; nothing to do when it was read whole.
    await reader.cancel().catch(() => {})
    reader.releaseLock()
    // Placed (the directory store renames its staged file, the S3 store deletes its staged object) or not wanted.
    // What a failure leaves is a leftover for the service's GC; the read-back below finds a destination that fails.
    await destination.discard(uploadId).catch(() => false)
  }

  const copied = await digestOf(destination, hex, size).catch((error) => {
    throw new Error(`reading back sha256:${hex} from ${destination.location}: ${messageOf(error)}`)
  })
  if (copied !== hex) {
    // Never left to look like a good copy to the next run.
    await (await destination.takeOut(hex))?.finish()
    throw new Error(`sha256:${hex} read back from ${destination.location} hashes to ${copied === null ? `a wrong size` : `sha256:${copied}`}`)
  }
  report.copied++
  report.bytesCopied += size
  report.bytesVerified += size
}

/** The SHA-256 of a stored blob's bytes, streamed; null when the store returns another number of bytes. */
async function digestOf(store: BlobStore, hex: string, size: number): Promise<string | null> {
  const hasher = new Bun.CryptoHasher('sha256')
  let read = 0
  for await (const chunk of new Response(store.read(hex, 0, size)).body ?? []) {
    hasher.update(chunk)
    read += chunk.byteLength
  }
  return read === size ? hasher.digest('hex') : null
}

/** The stream as it is, telling `onError` when reading it fails (the destination's stage reports that only as its own failure). */
function watched(stream: ReadableStream<Uint8Array>, onError: (error: unknown) => void): ReadableStream<Uint8Array> {
  const reader = stream.getReader()
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await reader.read()
          if (done) controller.close()
          else controller.enqueue(value)
        } catch (error) {
          onError(error)
          controller.error(error)
        }
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  )
}

const messageOf = (error: unknown): string => String((error as Error)?.message ?? error)
