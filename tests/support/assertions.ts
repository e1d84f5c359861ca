import { expect } from 'bun:test'
import { and, eq } from 'drizzle-orm'
import { blobs, type StorageClass } from '../../core/db/schema'
import type { TestServer } from './server'

/** The single error envelope, with the status and code expected. */
export async function expectError(response: Response, status: number, code: string) {
  expect(response.headers.get('content-type')).toStartWith('application/json')
  const body = await response.json()
  expect({ status: response.status, code: body.code }).toEqual({ status, code })
  expect(body).toEqual({ error: expect.any(String), code, request_id: response.headers.get('x-request-id') })
  return body
}

/** A 200 carrying exactly these bytes. */
export async function expectBytes(response: Response, expected: Uint8Array<ArrayBuffer>) {
  expect(response.status).toBe(200)
  expect(new Uint8Array(await response.arrayBuffer())).toEqual(expected)
}

/** The blobs row of some content, as the database holds it. */
export async function blobRow(server: TestServer, hex: string, storageClass: StorageClass = 'hot') {
  const [row] = await server.database.db
    .select()
    .from(blobs)
    .where(and(eq(blobs.storageClass, storageClass), eq(blobs.contentHash, `sha256:${hex}`)))
  return row
}
