import { DrizzleQueryError } from 'drizzle-orm'
import pino, { type DestinationStream, type Level, type Logger } from 'pino'

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = Level | 'silent'

const create = (level: LogLevel, destination?: DestinationStream): Logger =>
  pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, destination ?? pino.destination(1))

/** The service's one logger: JSON lines on stdout. A live binding, replaced by configureLog. */
export let log: Logger = create('info')

/** Sets the level (from LOG_LEVEL at start) and, for tests, where the lines go. */
export function configureLog(level: LogLevel, destination?: DestinationStream): void {
  log = create(level, destination)
}

/**
 * A failure as a log line may carry it: what went wrong and where and, for a
 * failed statement, its SQL and SQLSTATE. Never the statement's parameters
 * (an object's bytes, keys, metadata), which the query wrapper's own message
 * lists, nor the server's detail, which quotes the row.
 */
export function errorFields(error: unknown): { error: string; sql?: string; sqlstate?: string } {
  if (!(error instanceof DrizzleQueryError)) return { error: String((error as Error)?.stack ?? error) }
  const cause = error.cause as { stack?: string; code?: unknown } | undefined
  return {
    error: String(cause?.stack ?? cause ?? 'the statement failed'),
    sql: error.query,
    ...(typeof cause?.code === 'string' ? { sqlstate: cause.code } : {}),
  }
}
