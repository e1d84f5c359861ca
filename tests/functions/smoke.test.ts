import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { backends, startServer, type TestServer } from '../support/server'

describe.each(backends)('smoke on %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend)
  })
  afterAll(() => server.stop())

  test('upload then download', async () => {
    const up = await fetch(`${server.url}/v1/objects?namespace=n&tenant_id=t&key=k`, { method: 'POST', body: 'hello' })
    expect(up.status).toBe(201)
    const object = await up.json()
    const down = await fetch(`${server.url}/v1/objects/${object.id}?tenant_id=t`)
    expect(down.headers.get('content-length')).toBe('5')
    expect(await down.text()).toBe('hello')
    const bad = await fetch(`${server.url}/v1/objects/search`, { method: 'POST', body: '{}' })
    console.error(bad.status, await bad.text())
  })
})
