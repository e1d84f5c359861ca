import type { paths } from '../cli/api'
import { ApiFailure, credentialHeaders, failureOf, networkFailure, ok, serviceUrl, type Api, type Credential } from './api'

export type StoredObject = paths['/v1/objects/search']['post']['responses'][200]['content']['application/json']['objects'][number]

/**
 * Files up to this size go in one POST /v1/objects; larger ones through a
 * resumable session (/v1/uploads), chunk by chunk, so a broken connection
 * costs one chunk and not the whole file. It is also the chunk size.
 */
export const sessionThresholdBytes = 8 * 2 ** 20

/** Attempts at one chunk before the upload gives up (the session stays, to cancel or retry). */
const chunkAttempts = 3

export interface Placement {
  namespace: string
  key: string
  overwrite: boolean
}

/** Bytes acknowledged so far, of the whole file. */
export type Progress = (sent: number, total: number) => void

interface Reply {
  status: number
  body: unknown
  offset: number | undefined
}

/**
 * One request by XMLHttpRequest, the only browser API that reports upload
 * progress; the credential goes in a header, as on every other call.
 */
function send(credential: Credential, method: string, path: string, headers: Record<string, string>, body: Blob, progress: (loaded: number) => void): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest()
    request.open(method, `${serviceUrl}${path}`)
    for (const [name, value] of Object.entries({ ...credentialHeaders(credential, path), ...headers })) request.setRequestHeader(name, value)
    request.upload.onprogress = (event) => progress(event.loaded)
    request.onerror = () => reject(networkFailure(new Error(`${method} ${path} broke off`)))
    request.onload = () => {
      const text = request.responseText
      let parsed: unknown
      try {
        parsed = text === '' ? undefined : JSON.parse(text)
      } catch {
        parsed = undefined
      }
      const answer = { status: request.status, statusText: request.statusText, headers: { get: (name: string) => request.getResponseHeader(name) } }
      if (request.status >= 400) return reject(failureOf(answer, parsed))
      const offset = request.getResponseHeader('upload-offset')
      resolve({ status: request.status, body: parsed, offset: offset === null ? undefined : Number(offset) })
    }
    request.send(body)
  })
}

const placementHeaders = (placement: Placement) => ({
  'x-namespace': placement.namespace,
  // X-Key is percent-decoded by the service, so any key travels in a header.
  'x-key': encodeURIComponent(placement.key),
  'x-overwrite': String(placement.overwrite),
})

const hex = (digest: ArrayBuffer) => [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, '0')).join('')

/** Uploads a file where `placement` says, reporting progress, and answers the stored object. */
export async function uploadFile(api: Api, credential: Credential, file: File, placement: Placement, progress: Progress): Promise<StoredObject> {
  const type = file.type || 'application/octet-stream'
  if (file.size <= sessionThresholdBytes) {
    // A small file is hashed here so the service verifies it arrived intact.
    const digest = hex(await crypto.subtle.digest('SHA-256', await file.arrayBuffer()))
    const reply = await send(credential, 'POST', '/v1/objects', { ...placementHeaders(placement), 'content-type': type, 'x-content-sha256': digest }, file, (loaded) => progress(loaded, file.size))
    progress(file.size, file.size)
    return reply.body as StoredObject
  }
  const created = await send(credential, 'POST', '/v1/uploads', { ...placementHeaders(placement), 'x-upload-content-type': type, 'x-upload-content-length': String(file.size) }, new Blob(), () => {})
  const id = (created.body as { id: string }).id
  let offset = 0
  let attempts = 0
  while (offset < file.size) {
    const chunk = file.slice(offset, offset + sessionThresholdBytes)
    const from = offset
    try {
      const reply = await send(credential, 'PATCH', `/v1/uploads/${id}`, { 'upload-offset': String(from), 'content-type': 'application/offset+octet-stream' }, chunk, (loaded) => progress(from + loaded, file.size))
      offset = reply.offset ?? from + chunk.size
      attempts = 0
    } catch (error) {
      if (++attempts >= chunkAttempts) throw error
      // The service holds what it acknowledged (a durable prefix at most): go on from there.
      offset = await sessionOffset(api, id, error)
    }
    progress(offset, file.size)
  }
  return (await ok(api.POST('/v1/uploads/{id}/complete', { params: { path: { id } } }))) as StoredObject
}

async function sessionOffset(api: Api, id: string, error: unknown): Promise<number> {
  if (!(error instanceof ApiFailure) || (error.status !== 0 && error.code !== 'offset_mismatch' && error.status < 500)) throw error
  const session = await ok(api.GET('/v1/uploads/{id}', { params: { path: { id } } }))
  return Number(session.offset)
}
