import { readFileSync } from 'node:fs'
import { openapi } from '@elysiajs/openapi'
import { FormatRegistry, type TSchema } from '@sinclair/typebox'
import { Elysia } from 'elysia'
import type { OpenAPIV3 } from 'openapi-types'
import { uuidPattern } from '../core/identifiers'

// Loading the plugin replaces TypeBox's global "uuid" format with a check that
// builds a Zod schema on every call, which made validating each response's id
// cost more than the rest of a small upload. A regular expression does the same.
FormatRegistry.Set('uuid', (value) => uuidPattern.test(value))

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }

const errorRef = { $ref: '#/components/schemas/Error' }

const errorDescriptions: Record<number, string> = {
  400: 'Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch)',
  401: 'No valid credential (unauthenticated)',
  403: 'The credential may not do this (forbidden)',
  404: 'No such object or route (not_found)',
  405: 'Known route, other method (method_not_allowed)',
  409: 'The key is already held (key_exists)',
  412: 'A precondition failed (precondition_failed)',
  413: 'Too large (payload_too_large, quota_exceeded)',
  415: 'Unsupported Content-Type (unsupported_media_type)',
  416: 'Range not satisfiable (range_not_satisfiable)',
  429: 'Too many requests (rate_limited)',
  500: 'Internal error or corrupt object (internal, corrupt_object)',
  503: 'Unavailable (unavailable)',
  507: 'Out of storage (insufficient_storage)',
}

/** The error envelope responses for the given statuses, plus 500 which any route may answer. */
export function errorResponses(...statuses: number[]): Record<string, OpenAPIV3.ResponseObject> {
  const responses: Record<string, OpenAPIV3.ResponseObject> = {}
  for (const status of [...statuses, 500]) {
    responses[status] = { description: errorDescriptions[status] ?? 'Error', content: { 'application/json': { schema: errorRef } } }
  }
  return responses
}

/**
 * JSON responses documented without a route `response` schema, for the hot
 * upload routes: Elysia would otherwise validate and re-encode every response
 * the service itself built, a tenth of a small upload's time.
 */
export function jsonResponses(schemas: Record<number, TSchema>): Record<string, OpenAPIV3.ResponseObject> {
  return Object.fromEntries(
    Object.entries(schemas).map(([status, schema]) => [status, { description: 'The stored object', content: { 'application/json': { schema: schema as OpenAPIV3.SchemaObject } } }]),
  )
}

/** What every authenticated route may answer before it runs. */
export const authErrors = [401, 403, 429]

const query = (name: string, description: string): OpenAPIV3.ParameterObject => ({ name, in: 'query', required: false, description, schema: { type: 'string' } })
const header = (name: string, description: string): OpenAPIV3.ParameterObject => ({ name, in: 'header', required: false, description, schema: { type: 'string' } })

