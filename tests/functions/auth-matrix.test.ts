import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq, sql } from 'drizzle-orm'
import { SignJWT } from 'jose'
import { apiKeys, objects } from '../../core/db/schema'
import { adminToken, storageBackends, startServer, type TestServer } from '../support/server'
import { expectError } from '../support/assertions'

/**
 * Who may call what: every /v1 route against every kind of principal, with
 * authentication on. The expected status of each cell is written out below.
 */

const A = 'tenant-a'
const B = 'tenant-b'
const jwtSecret = 'auth-matrix-hs256-secret-0123456789abcdef'
const issuer = 'https://issuer.test'
const audience = 'juststorage'
const allowedOrigin = 'https://app.example'

let counter = 0
const unique = (prefix: string) => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 8)}`
const asAdmin = { authorization: `Bearer ${adminToken}` }

const callers = [
  'admin', 'admin-bare', 'admin-key', 'jwt-admin', 'read', 'read-xkey', 'write', 'delete', 'keys', 'ns', 'b', 'b-names-a', 'jwt', 'jwt-scope',
  'expired-key', 'revoked-key', 'unknown-key', 'jwt-expired', 'jwt-no-exp', 'jwt-bad-sig', 'jwt-wrong-iss', 'jwt-wrong-aud', 'none', 'bearer-empty', 'basic',
] as const
type Caller = (typeof callers)[number]

// Columns, in the order of `callers`:
//   adm  = admin token naming tenant A (X-Tenant)   bare = admin token naming no tenant
//   akey = API key of tenant A holding `admin`      jadm = JWT with `admin`, no tenant_id, naming tenant A
//   read/xkey/writ/del/keys = tenant-A keys with that one permission (xkey: the read key sent as X-API-Key)
//   ns   = tenant-A key with objects:* limited to namespace 'allowed'
//   b    = tenant-B key with objects:* + keys:manage   b>a = the same key naming tenant A
//   jwt  = HS256 JWT, tenant A, objects:*             jsco = HS256 JWT, tenant A, scope "objects:read keys:manage"
//   then the rejected credentials: expired / revoked / never-issued keys; expired, exp-less, wrongly signed,
//   wrong-issuer and wrong-audience JWTs; no credential; "Bearer" with nothing; "Basic xyz".
// The target objects and keys belong to tenant A; 'other' is a namespace outside the ns key's allow-list.
// Admin routes follow the rule "any principal holding `admin`"; non-admin principals get 403.
// An admin naming no tenant must name one to place or scope objects (400), not to reach one by id.
const U = 401
// prettier-ignore
const matrix: [route: string, statuses: number[]][] = [
  //                              adm  bare akey jadm read xkey writ del  keys ns   b    b>a  jwt  jsco exp  rev  unk  jexp jnox jsig jiss jaud none bemp basc
  ['POST /v1/objects',           [201, 400, 201, 201, 403, 403, 201, 403, 403, 201, 201, 403, 201, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['POST /v1/objects (other)',   [201, 400, 201, 201, 403, 403, 201, 403, 403, 403, 201, 403, 201, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['POST /v1/objects (copy)',    [201, 400, 201, 201, 403, 403, 403, 403, 403, 201, 404, 403, 201, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['POST /v1/objects (copy other)', [201, 400, 201, 201, 403, 403, 403, 403, 403, 404, 404, 403, 201, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['PUT by-key',                 [201, 201, 201, 201, 403, 403, 201, 403, 403, 201, 403, 403, 201, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['GET by id',                  [200, 200, 200, 200, 200, 200, 403, 403, 403, 200, 404, 403, 200, 200, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['HEAD by id',                 [200, 200, 200, 200, 200, 200, 403, 403, 403, 200, 404, 403, 200, 200, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['GET by id (other)',          [200, 200, 200, 200, 200, 200, 403, 403, 403, 404, 404, 403, 200, 200, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['GET by key',                 [200, 200, 200, 200, 200, 200, 403, 403, 403, 200, 403, 403, 200, 200, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['HEAD by key',                [200, 200, 200, 200, 200, 200, 403, 403, 403, 200, 403, 403, 200, 200, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['GET by key (other)',         [200, 200, 200, 200, 200, 200, 403, 403, 403, 403, 403, 403, 200, 200, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['DELETE by id',               [204, 204, 204, 204, 403, 403, 403, 204, 403, 204, 404, 403, 204, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['DELETE by id (other)',       [204, 204, 204, 204, 403, 403, 403, 204, 403, 404, 404, 403, 204, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['DELETE by key',              [204, 204, 204, 204, 403, 403, 403, 204, 403, 204, 403, 403, 204, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['GET /v1/objects',            [200, 400, 200, 200, 200, 200, 403, 403, 403, 200, 200, 403, 200, 200, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['GET /v1/objects (other)',    [200, 400, 200, 200, 200, 200, 403, 403, 403, 403, 200, 403, 200, 200, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['POST search',                [200, 400, 200, 200, 200, 200, 403, 403, 403, 200, 200, 403, 200, 200, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['POST search (other)',        [200, 400, 200, 200, 200, 200, 403, 403, 403, 403, 200, 403, 200, 200, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['POST /v1/uploads',           [201, 400, 201, 201, 403, 403, 201, 403, 403, 201, 201, 403, 201, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['POST /v1/uploads (other)',   [201, 400, 201, 201, 403, 403, 201, 403, 403, 403, 201, 403, 201, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['GET /v1/uploads',            [200, 400, 200, 200, 403, 403, 200, 403, 403, 200, 200, 403, 200, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['HEAD /v1/uploads/{id}',      [200, 200, 200, 200, 403, 403, 200, 403, 403, 200, 404, 403, 200, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['GET /v1/uploads/{id} (other)', [200, 200, 200, 200, 403, 403, 200, 403, 403, 404, 404, 403, 200, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['PATCH /v1/uploads/{id}',     [204, 204, 204, 204, 403, 403, 204, 403, 403, 204, 404, 403, 204, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['POST /v1/uploads/{id}/complete', [201, 201, 201, 201, 403, 403, 201, 403, 403, 201, 404, 403, 201, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['DELETE /v1/uploads/{id}',    [204, 204, 204, 204, 403, 403, 204, 403, 403, 204, 404, 403, 204, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['POST /v1/presign',           [200, 400, 200, 200, 200, 200, 403, 403, 403, 200, 200, 403, 200, 200, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['POST /v1/presign (other)',   [200, 400, 200, 200, 200, 200, 403, 403, 403, 403, 200, 403, 200, 200, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['POST /v1/api-keys',          [201, 400, 201, 201, 403, 403, 403, 403, 201, 403, 201, 403, 403, 201, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['GET /v1/api-keys',           [200, 200, 200, 200, 403, 403, 403, 403, 200, 403, 200, 403, 403, 200, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['GET /v1/api-keys/{id}',      [200, 200, 200, 200, 403, 403, 403, 403, 200, 403, 404, 403, 403, 200, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['DELETE /v1/api-keys/{id}',   [204, 204, 204, 204, 403, 403, 403, 403, 204, 403, 404, 403, 403, 204, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['POST /v1/admin/gc',          [200, 200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['POST /v1/admin/scrub',       [200, 200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['GET /v1/admin/status',       [200, 200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['POST /v1/admin/lifecycle',   [200, 200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['PUT /v1/admin/tenants/{id}', [200, 200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['GET /v1/admin/tenants/{id}', [200, 200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['PUT /v1/namespaces/{ns}',    [200, 400, 200, 200, 403, 403, 403, 403, 200, 403, 200, 403, 403, 200, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['GET /v1/namespaces/{ns}',    [200, 400, 200, 200, 200, 200, 403, 403, 403, 200, 200, 403, 200, 200, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['GET /v1/namespaces/{ns} (other)', [200, 400, 200, 200, 200, 200, 403, 403, 403, 403, 200, 403, 200, 200, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['GET /v1/namespaces',         [200, 400, 200, 200, 200, 200, 403, 403, 403, 200, 200, 403, 200, 200, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['GET /v1/objects/versions',   [200, 400, 200, 200, 200, 200, 403, 403, 403, 200, 200, 403, 200, 200, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
  ['GET /v1/objects/versions (other)', [200, 400, 200, 200, 200, 200, 403, 403, 403, 403, 200, 403, 200, 200, U,   U,   U,   U,   U,   U,   U,   U,   U,   U,   U]],
]

const cells = matrix.flatMap(([route, statuses]) => {
  if (statuses.length !== callers.length) throw new Error(`matrix row ${route} has ${statuses.length} cells, not ${callers.length}`)
  return statuses.map((status, i) => [route, callers[i]!, status] as [string, Caller, number])
})

const errorCodes: Record<number, string> = { 400: 'invalid_tenant', 401: 'unauthenticated', 403: 'forbidden', 404: 'not_found' }

interface Fixtures {
  headers: Record<Caller, Record<string, string>>
  shared: { allowed: string; other: string }
  victimKeyId: string
}

interface Target {
  method: string
  path: string
  body?: BodyInit
  json?: unknown
  headers?: Record<string, string>
  /** Checked after the call: did the request do exactly what its status says? */
  after?: (response: Response) => Promise<void>
}

async function send(server: TestServer, target: Target, headers: Record<string, string>): Promise<Response> {
  if (target.json === undefined) return fetch(`${server.url}${target.path}`, { method: target.method, headers: { ...target.headers, ...headers }, body: target.body })
  return fetch(`${server.url}${target.path}`, { method: target.method, headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(target.json) })
}

async function upload(server: TestServer, namespace: string, key: string): Promise<string> {
  const response = await fetch(`${server.url}/v1/objects?namespace=${namespace}&tenant_id=${A}&key=${key}`, { method: 'POST', body: `bytes of ${key}`, headers: asAdmin })
  expect(response.status).toBe(201)
  return (await response.json()).id
}

async function createKey(server: TestServer, body: Record<string, unknown>): Promise<{ id: string; key: string }> {
  const response = await fetch(`${server.url}/v1/api-keys`, { method: 'POST', headers: { ...asAdmin, 'content-type': 'application/json' }, body: JSON.stringify({ name: unique('key'), ...body }) })
  expect(response.status).toBe(201)
  return response.json()
}

/** A session of tenant A opened by the admin, and the admin's look at it. */
async function openSession(server: TestServer, namespace: string): Promise<string> {
  const response = await fetch(`${server.url}/v1/uploads?namespace=${namespace}&tenant_id=${A}`, { method: 'POST', headers: asAdmin })
  expect(response.status).toBe(201)
  return (await response.json()).id
}
const sessionOf = (server: TestServer, id: string) => fetch(`${server.url}/v1/uploads/${id}?tenant_id=${A}`, { method: 'HEAD', headers: asAdmin })

const adminStatusOf = async (server: TestServer, path: string) => (await fetch(`${server.url}${path}`, { headers: { ...asAdmin, 'x-tenant': A } })).status

/** What each route of the matrix sends; fresh targets for the routes that destroy them. */
async function targetOf(server: TestServer, route: string, fixtures: Fixtures): Promise<Target> {
  const key = unique('k')
  const expectGoneIf = (path: string) => async (response: Response) => {
    expect(await adminStatusOf(server, path)).toBe(response.status === 204 ? 404 : 200)
  }
  switch (route) {
    case 'POST /v1/objects':
      return { method: 'POST', path: `/v1/objects?namespace=allowed&key=${key}`, body: 'new object' }
    case 'POST /v1/objects (other)':
      return { method: 'POST', path: `/v1/objects?namespace=other&key=${key}`, body: 'new object' }
    // A server-side copy into 'allowed' needs objects:read on its source too; an unreachable source is 404.
    case 'POST /v1/objects (copy)':
    case 'POST /v1/objects (copy other)': {
      const source = route === 'POST /v1/objects (copy)' ? fixtures.shared.allowed : fixtures.shared.other
      return { method: 'POST', path: `/v1/objects?namespace=allowed&key=${key}`, headers: { 'x-copy-source': source } }
    }
    case 'PUT by-key':
      return { method: 'PUT', path: `/v1/objects/by-key/allowed/${A}/${key}`, body: 'new object' }
    case 'GET by id':
      return { method: 'GET', path: `/v1/objects/${fixtures.shared.allowed}` }
    case 'HEAD by id':
      return { method: 'HEAD', path: `/v1/objects/${fixtures.shared.allowed}` }
    case 'GET by id (other)':
      return { method: 'GET', path: `/v1/objects/${fixtures.shared.other}` }
    case 'GET by key':
      return { method: 'GET', path: `/v1/objects/by-key/allowed/${A}/shared` }
    case 'HEAD by key':
      return { method: 'HEAD', path: `/v1/objects/by-key/allowed/${A}/shared` }
    case 'GET by key (other)':
      return { method: 'GET', path: `/v1/objects/by-key/other/${A}/shared` }
    case 'DELETE by id':
    case 'DELETE by id (other)': {
      const id = await upload(server, route === 'DELETE by id' ? 'allowed' : 'other', key)
      return { method: 'DELETE', path: `/v1/objects/${id}`, after: expectGoneIf(`/v1/objects/${id}`) }
    }
    case 'DELETE by key': {
      await upload(server, 'allowed', key)
      const path = `/v1/objects/by-key/allowed/${A}/${key}`
      return { method: 'DELETE', path, after: expectGoneIf(path) }
    }
    case 'GET /v1/objects':
      return { method: 'GET', path: '/v1/objects?namespace=allowed' }
    case 'GET /v1/objects (other)':
      return { method: 'GET', path: '/v1/objects?namespace=other' }
    case 'POST search':
      return { method: 'POST', path: '/v1/objects/search', json: { namespace: 'allowed' } }
    case 'POST search (other)':
      return { method: 'POST', path: '/v1/objects/search', json: { namespace: 'other' } }
    case 'POST /v1/uploads':
      return { method: 'POST', path: `/v1/uploads?namespace=allowed&key=${key}` }
    case 'POST /v1/uploads (other)':
      return { method: 'POST', path: `/v1/uploads?namespace=other&key=${key}` }
    case 'GET /v1/uploads':
      return { method: 'GET', path: '/v1/uploads?namespace=allowed' }
    case 'HEAD /v1/uploads/{id}':
      return { method: 'HEAD', path: `/v1/uploads/${await openSession(server, 'allowed')}` }
    case 'GET /v1/uploads/{id} (other)':
      return { method: 'GET', path: `/v1/uploads/${await openSession(server, 'other')}` }
    case 'PATCH /v1/uploads/{id}': {
      const id = await openSession(server, 'allowed')
      const offsetAfter = (expected: string) => async () => expect((await sessionOf(server, id)).headers.get('upload-offset')).toBe(expected)
      return { method: 'PATCH', path: `/v1/uploads/${id}`, body: 'chunk', headers: { 'upload-offset': '0' }, after: async (response) => offsetAfter(response.status === 204 ? '5' : '0')() }
    }
    case 'POST /v1/uploads/{id}/complete': {
      const id = await openSession(server, 'allowed')
      const stillOpen = async () => {
        const listed = await fetch(`${server.url}/v1/uploads?namespace=allowed&tenant_id=${A}&limit=1000`, { headers: asAdmin })
        return ((await listed.json()).uploads as { id: string }[]).some((session) => session.id === id)
      }
      return { method: 'POST', path: `/v1/uploads/${id}/complete`, after: async (response) => expect(await stillOpen()).toBe(response.status !== 201) }
    }
    case 'DELETE /v1/uploads/{id}': {
      const id = await openSession(server, 'allowed')
      return { method: 'DELETE', path: `/v1/uploads/${id}`, after: async (response) => expect((await sessionOf(server, id)).status).toBe(response.status === 204 ? 404 : 200) }
    }
    case 'POST /v1/presign':
      return { method: 'POST', path: '/v1/presign', json: { method: 'GET', namespace: 'allowed', key: 'shared' } }
    case 'POST /v1/presign (other)':
      return { method: 'POST', path: '/v1/presign', json: { method: 'GET', namespace: 'other', key: 'shared' } }
    case 'POST /v1/api-keys':
      return { method: 'POST', path: '/v1/api-keys', json: { name: key, permissions: ['keys:manage'] } }
    case 'GET /v1/api-keys':
      return { method: 'GET', path: '/v1/api-keys' }
    case 'GET /v1/api-keys/{id}':
      return { method: 'GET', path: `/v1/api-keys/${fixtures.victimKeyId}` }
    case 'DELETE /v1/api-keys/{id}': {
      const { id } = await createKey(server, { tenant_id: A, permissions: ['objects:read'] })
      return { method: 'DELETE', path: `/v1/api-keys/${id}`, after: expectGoneIf(`/v1/api-keys/${id}`) }
    }
    case 'POST /v1/admin/gc':
      return { method: 'POST', path: '/v1/admin/gc' }
    case 'POST /v1/admin/scrub':
      return { method: 'POST', path: '/v1/admin/scrub' }
    case 'GET /v1/admin/status':
      return { method: 'GET', path: '/v1/admin/status' }
    case 'POST /v1/admin/lifecycle':
      return { method: 'POST', path: '/v1/admin/lifecycle' }
    case 'PUT /v1/admin/tenants/{id}':
      return { method: 'PUT', path: `/v1/admin/tenants/${A}`, json: { quota_objects: null } }
    case 'GET /v1/admin/tenants/{id}':
      return { method: 'GET', path: `/v1/admin/tenants/${A}` }
    case 'PUT /v1/namespaces/{ns}':
      return { method: 'PUT', path: '/v1/namespaces/allowed', json: { keep_versions: null } }
    case 'GET /v1/namespaces/{ns}':
      return { method: 'GET', path: '/v1/namespaces/allowed' }
    case 'GET /v1/namespaces/{ns} (other)':
      return { method: 'GET', path: '/v1/namespaces/other' }
    case 'GET /v1/namespaces':
      return { method: 'GET', path: '/v1/namespaces' }
    case 'GET /v1/objects/versions':
      return { method: 'GET', path: '/v1/objects/versions?namespace=allowed&key=shared' }
    case 'GET /v1/objects/versions (other)':
      return { method: 'GET', path: '/v1/objects/versions?namespace=other&key=shared' }
  }
  throw new Error(`no target for ${route}`)
}

function signJwt(claims: Record<string, unknown>, options: { secret?: string; expiresIn?: number | null; issuer?: string; audience?: string } = {}) {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setSubject(unique('user'))
    .setIssuer(options.issuer ?? issuer)
    .setAudience(options.audience ?? audience)
  const expiresIn = options.expiresIn === undefined ? 600 : options.expiresIn
  if (expiresIn !== null) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + expiresIn)
  return jwt.sign(new TextEncoder().encode(options.secret ?? jwtSecret))
}

async function buildFixtures(server: TestServer): Promise<Fixtures> {
  const objectPermissions = ['objects:read', 'objects:write', 'objects:delete']
  const keyOf = async (body: Record<string, unknown>) => (await createKey(server, body)).key
  const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` })
  const read = await keyOf({ tenant_id: A, permissions: ['objects:read'] })
  const b = await keyOf({ tenant_id: B, permissions: [...objectPermissions, 'keys:manage'] })

  const expired = await createKey(server, { tenant_id: A, permissions: objectPermissions, expires_at: new Date(Date.now() + 3600_000).toISOString() })
  await server.database.db.update(apiKeys).set({ expiresAt: sql`now() - interval '1 second'` }).where(eq(apiKeys.id, expired.id))
  const revoked = await createKey(server, { tenant_id: A, permissions: objectPermissions })
  expect((await fetch(`${server.url}/v1/api-keys/${revoked.id}`, { method: 'DELETE', headers: asAdmin })).status).toBe(204)
  const neverIssued = `jsk_${crypto.randomUUID().replaceAll('-', '')}_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')}`

  const headers: Record<Caller, Record<string, string>> = {
    admin: { ...asAdmin, 'x-tenant': A },
    'admin-bare': asAdmin,
    'admin-key': bearer(await keyOf({ tenant_id: A, permissions: ['admin'] })),
    'jwt-admin': { ...bearer(await signJwt({ permissions: ['admin'] })), 'x-tenant': A },
    read: bearer(read),
    'read-xkey': { 'x-api-key': read },
    write: bearer(await keyOf({ tenant_id: A, permissions: ['objects:write'] })),
    delete: bearer(await keyOf({ tenant_id: A, permissions: ['objects:delete'] })),
    keys: bearer(await keyOf({ tenant_id: A, permissions: ['keys:manage'] })),
    ns: bearer(await keyOf({ tenant_id: A, permissions: objectPermissions, namespaces: ['allowed'] })),
    b: bearer(b),
    'b-names-a': { ...bearer(b), 'x-tenant': A },
    jwt: bearer(await signJwt({ tenant_id: A, permissions: objectPermissions })),
    'jwt-scope': bearer(await signJwt({ tenant_id: A, scope: 'objects:read keys:manage' })),
    'expired-key': bearer(expired.key),
    'revoked-key': bearer(revoked.key),
    'unknown-key': bearer(neverIssued),
    'jwt-expired': bearer(await signJwt({ tenant_id: A, permissions: objectPermissions }, { expiresIn: -60 })),
    'jwt-no-exp': bearer(await signJwt({ tenant_id: A, permissions: objectPermissions }, { expiresIn: null })),
    'jwt-bad-sig': bearer(await signJwt({ tenant_id: A, permissions: objectPermissions }, { secret: 'not-the-configured-secret-0123456789' })),
    'jwt-wrong-iss': bearer(await signJwt({ tenant_id: A, permissions: objectPermissions }, { issuer: 'https://elsewhere.test' })),
    'jwt-wrong-aud': bearer(await signJwt({ tenant_id: A, permissions: objectPermissions }, { audience: 'another-service' })),
    none: {},
    'bearer-empty': { authorization: 'Bearer' },
    basic: { authorization: 'Basic xyz' },
  }
  return {
    headers,
    shared: { allowed: await upload(server, 'allowed', 'shared'), other: await upload(server, 'other', 'shared') },
    victimKeyId: (await createKey(server, { tenant_id: A, permissions: ['objects:read'] })).id,
  }
}

