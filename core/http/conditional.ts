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

function httpDateSeconds(header: string | null): number | null {
  if (header === null) return null
  const ms = Date.parse(header)
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000)
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
