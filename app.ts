import { Elysia } from 'elysia'
import { ApiError, toApiError } from './core/errors'
import type { ObjectStore } from './core/objects'
import { deleteRoutes } from './functions/delete'
import { downloadRoutes } from './functions/download'
import { healthRoutes } from './functions/health'
import { openapiRoutes } from './functions/openapi'
import { swaggerRoutes } from './functions/swagger'
import { consoleRoutes } from './functions/console'
import { listRoutes } from './functions/list'
import { versionRoutes } from './functions/versions'
import { namespaceRoutes } from './functions/namespaces'
import { tenantRoutes } from './functions/tenants'
import { searchRoutes } from './functions/search'
import { usageRoutes } from './functions/usage'
import { uploadRoutes } from './functions/upload'
import { uploadSessionRoutes } from './functions/uploads'
import { SessionHashes } from './core/uploads/hashes'
import type { Sessions } from './core/uploads/sessions'
import { adminStatusRoutes } from './functions/admin-status'
import { gcRoutes, type GcDeps } from './functions/gc'
import { scrubRoutes, type ScrubDeps } from './functions/scrub'
import { lifecycleRoutes, type LifecycleDeps } from './functions/lifecycle'
import { QuotaHolds } from './core/lifecycle/quota-holds'
import { ReadTracker } from './core/lifecycle/tiering'
import { apiKeyRoutes } from './functions/api-keys'
import { auditRoutes } from './functions/audit'
import { cors } from '@elysiajs/cors'
import { authenticateRequest, rememberPrincipal, type Authenticator } from './core/auth/authenticate'
import { presignSecret } from './core/auth/presign'
import { presignRoutes } from './functions/presign'
import type { Principal } from './core/auth/principal'
import { RateLimiter, UploadSlots } from './core/rate-limit'
import { adminTokenHash } from './core/admin-token'
import { LastUsedTracker } from './core/auth/api-keys'
import { jwtVerifier } from './core/auth/jwt'
import { storageDirectories, type Config, type StorageLocation } from './core/config'
import type { Database, Db } from './core/db/client'
import type { NextRuns } from './core/runs'
import { metricsRoutes } from './functions/metrics'
import { refuseDeclaredOversize } from './core/http/json-body'
import { routePattern, type RouteList } from './core/http/route-pattern'
import { configureLog, errorFields, log } from './core/log'
import { watchStorageRoots } from './core/metrics'
import type { BlobStore, BlobStores } from './core/store/blob-store'
import { FileBlobStore } from './core/store/fs'
import { S3BlobStore } from './core/store/s3'
import type { StorageRoots } from './core/store/paths'

export interface AppDeps {
  store: ObjectStore
  sessions: Sessions
  /** Reads of objects, for tiering by idleness. */
  reads: ReadTracker
  /** The directories of the storage classes kept on directories, for the disk figures of status and metrics. */
  roots: Partial<StorageRoots>
  /** The database pool for GC and scrub passes, apart from the one serving requests. */
  background: Db
  draining: () => boolean
  auth: Authenticator
  limits: { perPrincipal: RateLimiter; unauthenticatedPerIp: RateLimiter; uploads: UploadSlots }
  allowedOrigins: string[]
  /** Whether the API's listener answers GET /metrics; false when METRICS_LISTEN_ADDR gives them their own. */
  serveMetrics: boolean
  gc: GcDeps['settings']
  scrubMaxBytesPerSec: number
}

const clientRequestId = /^[A-Za-z0-9._:-]{1,128}$/

