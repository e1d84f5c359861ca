import { Elysia } from 'elysia'
import { maybePrincipalOf } from '../core/auth/authenticate'
import { log } from '../core/log'
import { registry, requestDuration, requestsTotal } from '../core/metrics'
import { routePattern, type RouteList } from '../core/http/route-pattern'

const started = new WeakMap<Request, number>()

/** GET /metrics: Prometheus text, public, on the API's listener or on one of its own (METRICS_LISTEN_ADDR). */
export const metricsEndpoint = () =>
  new Elysia({ name: 'metrics-endpoint' }).get(
    '/metrics',
    async ({ set }) => {
      set.headers['content-type'] = registry.contentType
      return registry.metrics()
    },
    { detail: { summary: 'Prometheus metrics' } },
  )

/**
 * One observation per request: the request counters and histogram and one
 * log line; and GET /metrics unless metrics have a listener of their own.
 * Labels carry route templates, never raw paths, so object ids and keys never
 * reach the metrics.
 */
export const metricsRoutes = (routes: () => RouteList, serveEndpoint: boolean) =>
  new Elysia({ name: 'metrics' })
    .onRequest(({ request }) => {
      started.set(request, performance.now())
    })
    .onAfterResponse({ as: 'global' }, (context) => {
      const { request, set } = context
      const route = (context as { route?: string }).route || templateOf(request, routes())
      const status = typeof set.status === 'number' ? set.status : Number(set.status) || 200
      const seconds = (performance.now() - (started.get(request) ?? performance.now())) / 1000
      requestsTotal.inc({ method: request.method, route, status: String(status) })
      requestDuration.observe({ method: request.method, route }, seconds)
      if (!log.isLevelEnabled('info')) return
      const principal = maybePrincipalOf(request)
      const url = new URL(request.url)
      log.info({
        msg: 'request',
        request_id: set.headers['x-request-id'],
        principal: principal?.id ?? null,
        tenant: principal?.tenantId ?? (url.searchParams.get('tenant_id') || request.headers.get('x-tenant') || null),
        method: request.method,
        route,
        status,
        bytes: responseBytes((context as { response?: unknown }).response, set.headers['content-length']),
        duration_ms: Math.round(seconds * 1000),
      })
    })
    .use(serveEndpoint ? metricsEndpoint() : new Elysia({ name: 'metrics-elsewhere' }))

function responseBytes(response: unknown, header: unknown): number | null {
  const raw = response instanceof Response ? response.headers.get('content-length') : header
  const value = Number(raw ?? Number.NaN)
  return raw !== null && raw !== undefined && Number.isSafeInteger(value) ? value : null
}

// Requests stopped before routing (401, 405, 404) have no route of their own;
// the template their path matches, or "unmatched".
function templateOf(request: Request, routes: RouteList): string {
  const path = new URL(request.url).pathname
  const matching = routes.filter((route) => routePattern(route.path).test(path))
  const sameMethod = matching.filter((route) => route.method.toUpperCase() === request.method)
  // A literal route wins over a parameter one: /v1/objects/search is not /v1/objects/:id.
  const best = sameMethod.find((route) => route.path === path) ?? sameMethod[0] ?? matching.find((route) => route.path === path) ?? matching[0]
  return best?.path ?? 'unmatched'
}
