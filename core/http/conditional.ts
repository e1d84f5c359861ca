import { ApiError } from '../errors'

/** RFC 9110 conditional requests and byte ranges for an immutable object. */

export interface Representation {
  etag: string // strong, quoted: "sha256:…"
  lastModified: Date
  size: number
}

export interface ReadHeaders {
  ifMatch: string | null
  ifNoneMatch: string | null
  ifModifiedSince: string | null
  ifUnmodifiedSince: string | null
  ifRange: string | null
  range: string | null
}

export type ReadDecision =
  | { kind: 'not-modified' }
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number } // end exclusive

/** Splits an entity-tag list; '*' stays as is. Tags keep their quotes and any W/ prefix. */
export function parseEntityTags(header: string): string[] | '*' {
  if (header.trim() === '*') return '*'
  return header.match(/(?:W\/)?"[^"]*"/g) ?? []
}

function matchesStrongly(header: string, etag: string): boolean {
  const tags = parseEntityTags(header)
  return tags === '*' || tags.includes(etag)
}

function matchesWeakly(header: string, etag: string): boolean {
  const tags = parseEntityTags(header)
  return tags === '*' || tags.some((tag) => tag.replace(/^W\//, '') === etag)
}

const monthNames = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const mon = `(?<mon>${monthNames.join('|')})`
const time = '(?<h>\\d\\d):(?<m>\\d\\d):(?<s>\\d\\d)'
const httpDateForms = [
  new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (?<day>\\d\\d) ${mon} (?<year>\\d{4}) ${time} GMT$`), // IMF-fixdate
  new RegExp(`^(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, (?<day>\\d\\d)-${mon}-(?<yy>\\d\\d) ${time} GMT$`), // RFC 850
  new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${mon} (?<day>[ \\d]\\d) ${time} (?<year>\\d{4})$`), // asctime
]

/**
 * An RFC 9110 HTTP-date as a Date, else null. Not Date.parse: it reads "1" or
 * "foo 5" as dates in 2001 and asctime as local time, while RFC 9110 says a
 * field that is not a valid HTTP-date is ignored.
 */
export function parseHttpDate(value: string): Date | null {
  const text = value.trim()
  const g = httpDateForms.map((form) => form.exec(text)?.groups).find(Boolean)
  if (!g) return null
  const year = g.year !== undefined ? Number(g.year) : twoDigitYear(Number(g.yy))
  const [day, h, m, s] = [Number(g.day), Number(g.h), Number(g.m), Number(g.s)]
  if (h > 23 || m > 59 || s > 60) return null
  const date = new Date(Date.UTC(year, monthNames.indexOf(g.mon!), day, h, m, Math.min(s, 59)))
  // Date.UTC rolls 31 Feb over into March: a day the month does not have is invalid.
  return date.getUTCDate() === day && date.getUTCFullYear() === year ? date : null
}

/** RFC 9110 §5.6.7: a two-digit year more than 50 years ahead is in the past century. */
function twoDigitYear(yy: number): number {
  const now = new Date().getUTCFullYear()
  const year = now - (now % 100) + yy
  return year > now + 50 ? year - 100 : year
}

function httpDateSeconds(header: string | null): number | null {
  if (header === null) return null
  const date = parseHttpDate(header)
  return date === null ? null : Math.floor(date.getTime() / 1000)
}

/** Decides what a GET (or HEAD, which ignores Range) answers, per RFC 9110 §13.2.2. */
export function decideRead(representation: Representation, headers: ReadHeaders, isHead: boolean): ReadDecision {
  const modified = Math.floor(representation.lastModified.getTime() / 1000)
  if (headers.ifMatch !== null) {
    if (!matchesStrongly(headers.ifMatch, representation.etag)) throw new ApiError('precondition_failed', 'If-Match does not match the object')
  } else {
    const since = httpDateSeconds(headers.ifUnmodifiedSince)
    if (since !== null && modified > since) throw new ApiError('precondition_failed', 'The object was modified after If-Unmodified-Since')
  }
  if (headers.ifNoneMatch !== null) {
    if (matchesWeakly(headers.ifNoneMatch, representation.etag)) return { kind: 'not-modified' }
  } else {
    const since = httpDateSeconds(headers.ifModifiedSince)
    if (since !== null && modified <= since) return { kind: 'not-modified' }
  }
  if (isHead || headers.range === null || !ifRangeHolds(headers.ifRange, representation, modified)) return { kind: 'full' }
  return parseRange(headers.range, representation.size)
}

function ifRangeHolds(ifRange: string | null, representation: Representation, modified: number): boolean {
  if (ifRange === null) return true
  const value = ifRange.trim()
  if (value.startsWith('"') || value.startsWith('W/')) return value === representation.etag
  return httpDateSeconds(value) === modified
}

/** `bytes=a-b`, `a-` or `-n`; several ranges are answered with the whole object. */
export function parseRange(header: string, size: number): ReadDecision {
  const match = /^\s*bytes\s*=\s*(.+)$/i.exec(header)
  if (!match) throw new ApiError('invalid_range', 'Range must be bytes=a-b, bytes=a- or bytes=-n')
  const specs = match[1]!.split(',').map((spec) => spec.trim())
  const parsed = specs.map((spec) => {
    const m = /^(\d*)-(\d*)$/.exec(spec)
    if (!m || (m[1] === '' && m[2] === '')) throw new ApiError('invalid_range', `Malformed byte range "${spec}"`)
    return { first: m[1] === '' ? null : Number(m[1]), last: m[2] === '' ? null : Number(m[2]) }
  })
  for (const { first, last } of parsed) {
    if (first !== null && last !== null && last < first) throw new ApiError('invalid_range', 'A byte range ends before it starts')
  }
  if (parsed.length > 1) return { kind: 'full' }
  const { first, last } = parsed[0]!
  const unsatisfiable = () => new ApiError('range_not_satisfiable', `The object has ${size} bytes`, { 'content-range': `bytes */${size}` })
  if (first === null) {
    if (last === 0 || size === 0) throw unsatisfiable()
    return { kind: 'partial', start: Math.max(0, size - last!), end: size }
  }
  if (first >= size) throw unsatisfiable()
  return { kind: 'partial', start: first, end: last === null ? size : Math.min(last + 1, size) }
}
