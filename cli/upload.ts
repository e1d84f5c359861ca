import { statSync } from 'node:fs'
import { resolve } from 'node:path'
import { apiError, CliError } from './errors'
import { ok } from './client'
import { TransferState, transferKey } from './config'
import { type Remote, remoteString } from './location'
import { hashFile, metered } from './meter'
import type { TransferResult } from './progress'
import { elapsedMs, rawBody, type TransferContext } from './transfer'

/** An upload session in progress, kept in the state file under the file's identity and destination. */
interface SessionRecord {
  id: string
}

/**
 * Uploads one file: hashes it, then lets the service link bytes it already
 * holds (X-Copy-Source: sha256:…, no body); only when it holds none are the
 * bytes sent, in one request or, from the session threshold up, through a
 * resumable session that a re-run continues.
 */
export async function uploadFile(path: string, remote: Remote, context: TransferContext): Promise<TransferResult> {
  const started = performance.now()
  const { size, mtimeMs } = statSync(path)
  const file = Bun.file(path)
  const contentType = file.type
  const { api, progress } = context
  const destination = remoteString(remote)
  progress.start(`${path} → ${destination}`, size)
  progress.phase('hashing')
  const hex = (await hashFile(path, progress)).digest('hex')
  const placement = { namespace: remote.namespace, key: remote.key, overwrite: String(context.overwrite) }
  const result = { action: 'upload', source: path, destination, status: 'ok', size, content_hash: `sha256:${hex}` } as const

  const linked = await api.POST('/v1/objects', { params: { query: placement, header: { 'X-Copy-Source': `sha256:${hex}` } }, headers: { 'content-type': contentType } })
  if (linked.response.ok) return { ...result, linked: true, bytes_sent: 0, id: linked.data!.id, duration_ms: elapsedMs(started) }
  if (linked.response.status !== 404) throw apiError(linked.response, linked.error)

  if (size < context.sessionThreshold) {
    progress.phase('sending')
    let sent = 0
    const body = metered(file.stream(), progress, context.limit, (bytes) => (sent += bytes))
    const object = await ok(api.POST('/v1/objects', { params: { query: placement, header: { 'X-Content-SHA256': hex } }, ...rawBody(body, size, contentType) }))
    return { ...result, linked: false, bytes_sent: sent, id: object.id, duration_ms: elapsedMs(started) }
  }

  const sessions = new TransferState<SessionRecord>('uploads')
  const stateKey = transferKey(resolve(path), size, mtimeMs, context.settings.url, context.settings.tenant ?? '', destination)
  let session = sessions.get(stateKey)
  let offset = 0
  let resumedFrom: number | undefined
  if (session) {
    const head = await api.HEAD('/v1/uploads/{id}', { params: { path: { id: session.id } } })
    if (head.response.ok) {
      offset = Number(head.response.headers.get('upload-offset'))
      resumedFrom = offset
    } else if (head.response.status === 404) {
      // Expired or cancelled: start a new one.
      session = undefined
    } else {
      throw apiError(head.response, head.error)
    }
  }
  if (!session) {
    const created = await ok(
      api.POST('/v1/uploads', {
        params: { query: placement, header: { 'X-Upload-Content-Length': size, 'X-Content-SHA256': hex, 'X-Upload-Content-Type': contentType } },
      }),
    )
    session = { id: created.id }
    sessions.set(stateKey, session)
  }
  const id = session.id

  progress.phase('sending', offset)
  let sent = 0
  while (offset < size) {
    const end = Math.min(size, offset + context.chunkSize)
    const chunk = metered(file.slice(offset, end).stream(), progress, context.limit, (bytes) => (sent += bytes))
    const patched = await api.PATCH('/v1/uploads/{id}', {
      params: { path: { id }, header: { 'Upload-Offset': offset } },
      ...rawBody(chunk, end - offset, 'application/offset+octet-stream'),
    })
    const serverOffset = patched.response.headers.get('upload-offset')
    if (patched.response.status === 409 && serverOffset !== null) {
      // Another writer (or a request that broke off after its bytes were durable) moved it on: continue from there.
      offset = Number(serverOffset)
      progress.phase('sending', offset)
      continue
    }
    if (!patched.response.ok) throw apiError(patched.response, patched.error)
    if (serverOffset === null) throw new CliError('other', 'the service answered a PATCH without Upload-Offset', 'protocol')
    offset = Number(serverOffset)
  }
  const object = await ok(api.POST('/v1/uploads/{id}/complete', { params: { path: { id }, header: { 'X-Content-SHA256': hex } } }))
  sessions.set(stateKey, undefined)
  return { ...result, linked: false, bytes_sent: sent, resumed_from: resumedFrom, session: id, id: object.id, duration_ms: elapsedMs(started) }
}
