/**
 * What a large object costs beyond one request: a resumable upload session of
 * the bulk size sent in fixed chunks (MiB/s, to set beside the single-request
 * upload of the bulk phase), the complete request of such a session and of a
 * 1 MiB one, and a server-side copy in the same class of such an object and of
 * a 4 KiB one. Completing and copying should cost the same whatever the size,
 * so each is timed beside its small counterpart (medians).
 *
 * Every session sends bytes of its own (a seed per session, none the bulk
 * phase used): a complete that found its blob already held would not be the
 * cost measured. Each session's object and each copy must answer the source's
 * hash and size.
 */
import type { Child } from '../tests/support/child'
import { median, uploadOnce } from './bulk'
import { generatedBody, sha256Hex } from './body'
import { authorized } from './credential'
import type { BenchOptions } from './options'
import { syncDisks } from './processes'
import { tenant } from './service'

/** The small counterparts: a session of one chunk of this size, and a copy of an object of this size. */
export const smallSessionBytes = 2 ** 20
export const smallCopyBytes = 4096

interface SessionRun {
  /** From the session's creation to its complete request's answer. */
  seconds: number
  mibps: number
  completeMs: number
  /** The object it became, and its bytes' hash. */
  id: string
  hex: string
}

export interface LargeResult {
  sessionUploadMiBps: number
  completeLargeMs: number
  completeSmallMs: number
  copyLargeMs: number
  copySmallMs: number
  runs: { sessions: SessionRun[]; smallSessions: SessionRun[]; copyLargeMs: number[]; copySmallMs: number[] }
}

interface StoredObject {
  id: string
  content_hash: string
  size_bytes: number
}

async function call(service: Child, method: string, path: string, status: number, headers: Record<string, string> = {}, body?: ReadableStream<Uint8Array>): Promise<Response> {
  const response = await fetch(`${service.url}${path}`, { method, headers: authorized(headers), body, duplex: 'half' } as RequestInit)
  if (response.status !== status) throw new Error(`${method} ${path} answered ${response.status}: ${await response.text()}`)
  return response
}

function expectObject(what: string, object: StoredObject, hex: string, bytes: number): void {
  if (object.content_hash !== `sha256:${hex}` || object.size_bytes !== bytes) {
    throw new Error(`${what}: expected sha256:${hex} (${bytes} bytes), got ${object.content_hash} (${object.size_bytes} bytes)`)
  }
}

/** Successive slices of one body, each a stream of its own: the bodies of a session's chunks, never buffered whole. */
function slicesOf(body: ReadableStream<Uint8Array>): (bytes: number) => ReadableStream<Uint8Array> {
  const reader = body.getReader()
  let pending: Uint8Array | undefined
  return (bytes) => {
    let left = bytes
    return new ReadableStream({
      async pull(controller) {
        if (left === 0) return controller.close()
        const chunk = pending ?? (await reader.read()).value
        if (chunk === undefined) return controller.error(new Error('the generated body ended early'))
        // A read may run past this slice: the rest opens the next one.
        pending = chunk.byteLength > left ? chunk.subarray(left) : undefined
        const sent = chunk.subarray(0, left)
        left -= sent.byteLength
        controller.enqueue(sent)
      },
    })
  }
}

/** One session of the body of `seed`, created, sent in chunks of `chunkBytes` and completed with the body's hash (computed first). */
async function sessionUpload(service: Child, bytes: number, chunkBytes: number, seed: number): Promise<SessionRun> {
  const { hex } = await sha256Hex(generatedBody(bytes, seed))
  const slice = slicesOf(generatedBody(bytes, seed))
  const query = `tenant_id=${tenant}`
  const started = performance.now()
  const created = await call(service, 'POST', `/v1/uploads?${query}&namespace=large&storage_class=hot`, 201, { 'x-upload-content-length': String(bytes) })
  const { id } = (await created.json()) as { id: string }
  for (let offset = 0; offset < bytes; ) {
    const length = Math.min(chunkBytes, bytes - offset)
    const headers = { 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream', 'content-length': String(length) }
    const appended = await call(service, 'PATCH', `/v1/uploads/${id}?${query}`, 204, headers, slice(length))
    offset += length
    if (appended.headers.get('upload-offset') !== String(offset)) throw new Error(`session ${id}: Upload-Offset ${appended.headers.get('upload-offset')} after a chunk ending at ${offset}`)
  }
  const completing = performance.now()
  const completed = await call(service, 'POST', `/v1/uploads/${id}/complete?${query}`, 201, { 'x-content-sha256': hex })
  const object = (await completed.json()) as StoredObject
  const finished = performance.now()
  expectObject(`complete of session ${id}`, object, hex, bytes)
  const seconds = (finished - started) / 1000
  return { seconds, mibps: bytes / 2 ** 20 / seconds, completeMs: finished - completing, id: object.id, hex }
}

/** A copy of `source` into the same class and namespace, timed; the copy must hold the source's bytes. */
async function copyOnce(service: Child, source: { id: string; hex: string }, bytes: number): Promise<number> {
  const started = performance.now()
  const response = await call(service, 'POST', `/v1/objects?tenant_id=${tenant}&namespace=large&storage_class=hot`, 201, { 'x-copy-source': source.id })
  const copy = (await response.json()) as StoredObject
  const ms = performance.now() - started
  expectObject(`copy of ${source.id}`, copy, source.hex, bytes)
  return ms
}

export async function measureLarge(service: Child, options: BenchOptions): Promise<LargeResult> {
  const repeat = async <T>(run: (rep: number) => Promise<T>): Promise<T[]> => {
    const results: T[] = []
    for (let rep = 0; rep < options.largeRepetitions; rep++) results.push(await run(rep))
    return results
  }
  const sessions = await repeat((rep) => {
    // As before each bulk upload: this upload does not pay for the writeback of the previous one.
    syncDisks()
    return sessionUpload(service, options.bulkBytes, options.sessionChunkBytes, 2000 + rep)
  })
  const smallSessions = await repeat((rep) => sessionUpload(service, smallSessionBytes, smallSessionBytes, 3000 + rep))
  const smallSource = await uploadOnce(`${service.url}/v1/objects?tenant_id=${tenant}&namespace=large&storage_class=hot`, smallCopyBytes, 4000)
  const copyLargeMs = await repeat(() => copyOnce(service, sessions[0]!, options.bulkBytes))
  const copySmallMs = await repeat(() => copyOnce(service, { id: smallSource.id!, hex: smallSource.hex }, smallCopyBytes))
  return {
    sessionUploadMiBps: median(sessions.map((r) => r.mibps)),
    completeLargeMs: median(sessions.map((r) => r.completeMs)),
    completeSmallMs: median(smallSessions.map((r) => r.completeMs)),
    copyLargeMs: median(copyLargeMs),
    copySmallMs: median(copySmallMs),
    runs: { sessions, smallSessions, copyLargeMs, copySmallMs },
  }
}