/** The tenant a caller acts for when it names none. */
const actingTenant = (caller: Caller) => (caller === 'b' ? B : A)

describe.each(storageBackends)('authorization matrix on %s', (backend) => {
  let server: TestServer
  let fixtures: Fixtures
  beforeAll(async () => {
    server = await startServer(backend, {
      auth: true,
      env: {
        JWT_SECRET: jwtSecret,
        JWT_ISSUER: issuer,
        JWT_AUDIENCE: audience,
        ALLOWED_ORIGINS: allowedOrigin,
        // The matrix sends hundreds of rejected credentials from one address on purpose.
        UNAUTHENTICATED_RATE_LIMIT_PER_SEC: '0',
      },
    })
    fixtures = await buildFixtures(server)
  }, 60_000)
  afterAll(() => server.stop())

  test.each(cells)('%s as %s → %d', async (route, caller, expected) => {
    const target = await targetOf(server, route, fixtures)
    const response = await send(server, target, fixtures.headers[caller])
    const body = target.method === 'HEAD' ? null : await response.text()
    expect({ status: response.status, body: response.status === expected ? undefined : body }).toEqual({ status: expected, body: undefined })

    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
    expect(response.headers.get('x-frame-options')).toBe('DENY')
    expect(response.headers.get('referrer-policy')).toBe('no-referrer')
    if (expected === 401) expect(response.headers.get('www-authenticate')).toStartWith('Bearer')
    if (body !== null && expected >= 400) expect(JSON.parse(body).code).toBe(errorCodes[expected]!)
    if (body !== null && (route.startsWith('POST /v1/objects') || route.startsWith('POST /v1/uploads') || route === 'PUT by-key' || route === 'POST /v1/api-keys') && expected === 201) {
      expect(JSON.parse(body).tenant_id).toBe(actingTenant(caller))
    }
    if (body !== null && route.startsWith('GET /v1/objects') && expected === 200) {
      const listed: { tenant_id: string; namespace: string }[] = JSON.parse(body).objects
      for (const object of listed) expect({ tenant: object.tenant_id, namespace: object.namespace }).toEqual({ tenant: actingTenant(caller), namespace: route.endsWith('(other)') ? 'other' : 'allowed' })
    }
    await target.after?.(response)
  })

  test('the matrix covers every route against every caller', () => {
    expect(cells.length).toBe(matrix.length * callers.length)
  })

  test.each(['/health', '/health/ready', '/ready'])('public %s needs no credential', async (path) => {
    const response = await fetch(`${server.url}${path}`)
    expect(response.status).toBe(200)
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
  })

  test('an unknown /v1 route is closed too: 401 before 404', async () => {
    const response = await fetch(`${server.url}/v1/no-such-route`)
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toStartWith('Bearer')
    expect((await response.json()).code).toBe('unauthenticated')
  })

  test('CORS preflight: an allowed origin gets Access-Control-Allow-Origin, another does not', async () => {
    const preflight = (origin: string) =>
      fetch(`${server.url}/v1/objects`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      })
    const allowed = await preflight(allowedOrigin)
    expect(allowed.status).toBeLessThan(300)
    expect(allowed.headers.get('access-control-allow-origin')).toBe(allowedOrigin)
    expect(allowed.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization')
    const other = await preflight('https://evil.example')
    expect(other.headers.get('access-control-allow-origin')).toBeNull()
  })

  test('CORS: a browser from an allowed origin can read a 401 answer', async () => {
    const response = await fetch(`${server.url}/v1/objects?namespace=allowed`, { headers: { origin: allowedOrigin } })
    expect(response.status).toBe(401)
    expect(response.headers.get('access-control-allow-origin')).toBe(allowedOrigin)
  })
})

