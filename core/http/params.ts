import type { StorageClass } from '../db/schema'
import { ApiError } from '../errors'
import { parseBoolean, parseEncodedKey, parseNamespace, parseStorageClass, parseTenant } from '../identifiers'

/**
 * Reads parameters that may arrive in the query or in a header. Values are
 * taken from the raw URL so a key's percent-encoding is decoded exactly once,
 * and invalid UTF-8 (e.g. %FF) is caught instead of silently replaced.
 */
export class RequestParams {
  private readonly rawQuery = new Map<string, string>()

  constructor(
    url: string,
    private readonly headers: Headers,
  ) {
    const queryStart = url.indexOf('?')
    if (queryStart < 0) return
    for (const pair of url.slice(queryStart + 1).split('&')) {
      if (pair === '') continue
      const eq = pair.indexOf('=')
      const name = safeDecode(eq < 0 ? pair : pair.slice(0, eq))
      const value = eq < 0 ? '' : pair.slice(eq + 1).replaceAll('+', '%20')
      if (this.rawQuery.has(name) && this.rawQuery.get(name) !== value) throw new ApiError('bad_request', `Query parameter ${name} is given twice`)
      this.rawQuery.set(name, value)
    }
  }

  /** The still-encoded query value of a name, if present. */
  encodedQuery(name: string): string | undefined {
    return this.rawQuery.get(name)
  }

  query(name: string): string | undefined {
    const raw = this.rawQuery.get(name)
    return raw === undefined ? undefined : decodeText(raw, name)
  }

  /** A value from the query or a header; both given and different → 400. Empty counts as given. */
  either(queryName: string, headerName: string, decodeHeader = false): string | undefined {
    const fromQuery = this.query(queryName)
    const rawHeader = this.headers.get(headerName)
    const fromHeader = rawHeader === null ? undefined : decodeHeader ? decodeText(rawHeader, headerName) : rawHeader
    if (fromQuery !== undefined && fromHeader !== undefined && fromQuery !== fromHeader) {
      throw new ApiError('bad_request', `${queryName} and ${headerName} disagree`)
    }
    return fromQuery ?? fromHeader
  }

  namespace(): string {
    const raw = this.either('namespace', 'x-namespace')
    if (raw === undefined) throw new ApiError('invalid_namespace', 'namespace is required')
    return parseNamespace(raw)
  }

  /** The tenant the request names, if any; the principal's own applies otherwise. */
  namedTenant(): string | undefined {
    const raw = this.either('tenant_id', 'x-tenant')
    return raw === undefined ? undefined : parseTenant(raw)
  }

  key(): string | null {
    const fromQuery = this.encodedQuery('key')
    const fromHeader = this.headers.get('x-key')
    const queryKey = fromQuery === undefined ? undefined : parseEncodedKey(fromQuery)
    const headerKey = fromHeader === null ? undefined : parseEncodedKey(fromHeader)
    if (queryKey !== undefined && headerKey !== undefined && queryKey !== headerKey) throw new ApiError('bad_request', 'key and X-Key disagree')
    return queryKey ?? headerKey ?? null
  }

  storageClass(): StorageClass {
    const raw = this.either('storage_class', 'x-storage-class')
    return raw === undefined ? 'hot' : parseStorageClass(raw)
  }

  overwrite(): boolean {
    const raw = this.either('overwrite', 'x-overwrite')
    return raw === undefined ? false : parseBoolean(raw, 'X-Overwrite')
  }
}

function safeDecode(raw: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    return raw
  }
}

function decodeText(raw: string, name: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    throw new ApiError('bad_request', `${name} has a malformed percent-encoding`)
  }
}

/** Splits `/v1/objects/by-key/{namespace}/{tenant_id}/{key…}` from the raw path. */
export function parseByKeyPath(url: string): { namespace: string; tenantId: string; key: string } {
  const path = new URL(url).pathname
  const rest = path.slice(path.indexOf('/by-key/') + '/by-key/'.length)
  const first = rest.indexOf('/')
  const second = first < 0 ? -1 : rest.indexOf('/', first + 1)
  if (first < 0 || second < 0) throw new ApiError('bad_request', 'Expected /v1/objects/by-key/{namespace}/{tenant_id}/{key}')
  return {
    namespace: parseNamespace(decodeText(rest.slice(0, first), 'namespace')),
    tenantId: parseTenant(decodeText(rest.slice(first + 1, second), 'tenant_id')),
    key: parseEncodedKey(rest.slice(second + 1)),
  }
}
