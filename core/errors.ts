/** The closed list of error codes and the one mapping to HTTP status. */
export const errorStatus = {
  bad_request: 400,
  invalid_namespace: 400,
  invalid_tenant: 400,
  invalid_key: 400,
  invalid_storage_class: 400,
  invalid_metadata: 400,
  invalid_cursor: 400,
  invalid_range: 400,
  digest_mismatch: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  key_exists: 409,
  offset_mismatch: 409,
  precondition_failed: 412,
  payload_too_large: 413,
  quota_exceeded: 413,
  unsupported_media_type: 415,
  range_not_satisfiable: 416,
  rate_limited: 429,
  internal: 500,
  corrupt_object: 500,
  unavailable: 503,
  insufficient_storage: 507,
} as const

export type ErrorCode = keyof typeof errorStatus

/** A failure the client is told about: a code from the closed list, a human message, optional headers. */
export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }

  get status(): number {
    return errorStatus[this.code]
  }
}

// SQLSTATE classes that mean "the database cannot serve right now", not "the request is wrong";
// 57014 is a statement cancelled by statement_timeout.
const unavailableSqlStates = /^(08|53|57014|57P0[1-3]|40001|40P01|55P03)/
const unavailableConnectionCodes = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN',
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
])

/** The SQLSTATEs the database's own functions raise (commit_object; JSNOS: a copy's source blob is gone; JSQUO: a quota), with messages written for the client. */
const refusalSqlStates: Record<string, ErrorCode> = { JSKEY: 'key_exists', JSPRE: 'precondition_failed', JSGON: 'unavailable', JSNOS: 'not_found', JSQUO: 'quota_exceeded' }

/** Turns any thrown value into the ApiError the client sees; internals never leak. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error
  const code = (error as { code?: unknown })?.code
  const refusal = typeof code === 'string' ? refusalSqlStates[code] : undefined
  if (refusal) return new ApiError(refusal, (error as Error).message, refusal === 'unavailable' ? { 'retry-after': '1' } : {})
  if (code === 'ENOSPC' || code === 'EDQUOT') return new ApiError('insufficient_storage', 'The storage volume is full')
  // A connect to a socket path that is gone (a stopped server) fails with ENOENT: the database's, not a blob's.
  const connecting = (error as { syscall?: unknown })?.syscall === 'connect'
  if (typeof code === 'string' && (unavailableSqlStates.test(code) || unavailableConnectionCodes.has(code) || connecting)) {
    return new ApiError('unavailable', 'The metadata database is unavailable; retry later', { 'retry-after': '1' })
  }
  const cause = (error as { cause?: unknown })?.cause
  if (cause && cause !== error) {
    const mapped = toApiError(cause)
    if (mapped.code !== 'internal') return mapped
  }
  return new ApiError('internal', 'Internal server error')
}
