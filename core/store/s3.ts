import { S3Client, type S3Options } from 'bun'
import { ApiError } from '../errors'
import { log } from '../log'
import { keepMemoryInBudget } from '../memory'
import { gcUnremovableFiles, storageBackendDuration, storageBackendErrors } from '../metrics'
import type { Appended, BlobStore, Leftover, Removal, SessionBytes, SessionPosition, StoredBlob } from './blob-store'
import type { BodyHead, WrittenFile } from './writer'

/**
 * What the store needs to reach its bucket: the requests Bun's S3Client cannot
 * make are signed here with the same credentials. `timeoutMs` bounds every
 * request and every wait for a part or a chunk: Bun's client has no timeout of
 * its own, and a bucket that stops answering would hold requests (and GC's row
 * locks) forever.
 */
export type S3Connection = Required<Pick<S3Options, 'endpoint' | 'accessKeyId' | 'secretAccessKey'>> & Pick<S3Options, 'region' | 'sessionToken'> & { timeoutMs?: number }

export interface S3CopyLimits {
  /** The largest blob one CopyObject copies (S3 allows 5 GiB); a larger one is copied in parts. */
  maxSingleCopyBytes: number
  /** The size of each part of such a copy. */
  copyPartBytes: number
}

const MiB = 2 ** 20
const GiB = 2 ** 30
const defaultCopyLimits: S3CopyLimits = { maxSingleCopyBytes: 5 * GiB, copyPartBytes: GiB }
// Parts a staged body is uploaded in, and how many of them may be in flight: an upload holds about three parts in memory.
const partSize = 8 * MiB
const queueSize = 2
const partCopiesInFlight = 4

/**
 * Blobs as objects of a bucket under a key prefix: `<prefix>sha256/<ab>/<cd>/<hex>`,
 * as on a filesystem, so that an operator finds a blob by its hash, and
 * `<prefix>tmp/<uploadId>` for staged uploads. A bucket has no rename: a
 * server-side copy places a blob, and a removal deletes it at once.
 */
export class S3BlobStore implements BlobStore {
  readonly location: string
  private readonly prefix: string
  private readonly connection: S3Connection & { region: string }
  private readonly client: S3Client
  private readonly timeoutMs: number
  readonly sessions: SessionBytes

  constructor(
    private readonly bucket: string,
    prefix: string,
    connection: S3Connection,
    private readonly copyLimits: S3CopyLimits = defaultCopyLimits,
  ) {
    this.prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`
    this.location = `s3://${bucket}/${this.prefix}`
    // The region is set for both signers alike: Bun would otherwise take one from the environment.
    const { timeoutMs = 30_000, ...reach } = connection
    this.timeoutMs = timeoutMs
    this.connection = { ...reach, region: reach.region ?? 'us-east-1' }
    this.client = new S3Client({ ...this.connection, bucket })
    this.sessions = {
      append: (id, at, head, reader, maxBytes, take) => this.appendToSession(id, at, head, reader, maxBytes, take),
      seal: (id, at) => this.sealSession(id, at),
      // Bun answers a range of none with an error, as in read().
      readSealed: (id, at) => (at.offset === 0 ? new Blob([]).stream() : this.stallGuarded(this.client.file(this.stagedKey(id)).slice(0, at.offset).stream())),
      remove: (id, at) => this.removeSession(id, at),
    }
  }

