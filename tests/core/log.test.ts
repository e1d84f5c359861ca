import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { configureLog, log } from '../../core/log'
import { adminToken, backends, startServer, type TestServer } from '../support/server'
import { captureLogs } from '../support/logs'

describe.each(backends)('request log on %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend, { auth: true })
  })
  afterAll(async () => {
    configureLog('silent')
    await server.stop()
  })

  test('one JSON line per request with who, what, route template, status, bytes and duration', async () => {
    const body = 'logged bytes'
    const uploaded = await fetch(`${server.url}/v1/objects?namespace=logs&tenant_id=acme`, { method: 'POST', body, headers: { authorization: `Bearer ${adminToken}` } })
    expect(uploaded.status).toBe(201)
    const { id } = await uploaded.json()

    const logs = captureLogs()
    const requestId = `log-${backend}-1`
    const response = await fetch(`${server.url}/v1/objects/${id}?tenant_id=acme`, { headers: { authorization: `Bearer ${adminToken}`, 'x-request-id': requestId } })
    expect(await response.text()).toBe(body)
    const line = await logs.request(requestId)
    expect(line).toMatchObject({
      level: 'info',
      msg: 'request',
      request_id: requestId,
      principal: 'admin-token',
      tenant: 'acme',
      method: 'GET',
      route: '/v1/objects/:id',
      status: 200,
      bytes: body.length,
    })
    expect(typeof line.duration_ms).toBe('number')
    expect(line.duration_ms as number).toBeGreaterThanOrEqual(0)
    expect(JSON.stringify(line)).not.toContain(id)
  })

  test('a refused request is logged with no principal and the tenant it named', async () => {
    const logs = captureLogs()
    const requestId = `log-${backend}-2`
    const response = await fetch(`${server.url}/v1/objects?namespace=logs`, { headers: { 'x-tenant': 'globex', 'x-request-id': requestId } })
    expect(response.status).toBe(401)
    await response.text()
    expect(await logs.request(requestId)).toMatchObject({
      principal: null,
      tenant: 'globex',
      method: 'GET',
      route: '/v1/objects',
      status: 401,
    })
  })

  test('below the configured level nothing is written', () => {
    const logs = captureLogs('warn')
    log.info({ msg: 'dropped' })
    log.warn({ msg: 'kept' })
    expect(logs.lines.map((line) => [line.level, line.msg])).toEqual([['warn', 'kept']])
  })
})
