import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connectPostgres } from '../../core/db/connect'
import { backends, startServer, type TestServer } from '../support/server'
import { expectError } from '../support/assertions'

describe.each(backends)('request statements under DB_STATEMENT_TIMEOUT_SECS on %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend, { env: { DB_STATEMENT_TIMEOUT_SECS: '1' } })
  }, 60_000)
  afterAll(() => server.stop())

  test('a statement that cannot finish in time is 503 unavailable with Retry-After, not a wait; the pool serves the next request', async () => {
    const uploaded = await fetch(`${server.url}/v1/objects?namespace=slow&tenant_id=acme&key=k`, { method: 'POST', body: 'held up' })
    expect(uploaded.status).toBe(201)

    // Another session holds the objects table, so every statement on it waits.
    const holder = connectPostgres(server.databaseUrl, { max: 1 })
    const locked = Promise.withResolvers<void>()
    const release = Promise.withResolvers<void>()
    const transaction = holder.begin(async (tx) => {
      await tx`lock table objects in access exclusive mode`
      locked.resolve()
      await release.promise
    })
    try {
      await locked.promise
      const started = performance.now()
      const list = await fetch(`${server.url}/v1/objects?namespace=slow&tenant_id=acme`)
      const read = await fetch(`${server.url}/v1/objects/by-key/slow/acme/k`)
      const seconds = (performance.now() - started) / 1000
      await expectError(list, 503, 'unavailable')
      await expectError(read, 503, 'unavailable')
      expect(list.headers.get('retry-after')).toBe('1')
      // Two statements of one second each, well before the 30 s lock timeout.
      expect(seconds).toBeLessThan(6)
    } finally {
      release.resolve()
      await transaction
      await holder.end()
    }
    const after = await fetch(`${server.url}/v1/objects/by-key/slow/acme/k`)
    expect(await after.text()).toBe('held up')
  }, 60_000)
})
