import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { apiError, CliError } from './errors'
import { TransferState, transferKey } from './config'
import { type Remote, remoteString } from './location'
import { hashFile, metered } from './meter'
import type { TransferResult } from './progress'
import { elapsedMs, type TransferContext } from './transfer'

/** A download in progress: the ETag its `.part` file holds a prefix of. */
interface PartRecord {
  etag: string
}

const totalOf = (response: Response): number => {
  const range = response.headers.get('content-range')
  const total = range ? /\/(\d+)$/.exec(range)?.[1] : response.headers.get('content-length')
  return Number(total ?? 0)
}

/**
 * Downloads one object into `<file>.part`, continuing a part left by an
 * interrupted run with a Range request (If-Range: the ETag it started from, so
 * a changed object starts over), checks the whole file's SHA-256 against the
 * object's content hash, and only then renames it into place.
 */
export async function downloadFile(remote: Remote, destination: string, context: TransferContext, expectedSize = 0): Promise<TransferResult> {
  const started = performance.now()
  const { api, progress } = context
  const source = remoteString(remote)
  const tenant = await context.tenant.get()
  const part = `${destination}.part`
  const parts = new TransferState<PartRecord>('downloads')
  const stateKey = transferKey(resolve(part), context.settings.url, tenant, source)
  const record = parts.get(stateKey)
  const have = record && existsSync(part) ? statSync(part).size : 0

  progress.start(`${source} → ${destination}`, expectedSize)
  let hasher = new Bun.CryptoHasher('sha256')
  if (have > 0) {
    progress.resize(have)
    progress.phase('hashing')
    hasher = await hashFile(part, progress)
  }
  const headers = have > 0 ? { Range: `bytes=${have}-`, 'If-Range': record!.etag } : {}
  const path = { namespace: remote.namespace, tenant_id: tenant, key: remote.key }
  const { response, data, error } = await api.GET('/v1/objects/by-key/{namespace}/{tenant_id}/{key}', { params: { path, header: headers }, parseAs: 'stream' })
  if (response.status === 416 && have > 0) {
    // The part is no prefix of the object as it is now: start over.
    await response.body?.cancel()
    rmSync(part, { force: true })
    parts.set(stateKey, undefined)
    return downloadFile(remote, destination, context, expectedSize)
  }
  if (!response.ok) throw apiError(response, error)
  const resumed = response.status === 206
  if (!resumed) hasher = new Bun.CryptoHasher('sha256')
  const etag = response.headers.get('etag') ?? ''
  const expected = response.headers.get('x-content-hash') ?? etag.replaceAll('"', '')
  const size = totalOf(response)
  progress.resize(size)
  parts.set(stateKey, { etag })

  mkdirSync(dirname(resolve(destination)), { recursive: true })
  const handle = await open(part, resumed ? 'a' : 'w')
  let received = 0
  try {
    progress.phase('receiving', resumed ? have : 0)
    // An empty object comes with no body at all.
    const body = data ?? new Blob([]).stream()
    for await (const chunk of metered(body, progress, context.limit)) {
      hasher.update(chunk)
      received += chunk.length
      await handle.write(chunk)
    }
  } finally {
    await handle.close()
  }
  const actual = `sha256:${hasher.digest('hex')}`
  if (actual !== expected) {
    rmSync(part, { force: true })
    parts.set(stateKey, undefined)
    throw new CliError('other', `${source}: downloaded bytes hash to ${actual}, not ${expected}; removed ${part}`, 'digest_mismatch', response.headers.get('x-request-id') ?? undefined)
  }
  renameSync(part, destination)
  parts.set(stateKey, undefined)
  return {
    action: 'download',
    source,
    destination,
    status: 'ok',
    size,
    bytes_received: received,
    resumed_from: resumed ? have : undefined,
    content_hash: expected,
    duration_ms: elapsedMs(started),
  }
}