// HSTS is left to the TLS-terminating proxy in front of the service.
const securityHeaders = { 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' }

function corsFor(allowedOrigins: string[]) {
  if (allowedOrigins.length === 0) return new Elysia({ name: 'cors-off' })
  return cors({
    origin: allowedOrigins.includes('*') ? true : allowedOrigins,
    allowedHeaders: ['authorization', 'x-api-key', 'content-type', 'content-digest', 'x-content-sha256', 'x-namespace', 'x-tenant', 'x-key', 'x-storage-class', 'x-overwrite', 'x-metadata', 'x-request-id', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'if-range', 'range', 'upload-offset', 'x-upload-content-type', 'x-upload-content-length', 'x-copy-source'],
    exposeHeaders: ['etag', 'location', 'content-range', 'content-disposition', 'x-content-hash', 'x-request-id', 'retry-after', 'last-modified', 'accept-ranges', 'upload-offset', 'upload-length'],
    maxAge: 600,
  })
}

/**
 * Composes every operation into one app with request ids and the single error envelope.
 * nextRuns: when the background jobs this process schedules run next, for the status page.
 */
export function createApp(deps: AppDeps, nextRuns: NextRuns = {}) {
  const app = new Elysia()
    .onRequest(({ request, set }) => {
      const given = request.headers.get('x-request-id')
      set.headers['x-request-id'] = given !== null && clientRequestId.test(given) ? given : crypto.randomUUID()
      Object.assign(set.headers, securityHeaders)
    })
    .use(corsFor(deps.allowedOrigins))
    .use(metricsRoutes((): RouteList => app.routes, deps.serveMetrics))
    // While draining for shutdown, uploads are refused so clients retry elsewhere; reads go on.
    .onRequest(({ request }) => {
      if (deps.draining() && isUpload(request.method, new URL(request.url).pathname)) {
        throw new ApiError('unavailable', 'This replica is shutting down; retry', { 'retry-after': '1' })
      }
    })
    // Only uploads stream large bodies; any other is refused by its declared length before it is read.
    .onRequest(({ request }) => {
      if (!isUpload(request.method, new URL(request.url).pathname)) refuseDeclaredOversize(request.headers)
    })
    // Every /v1 route is closed by default: the principal is resolved before routing.
    .onRequest(async ({ request, server }) => {
      if (!new URL(request.url).pathname.startsWith('/v1/') || request.method === 'OPTIONS') return
      // An address that failed too often gets no credential checked, not even a right
      // one: otherwise a guesser would still learn which of its guesses works.
      const address = server?.requestIP(request)?.address ?? 'unknown'
      deps.limits.unauthenticatedPerIp.refuseWhenEmpty(address)
      let principal: Principal
      try {
        principal = await authenticateRequest(request, deps.auth)
      } catch (error) {
        // forbidden here is a presigned URL that was changed, forged or has expired.
        if (error instanceof ApiError && (error.code === 'unauthenticated' || error.code === 'forbidden')) deps.limits.unauthenticatedPerIp.charge(address)
        throw error
      }
      deps.limits.perPrincipal.take(principal.id)
      rememberPrincipal(request, principal)
    })
    .onError({ as: 'global' }, ({ code, error, set, request }) => {
      const apiError = errorForClient(code, error, request, app.routes)
      if (apiError.status >= 500 && apiError.code !== 'unavailable' && apiError.code !== 'insufficient_storage') {
        log.error({ request_id: set.headers['x-request-id'], method: request.method, path: new URL(request.url).pathname, ...errorFields(error) })
      }
      set.status = apiError.status
      Object.assign(set.headers, apiError.headers)
      set.headers['content-type'] = 'application/json'
      return { error: apiError.message, code: apiError.code, request_id: set.headers['x-request-id'] as string }
    })
    .use(healthRoutes({ db: deps.store.db, stores: deps.store.blobs, draining: deps.draining }))
    .use(openapiRoutes())
    .use(swaggerRoutes())
    .use(consoleRoutes())
    .use(uploadRoutes(deps.store, deps.limits.uploads))
    .use(uploadSessionRoutes(deps.sessions, deps.limits.uploads))
    .use(downloadRoutes(deps.store, deps.reads))
    .use(deleteRoutes(deps.store))
    .use(listRoutes(deps.store))
    .use(versionRoutes(deps.store))
    .use(namespaceRoutes(deps.store.db))
    .use(tenantRoutes(deps.store.db))
    .use(searchRoutes(deps.store))
    .use(usageRoutes(deps.store.db))
    .use(apiKeyRoutes(deps.store.db))
    .use(presignRoutes(deps.auth, deps.store.maxUploadBytes))
    .use(auditRoutes(deps.store.db))
    .use(gcRoutes(gcDeps(deps)))
    .use(scrubRoutes(scrubDeps(deps)))
    .use(lifecycleRoutes(lifecycleDeps(deps)))
    .use(adminStatusRoutes({ db: deps.store.db, roots: deps.roots, gcGraceSecs: deps.gc.graceSecs, nextRuns }))
  return app
}

/** Everything the app needs, built from the configuration and an open database. */
export async function assembleDeps(config: Config, database: Database, draining: () => boolean): Promise<AppDeps> {
  configureLog(config.logLevel)
  const roots = storageDirectories(config)
  watchStorageRoots(roots)
  const store: ObjectStore = {
    db: database.db,
    blobs: blobStoresOf(config),
    maxUploadBytes: config.maxUploadBytes,
    inlineMaxBytes: config.inlineMaxBytes,
    quotaHolds: new QuotaHolds(database.db),
  }
  return {
    store,
    sessions: { store, hashes: new SessionHashes(), ttlSecs: config.uploadSessionTtlSecs },
    reads: new ReadTracker(),
    roots,
    background: database.background,
    draining,
    auth: {
      db: database.db,
      adminTokenHash: await adminTokenHash(database.db, config.adminToken, config.dataDir),
      jwt: jwtVerifier(config.jwt),
      lastUsed: new LastUsedTracker(),
      disabled: config.authDisabled,
      presignSecret: await presignSecret(database.db, config.presignSecret),
    },
    limits: {
      perPrincipal: new RateLimiter(config.rateLimitPerSec, config.rateLimitBurst),
      unauthenticatedPerIp: new RateLimiter(config.unauthenticatedRateLimitPerSec, Math.max(1, config.unauthenticatedRateLimitPerSec * 2), 'client_ip'),
      uploads: new UploadSlots(config.maxConcurrentUploadsPerTenant),
    },
    allowedOrigins: config.allowedOrigins,
    serveMetrics: config.metricsListen === undefined,
    gc: {
      graceSecs: config.gcGraceSecs,
      batchSize: config.gcBatchSize,
      stuckUploadTimeoutSecs: config.stuckUploadTimeoutSecs,
      tombstoneRetentionSecs: config.tombstoneRetentionSecs,
    },
    scrubMaxBytesPerSec: config.scrubMaxBytesPerSec,
  }
}

/** Where each storage class keeps its blobs: the one place that knows which backend a class is on. */
export function blobStoresOf(config: Config): BlobStores {
  const open = (location: StorageLocation): BlobStore =>
    location.kind === 'directory' ? new FileBlobStore(location.path) : new S3BlobStore(location.bucket, location.prefix, config.s3!)
  return { hot: open(config.storage.hot), cold: open(config.storage.cold) }
}

export function gcDeps(deps: AppDeps): GcDeps {
  return { db: deps.background, stores: deps.store.blobs, settings: deps.gc }
}

export function lifecycleDeps(deps: AppDeps): LifecycleDeps {
  return { db: deps.background, stores: deps.store.blobs, reads: deps.reads, settings: { batchSize: deps.gc.batchSize } }
}

export function scrubDeps(deps: AppDeps): ScrubDeps {
  return { db: deps.background, stores: deps.store.blobs, maxBytesPerSec: deps.scrubMaxBytesPerSec }
}

const isUpload = (method: string, path: string) =>
  (method === 'POST' && path === '/v1/objects') || (method === 'PUT' && path.startsWith('/v1/objects/by-key/')) || (method === 'PATCH' && path.startsWith('/v1/uploads/'))

/** Options for Bun.serve, shared by the service and its tests. */
export const serveOptions = {
  // Bodies are streamed to disk; the per-object limit is enforced by the upload itself.
  maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  idleTimeout: 120,
  development: false,
  // Elysia would share the port with any other process bound to it, which then serves half the requests.
  reusePort: false,
  // Reached only when Bun itself fails to send a file body: the blob vanished
  // after the existence check, which only a concurrent delete and collection do.
  error(error: Error): Response {
    const apiError = (error as NodeJS.ErrnoException).code === 'ENOENT' ? new ApiError('not_found', 'No such object') : toApiError(error)
    const requestId = crypto.randomUUID()
    return Response.json(
      { error: apiError.message, code: apiError.code, request_id: requestId },
      { status: apiError.status, headers: { 'x-request-id': requestId } },
    )
  },
}

function errorForClient(code: string | number, error: unknown, request: Request, routes: RouteList): ApiError {
  if (code === 'NOT_FOUND') return notFoundOrWrongMethod(request, routes)
  if (code === 'VALIDATION') return new ApiError('bad_request', validationMessage(error))
  if (code === 'PARSE') {
    const cause = (error as Error).cause
    return cause instanceof ApiError ? cause : new ApiError('bad_request', 'The request body could not be parsed')
  }
  return toApiError(error)
}

function validationMessage(error: unknown): string {
  const first = (error as { all?: { path?: string; summary?: string; message?: string }[] }).all?.[0]
  if (!first) return 'The request is malformed'
  const field = first.path ? first.path.replace(/^\//, '') : 'request'
  return `${field}: ${first.summary ?? first.message ?? 'invalid'}`
}

/** Unknown path → 404; known path, other method → 405 with Allow. */
function notFoundOrWrongMethod(request: Request, routes: RouteList): ApiError {
  const path = new URL(request.url).pathname
  const allowed = new Set<string>()
  for (const route of routes) if (routePattern(route.path).test(path)) allowed.add(route.method.toUpperCase())
  if (allowed.size === 0) return new ApiError('not_found', `No route for ${path}`)
  if (allowed.has('GET')) allowed.add('HEAD')
  return new ApiError('method_not_allowed', `${request.method} is not allowed here`, { allow: [...allowed].sort().join(', ') })
}