  /**
   * Streams the body into a multipart upload of the staging key, hashing as it
   * goes: Bun's S3 client pulls the body as parts go out (its own
   * backpressure, a few parts in memory) and aborts the upload when the body
   * fails. While it pulls nothing for the timeout (the bucket stopped taking
   * parts, or completing them), the body fails, and the stage with it.
   */
  async stage(uploadId: string, head: BodyHead, reader: ReadableStreamDefaultReader<Uint8Array>, maxBytes: number): Promise<WrittenFile> {
    const key = this.stagedKey(uploadId)
    const hasher = new Bun.CryptoHasher('sha256')
    const pending = [...head.chunks]
    let ended = head.done
    let sizeBytes = 0
    let untilMemoryCheck = partSize
    let failure: unknown = null
    let pulling = false
    let idleSince = Date.now()
    let body!: ReadableStreamDefaultController<Uint8Array>
    let giveUp!: (error: unknown) => void
    const givenUp = new Promise<never>((_, reject) => (giveUp = reject))
    const fail = (error: unknown) => {
      failure ??= error
      body.error(failure)
      giveUp(failure)
    }
    const next = async (): Promise<Uint8Array | undefined> => {
      const queued = pending.shift()
      if (queued !== undefined || ended) return queued
      const { done, value } = await readFromClient(reader)
      if (done) ended = true
      return value
    }
    const stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => void (body = controller),
        pull: async (controller) => {
          pulling = true
          try {
            const chunk = await next()
            if (chunk === undefined) return controller.close()
            sizeBytes += chunk.byteLength
            if (sizeBytes > maxBytes) throw new ApiError('payload_too_large', `The object exceeds the limit of ${maxBytes} bytes`)
            hasher.update(chunk)
            controller.enqueue(chunk)
            untilMemoryCheck -= chunk.byteLength
            if (untilMemoryCheck <= 0) {
              untilMemoryCheck = partSize
              keepMemoryInBudget()
            }
          } catch (error) {
            fail(error)
          } finally {
            pulling = false
            idleSince = Date.now()
          }
        },
      },
      { highWaterMark: 0 },
    )
    // Not pulled for the timeout: the bucket stopped taking parts, or, once the body has ended, completing the upload.
    const stalled = setInterval(() => {
      if (!pulling && Date.now() - idleSince > this.timeoutMs) fail(unavailable(new Error(`the bucket took no part of the upload to ${key} for ${this.timeoutMs} ms`)))
    }, Math.min(1000, this.timeoutMs))
    try {
      await measured('upload', Promise.race([classified(this.client.write(key, new Response(stream), { partSize, queueSize })), givenUp]))
      if (failure !== null) throw failure
      // Bun reports an upload that failed while nothing awaited it as a success.
      const stored = await this.head(key)
      if (stored?.size !== sizeBytes) throw unavailable(new Error(`the upload to ${key} stored ${stored?.size ?? 'nothing'}, not ${sizeBytes} bytes`))
      return { hex: hasher.digest('hex'), sizeBytes }
    } catch (error) {
      await this.abandon(key)
      throw failure ?? error
    } finally {
      clearInterval(stalled)
    }
  }

  async isStaged(uploadId: string): Promise<boolean> {
    return (await this.head(this.stagedKey(uploadId))) !== null
  }

  /**
   * A server-side copy, then the staged object's deletion: the stand-in for the
   * filesystem's rename. A blob already there is kept as it is (objects are
   * immutable), and the staged bytes are left to the caller's discard, after
   * the row lock.
   */
  async place(uploadId: string, hex: string): Promise<void> {
    const target = this.blobKey(hex)
    if ((await this.head(target)) !== null) return
    const source = this.stagedKey(uploadId)
    const staged = await this.head(source)
    if (staged === null) throw new Error(`nothing is staged at ${source}`)
    if (staged.size <= this.copyLimits.maxSingleCopyBytes) await this.copy(source, target)
    else await this.copyInParts(source, target, staged.size)
    // The blob is placed even if this fails: the caller's discard tries again.
    await this.client.delete(source).catch(() => {})
  }

  async discard(uploadId: string): Promise<boolean> {
    const key = this.stagedKey(uploadId)
    if ((await this.head(key)) === null) return false
    await this.backend(this.client.delete(key), 'delete')
    return true
  }

  async size(hex: string): Promise<number | null> {
    return (await this.head(this.blobKey(hex)))?.size ?? null
  }

  /**
   * A ranged GET, as a stream: a Response given the S3File itself would answer
   * with a redirect to the whole object. Bun answers a range of none with a byte
   * or an error, so an empty one is a plain Blob.
   */
  read(hex: string, start: number, end: number): Blob | ReadableStream<Uint8Array> {
    if (start >= end) return new Blob([])
    return this.stallGuarded(this.client.file(this.blobKey(hex)).slice(start, end).stream())
  }

  async takeOut(hex: string): Promise<Removal | null> {
    const key = this.blobKey(hex)
    if ((await this.head(key)) === null) return null
    await this.backend(this.client.delete(key), 'delete')
    // Nothing to finish or put back: a bucket cannot set an object aside. A row that
    // survives a failed pass has no bytes, and the next commit of them places them again.
    return { finish: async () => true, undo: async () => {} }
  }

  async *blobs(): AsyncIterable<StoredBlob> {
    for await (const object of this.objects(`${this.prefix}sha256/`)) {
      const hex = object.key.slice(object.key.lastIndexOf('/') + 1)
      if (/^[0-9a-f]{64}$/.test(hex)) yield { hex, ageMs: ageOf(object.lastModified) }
    }
  }

  /**
   * Staged objects, and multipart uploads never completed: an upload in flight
   * or cut short under tmp/ (by its upload id), or a blob's copy in parts cut
   * short under sha256/.
   */
  async *leftovers(): AsyncIterable<Leftover> {
    const tmp = `${this.prefix}tmp/`
    for await (const object of this.objects(tmp)) {
      const key = object.key
      const remove = () =>
        this.removeLeftover(key, async () => {
          await this.backend(this.client.delete(key), 'delete')
          return true
        })
      yield { kind: 'staged', name: key, uploadId: key.slice(key.lastIndexOf('/') + 1), ageMs: ageOf(object.lastModified), remove }
    }
    for (const prefix of [tmp, `${this.prefix}sha256/`]) {
      for await (const upload of this.multipartUploads(prefix)) {
        const uploadId = prefix === tmp ? upload.key.slice(upload.key.lastIndexOf('/') + 1) : null
        const remove = () => this.removeLeftover(upload.key, () => this.abortUpload(upload.key, upload.uploadId))
        yield { kind: 'staged', name: `${upload.key} (multipart upload ${upload.uploadId})`, uploadId, ageMs: ageOf(upload.initiated), remove }
      }
    }
  }

  /** A listing proves the bucket answers to these credentials. */
  async readiness(): Promise<string | null> {
    try {
      await this.backend(this.client.list({ prefix: `${this.prefix}tmp/`, maxKeys: 1 }), 'list')
      return null
    } catch (error) {
      return error instanceof ApiError && error.code === 'unavailable' ? 'storage bucket unreachable' : `storage bucket refused: ${codeOf(error)}`
    }
  }

  /** Work on the bucket whose failure to reach it, or to answer in time, becomes the API's `unavailable` (503). */
  private backend<T>(work: Promise<T>, operation: string): Promise<T> {
    let timer: Timer | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(unavailable(new Error(`no answer from the bucket in ${this.timeoutMs} ms`))), this.timeoutMs)
    })
    return measured(operation, Promise.race([classified(work), late]).finally(() => clearTimeout(timer)))
  }

  /** A download's stream that fails as unavailable when the bucket sends nothing for the timeout, instead of hanging. */
  private stallGuarded(stream: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    const reader = stream.getReader()
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          const { done, value } = await this.backend(reader.read(), 'read')
          if (done) controller.close()
          else controller.enqueue(value)
        },
        cancel: (reason) => reader.cancel(reason),
      },
      { highWaterMark: 0 },
    )
  }

  /**
   * A session's bytes as a multipart upload of its staging key. Parts go to the
   * bucket as they fill, and a request's last bytes make a part of their own
   * when they reach S3's 5 MiB minimum; only fewer stay in the session's row as
   * its tail, for the next request to go on from. A part is sent while the next
   * one fills.
   */
  private async appendToSession(
    sessionId: string,
    at: SessionPosition,
    head: BodyHead,
    reader: ReadableStreamDefaultReader<Uint8Array>,
    maxBytes: number,
    take: (chunk: Uint8Array) => void,
  ): Promise<Appended> {
    const state = sessionState(at)
    if (state.sealed) throw new ApiError('offset_mismatch', 'The session is being completed and takes no more bytes', { 'upload-offset': String(at.offset) })
    // The bytes the session holds must be here: a session begun in another store (a class moved) has none of them.
    if (state.partBytes + (at.tail?.byteLength ?? 0) !== at.offset) throw new Error(`the bucket holds ${state.partBytes} bytes in parts of session ${sessionId}, not the ${at.offset - (at.tail?.byteLength ?? 0)} it acknowledged`)
    const key = this.stagedKey(sessionId)
    const uploadId = state.uploadId ?? (await this.startMultipart(key))
    const parts = [...state.parts]
    let partBytes = state.partBytes
    // The same for every request of a session (its offset plus its room is its limit), and large enough that its limit fits S3's 10,000 parts.
    const sessionPartBytes = Math.max(partSize, Math.ceil((at.offset + maxBytes) / maxSessionParts))
    let part = new Uint8Array(sessionPartBytes)
    let filled = 0
    let sending: Promise<void> = Promise.resolve()
    const send = (bytes: Uint8Array) => {
      const number = parts.length + 1
      parts.push('')
      partBytes += bytes.byteLength
      const previous = sending
      sending = (async () => {
        const etag = await this.uploadPart(key, uploadId, number, bytes)
        await previous
        parts[number - 1] = etag
      })()
      // Failures surface at the next await of `sending`; until then none goes unhandled.
      sending.catch(() => {})
    }
    const keep = (chunk: Uint8Array) => {
      take(chunk)
      for (let off = 0; off < chunk.byteLength; ) {
        const n = Math.min(chunk.byteLength - off, sessionPartBytes - filled)
        part.set(chunk.subarray(off, off + n), filled)
        filled += n
        off += n
        if (filled === sessionPartBytes) {
          send(part)
          part = new Uint8Array(sessionPartBytes)
          filled = 0
        }
      }
    }
    if (at.tail) {
      part.set(at.tail)
      filled = at.tail.byteLength
    }
    let received = 0
    let broke: Error | null = null
    const accept = async (chunk: Uint8Array) => {
      if (received + chunk.byteLength > maxBytes) throw new ApiError('payload_too_large', `The object exceeds the limit of ${maxBytes} bytes`)
      received += chunk.byteLength
      // At most one part in flight beside the one filling: memory stays at two parts.
      if (filled + chunk.byteLength >= sessionPartBytes) await sending
      keep(chunk)
    }
    try {
      for (const chunk of head.chunks) await accept(chunk)
      for (let end = head.done; !end; ) {
        let next: Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]>>
        try {
          next = await readFromClient(reader)
        } catch (error) {
          broke = error as Error
          break
        }
        if (next.done) end = true
        else await accept(next.value)
      }
      if (filled >= minimumPartBytes) {
        send(part.subarray(0, filled))
        filled = 0
      }
      await sending
    } catch (error) {
      await sending.catch(() => {})
      throw error
    }
    return { at: { offset: at.offset + received, state: { uploadId, parts, partBytes, sealed: false }, tail: filled > 0 ? part.slice(0, filled) : null }, broke }
  }

  /** Completes the multipart upload with the tail as its last part, so the session's bytes are the staged object. */
  private async sealSession(sessionId: string, at: SessionPosition): Promise<SessionPosition> {
    const state = sessionState(at)
    if (state.sealed) return at
    const key = this.stagedKey(sessionId)
    const sealed = { offset: at.offset, state: { ...state, sealed: true }, tail: null }
    if (state.uploadId === undefined || at.offset === 0) {
      if (state.uploadId !== undefined) await this.abortUpload(key, state.uploadId)
      await expectOk(await this.request('upload', 'PUT', key, {}, {}, new Uint8Array(0)), `store the empty ${key}`)
      return sealed
    }
    const parts = [...state.parts]
    if (at.tail) parts.push(await this.uploadPart(key, state.uploadId, parts.length + 1, at.tail))
    const list = parts.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${etag}</ETag></Part>`).join('')
    const body = `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${list}</CompleteMultipartUpload>`
    const response = await this.request('upload', 'POST', key, { uploadId: state.uploadId }, { 'content-type': 'application/xml' }, body)
    try {
      await expectOk(response, `complete the session upload ${key}`)
    } catch (error) {
      // Completed before, by a seal whose answer was never recorded.
      if (codeOf(error) !== 'NoSuchUpload' || (await this.head(key))?.size !== at.offset) throw error
    }
    const stored = await this.head(key)
    if (stored?.size !== at.offset) throw new Error(`the session upload ${key} stored ${stored?.size ?? 'nothing'}, not ${at.offset} bytes`)
    return sealed
  }

  private async removeSession(sessionId: string, at: SessionPosition): Promise<void> {
    const key = this.stagedKey(sessionId)
    const { uploadId } = sessionState(at)
    if (uploadId !== undefined) await this.abortUpload(key, uploadId)
    await this.backend(this.client.delete(key), 'delete')
  }

  private async startMultipart(key: string): Promise<string> {
    const created = await expectOk(await this.request('upload', 'POST', key, { uploads: '' }), `start a multipart upload of ${key}`)
    const uploadId = xmlValues(created, 'UploadId')[0]
    if (!uploadId) throw new Error(`no upload id in the answer to starting a multipart upload: ${created.slice(0, 200)}`)
    return uploadId
  }

  private async uploadPart(key: string, uploadId: string, number: number, bytes: Uint8Array): Promise<string> {
    const response = await this.request('upload', 'PUT', key, { partNumber: String(number), uploadId }, {}, bytes)
    await expectOk(response, `upload part ${number} of ${key}`)
    const etag = response.headers.get('etag')
    if (!etag) throw new Error(`no entity tag for part ${number} of ${key}`)
    return etag
  }

  private stagedKey = (uploadId: string) => `${this.prefix}tmp/${uploadId}`
  private blobKey = (hex: string) => `${this.prefix}sha256/${hex.slice(0, 2)}/${hex.slice(2, 4)}/${hex}`

  /** Removes what a failed stage may have left: the object, or a multipart upload never completed. What cannot be removed now is a leftover for GC. */
  private async abandon(key: string): Promise<void> {
    try {
      await this.backend(this.client.delete(key), 'delete')
      for await (const upload of this.multipartUploads(key)) if (upload.key === key) await this.abortUpload(key, upload.uploadId)
    } catch (error) {
      log.warn({ msg: 'a failed upload left staged bytes for a later sweep', key, error: String((error as Error)?.message ?? error) })
    }
  }

  /** HEAD of an object, signed here for its status (Bun reports every failed HEAD alike): its size, or null when it is missing. */
  private async head(key: string): Promise<{ size: number } | null> {
    const response = await this.request('head', 'HEAD', key)
    if (response.status === 404) return null
    await expectOk(response, `HEAD ${key}`)
    return { size: Number(response.headers.get('content-length')) }
  }

  private async copy(source: string, target: string): Promise<void> {
    const response = await this.request('copy', 'PUT', target, {}, { 'x-amz-copy-source': this.copySource(source) })
    await expectOk(response, `copy ${source} to ${target}`)
  }

  /** UploadPartCopy, a few parts at a time, into a multipart upload of the target completed once every part is there. */
  private async copyInParts(source: string, target: string, size: number): Promise<void> {
    const created = await expectOk(await this.request('copy', 'POST', target, { uploads: '' }), `start copying ${source} in parts`)
    const uploadId = xmlValues(created, 'UploadId')[0]
    if (!uploadId) throw new Error(`no upload id in the answer to starting a multipart copy: ${created.slice(0, 200)}`)
    try {
      const parts = Math.ceil(size / this.copyLimits.copyPartBytes)
      const etags: string[] = []
      let next = 0
      const copyParts = async () => {
        for (let part = next++; part < parts; part = next++) {
          const start = part * this.copyLimits.copyPartBytes
          const range = `bytes=${start}-${Math.min(size, start + this.copyLimits.copyPartBytes) - 1}`
          const query = { partNumber: String(part + 1), uploadId }
          const response = await this.request('copy', 'PUT', target, query, { 'x-amz-copy-source': this.copySource(source), 'x-amz-copy-source-range': range })
          const etag = xmlValues(await expectOk(response, `copy part ${part + 1} of ${source}`), 'ETag')[0]
          if (!etag) throw new Error(`no entity tag for part ${part + 1} of the copy of ${source}`)
          etags[part] = etag
        }
      }
      await Promise.all(Array.from({ length: Math.min(partCopiesInFlight, parts) }, copyParts))
      const list = etags.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${etag}</ETag></Part>`).join('')
      const body = `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${list}</CompleteMultipartUpload>`
      await expectOk(await this.request('copy', 'POST', target, { uploadId }, { 'content-type': 'application/xml' }, body), `complete the copy of ${source}`)
    } catch (error) {
      await this.abortUpload(target, uploadId).catch(() => {})
      throw error
    }
  }

  private copySource = (key: string) => `/${encodePath(`${this.bucket}/${key}`)}`

  /** True when the upload was aborted; false when there was none. */
  private async abortUpload(key: string, uploadId: string): Promise<boolean> {
    const response = await this.request('abort-upload', 'DELETE', key, { uploadId })
    if (response.status === 404) return false
    await expectOk(response, `abort the multipart upload of ${key}`)
    return true
  }

  /** Like a directory's unlink by GC: a failure is counted and logged and the leftover kept for a later pass. */
  private async removeLeftover(key: string, removal: () => Promise<boolean>): Promise<boolean> {
    try {
      return await removal()
    } catch (error) {
      gcUnremovableFiles.inc()
      log.warn({ msg: 'gc could not remove an object; it is left for a later pass', key, error: String((error as Error)?.message ?? error) })
      return false
    }
  }

  private async *objects(prefix: string): AsyncIterable<{ key: string; lastModified?: string }> {
    let continuationToken: string | undefined
    do {
      const page = await this.backend(this.client.list({ prefix, continuationToken, maxKeys: 1000 }), 'list')
      yield* page.contents ?? []
      continuationToken = page.isTruncated ? page.nextContinuationToken : undefined
    } while (continuationToken)
  }

  /** ListMultipartUploads, page by page: Bun's S3Client has no call for it. */
  private async *multipartUploads(prefix: string): AsyncIterable<{ key: string; uploadId: string; initiated?: string }> {
    let markers: Record<string, string> = {}
    for (;;) {
      const response = await this.request('list-uploads', 'GET', '', { uploads: '', prefix, ...markers })
      const xml = await expectOk(response, `list the multipart uploads under ${prefix}`)
      for (const upload of xmlValues(xml, 'Upload')) {
        const [key] = xmlValues(upload, 'Key')
        const [uploadId] = xmlValues(upload, 'UploadId')
        if (key !== undefined && uploadId !== undefined) yield { key, uploadId, initiated: xmlValues(upload, 'Initiated')[0] }
      }
      const [keyMarker] = xmlValues(xml, 'NextKeyMarker')
      if (xmlValues(xml, 'IsTruncated')[0] !== 'true' || !keyMarker) return
      markers = { 'key-marker': keyMarker, 'upload-id-marker': xmlValues(xml, 'NextUploadIdMarker')[0] ?? '' }
    }
  }

  /** A path-style request to the bucket signed with AWS Signature Version 4; a failure to connect is the backend's unavailability. */
  private async request(operation: string, method: string, key: string, query: Record<string, string> = {}, headers: Record<string, string> = {}, body: string | Uint8Array = ''): Promise<Response> {
    const { endpoint, region, accessKeyId, secretAccessKey, sessionToken } = this.connection
    const url = new URL(`${endpoint.replace(/\/+$/, '')}/${encodePath(key === '' ? this.bucket : `${this.bucket}/${key}`)}`)
    const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '')
    const day = amzDate.slice(0, 8)
    const payloadHash = sha256Hex(body)
    const signed: Record<string, string> = {
      ...headers,
      host: url.host,
      'x-amz-content-sha256': payloadHash,
      'x-amz-date': amzDate,
      ...(sessionToken ? { 'x-amz-security-token': sessionToken } : {}),
    }
    const names = Object.keys(signed).sort()
    const canonicalQuery = Object.entries(query)
      .map(([name, value]) => `${encodeRfc3986(name)}=${encodeRfc3986(value)}`)
      .sort()
      .join('&')
    const canonicalRequest = [method, url.pathname, canonicalQuery, ...names.map((name) => `${name}:${signed[name]!.trim()}`), '', names.join(';'), payloadHash].join('\n')
    const scope = `${day}/${region}/s3/aws4_request`
    const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n')
    let signingKey: string | Buffer = `AWS4${secretAccessKey}`
    for (const part of [day, region, 's3', 'aws4_request']) signingKey = hmac(signingKey, part)
    const signature = hmac(signingKey, stringToSign).toString('hex')
    url.search = canonicalQuery
    const { host: _host, ...sent } = signed
    const authorization = `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`
    const answer = fetch(url, { method, body: body === '' ? undefined : (body as BodyInit), headers: { ...sent, authorization }, signal: AbortSignal.timeout(this.timeoutMs) })
    const response = await measured(operation, answer.catch((error) => Promise.reject(unavailable(error))))
    if (response.status >= 500) storageBackendErrors.inc({ backend: 's3', operation })
    return response
  }
}