describe.each(storageBackends)('tenants of an admin on %s', (backend) => {
  let server: TestServer
  beforeAll(async () => {
    server = await startServer(backend, { auth: true })
  }, 60_000)
  afterAll(() => server.stop())

  const call = (method: string, path: string, headers: Record<string, string> = asAdmin, body?: BodyInit) => fetch(`${server.url}${path}`, { method, headers, body })

  async function place(tenant: string, body: string): Promise<{ id: string; content_hash: string }> {
    const response = await call('POST', `/v1/objects?namespace=n&tenant_id=${tenant}`, asAdmin, body)
    expect(response.status).toBe(201)
    return response.json()
  }

  async function expectReadable(id: string, body: string, headers: Record<string, string> = asAdmin, query = '') {
    const got = await call('GET', `/v1/objects/${id}${query}`, headers)
    expect({ status: got.status, body: await got.text() }).toEqual({ status: 200, body })
  }

  const bearerOf = async (body: Record<string, unknown>) => ({ authorization: `Bearer ${(await createKey(server, body)).key}` })

  test('naming no tenant, GET and HEAD by id reach the object in whatever tenant it is', async () => {
    for (const tenant of [unique('t'), unique('t')]) {
      const body = `bytes of ${tenant}`
      const object = await place(tenant, body)
      const got = await call('GET', `/v1/objects/${object.id}`)
      expect({ status: got.status, etag: got.headers.get('etag'), body: await got.text() }).toEqual({ status: 200, etag: `"${object.content_hash}"`, body })
      const head = await call('HEAD', `/v1/objects/${object.id}`)
      expect({ status: head.status, length: head.headers.get('content-length'), etag: head.headers.get('etag') }).toEqual({
        status: 200,
        length: String(body.length),
        etag: `"${object.content_hash}"`,
      })
    }
  })

  test('naming no tenant, DELETE by id removes the object in whatever tenant it is, audited under that tenant', async () => {
    for (const tenant of [unique('t'), unique('t')]) {
      const object = await place(tenant, `doomed in ${tenant}`)
      expect((await call('DELETE', `/v1/objects/${object.id}`, { ...asAdmin, 'x-request-id': `delete-${tenant}` })).status).toBe(204)
      expect((await call('GET', `/v1/objects/${object.id}?tenant_id=${tenant}`)).status).toBe(404)
      const { events } = await (await call('GET', `/v1/admin/audit?tenant_id=${tenant}`)).json()
      expect(events.map(({ actor, tenant_id, action, target, request_id }: Record<string, unknown>) => ({ actor, tenant_id, action, target, request_id }))).toEqual([
        { actor: 'admin-token', tenant_id: tenant, action: 'object.delete', target: object.id, request_id: `delete-${tenant}` },
      ])
    }
  })

  test('naming the wrong tenant, by id is 404 as if missing; naming the right one works', async () => {
    const tenant = unique('t')
    const body = 'held by its tenant'
    const object = await place(tenant, body)
    for (const wrong of [{ query: '?tenant_id=elsewhere', headers: asAdmin }, { query: '', headers: { ...asAdmin, 'x-tenant': 'elsewhere' } }]) {
      await expectError(await call('GET', `/v1/objects/${object.id}${wrong.query}`, wrong.headers), 404, 'not_found')
      expect((await call('HEAD', `/v1/objects/${object.id}${wrong.query}`, wrong.headers)).status).toBe(404)
      await expectError(await call('DELETE', `/v1/objects/${object.id}${wrong.query}`, wrong.headers), 404, 'not_found')
    }
    await expectReadable(object.id, body, asAdmin, `?tenant_id=${tenant}`)
    await expectReadable(object.id, body, { ...asAdmin, 'x-tenant': tenant })
    expect((await call('HEAD', `/v1/objects/${object.id}`, { ...asAdmin, 'x-tenant': tenant })).status).toBe(200)
    expect((await call('DELETE', `/v1/objects/${object.id}?tenant_id=${tenant}`)).status).toBe(204)
    expect((await call('GET', `/v1/objects/${object.id}`)).status).toBe(404)
  })

  test('naming no tenant, upload, list, search and usage are 400 invalid_tenant, and nothing is stored', async () => {
    const before = await server.database.db.$count(objects)
    await expectError(await call('POST', '/v1/objects?namespace=n', asAdmin, 'no tenant'), 400, 'invalid_tenant')
    await expectError(await call('GET', '/v1/objects?namespace=n'), 400, 'invalid_tenant')
    await expectError(await call('POST', '/v1/objects/search', { ...asAdmin, 'content-type': 'application/json' }, JSON.stringify({ namespace: 'n' })), 400, 'invalid_tenant')
    await expectError(await call('GET', '/v1/usage'), 400, 'invalid_tenant')
    expect(await server.database.db.$count(objects)).toBe(before)
  })

  test("an API key holding admin reaches another tenant's object by id too, unless it names a tenant", async () => {
    const [own, other] = [unique('t'), unique('t')]
    const adminKey = await bearerOf({ tenant_id: own, permissions: ['admin'] })
    const object = await place(other, 'not the key tenant')
    await expectReadable(object.id, 'not the key tenant', adminKey)
    await expectError(await call('GET', `/v1/objects/${object.id}`, { ...adminKey, 'x-tenant': own }), 404, 'not_found')
  })

  test("a tenant's key cannot reach another tenant's object by id: 404, or 403 when it names that tenant", async () => {
    const [mine, theirs] = [unique('t'), unique('t')]
    const key = await bearerOf({ tenant_id: mine, permissions: ['objects:read', 'objects:write', 'objects:delete'] })
    const own = await place(mine, 'mine')
    const foreign = await place(theirs, 'theirs')
    await expectReadable(own.id, 'mine', key)
    await expectError(await call('GET', `/v1/objects/${foreign.id}`, key), 404, 'not_found')
    expect((await call('HEAD', `/v1/objects/${foreign.id}`, key)).status).toBe(404)
    await expectError(await call('DELETE', `/v1/objects/${foreign.id}`, key), 404, 'not_found')
    await expectError(await call('GET', `/v1/objects/${foreign.id}?tenant_id=${theirs}`, key), 403, 'forbidden')
    await expectReadable(foreign.id, 'theirs')
  })
})
