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
