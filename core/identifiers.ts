import type { StorageClass } from './db/schema'
import { ApiError } from './errors'

/** Validation of every identifier a client sends, exactly as the contract words it. */

const namespacePattern = /^[A-Za-z0-9_-]{1,64}$/
const tenantPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/
export const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export const isUuid = (value: unknown): value is string => typeof value === 'string' && uuidPattern.test(value)
const controlCharacters = /[\u0000-\u001f\u007f]/
const utf8 = new TextDecoder('utf-8', { fatal: true })

export function parseNamespace(raw: string): string {
  if (!namespacePattern.test(raw)) throw new ApiError('invalid_namespace', 'namespace must be 1-64 characters of A-Z, a-z, 0-9, _ or -')
  return raw.toLowerCase()
}

export function parseTenant(raw: string): string {
  if (!tenantPattern.test(raw)) {
    throw new ApiError('invalid_tenant', 'tenant_id must start with a letter or digit and have at most 128 characters of A-Z, a-z, 0-9, _, . or -')
  }
  return raw
}

/** A key as it arrives percent-encoded (path, query or X-Key header). */
export function parseEncodedKey(encoded: string): string {
  const bytes = percentDecodeToBytes(encoded)
  let key: string
  try {
    key = utf8.decode(bytes)
  } catch {
    throw new ApiError('invalid_key', 'key is not valid UTF-8')
  }
  return checkKey(key, bytes.byteLength)
}

/** A key already decoded to a string (JSON bodies). */
export function parseKey(key: string): string {
  const bytes = new TextEncoder().encode(key)
  if (utf8.decode(bytes) !== key) throw new ApiError('invalid_key', 'key is not valid UTF-8')
  return checkKey(key, bytes.byteLength)
}

function checkKey(key: string, byteLength: number): string {
  if (byteLength < 1 || byteLength > 1024) throw new ApiError('invalid_key', 'key must be 1-1024 bytes of UTF-8')
  if (controlCharacters.test(key)) throw new ApiError('invalid_key', 'key must not contain control characters')
  return key
}

function percentDecodeToBytes(encoded: string): Uint8Array {
  const raw = new TextEncoder().encode(encoded)
  const out = new Uint8Array(raw.byteLength)
  let n = 0
  for (let i = 0; i < raw.byteLength; i++) {
    const byte = raw[i]!
    if (byte === 0x25) {
      const pair = String.fromCharCode(raw[i + 1] ?? 0, raw[i + 2] ?? 0)
      if (!/^[0-9A-Fa-f]{2}$/.test(pair)) throw new ApiError('invalid_key', 'key has a malformed percent-encoding')
      out[n++] = parseInt(pair, 16)
      i += 2
    } else {
      out[n++] = byte
    }
  }
  return out.subarray(0, n)
}

export function parseStorageClass(raw: string): StorageClass {
  const value = raw.toLowerCase()
  if (value !== 'hot' && value !== 'cold') throw new ApiError('invalid_storage_class', 'storage_class must be hot or cold')
  return value
}

/** A client's RFC 3339 time as the span of whole milliseconds it falls in (clients see milliseconds). */
export interface Timestamp {
  floorMs: number
  ceilMs: number
}

const rfc3339 = /^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:[Zz]|([+-])(\d\d):(\d\d))$/

export function parseTimestamp(raw: string, name: string): Timestamp {
  const match = rfc3339.exec(raw)
  const fields = match ? [1, 2, 3, 4, 5, 6, 9, 10].map((i) => Number(match[i] ?? 0)) : []
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, offsetHour = 0, offsetMinute = 0] = fields
  // Checked field by field: Date.parse would quietly turn 2021-02-30 into March 1st.
  if (!match || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 60 || offsetHour > 23 || offsetMinute > 59) {
    throw new ApiError('bad_request', `${name} must be an RFC 3339 timestamp`)
  }
  const fraction = match[7] ?? ''
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  date.setUTCHours(hour, minute, second, Number(fraction.slice(0, 3).padEnd(3, '0')))
  const floorMs = date.getTime() - (match[8] === '-' ? -1 : 1) * (offsetHour * 60 + offsetMinute) * 60_000
  return { floorMs, ceilMs: /[1-9]/.test(fraction.slice(3)) ? floorMs + 1 : floorMs }
}

function daysInMonth(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
  return month === 2 ? (leap ? 29 : 28) : [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!
}

export function parseObjectId(raw: string): string {
  if (!isUuid(raw)) throw new ApiError('bad_request', 'id must be a UUID')
  return raw.toLowerCase()
}

export function parseBoolean(raw: string, name: string): boolean {
  const value = raw.toLowerCase()
  if (value === 'true') return true
  if (value === 'false') return false
  throw new ApiError('bad_request', `${name} must be true or false`)
}

/**
 * Where in a JSON value the first text lies that the database cannot store
 * (`/a/0`, or `a name in /a`), or null: PostgreSQL text and jsonb refuse
 * U+0000, and UTF-8 has no form for half a surrogate pair; JSON can spell both.
 */
export function unstorableTextAt(value: unknown, path = ''): string | null {
  if (typeof value === 'string') return storable(value) ? null : path || '/'
  if (value === null || typeof value !== 'object') return null
  for (const [name, inner] of Object.entries(value)) {
    if (!storable(name)) return `a name in ${path || '/'}`
    const found = unstorableTextAt(inner, `${path}/${name}`)
    if (found !== null) return found
  }
  return null
}

const storable = (text: string) => !text.includes('\u0000') && text.isWellFormed()

/** The message for text found by unstorableTextAt. */
export const unstorableText = (where: string) => `the text at ${where} holds U+0000 or half a surrogate pair, which no stored text may`

const maxMetadataBytes = 8 * 1024

export function parseMetadataHeader(raw: string): Record<string, unknown> {
  if (new TextEncoder().encode(raw).byteLength > maxMetadataBytes) throw new ApiError('invalid_metadata', 'X-Metadata must be at most 8 KiB')
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    throw new ApiError('invalid_metadata', 'X-Metadata must be a JSON object')
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ApiError('invalid_metadata', 'X-Metadata must be a JSON object')
  const unstorable = unstorableTextAt(value)
  if (unstorable !== null) throw new ApiError('invalid_metadata', `X-Metadata: ${unstorableText(unstorable)}`)
  return value as Record<string, unknown>
}

const sha256Hex = /^[0-9a-f]{64}$/

/** X-Content-SHA256 (hex) or Content-Digest (sha-256=:base64:), as lowercase hex. */
export function parseExpectedDigest(sha256Header: string | null, contentDigest: string | null): string | undefined {
  let fromHex: string | undefined
  let fromDigest: string | undefined
  if (sha256Header !== null) {
    fromHex = sha256Header.trim().toLowerCase()
    if (!sha256Hex.test(fromHex)) throw new ApiError('bad_request', 'X-Content-SHA256 must be 64 hex digits')
  }
  if (contentDigest !== null) {
    const match = /(?:^|,)\s*sha-256=:([A-Za-z0-9+/]{43}=):\s*(?:,|$)/i.exec(contentDigest)
    if (!match) throw new ApiError('bad_request', 'Content-Digest must carry sha-256=:<base64>:')
    fromDigest = Buffer.from(match[1]!, 'base64').toString('hex')
  }
  if (fromHex && fromDigest && fromHex !== fromDigest) throw new ApiError('bad_request', 'X-Content-SHA256 and Content-Digest disagree')
  return fromHex ?? fromDigest
}
