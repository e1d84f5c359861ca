import { closeSync, fdatasync, openSync, unlinkSync, writeSync } from 'node:fs'
import { promisify } from 'node:util'
import { ApiError } from '../errors'

const fdatasyncAsync = promisify(fdatasync)

export interface WrittenFile {
  hex: string
  sizeBytes: number
}

/**
 * Streams a request body into a new file, hashing as it goes, and makes the
 * bytes durable (fdatasync) before returning. On any failure the file is removed.
 */
export async function writeStreamToFile(body: ReadableStream<Uint8Array>, path: string, maxBytes: number): Promise<WrittenFile> {
  const fd = openSync(path, 'wx', 0o600)
  const hasher = new Bun.CryptoHasher('sha256')
  let sizeBytes = 0
  let closed = false
  try {
    const reader = body.getReader()
    try {
      for (;;) {
        const { done, value } = await readFromClient(reader)
        if (done) break
        sizeBytes += value.byteLength
        if (sizeBytes > maxBytes) throw new ApiError('payload_too_large', `The object exceeds the limit of ${maxBytes} bytes`)
        hasher.update(value)
        // Synchronous writes land in the page cache; reading the next chunk only
        // after the write is what gives the client backpressure.
        for (let off = 0; off < value.byteLength; ) off += writeSync(fd, value, off)
      }
    } finally {
      reader.releaseLock()
    }
    await fdatasyncAsync(fd)
    closeSync(fd)
    closed = true
    return { hex: hasher.digest('hex'), sizeBytes }
  } catch (error) {
    if (!closed) closeSync(fd)
    removeFile(path)
    throw error
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
