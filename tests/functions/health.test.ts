import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { chmodSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { backends, startServer, type TestServer } from '../support/server'

const runsAsRoot = process.getuid?.() === 0

describe.each(backends)('health on %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend)
  })
  afterAll(() => server.stop())

  async function get(path: string, headers: Record<string, string> = {}) {
    const res = await fetch(`${server.url}${path}`, { headers })
    return { res, body: (await res.json()) as Record<string, unknown> }
  }

  async function expectNotReady(problem: string) {
    for (const path of ['/health/ready', '/ready']) {
      const { res, body } = await get(path)
      expect(res.status).toBe(503)
      expect(res.headers.get('content-type')).toStartWith('application/json')
      expect(body.code).toBe('unavailable')
      expect(body.request_id).toBe(res.headers.get('x-request-id')!)
      expect(body.error).toContain(problem)
      expect(body.problems).toEqual([problem])
    }
  }

  async function expectReady() {
    for (const path of ['/health/ready', '/ready']) {
      const { res, body } = await get(path)
      expect(res.status).toBe(200)
      expect(body.status).toBe('ready')
    }
  }

  test('GET /health is 200 {"status":"ok"}', async () => {
    const { res, body } = await get('/health')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toStartWith('application/json')
    expect(body).toEqual({ status: 'ok' })
  })

  test('/health/ready and /ready are 200 when the database and both roots are fine', async () => {
    await expectReady()
  })

  test('an unwritable storage root makes readiness 503 naming it, until it is restored', async () => {
    const cold = `${server.dataDir}/cold`
    // Root ignores permission bits, so as root take the directory away instead.
    const breakRoot = () => (runsAsRoot ? renameSync(cold, `${cold}.away`) : chmodSync(cold, 0o500))
    const restoreRoot = () => (runsAsRoot ? renameSync(`${cold}.away`, cold) : chmodSync(cold, 0o755))
    breakRoot()
    try {
      await expectNotReady('cold storage root not writable')
      // Liveness does not depend on storage.
      expect((await get('/health')).res.status).toBe(200)
    } finally {
      restoreRoot()
    }
    await expectReady()
  })

  test('a storage root whose temp directory is gone is not ready either', async () => {
    const tmp = `${server.dataDir}/hot/tmp`
    rmSync(tmp, { recursive: true })
    try {
      await expectNotReady('hot storage temp directory not writable')
    } finally {
      // Recreate it the way the service does at start.
      mkdirSync(tmp, { recursive: true })
    }
    await expectReady()
  })

  test('every health response carries X-Request-Id', async () => {
    for (const path of ['/health', '/health/ready', '/ready']) {
      const { res } = await get(path, { 'x-request-id': `probe-${path.length}` })
      expect(res.headers.get('x-request-id')).toBe(`probe-${path.length}`)
      const fresh = await get(path)
      expect(fresh.res.headers.get('x-request-id')).toMatch(/^[A-Za-z0-9._:-]{1,128}$/)
    }
    const wrongMethod = await fetch(`${server.url}/health`, { method: 'POST', headers: { 'x-request-id': 'probe-405' } })
    expect(wrongMethod.status).toBe(405)
    expect(wrongMethod.headers.get('x-request-id')).toBe('probe-405')
    expect(((await wrongMethod.json()) as { request_id: string }).request_id).toBe('probe-405')
  })
})
