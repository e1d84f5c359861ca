import type { Api, Tenant } from './client'
import type { Settings } from './config'
import type { RateLimit } from './meter'
import type { Progress } from './progress'

/** Everything a file transfer needs beside its source and destination. */
export interface TransferContext {
  api: Api
  settings: Settings
  tenant: Tenant
  progress: Progress
  limit?: RateLimit
  /** Files of at least this size go through a resumable session. */
  sessionThreshold: number
  chunkSize: number
  /** false: a key already held is a conflict (cp -n). */
  overwrite: boolean
}

/**
 * A streamed request body for the typed client. The document types raw bodies
 * as `string` (format binary); what goes out is the stream, with its length
 * declared so the service can refuse an oversize body before reading it.
 */
export function rawBody(stream: ReadableStream<Uint8Array>, length: number, contentType: string) {
  return {
    body: stream as unknown as string,
    bodySerializer: (body: string | undefined) => body,
    headers: { 'content-type': contentType, 'content-length': String(length) },
  }
}

export const elapsedMs = (since: number): number => Math.round(performance.now() - since)
