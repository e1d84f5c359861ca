import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, unlinkSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { and, eq, ne } from 'drizzle-orm'
import { blobs, objects } from '../../core/db/schema'
import { startServer, type TestServer } from '../support/server'

/**
 * Proof: when the hot volume fills up, an upload fails with 507
 * `insufficient_storage` and leaves nothing behind, reads keep being served,
 * and uploads work again as soon as there is room.
 */

const namespace = 'diskfull'
const tenant = 'acme'
const volumeBytes = 8 * 2 ** 20

/** Why the proof cannot run here, or null: it needs root and a working tmpfs mount. */
function whyNotRunnable(): string | null {
  if (process.getuid?.() !== 0) return 'not running as root (mounting a small tmpfs needs root)'
  const probe = mkdtempSync(`${tmpdir()}/juststorage-tmpfs-probe-`)
  try {
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', probe], { encoding: 'utf8' })
    if (mounted.status !== 0) return `mount -t tmpfs failed: ${(mounted.stderr || mounted.error?.message || '').trim()}`
    spawnSync('umount', [probe])
    return null
  } finally {
    rmSync(probe, { recursive: true, force: true })
  }
}

const skipReason = whyNotRunnable()
if (skipReason !== null) console.warn(`disk-full proof skipped: ${skipReason}`)

const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')

describe.skipIf(skipReason !== null)('a full hot volume on postgres', () => {
  let server: TestServer
  let hot: string
  let mounted = false

  beforeAll(async () => {
    server = await startServer('postgres')
    hot = `${server.dataDir}/hot`
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${volumeBytes}`, 'tmpfs', hot], { encoding: 'utf8' })
    if (mount.status !== 0) throw new Error(`mount failed: ${mount.stderr}`)
    mounted = true
    mkdirSync(`${hot}/tmp`)
  })

  afterAll(async () => {
    // Unmount first: stop() removes the data dir, which fails on a mount point.
    if (mounted && spawnSync('umount', [hot]).status !== 0) spawnSync('umount', ['-l', hot])
    await server?.stop()
  })

  const upload = (body: Uint8Array<ArrayBuffer>) =>
    fetch(`${server.url}/v1/objects?namespace=${namespace}&tenant_id=${tenant}`, { method: 'POST', body })

  async function downloadsExactly(id: string, payload: Uint8Array): Promise<void> {
    const response = await fetch(`${server.url}/v1/objects/${id}?tenant_id=${tenant}`)
    expect(response.status).toBe(200)
    const bytes = new Uint8Array(await response.arrayBuffer())
    expect(bytes.byteLength).toBe(payload.byteLength)
    expect(sha256(bytes)).toBe(sha256(payload))
  }

  /** Nothing of a failed upload remains: no temp file, no reservation, no blob row. */
  async function leftNothingOf(payload: Uint8Array): Promise<void> {
    expect(readdirSync(`${hot}/tmp`)).toEqual([])
    const db = server.database.db
    expect(await db.select({ id: objects.id }).from(objects).where(eq(objects.status, 'WRITING'))).toEqual([])
    expect(await db.select({ id: objects.id }).from(objects).where(and(eq(objects.contentHash, `sha256:${sha256(payload)}`), ne(objects.status, 'DELETED')))).toEqual([])
    expect(await db.select({ hash: blobs.contentHash }).from(blobs).where(eq(blobs.contentHash, `sha256:${sha256(payload)}`))).toEqual([])
  }

  const small = new Uint8Array(randomBytes(64 * 1024))
  let smallId: string

  test('a small upload fits and succeeds', async () => {
    const response = await upload(small)
    expect(response.status).toBe(201)
    smallId = ((await response.json()) as { id: string }).id
    await downloadsExactly(smallId, small)
  })

  test('an upload bigger than the free space gets 507 insufficient_storage and leaves nothing behind', async () => {
    const big = new Uint8Array(randomBytes(2 * volumeBytes))
    const response = await upload(big)
    const body = (await response.json()) as Record<string, unknown>
    expect(response.status).toBe(507)
    expect(body).toEqual({ error: expect.any(String), code: 'insufficient_storage', request_id: expect.any(String) })
    await leftNothingOf(big)
  })

  test('a streamed upload that runs out of space mid-body fails the same way', async () => {
    const big = new Uint8Array(randomBytes(2 * volumeBytes))
    let offset = 0
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= big.byteLength) return controller.close()
        controller.enqueue(big.slice(offset, offset + 256 * 1024))
        offset += 256 * 1024
      },
    })
    const response = await fetch(`${server.url}/v1/objects?namespace=${namespace}&tenant_id=${tenant}`, { method: 'POST', body: stream })
    expect(response.status).toBe(507)
    expect(((await response.json()) as { code: string }).code).toBe('insufficient_storage')
    await leftNothingOf(big)
  })

  test('while the volume is full, reads are served and writes get 507; with room again, uploads work', async () => {
    // Fill every byte left, outside the store's own directories.
    const filler = `${hot}/filler`
    const fd = openSync(filler, 'w')
    const chunk = new Uint8Array(64 * 1024)
    try {
      for (let size = chunk.byteLength; size >= 512; size /= 2) {
        for (;;) {
          try {
            writeSync(fd, chunk, 0, size)
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error
            break
          }
        }
      }
    } finally {
      closeSync(fd)
    }

    await downloadsExactly(smallId, small)
    const refused = new Uint8Array(randomBytes(64 * 1024))
    const response = await upload(refused)
    expect(response.status).toBe(507)
    expect(((await response.json()) as { code: string }).code).toBe('insufficient_storage')
    await leftNothingOf(refused)

    unlinkSync(filler)
    const another = new Uint8Array(randomBytes(64 * 1024))
    const accepted = await upload(another)
    expect(accepted.status).toBe(201)
    await downloadsExactly(((await accepted.json()) as { id: string }).id, another)
    await downloadsExactly(smallId, small)
    expect(readdirSync(`${hot}/tmp`)).toEqual([])
  })
})
