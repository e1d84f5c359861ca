import createClient, { type Client } from 'openapi-fetch'
import type { paths } from './api'
import type { Settings } from './config'
import { apiError, CliError, networkError } from './errors'

export type Api = Client<paths>

/** The JSON body an operation takes, as the document describes it. */
export type JsonBody<P extends keyof paths, M extends 'post' | 'put'> = paths[P][M] extends { requestBody: { content: { 'application/json': infer B } } } ? B : never

/** The typed client of the service: the credential as a Bearer token, the tenant (for an admin) as X-Tenant, and no answer at all as a network error. */
export function apiClient(settings: Settings): Api {
  const headers: Record<string, string> = { 'user-agent': 'juststorage-cli' }
  if (settings.token) headers.authorization = `Bearer ${settings.token}`
  if (settings.tenant) headers['x-tenant'] = settings.tenant
  const client = createClient<paths>({ baseUrl: settings.url, headers })
  client.use({
    onError: ({ error }) => (error instanceof Error && error.name === 'AbortError' ? error : networkError(settings.url, error)),
  })
  return client
}

/** The data of a successful call, else its error envelope as a CliError. */
export async function ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call
  if (!response.ok) throw apiError(response, error)
  return data as T
}

/** The service's JSON numbers may come as strings (bigint columns); the CLI counts with numbers. */
export const count = (value: string | number | null | undefined): number => Number(value ?? 0)

/**
 * The request's tenant, which by-key paths name: the one configured (needed by
 * an admin), else the principal's own, which GET /v1/usage reports.
 */
export class Tenant {
  private resolved?: Promise<string>

  constructor(
    private readonly api: Api,
    private readonly configured: string | undefined,
  ) {}

  get(): Promise<string> {
    this.resolved ??= this.configured !== undefined ? Promise.resolve(this.configured) : this.discover()
    return this.resolved
  }

  private async discover(): Promise<string> {
    const { data, error, response } = await this.api.GET('/v1/usage')
    if (response.ok) return data!.tenant_id
    const cause = apiError(response, error)
    if (response.status === 400 || response.status === 403) {
      throw new CliError('usage', `cannot tell which tenant to use (${cause.message}); pass --tenant or set JUSTSTORAGE_TENANT`, cause.code, cause.requestId)
    }
    throw cause
  }
}