/** Bun errors a body stream (AbortError) when the client goes away before the end; as in writer.ts, that is the client's failure. */
async function readFromClient<T>(reader: ReadableStreamDefaultReader<T>) {
  try {
    return await reader.read()
  } catch {
    throw new ApiError('bad_request', 'The connection closed before the request body was complete')
  }
}

// What Bun's S3Client reports when the bucket cannot answer: a failed connection
// (the transport's error name as the code), an S3 server error, or an answer
// that is no S3 error document at all (a proxy's 502: UnknownError).
const unreachableCodes = /^(Connection|DNS|Timeout|TimedOut|UnexpectedEOF|ECONN|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EPIPE|EHOSTUNREACH|ENETUNREACH)/i
const serverErrorCodes = new Set(['InternalError', 'ServiceUnavailable', 'SlowDown', 'UnknownError'])

/** A failure of work on the bucket, classified: one reaching it becomes the API's `unavailable` (503). */
async function classified<T>(work: Promise<T>): Promise<T> {
  try {
    return await work
  } catch (error) {
    const code = codeOf(error)
    if (unreachableCodes.test(code) || serverErrorCodes.has(code)) throw unavailable(error)
    throw error
  }
}

/** Times work on the bucket, and counts it as a backend error when it fails. */
async function measured<T>(operation: string, work: Promise<T>): Promise<T> {
  const stop = storageBackendDuration.startTimer({ backend: 's3', operation })
  try {
    return await work
  } catch (error) {
    storageBackendErrors.inc({ backend: 's3', operation })
    throw error
  } finally {
    stop()
  }
}

