import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import SwaggerParser from '@apidevtools/swagger-parser'
import createClient from 'openapi-fetch'
import openapiTS, { astToString } from 'openapi-typescript'
import { startServer, type TestServer } from '../support/server'

type Operation = { security?: unknown[]; responses?: Record<string, { content?: Record<string, { schema?: { $ref?: string; type?: string; format?: string } }> }> }
type Document = { openapi: string; info: { title: string; version: string }; paths: Record<string, Record<string, Operation>>; components: Record<string, Record<string, unknown>> }

// Every route of the app, as the document must name it.
const routes: Record<string, string[]> = {
  '/health': ['get'],
  '/health/ready': ['get'],
  '/ready': ['get'],
  '/v1/objects': ['get', 'post'],
  '/v1/objects/{id}': ['get', 'head', 'delete'],
  '/v1/objects/by-key/{namespace}/{tenant_id}/{key}': ['get', 'head', 'put', 'delete'],
  '/v1/objects/search': ['post'],
  '/v1/uploads': ['get', 'post'],
  '/v1/uploads/{id}': ['get', 'head', 'patch', 'delete'],
  '/v1/uploads/{id}/complete': ['post'],
  '/v1/presign': ['post'],
  '/v1/api-keys': ['get', 'post'],
  '/v1/api-keys/{id}': ['get', 'delete'],
  '/v1/admin/gc': ['post'],
  '/v1/admin/scrub': ['post'],
  '/v1/admin/status': ['get'],
  '/v1/admin/audit': ['get'],
}
const publicPaths = ['/health', '/health/ready', '/ready', '/metrics']