/** The tenant of a route reached by id; an admin needs none. */
/** The tenant of a request placed in one, as for uploads and lists. */
/** A page's limit and the cursor of the page before, as every listing takes them. */
export const pageQuery: OpenAPIV3.ParameterObject[] = [
  { in: 'query', name: 'limit', required: false, description: 'Items per page, 1–1000 (100)', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
  { in: 'query', name: 'cursor', required: false, description: 'next_cursor of the page before', schema: { type: 'string' } },
]
export const placedTenantQuery = query('tenant_id', 'Tenant (or X-Tenant); an admin must name one')
export const tenantQuery = query('tenant_id', 'Tenant (or X-Tenant); an admin naming none reaches the object in whatever tenant it is')

const binary = { schema: { type: 'string', format: 'binary' } } as const

/** The parameters POST /v1/presign puts into a URL; with them a request needs no credential. */
const presignedQuery = [
  query('presign_signer', 'Presigned URL (from POST /v1/presign): the credential that signed it'),
  query('presign_tenant', 'Presigned URL: the tenant it acts in'),
  query('presign_namespace', 'Presigned URL: the namespace it acts in'),
  query('presign_expires', 'Presigned URL: when it expires, in unix seconds'),
  query('presign_max_bytes', 'Presigned upload: the most bytes it may store'),
  query('presign_signature', 'Presigned URL: HMAC-SHA256 over the method, path and the parameters above'),
]

/** Raw-body uploads: the object bytes, never multipart, with placement in the query or headers. */
/** X-Expires-At / X-Expires-In, on uploads, copies and sessions alike. */
export const expiryHeaders = [
  header('X-Expires-At', 'RFC 3339 instant from which the object is gone (404, left out of lists), then deleted by the lifecycle pass'),
  header('X-Expires-In', 'Seconds from now until the object expires (instead of X-Expires-At)'),
]

export const uploadDoc = (placementInQuery: boolean) => ({
  requestBody: {
    // Not required: a server-side copy (X-Copy-Source) sends none.
    required: false,
    description: 'The raw object bytes, streamed; Content-Type is stored with the object. None with X-Copy-Source',
    content: { 'application/octet-stream': binary, '*/*': binary },
  } satisfies OpenAPIV3.RequestBodyObject,
  parameters: [
    ...(placementInQuery
      ? [
          query('namespace', 'Namespace (or X-Namespace)'),
          query('tenant_id', 'Tenant (or X-Tenant); an admin must name one'),
          query('key', 'Optional key, unique in namespace and tenant (or X-Key, percent-encoded)'),
          query('overwrite', 'true replaces an object holding the key (or X-Overwrite)'),
          header('X-Namespace', 'Namespace'),
          header('X-Key', 'Key, percent-encoded'),
          header('X-Overwrite', 'true or false'),
        ]
      : [header('If-None-Match', '* → create only'), header('If-Match', 'Replace only if the current ETag matches'), ...presignedQuery]),
    query('storage_class', 'hot (default) or cold (or X-Storage-Class)'),
    header('X-Tenant', 'Tenant'),
    header('X-Storage-Class', 'hot or cold'),
    header('X-Metadata', 'A JSON object (≤ 8 KiB) stored as metadata'),
    header('X-Content-SHA256', 'Expected SHA-256 of the body, hex'),
    header('Content-Digest', 'Expected digest as sha-256=:<base64>:'),
    ...expiryHeaders,
    header(
      'X-Copy-Source',
      'Server-side copy, with no body: an object id, or sha256:<hex> of content the tenant holds in the target class. ' +
        "Needs objects:read on the source; absent or unreachable → 404. Content-Type and X-Metadata default to the source's",
    ),
  ],
})

const bodyHeaders: Record<string, OpenAPIV3.HeaderObject> = {
  ETag: { description: 'Strong: "sha256:<hex>"', schema: { type: 'string' } },
  'X-Content-Hash': { description: 'sha256:<hex>', schema: { type: 'string' } },
  'Last-Modified': { schema: { type: 'string' } },
  'Accept-Ranges': { schema: { type: 'string' } },
  'Content-Length': { schema: { type: 'integer' } },
}

/** Downloads: streamed bytes, ranges and conditional requests. */
export const downloadDoc = (byId: boolean) => ({
  parameters: [
    ...(byId ? [tenantQuery] : []),
    query('download', '1 or true adds Content-Disposition: attachment'),
    ...presignedQuery.filter((parameter) => parameter.name !== 'presign_max_bytes'),
    header('Range', 'bytes=a-b, a- or -n'),
    header('If-Match', 'Entity tags'),
    header('If-None-Match', 'Entity tags'),
    header('If-Modified-Since', 'HTTP date'),
    header('If-Unmodified-Since', 'HTTP date'),
    header('If-Range', 'Entity tag or HTTP date'),
  ],
  responses: {
    200: { description: 'The object bytes (streamed)', headers: bodyHeaders, content: { 'application/octet-stream': binary } },
    206: {
      description: 'The requested range',
      headers: { ...bodyHeaders, 'Content-Range': { schema: { type: 'string' } } },
      content: { 'application/octet-stream': binary },
    },
    304: { description: 'Not modified (If-None-Match / If-Modified-Since)' },
    ...errorResponses(400, ...authErrors, 404, 412, 416),
  } satisfies OpenAPIV3.ResponsesObject,
})

/** Public routes need no credential. */
export const publicRoute: { security: OpenAPIV3.SecurityRequirementObject[] } = { security: [] }
const publicPaths = new Set(['/health', '/health/ready', '/ready', '/metrics'])

const documentation: Omit<Partial<OpenAPIV3.Document>, 'paths'> = {
  info: {
    title: 'JustStorage',
    version,
    description: 'Content-addressable object store. Every error is the JSON envelope `Error`.',
  },
  security: [{ bearer: [] }, { apiKey: [] }],
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'An API key, the admin token or a JWT' },
      apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
    },
    schemas: {
      Error: {
        type: 'object',
        required: ['error', 'code', 'request_id'],
        properties: {
          error: { type: 'string', description: 'Human message' },
          code: { type: 'string', description: 'Machine code, e.g. not_found' },
          request_id: { type: 'string' },
        },
      },
    },
  },
}

