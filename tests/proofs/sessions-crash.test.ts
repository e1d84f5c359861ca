import { afterAll, describe, expect, test } from 'bun:test'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { startChild, type Child } from '../support/child'
import { bucketEnvironment, sharedCluster } from '../support/server'
import { tempDir } from '../support/temp'

/**
 * Proof: kill -9 of the service in the middle of PATCHes, round after round,
 * with several sessions at once. After every restart each session's offset is
 * at least what was acknowledged; resuming from it and completing gives the
 * source's exact bytes (nothing acknowledged lost, nothing doubled). A client
 * that breaks off mid-chunk, by reset or by half-close, resumes the same way.
 */

const rounds = Number(process.env.CRASH_ROUNDS ?? 10)
const MiB = 2 ** 20
const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')

interface Tracked {
  id: string
  source: Uint8Array<ArrayBuffer>
  acknowledged: number
}

/** A body that trickles out, so that kills land mid-request. */
function trickle(bytes: Uint8Array<ArrayBuffer>): ReadableStream<Uint8Array> {
  let offset = 0
  return new ReadableStream({
    async pull(controller) {
      if (offset >= bytes.byteLength) return controller.close()
      await Bun.sleep(2)
      const end = Math.min(offset + 128 * 1024, bytes.byteLength)
      controller.enqueue(bytes.slice(offset, end))
      offset = end
    },
  })
}

async function offsetOf(url: string, id: string): Promise<number> {
  const response = await fetch(`${url}/v1/uploads/${id}?tenant_id=acme`, { method: 'HEAD' })
  expect(response.status).toBe(200)
  return Number(response.headers.get('upload-offset'))
}

/** PATCHes chunks of 1–8 MiB (on a bucket: a tail, a part of their own, or both) from the session's offset until the process dies or the source is sent. */
async function keepSending(url: string, session: Tracked): Promise<void> {
  for (;;) {
    let offset: number
    try {
      offset = await offsetOf(url, session.id)
    } catch {
      return
    }
    if (offset >= session.source.byteLength) return
    const chunk = session.source.slice(offset, Math.min(session.source.byteLength, offset + MiB + Math.floor(Math.random() * 7 * MiB)))
    const withLength = Math.random() < 0.5
    try {
      const response = await fetch(`${url}/v1/uploads/${session.id}?tenant_id=acme`, {
        method: 'PATCH',
        headers: { 'upload-offset': String(offset), ...(withLength ? { 'content-length': String(chunk.byteLength) } : {}) },
        body: trickle(chunk),
      })
      if (response.status !== 204) return
      session.acknowledged = Math.max(session.acknowledged, Number(response.headers.get('upload-offset')))
    } catch {
      return
    }
  }
}

