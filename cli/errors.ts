/** What went wrong, as the exit status tells a script: one kind per status. */
export type ErrorKind = 'usage' | 'not_found' | 'conflict' | 'auth' | 'network' | 'other'

const exitStatus: Record<ErrorKind, number> = { other: 1, usage: 2, not_found: 3, conflict: 4, auth: 5, network: 6 }

/** An error the CLI reports as one line and an exit status; `code` and `requestId` come from the service's envelope. */
export class CliError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly code?: string,
    readonly requestId?: string,
  ) {
    super(message)
  }

  /** The same error, its message saying what it was about. */
  about(subject: string): CliError {
    return new CliError(this.kind, `${subject}: ${this.message}`, this.code, this.requestId)
  }

  get exitStatus(): number {
    return exitStatus[this.kind]
  }
}

export const usageError = (message: string) => new CliError('usage', message, 'usage')

function kindOfStatus(status: number): ErrorKind {
  if (status === 404) return 'not_found'
  if (status === 409 || status === 412) return 'conflict'
  if (status === 401 || status === 403) return 'auth'
  if (status === 503) return 'network'
  return 'other'
}

/** The service's error envelope (or whatever a proxy answered instead) as a CliError. */
export function apiError(response: Response, body: unknown): CliError {
  const envelope = typeof body === 'object' && body !== null ? (body as { error?: unknown; code?: unknown; request_id?: unknown }) : {}
  const message = typeof envelope.error === 'string' ? envelope.error : `${response.status} ${response.statusText || 'from the service'}`
  const code = typeof envelope.code === 'string' ? envelope.code : `http_${response.status}`
  const requestId = typeof envelope.request_id === 'string' ? envelope.request_id : (response.headers.get('x-request-id') ?? undefined)
  return new CliError(kindOfStatus(response.status), message, code, requestId)
}

/** A request that got no answer: refused, reset, or a name that does not resolve. */
export function networkError(url: string, error: unknown): CliError {
  const cause = (error as { code?: string; message?: string }) ?? {}
  const detail = cause.code === 'ConnectionRefused' || cause.code === 'ECONNREFUSED' ? 'connection refused' : (cause.message ?? String(error))
  return new CliError('network', `cannot reach ${url}: ${detail}`, 'network')
}

/** The one line an error prints: `juststorage: <message> (<code>, request <id>)`. */
export function errorLine(error: CliError): string {
  const details = [error.code, error.requestId && `request ${error.requestId}`].filter(Boolean)
  return `juststorage: ${error.message}${details.length > 0 ? ` (${details.join(', ')})` : ''}`
}

/** For `.catch`: rethrows a CliError saying what it was about, anything else as it is. */
export const rethrowAbout =
  (subject: string) =>
  (error: unknown): never => {
    throw error instanceof CliError ? error.about(subject) : error
  }
