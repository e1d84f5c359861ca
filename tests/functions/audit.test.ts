import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { adminToken, backends, startServer, type TestServer } from '../support/server'

describe.each(backends)('audit trail on %s', (backend) => {
  let server: TestServer
  const asAdmin = { authorization: `Bearer ${adminToken}` }
  beforeAll(async () => {
    server = await startServer(backend, { auth: true })
  })
  afterAll(() => server.stop())

  const call = (method: string, path: string, headers: Record<string, string>, body?: unknown) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })

  test('key creation and revocation, deletes and admin actions are recorded with who, tenant, target and request id', async () => {
    const created = await (await call('POST', '/v1/api-keys', { ...asAdmin, 'x-request-id': 'audit-create' }, { name: 'k', tenant_id: 'acme', permissions: ['objects:write', 'objects:delete'] })).json()
    const tenantKey = { authorization: `Bearer ${created.key}` }
    const object = await (await call('POST', '/v1/objects?namespace=n&key=a', tenantKey)).json()
    expect((await call('DELETE', `/v1/objects/${object.id}`, { ...tenantKey, 'x-request-id': 'audit-delete' })).status).toBe(204)
    expect((await call('POST', '/v1/admin/gc', { ...asAdmin, 'x-request-id': 'audit-gc' })).status).toBe(200)
    expect((await call('POST', '/v1/admin/scrub', { ...asAdmin, 'x-request-id': 'audit-scrub' })).status).toBe(200)
    expect((await call('DELETE', `/v1/api-keys/${created.id}`, { ...asAdmin, 'x-request-id': 'audit-revoke' })).status).toBe(204)

    const response = await call('GET', '/v1/admin/audit?limit=10', asAdmin)
    expect(response.status).toBe(200)
    const { events } = await response.json()
    const seen = events.map(({ actor, tenant_id, action, target, request_id }: Record<string, unknown>) => ({ actor, tenant_id, action, target, request_id }))
    expect(seen).toEqual([
      { actor: 'admin-token', tenant_id: 'acme', action: 'api_key.revoke', target: created.id, request_id: 'audit-revoke' },
      { actor: 'admin-token', tenant_id: null, action: 'admin.scrub', target: null, request_id: 'audit-scrub' },
      { actor: 'admin-token', tenant_id: null, action: 'admin.gc', target: null, request_id: 'audit-gc' },
      { actor: `api-key:${created.id}`, tenant_id: 'acme', action: 'object.delete', target: object.id, request_id: 'audit-delete' },
      { actor: 'admin-token', tenant_id: 'acme', action: 'api_key.create', target: created.id, request_id: 'audit-create' },
    ])
    for (const event of events) expect(event.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  })

  test('pages with a cursor, newest first, each event once; filters by tenant', async () => {
    for (let i = 0; i < 5; i++) {
      await call('POST', '/v1/api-keys', asAdmin, { name: `p${i}`, tenant_id: 'paged', permissions: ['objects:read'] })
    }
    const ids: number[] = []
    let cursor: string | null = null
    do {
      const page: { events: { id: number; tenant_id: string }[]; next_cursor: string | null } = await (
        await call('GET', `/v1/admin/audit?tenant_id=paged&limit=2${cursor ? `&cursor=${cursor}` : ''}`, asAdmin)
      ).json()
      expect(page.events.every((event) => event.tenant_id === 'paged')).toBe(true)
      ids.push(...page.events.map((event) => event.id))
      cursor = page.next_cursor
    } while (cursor !== null)
    expect(ids).toHaveLength(5)
    expect([...ids].sort((a, b) => b - a)).toEqual(ids)
    expect((await call('GET', '/v1/admin/audit?cursor=bm9wZQ', asAdmin)).status).toBe(400)
  })

  test('only an admin reads it', async () => {
    const created = await (await call('POST', '/v1/api-keys', asAdmin, { name: 'm', tenant_id: 'acme', permissions: ['keys:manage', 'objects:read'] })).json()
    expect((await call('GET', '/v1/admin/audit', { authorization: `Bearer ${created.key}` })).status).toBe(403)
    expect((await call('GET', '/v1/admin/audit', {})).status).toBe(401)
  })
})