for (const backend of ['postgres', 's3'] as const) {
  describe(`sessions survive kill -9 (${backend})`, () => {
    const dirs: string[] = []
    afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })))

    test(`${rounds} rounds of kills mid-PATCH, three sessions at once`, async () => {
      const dataDir = tempDir('juststorage-sessions-crash-')
      dirs.push(dataDir)
      const databaseUrl = await (await sharedCluster()).createDatabase(`sessions_crash_${backend}_${process.pid}`)
      const env = backend === 's3' ? await bucketEnvironment() : {}
      const start = () => startChild({ databaseUrl, dataDir, env })
      let child: Child = await start()
      const sessions: Tracked[] = []
      for (const size of [23 * MiB + 17, 9 * MiB, 4 * MiB + 1]) {
        const response = await fetch(`${child.url}/v1/uploads?namespace=crash&tenant_id=acme`, { method: 'POST', headers: { 'x-upload-content-length': String(size) } })
        expect(response.status).toBe(201)
        sessions.push({ id: ((await response.json()) as { id: string }).id, source: new Uint8Array(randomBytes(size)), acknowledged: 0 })
      }
      try {
        for (let round = 0; round < rounds; round++) {
          const sending = Promise.all(sessions.map((session) => keepSending(child.url, session)))
          // A bucket here takes a few hundred milliseconds per part: kills come later there, so that PATCHes are acknowledged between them.
          await Bun.sleep(backend === 's3' ? 800 + Math.random() * 1200 : 150 + Math.random() * 400)
          await child.kill('SIGKILL')
          await sending
          child = await start()
          for (const session of sessions) {
            const offset = await offsetOf(child.url, session.id)
            if (offset < session.acknowledged) throw new Error(`round ${round}: session ${session.id} is at ${offset} after ${session.acknowledged} acknowledged bytes`)
            expect(offset).toBeLessThanOrEqual(session.source.byteLength)
          }
        }
        // The kills met sessions with bytes acknowledged, not only empty ones.
        expect(sessions.some((session) => session.acknowledged > 0)).toBe(true)
        await Promise.all(sessions.map((session) => keepSending(child.url, session)))
        for (const session of sessions) {
          const completed = await fetch(`${child.url}/v1/uploads/${session.id}/complete?tenant_id=acme`, { method: 'POST', headers: { 'x-content-sha256': sha256(session.source) } })
          expect(completed.status).toBe(201)
          const object = (await completed.json()) as { id: string }
          const bytes = new Uint8Array(await (await fetch(`${child.url}/v1/objects/${object.id}?tenant_id=acme`)).arrayBuffer())
          expect(bytes.byteLength).toBe(session.source.byteLength)
          expect(sha256(bytes)).toBe(sha256(session.source))
        }
      } catch (error) {
        console.error(child.output().slice(-4000))
        throw error
      } finally {
        await child.stop()
      }
    }, 600_000)

    test('a client that breaks off mid-chunk (reset, half-close) resumes from the offset the session kept', async () => {
      const dataDir = tempDir('juststorage-sessions-break-')
      dirs.push(dataDir)
      const databaseUrl = await (await sharedCluster()).createDatabase(`sessions_break_${backend}_${process.pid}`)
      const env = backend === 's3' ? await bucketEnvironment() : {}
      const child = await startChild({ databaseUrl, dataDir, env })
      try {
        for (const ending of ['reset', 'half-close'] as const) {
          const source = new Uint8Array(randomBytes(10 * MiB + 333))
          const created = await fetch(`${child.url}/v1/uploads?namespace=crash&tenant_id=acme`, { method: 'POST' })
          const { id } = (await created.json()) as { id: string }
          await breakOff(child.url, id, source.subarray(0, 6 * MiB), source.byteLength, ending)
          // The broken request ends on the service a moment after the socket does; until then the session is held (409), as for any client retrying.
          let status = 0
          for (let attempt = 0; attempt < 100 && status !== 204; attempt++) {
            const offset = await offsetOf(child.url, id)
            expect(offset).toBeLessThanOrEqual(6 * MiB)
            const rest = await fetch(`${child.url}/v1/uploads/${id}?tenant_id=acme`, { method: 'PATCH', headers: { 'upload-offset': String(offset) }, body: source.slice(offset) })
            status = rest.status
            if (status === 409) await Bun.sleep(50)
            else expect(status).toBe(204)
          }
          expect(status).toBe(204)
          const completed = await fetch(`${child.url}/v1/uploads/${id}/complete?tenant_id=acme`, { method: 'POST', headers: { 'x-content-sha256': sha256(source) } })
          expect(completed.status).toBe(201)
        }
      } finally {
        await child.stop()
      }
    }, 120_000)
  })
}

/** Sends a PATCH declaring the whole rest, writes part of it, then resets or half-closes the connection. */
async function breakOff(url: string, id: string, part: Uint8Array, declared: number, ending: 'reset' | 'half-close'): Promise<void> {
  const { hostname, port } = new URL(url)
  const socket = await Bun.connect({ hostname, port: Number(port), socket: { data() {}, drain() {} } })
  socket.write(`PATCH /v1/uploads/${id}?tenant_id=acme HTTP/1.1\r\nHost: ${hostname}\r\nUpload-Offset: 0\r\nContent-Length: ${declared}\r\n\r\n`)
  for (let off = 0; off < part.byteLength; ) {
    const written = socket.write(part.subarray(off, off + 256 * 1024))
    off += written
    if (written === 0) await Bun.sleep(5)
  }
  socket.flush()
  await Bun.sleep(300)
  if (ending === 'reset') socket.terminate()
  else {
    socket.shutdown()
    await Bun.sleep(300)
    socket.end()
  }
}