function unavailable(cause: unknown): ApiError {
  return Object.assign(new ApiError('unavailable', 'The storage backend is unreachable; retry later', { 'retry-after': '1' }), { cause })
}

const codeOf = (error: unknown): string => String((error as { code?: unknown })?.code ?? '')

/** The body of a signed request's answer, or its failure; S3 may answer a copy with 200 and an error document. */
async function expectOk(response: Response, what: string): Promise<string> {
  const text = await response.text()
  if (response.ok && !/<Error>/.test(text)) return text
  const code = xmlValues(text, 'Code')[0] ?? `HTTP ${response.status}`
  const error = Object.assign(new Error(`could not ${what}: ${code}`), { code })
  throw response.status >= 500 || serverErrorCodes.has(code) ? unavailable(error) : error
}

/** The text of every `<name>` element (S3's answers never nest one in another of the same name). */
function xmlValues(xml: string, name: string): string[] {
  return [...xml.matchAll(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, 'g'))].map((match) => unescapeXml(match[1]!))
}

const xmlEntities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }
const unescapeXml = (text: string) => text.replace(/&(amp|lt|gt|quot|apos);/g, (_, name: string) => xmlEntities[name]!)

const encodeRfc3986 = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
const encodePath = (path: string) => path.split('/').map(encodeRfc3986).join('/')
const sha256Hex = (data: string | Uint8Array) => new Bun.CryptoHasher('sha256').update(data).digest('hex')
const hmac = (key: string | Buffer, data: string) => new Bun.CryptoHasher('sha256', key).update(data).digest()

// S3's smallest part but the last, and a session's most: its part size grows with its limit to stay below S3's 10,000.
const minimumPartBytes = 5 * MiB
const maxSessionParts = 9_000

interface SessionState {
  uploadId?: string
  /** The entity tag of each part, part number = index + 1. */
  parts: string[]
  /** The bytes in those parts. */
  partBytes: number
  sealed: boolean
}

const sessionState = (at: SessionPosition): SessionState => ({ parts: [], partBytes: 0, sealed: false, ...(at.state as Partial<SessionState>) })

const ageOf = (time: string | undefined): number => (time ? Math.max(0, Date.now() - Date.parse(time)) : 0)
