import { closeSync, fdatasync, openSync, unlinkSync, writeSync } from 'node:fs'
import { promisify } from 'node:util'
import { ApiError } from '../errors'
import { keepMemoryInBudget } from '../memory'
import { TimeSlice } from '../time-slice'

const fdatasyncAsync = promisify(fdatasync)

export interface WrittenFile {
  hex: string
  sizeBytes: number
}

/** The start of a body: whole when `done`, else at least `limit + 1` bytes of it. */
export interface BodyHead {
  chunks: Uint8Array[]
  sizeBytes: number
  done: boolean
}

/** Reads a body up to just past `limit` bytes, so that a small one can be kept whole in memory. */
export async function readHead(reader: ReadableStreamDefaultReader<Uint8Array>, limit: number): Promise<BodyHead> {
  const head: BodyHead = { chunks: [], sizeBytes: 0, done: false }
  while (head.sizeBytes <= limit) {
    const { done, value } = await readFromClient(reader)
    if (done) return { ...head, done: true }
    head.chunks.push(value)
    head.sizeBytes += value.byteLength
  }
  return head
}

/** A whole small body with its digest. */
export function collectBytes(bytes: Uint8Array): WrittenFile & { bytes: Uint8Array } {
  return { bytes, sizeBytes: bytes.byteLength, hex: new Bun.CryptoHasher('sha256').update(bytes).digest('hex') }
}

/** Reads a body whose declared length is small, all at once. */
export async function readWhole(body: Pick<Request, 'bytes'>): Promise<Uint8Array> {
  try {
    return await body.bytes()
  } catch {
    throw new ApiError('bad_request', 'The connection closed before the request body was complete')
  }
}

// A sync is started in the background after this many bytes, so the disk
// writes while the body still arrives instead of all at the final fdatasync.
const earlySyncBytes = 32 * 2 ** 20
const memoryCheckBytes = 8 * 2 ** 20

/**
 * Streams a request body (the head already read, then the rest) into a new
 * file, hashing as it goes, and makes the bytes durable (fdatasync) before
 * returning. On any failure the file is removed.
 */
export async function writeStreamToFile(head: BodyHead, reader: ReadableStreamDefaultReader<Uint8Array>, path: string, maxBytes: number): Promise<WrittenFile> {
  const fd = openSync(path, 'wx', 0o600)
  const hasher = new Bun.CryptoHasher('sha256')
  try {
    const { sizeBytes } = await streamIntoFile(fd, 0, head, reader, maxBytes, (chunk) => hasher.update(chunk), false)
    return { hex: hasher.digest('hex'), sizeBytes }
  } catch (error) {
    removeFile(path)
    throw error
  } finally {
    closeSync(fd)
  }
}

/** What streamIntoFile wrote and made durable; `broke`: the client's failure after those bytes, when it keeps them. */
export interface Streamed {
  sizeBytes: number
  broke: ApiError | null
}

/**
 * Writes a body into an open file from `position`, passing each byte written to
 * `take` in order, and makes it durable (fdatasync). A body that breaks off
 * fails the write, or with `keepOnBreak` ends it: what arrived is synced and
 * reported with the client's error.
 */
export async function streamIntoFile(
  fd: number,
  position: number,
  head: BodyHead,
  reader: ReadableStreamDefaultReader<Uint8Array>,
  maxBytes: number,
  take: (chunk: Uint8Array) => void,
  keepOnBreak: boolean,
): Promise<Streamed> {
  let sizeBytes = 0
  let unsynced = 0
  let untilMemoryCheck = memoryCheckBytes
  let syncing: Promise<void> | null = null
  // A failed sync reports its error once only; a later fdatasync may succeed with the bytes lost.
  let syncFailure: unknown = null
  let broke: ApiError | null = null
  const append = (chunk: Uint8Array) => {
    if (sizeBytes + chunk.byteLength > maxBytes) throw new ApiError('payload_too_large', `The object exceeds the limit of ${maxBytes} bytes`)
    take(chunk)
    for (let off = 0; off < chunk.byteLength; ) off += writeSync(fd, chunk, off, chunk.byteLength - off, position + sizeBytes + off)
    sizeBytes += chunk.byteLength
    unsynced += chunk.byteLength
    untilMemoryCheck -= chunk.byteLength
    if (untilMemoryCheck <= 0) {
      untilMemoryCheck = memoryCheckBytes
      keepMemoryInBudget()
    }
    if (unsynced >= earlySyncBytes && syncing === null) {
      unsynced = 0
      syncing = fdatasyncAsync(fd)
        .catch((error) => void (syncFailure ??= error))
        .finally(() => (syncing = null))
    }
  }
  try {
    for (const chunk of head.chunks) append(chunk)
    // Synchronous writes land in the page cache; reading the next chunk only
    // after the write is what gives the client backpressure. Chunks already
    // buffered arrive without a turn of the event loop, so the loop is handed
    // back every few milliseconds.
    const slice = new TimeSlice()
    for (let end = head.done; !end; ) {
      let next: Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]>>
      try {
        next = await readFromClient(reader)
      } catch (error) {
        if (!keepOnBreak) throw error
        broke = error as ApiError
        break
      }
      if (next.done) end = true
      else append(next.value)
      await slice.yield()
    }
    await syncing
    if (syncFailure !== null) throw syncFailure
    await fdatasyncAsync(fd)
    return { sizeBytes, broke }
  } finally {
    // Never let the caller close the descriptor under a sync still running on it.
    await syncing
  }
}

/**
 * Bun errors the body stream (AbortError) when the client disconnects or
 * half-closes before the body is complete; that is the client's failure, not
 * an internal one.
 */
async function readFromClient<T>(reader: ReadableStreamDefaultReader<T>) {
  try {
    return await reader.read()
  } catch {
    throw new ApiError('bad_request', 'The connection closed before the request body was complete')
  }
}

/** Unlinks a file; false when it was already gone. */
export function removeFile(path: string): boolean {
  try {
    unlinkSync(path)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    return false
  }
}