type Operation = Record<string, unknown> & { parameters?: OpenAPIV3.ParameterObject[]; responses?: Record<string, unknown> }
type Route = { method: string; path: string; hooks: { detail?: Operation } }
type Document = { paths: Record<string, Record<string, Operation>> }

/**
 * The generator lets a route's response schemas and path/query schemas replace
 * its detail.responses and detail.parameters, and a route with a parse hook
 * of its own gets a body of any media type; merge them back, and name the
 * by-key wildcard's parts so clients can fill them in.
 */
function complete(document: Document, routes: Route[]): Document {
  for (const route of routes) {
    const path = documentedPath(route.path)
    const operation = document.paths[path]?.[route.method.toLowerCase()] ?? document.paths[route.path]?.[route.method.toLowerCase()]
    const detail = route.hooks.detail
    if (!operation || !detail) continue
    if (detail.responses) operation.responses = { ...detail.responses, ...operation.responses }
    if (detail.requestBody) operation.requestBody = detail.requestBody
    for (const parameter of detail.parameters ?? []) {
      operation.parameters ??= []
      if (!operation.parameters.some((p) => p.name === parameter.name && p.in === parameter.in)) operation.parameters.push(parameter)
    }
  }
  for (const [path, item] of Object.entries(document.paths)) {
    if (!path.includes('*')) continue
    delete document.paths[path]
    const named = documentedPath(path)
    for (const operation of Object.values(item)) {
      const pathParameters: OpenAPIV3.ParameterObject[] = [
        { name: 'namespace', in: 'path', required: true, schema: { type: 'string' } },
        { name: 'tenant_id', in: 'path', required: true, schema: { type: 'string' } },
        { name: 'key', in: 'path', required: true, description: 'The rest of the path, percent-encoded; may contain /', schema: { type: 'string' } },
      ]
      operation.parameters = [...pathParameters, ...(operation.parameters ?? []).filter((p) => !(p.in === 'path' || (p.in === 'query' && p.name === 'tenant_id')))]
      operation.operationId = String(operation.operationId).replace(/[^A-Za-z0-9]+(.)?/g, (_, next: string | undefined) => (next ?? '').toUpperCase())
    }
    document.paths[named] = { ...document.paths[named], ...item }
  }
  for (const [path, item] of Object.entries(document.paths)) {
    if (publicPaths.has(path)) for (const operation of Object.values(item)) operation.security = []
  }
  return document
}

function documentedPath(path: string): string {
  return path.replace(/:([^/]+)/g, '{$1}').replace(/\/\*$/, '/{namespace}/{tenant_id}/{key}')
}

/** GET /openapi.json (OpenAPI 3.1), public and left out of the document; functions/swagger.ts serves its UI. */
export const openapiRoutes = () => {
  const plugin = new Elysia({ name: 'openapi-docs' })
  return plugin
    .onAfterHandle(({ path, response }) => {
      if (path === '/openapi.json') return complete(response as Document, (plugin as unknown as { getGlobalRoutes(): Route[] }).getGlobalRoutes())
    })
    .use(openapi({ specPath: '/openapi.json', provider: null, openapiVersion: '3.1.0', documentation }))
}