describe('OpenAPI document and generated client on the embedded default', () => {
  let server: TestServer
  let document: Document
  const workDir = mkdtempSync(`${tmpdir()}/juststorage-openapi-`)
  beforeAll(async () => {
    server = await startServer('embedded')
    const response = await fetch(`${server.url}/openapi.json`)
    expect(response.status).toBe(200)
    document = await response.json()
  })
  afterAll(async () => {
    await server.stop()
    rmSync(workDir, { recursive: true, force: true })
  })

  test('is a valid OpenAPI 3 document', async () => {
    expect(document.openapi).toStartWith('3.')
    expect(document.info.title).toBe('JustStorage')
    expect(document.info.version).toBe(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version)
    // The validator dereferences in place: give it a copy.
    await SwaggerParser.validate(structuredClone(document) as never)
  })

  test('names every route with its methods, and not itself', () => {
    for (const [path, methods] of Object.entries(routes)) {
      expect(Object.keys(document.paths)).toContain(path)
      for (const method of methods) expect(Object.keys(document.paths[path]!)).toContain(method)
    }
    expect(document.paths['/openapi.json']).toBeUndefined()
    expect(document.paths['/swagger']).toBeUndefined()
    expect(Object.keys(document.paths).filter((path) => path.includes('*') || path.includes(':'))).toEqual([])
  })

  test('declares both credentials, and only public routes need none', () => {
    expect(document.components.securitySchemes).toEqual({
      bearer: expect.objectContaining({ type: 'http', scheme: 'bearer' }),
      apiKey: expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-API-Key' }),
    })
    expect((document as unknown as { security: unknown }).security).toEqual([{ bearer: [] }, { apiKey: [] }])
    for (const [path, item] of Object.entries(document.paths)) {
      for (const operation of Object.values(item)) {
        if (publicPaths.includes(path)) expect(operation.security).toEqual([])
        else expect(operation.security).toBeUndefined()
      }
    }
  })

  test('every /v1 operation answers errors with the Error envelope', () => {
    expect(document.components.schemas!.Error).toMatchObject({ required: ['error', 'code', 'request_id'] })
    for (const [path, item] of Object.entries(document.paths)) {
      if (!path.startsWith('/v1/')) continue
      for (const operation of Object.values(item)) {
        for (const status of ['401', '403', '500']) {
          expect(operation.responses?.[status]?.content?.['application/json']?.schema?.$ref).toBe('#/components/schemas/Error')
        }
      }
    }
  })

  test('describes raw uploads and binary downloads', () => {
    const upload = document.paths['/v1/objects']!.post as Operation & { requestBody: { content: Record<string, unknown> }; parameters: { name: string }[] }
    expect(upload.requestBody.content['application/octet-stream']).toEqual({ schema: { type: 'string', format: 'binary' } })
    expect(upload.requestBody.content['*/*']).toEqual({ schema: { type: 'string', format: 'binary' } })
    const names = upload.parameters.map((p) => p.name)
    for (const name of ['namespace', 'tenant_id', 'key', 'storage_class', 'X-Overwrite', 'X-Metadata', 'X-Content-SHA256', 'Content-Digest']) expect(names).toContain(name)
    const download = document.paths['/v1/objects/{id}']!.get as Operation & { parameters: { name: string }[] }
    expect(Object.keys(download.responses!)).toEqual(expect.arrayContaining(['200', '206', '304', '404', '416']))
    expect(download.responses!['206']!.content!['application/octet-stream']).toEqual({ schema: { type: 'string', format: 'binary' } })
    for (const name of ['id', 'Range', 'If-Match', 'If-None-Match', 'If-Modified-Since', 'If-Unmodified-Since', 'If-Range']) {
      expect(download.parameters.map((p) => p.name)).toContain(name)
    }
  })

  test('describes the JSON bodies the service parses itself, with their fields, and the paging of every listing', () => {
    const bodies: [string, string, string[]][] = [
      ['/v1/objects/search', 'post', ['namespace', 'key_prefix', 'metadata', 'text']],
      ['/v1/presign', 'post', ['method', 'namespace', 'key', 'id', 'expires_in']],
      ['/v1/api-keys', 'post', ['name', 'permissions', 'namespaces', 'expires_at']],
      ['/v1/namespaces/{namespace}', 'put', ['versioning', 'keep_versions', 'quota_bytes']],
      ['/v1/admin/tenants/{tenant_id}', 'put', ['quota_bytes', 'quota_objects']],
    ]
    for (const [path, method, fields] of bodies) {
      const operation = document.paths[path]![method] as Operation & { requestBody: { required: boolean; content: Record<string, { schema: { properties: Record<string, unknown>; additionalProperties: boolean } }> } }
      expect({ path, types: Object.keys(operation.requestBody.content), required: operation.requestBody.required }).toEqual({ path, types: ['application/json'], required: true })
      const schema = operation.requestBody.content['application/json']!.schema
      expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(fields))
      expect(schema.additionalProperties).toBe(false)
    }
    for (const path of ['/v1/objects', '/v1/uploads', '/v1/api-keys', '/v1/admin/audit']) {
      const names = ((document.paths[path]!.get as Operation & { parameters: { name: string }[] }).parameters ?? []).map((p) => p.name)
      expect({ path, names }).toEqual({ path, names: expect.arrayContaining(['limit', 'cursor']) })
    }
    const status = (document.paths['/v1/admin/status']!.get as Operation).responses!['200']!.content!['application/json']!.schema as { properties?: Record<string, unknown> }
    expect(Object.keys(status.properties ?? {})).toEqual(['jobs', 'queues', 'disks'])
  })

  test('serves the Swagger UI from the pinned package, under a content security policy', async () => {
    const response = await fetch(`${server.url}/swagger`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toStartWith('text/html')
    const policy = response.headers.get('content-security-policy') ?? ''
    for (const directive of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) expect(policy).toContain(directive)
    const html = await response.text()
    // Every script and stylesheet is the service's own: relative URLs, no scheme, no host.
    const references = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!)
    expect(references.sort()).toEqual(['swagger/init.js', 'swagger/swagger-ui-bundle.js', 'swagger/swagger-ui.css'])
    expect(html).not.toMatch(/<script>/)

    const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
    expect(packageJson.dependencies['swagger-ui-dist']).toMatch(/^\d+\.\d+\.\d+$/)
    const dist = new URL('../../node_modules/swagger-ui-dist/', import.meta.url)
    for (const [file, type] of [['swagger-ui-bundle.js', 'text/javascript'], ['swagger-ui.css', 'text/css']] as const) {
      const asset = await fetch(`${server.url}/swagger/${file}`)
      expect([asset.status, asset.headers.get('content-type')]).toEqual([200, expect.stringContaining(type)])
      expect(Buffer.from(await asset.arrayBuffer()).equals(readFileSync(new URL(file, dist)))).toBe(true)
    }
    const init = await fetch(`${server.url}/swagger/init.js`)
    expect(await init.text()).toContain("url: 'openapi.json'")
    expect((await fetch(`${server.url}/swagger/index.html`)).status).toBe(404)
  })

  test('a client generated from it uploads, lists, downloads and deletes', async () => {
    const source = astToString(await openapiTS(structuredClone(document) as never))
    writeFileSync(`${workDir}/schema.d.ts`, source)
    expect(source).toContain('"/v1/objects/{id}": {')
    expect(source).toContain('Error: {')

    const client = createClient<Record<string, never>>({ baseUrl: server.url }) as unknown as Client
    const bytes = crypto.getRandomValues(new Uint8Array(70_000))
    const place = { namespace: 'openapi-client', tenant_id: 'acme' }
    const uploaded = await client.POST('/v1/objects', {
      params: { query: { ...place, key: 'generated/one.bin' } },
      body: bytes,
      bodySerializer: (body: Uint8Array) => body,
      headers: { 'content-type': 'application/octet-stream' },
    })
    expect(uploaded.response.status).toBe(201)
    const id = (uploaded.data as { id: string }).id
    expect(uploaded.data).toMatchObject({ key: 'generated/one.bin', size_bytes: bytes.length, tenant_id: 'acme' })

    const listed = await client.GET('/v1/objects', { params: { query: place } })
    expect(listed.response.status).toBe(200)
    expect((listed.data as { objects: { id: string }[] }).objects.map((o) => o.id)).toEqual([id])

    const downloaded = await client.GET('/v1/objects/{id}', { params: { path: { id }, query: { tenant_id: 'acme' } }, parseAs: 'arrayBuffer' })
    expect(downloaded.response.status).toBe(200)
    expect(new Uint8Array(downloaded.data as ArrayBuffer)).toEqual(bytes)

    const deleted = await client.DELETE('/v1/objects/{id}', { params: { path: { id }, query: { tenant_id: 'acme' } } })
    expect(deleted.response.status).toBe(204)

    const gone = await client.GET('/v1/objects/{id}', { params: { path: { id }, query: { tenant_id: 'acme' } }, parseAs: 'arrayBuffer' })
    expect(gone.response.status).toBe(404)
    expect(gone.error).toMatchObject({ code: 'not_found' })
  })

  test('a client generated from it drives a resumable upload session end to end', async () => {
    const source = astToString(await openapiTS(structuredClone(document) as never))
    for (const path of ['"/v1/uploads": {', '"/v1/uploads/{id}": {', '"/v1/uploads/{id}/complete": {']) expect(source).toContain(path)

    const client = createClient<Record<string, never>>({ baseUrl: server.url }) as unknown as Client
    const bytes = crypto.getRandomValues(new Uint8Array(3 * 2 ** 20 + 7))
    const hex = new Bun.CryptoHasher('sha256').update(bytes).digest('hex')
    const created = await client.POST('/v1/uploads', {
      params: { query: { namespace: 'openapi-client', tenant_id: 'acme', key: 'generated/session.bin' }, header: { 'X-Upload-Content-Length': bytes.length } },
    })
    expect(created.response.status).toBe(201)
    const { id } = created.data as { id: string }
    let offset = 0
    for (const size of [2 ** 20, 2 * 2 ** 20 + 7]) {
      const appended = await client.PATCH('/v1/uploads/{id}', {
        params: { path: { id }, query: { tenant_id: 'acme' }, header: { 'Upload-Offset': offset } },
        body: bytes.slice(offset, offset + size),
        bodySerializer: (body: Uint8Array) => body,
        headers: { 'content-type': 'application/offset+octet-stream' },
      })
      expect(appended.response.status).toBe(204)
      offset = Number(appended.response.headers.get('upload-offset'))
    }
    const status = await client.GET('/v1/uploads/{id}', { params: { path: { id }, query: { tenant_id: 'acme' } } })
    expect(status.data).toMatchObject({ id, offset: bytes.length, length: bytes.length })
    const completed = await client.POST('/v1/uploads/{id}/complete', { params: { path: { id }, query: { tenant_id: 'acme' }, header: { 'X-Content-SHA256': hex } } })
    expect(completed.response.status).toBe(201)
    expect(completed.data).toMatchObject({ key: 'generated/session.bin', size_bytes: bytes.length, content_hash: `sha256:${hex}` })
    const object = completed.data as { id: string }
    const downloaded = await client.GET('/v1/objects/{id}', { params: { path: { id: object.id }, query: { tenant_id: 'acme' } }, parseAs: 'arrayBuffer' })
    expect(new Uint8Array(downloaded.data as ArrayBuffer)).toEqual(bytes)
  })
})

// The generated types exist only at test time; the runtime client is driven untyped.
type Call = (path: string, init: Record<string, unknown>) => Promise<{ data?: unknown; error?: unknown; response: Response }>
type Client = { GET: Call; POST: Call; PATCH: Call; DELETE: Call }
