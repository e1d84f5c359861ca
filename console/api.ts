import createClient, { type Client } from 'openapi-fetch'
import type { paths } from '../cli/api'

/**
 * The console's side of the HTTP API: the typed client generated from the
 * service's OpenAPI document (shared with the CLI), the credential, and the
 * error envelope. The credential lives in sessionStorage only: it is gone with
 * the tab, never written to a cookie or a URL, and sent as a Bearer header.
 */

export interface Credential {
  secret: string
  /** The admin token (or a key with `admin`): the admin page is shown. */
  admin: boolean
  /** The tenant the object pages act in: the key's own, or the one an admin named. */
  tenant?: string
}

export type Api = Client<paths>

const storageKey = 'juststorage.console.credential'

export const savedCredential = (): Credential | undefined => {
  const saved = sessionStorage.getItem(storageKey)
  return saved === null ? undefined : (JSON.parse(saved) as Credential)
}
export const saveCredential = (credential: Credential) => sessionStorage.setItem(storageKey, JSON.stringify(credential))
export const forgetCredential = () => sessionStorage.removeItem(storageKey)

/** The service's root, from where the console is served (…/console), so it also works mounted under a path. */
export const serviceUrl = new URL('.', location.href).href.replace(/\/$/, '')

/** What went wrong, from the service's error envelope: message, code and request id. */
export class ApiFailure extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status: number,
    readonly requestId?: string,
  ) {
    super(message)
  }
}

/** What a failed answer is read from: a fetch Response, or an XMLHttpRequest's status and headers. */
interface Answer {
  status: number
  statusText: string
  headers: Pick<Headers, 'get'>
}

/** The envelope of a failed answer (or what a proxy answered instead) as an ApiFailure. */
export function failureOf(response: Answer, body: unknown): ApiFailure {
  const envelope = typeof body === 'object' && body !== null ? (body as { error?: unknown; code?: unknown; request_id?: unknown }) : {}
  return new ApiFailure(
    typeof envelope.error === 'string' ? envelope.error : `${response.status} ${response.statusText || 'from the service'}`,
    typeof envelope.code === 'string' ? envelope.code : `http_${response.status}`,
    response.status,
    typeof envelope.request_id === 'string' ? envelope.request_id : (response.headers.get('x-request-id') ?? undefined),
  )
}

export const networkFailure = (cause: unknown) => new ApiFailure(`The service did not answer (${cause instanceof Error ? cause.message : String(cause)})`, 'network', 0)

/**
 * The headers every call carries. An admin's tenant goes as X-Tenant on the
 * calls that act in a tenant; admin calls span tenants and get none.
 */
export function credentialHeaders(credential: Credential, path: string): Record<string, string> {
  const headers: Record<string, string> = { authorization: `Bearer ${credential.secret}` }
  if (credential.admin && credential.tenant && !path.startsWith('/v1/admin/')) headers['x-tenant'] = credential.tenant
  return headers
}

export function apiClient(credential: Credential): Api {
  const client = createClient<paths>({ baseUrl: serviceUrl })
  client.use({
    onRequest({ request, schemaPath }) {
      const url = new URL(request.url)
      // A call that names its own tenant (the admin's usage of another tenant) keeps it.
      const named = url.searchParams.has('tenant_id') || request.headers.has('x-tenant')
      for (const [name, value] of Object.entries(credentialHeaders(credential, schemaPath))) if (!(named && name === 'x-tenant')) request.headers.set(name, value)
      return request
    },
    onError: ({ error }) => networkFailure(error),
  })
  return client
}

/** The data of a successful call, else its envelope as an ApiFailure. */
export async function ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call
  if (!response.ok) throw failureOf(response, error)
  return data as T
}

/** The JSON body an operation takes, as the document describes it. */
export type JsonBody<P extends keyof paths, M extends 'post' | 'put'> = paths[P][M] extends { requestBody: { content: { 'application/json': infer B } } } ? B : never

/** The service's counts may come as strings (bigint columns). */
export const count = (value: string | number | null | undefined) => Number(value ?? 0)
