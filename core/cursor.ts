import { ApiError } from './errors'
import { parseTimestamp } from './identifiers'

/**
 * Page cursors: the sort values of a page's last row, as base64url JSON. They
 * are opaque to clients, so every value is checked on the way back in: a
 * forged cursor is a 400, never a cast error from the database.
 */

type Check<T> = (value: unknown) => value is T
type Checked<C> = { [K in keyof C]: C[K] extends Check<infer T> ? T : never }

export function encodeCursor(position: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url')
}

/** The position a cursor carries, one value per check; anything else → 400 invalid_cursor. */
export function decodeCursor<const C extends readonly Check<unknown>[]>(cursor: string, checks: C): Checked<C> {
  let position: unknown
  try {
    position = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    position = undefined
  }
  if (!Array.isArray(position) || position.length !== checks.length || !checks.every((check, i) => check(position[i]))) {
    throw new ApiError('invalid_cursor', 'cursor is not one this service issued for this listing')
  }
  return position as Checked<C>
}

// A timestamptz as the database writes it: "2026-01-02 03:04:05.678901+00".
const databaseTimeText = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d{1,6})?)([+-]\d\d)(?::(\d\d))?$/

/** A created_at as the database wrote it, with a real calendar date. */
export function isDatabaseTime(value: unknown): value is string {
  const time = typeof value === 'string' ? databaseTimeText.exec(value) : null
  if (!time) return false
  try {
    parseTimestamp(`${time[1]}T${time[2]}${time[3]}:${time[4] ?? '00'}`, 'cursor')
    return true
  } catch {
    return false
  }
}

export const isPositiveInteger = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 1
