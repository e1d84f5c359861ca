import { describe, expect, test } from 'bun:test'
import { ApiError } from '../../core/errors'
import {
  parseBoolean,
  parseEncodedKey,
  parseExpectedDigest,
  parseKey,
  parseMetadataHeader,
  parseNamespace,
  parseObjectId,
  parseStorageClass,
  parseTenant,
  parseTimestamp,
} from '../../core/identifiers'

/** The ApiError code a call throws, or undefined when it returns. */
function codeOf(call: () => unknown): string | undefined {
  try {
    call()
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError)
    return (error as ApiError).code
  }
  return undefined
}

describe('parseNamespace', () => {
  test('accepts 1-64 of A-Z a-z 0-9 _ - and lowercases', () => {
    expect(parseNamespace('Models_v2-EU')).toBe('models_v2-eu')
    expect(parseNamespace('a')).toBe('a')
    expect(parseNamespace('N'.repeat(64))).toBe('n'.repeat(64))
  })

  test.each(['', 'n'.repeat(65), 'has space', 'dot.ted', 'slash/ed', 'ünï', 'tab\t', 'new\nline'])('rejects %p as invalid_namespace', (raw) => {
    expect(codeOf(() => parseNamespace(raw))).toBe('invalid_namespace')
  })
})

describe('parseTenant', () => {
  test('accepts UUIDs and names, case preserved, up to 128 characters', () => {
    expect(parseTenant('acme')).toBe('acme')
    expect(parseTenant('ACME.corp_eu-1')).toBe('ACME.corp_eu-1')
    expect(parseTenant('3F2504E0-4F89-11D3-9A0C-0305E82C3301')).toBe('3F2504E0-4F89-11D3-9A0C-0305E82C3301')
    expect(parseTenant('0')).toBe('0')
    expect(parseTenant(`t${'x'.repeat(127)}`)).toHaveLength(128)
  })

  test.each(['', '.acme', '-acme', '_acme', `t${'x'.repeat(128)}`, 'ac me', 'acme/eu', 'acme:1', 'ünï'])('rejects %p as invalid_tenant', (raw) => {
    expect(codeOf(() => parseTenant(raw))).toBe('invalid_tenant')
  })
})

describe('parseEncodedKey', () => {
  test('percent-decodes exactly once; "/" and "+" are ordinary', () => {
    expect(parseEncodedKey('gpt/v1.bin')).toBe('gpt/v1.bin')
    expect(parseEncodedKey('a%2Fb')).toBe('a/b')
    expect(parseEncodedKey('a%252F')).toBe('a%2F')
    expect(parseEncodedKey('a+b')).toBe('a+b')
    expect(parseEncodedKey('sp%20ace')).toBe('sp ace')
    expect(parseEncodedKey('%E2%9C%93%c3%a9')).toBe('✓é')
    expect(parseEncodedKey('✓')).toBe('✓')
  })

  test('counts bytes, not characters: 1024 bytes fit, 1025 do not', () => {
    expect(parseEncodedKey('k'.repeat(1024))).toHaveLength(1024)
    expect(parseEncodedKey('%41'.repeat(1024))).toBe('A'.repeat(1024))
    expect(codeOf(() => parseEncodedKey('k'.repeat(1025)))).toBe('invalid_key')
    // 512 two-byte characters are 1024 bytes; one more is too many.
    expect(parseEncodedKey('é'.repeat(512))).toHaveLength(512)
    expect(codeOf(() => parseEncodedKey('é'.repeat(512) + 'k'))).toBe('invalid_key')
  })

  test.each([
    ['', 'empty'],
    ['%FF', 'invalid UTF-8'],
    ['%C3', 'truncated UTF-8'],
    ['%ED%A0%80', 'an encoded surrogate'],
    ['%zz', 'a malformed escape'],
    ['abc%', 'a dangling %'],
    ['abc%4', 'a half escape'],
    ['%00', 'NUL'],
    ['a%0Ab', 'a newline'],
    ['%1F', 'U+001F'],
    ['%7F', 'DEL'],
  ])('rejects %p (%s) as invalid_key', (raw) => {
    expect(codeOf(() => parseEncodedKey(raw))).toBe('invalid_key')
  })
})

describe('parseKey', () => {
  test('takes a decoded key as is', () => {
    expect(parseKey('a%2Fb')).toBe('a%2Fb')
    expect(parseKey('photos/2024/ü.jpg')).toBe('photos/2024/ü.jpg')
    expect(parseKey('😀'.repeat(256))).toHaveLength(512)
  })

  test.each([
    ['', 'empty'],
    ['\ud800', 'a lone surrogate'],
    ['a\u0000b', 'NUL'],
    ['a\u007fb', 'DEL'],
    ['tab\there', 'a tab'],
    ['😀'.repeat(256) + 'k', '1025 bytes'],
  ])('rejects %p (%s) as invalid_key', (raw) => {
    expect(codeOf(() => parseKey(raw))).toBe('invalid_key')
  })
})

describe('parseStorageClass', () => {
  test('hot or cold, case-insensitive', () => {
    expect(parseStorageClass('hot')).toBe('hot')
    expect(parseStorageClass('COLD')).toBe('cold')
    expect(parseStorageClass('Hot')).toBe('hot')
  })

  test.each(['', 'warm', ' hot', 'hot '])('rejects %p as invalid_storage_class', (raw) => {
    expect(codeOf(() => parseStorageClass(raw))).toBe('invalid_storage_class')
  })
})

describe('parseObjectId', () => {
  test('a UUID, lowercased', () => {
    expect(parseObjectId('3F2504E0-4F89-11D3-9A0C-0305E82C3301')).toBe('3f2504e0-4f89-11d3-9a0c-0305e82c3301')
  })

  test.each(['', 'nope', '3f2504e04f8911d39a0c0305e82c3301', '3f2504e0-4f89-11d3-9a0c-0305e82c330', '3f2504e0-4f89-11d3-9a0c-0305e82c3301x', 'gf2504e0-4f89-11d3-9a0c-0305e82c3301'])(
    'rejects %p as bad_request',
    (raw) => {
      expect(codeOf(() => parseObjectId(raw))).toBe('bad_request')
    },
  )
})

describe('parseBoolean', () => {
  test('true or false, case-insensitive; anything else names the parameter', () => {
    expect(parseBoolean('true', 'X-Overwrite')).toBe(true)
    expect(parseBoolean('FALSE', 'X-Overwrite')).toBe(false)
    for (const raw of ['', 'yes', '1', '0', 'truee']) {
      expect(codeOf(() => parseBoolean(raw, 'X-Overwrite'))).toBe('bad_request')
      expect(() => parseBoolean(raw, 'X-Overwrite')).toThrow('X-Overwrite')
    }
  })
})

describe('parseMetadataHeader', () => {
  test('a JSON object, nested values kept', () => {
    expect(parseMetadataHeader('{}')).toEqual({})
    expect(parseMetadataHeader('{"tags":["x"],"owner":{"team":"a"},"n":1.5,"none":null}')).toEqual({ tags: ['x'], owner: { team: 'a' }, n: 1.5, none: null })
  })

  test('at most 8 KiB, counted in bytes', () => {
    const fits = `{"v":"${'x'.repeat(8192 - 8)}"}`
    expect(new TextEncoder().encode(fits).byteLength).toBe(8192)
    expect(parseMetadataHeader(fits)).toEqual({ v: 'x'.repeat(8184) })
    expect(codeOf(() => parseMetadataHeader(`{"v":"${'x'.repeat(8185)}"}`))).toBe('invalid_metadata')
    expect(codeOf(() => parseMetadataHeader(`{"v":"${'é'.repeat(4093)}"}`))).toBe('invalid_metadata')
  })

  test.each(['', 'not json', '[]', '[1]', '"text"', '42', 'null', 'true', '{"a":'])('rejects %p as invalid_metadata', (raw) => {
    expect(codeOf(() => parseMetadataHeader(raw))).toBe('invalid_metadata')
  })
})

describe('parseExpectedDigest', () => {
  const hex = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
  const base64 = Buffer.from(hex, 'hex').toString('base64')

  test('neither header: nothing expected', () => {
    expect(parseExpectedDigest(null, null)).toBeUndefined()
  })

  test('X-Content-SHA256 as hex, any case, trimmed', () => {
    expect(parseExpectedDigest(hex, null)).toBe(hex)
    expect(parseExpectedDigest(` ${hex.toUpperCase()} `, null)).toBe(hex)
  })

  test('Content-Digest sha-256 as base64, alone or among other digests', () => {
    expect(parseExpectedDigest(null, `sha-256=:${base64}:`)).toBe(hex)
    expect(parseExpectedDigest(null, `sha-512=:AAAA:, sha-256=:${base64}:`)).toBe(hex)
    expect(parseExpectedDigest(null, `SHA-256=:${base64}:`)).toBe(hex)
  })

  test('both headers agreeing is fine; disagreeing is bad_request', () => {
    expect(parseExpectedDigest(hex, `sha-256=:${base64}:`)).toBe(hex)
    const other = Buffer.alloc(32, 1).toString('base64')
    expect(codeOf(() => parseExpectedDigest(hex, `sha-256=:${other}:`))).toBe('bad_request')
  })

  test.each([
    ['short hex', hex.slice(1), null],
    ['non-hex', 'z'.repeat(64), null],
    ['prefixed hex', `sha256:${hex}`, null],
    ['no sha-256 member', null, 'sha-512=:AAAA:'],
    ['unwrapped base64', null, `sha-256=${base64}`],
    ['short base64', null, 'sha-256=:AAAA:'],
  ])('rejects %s as bad_request', (_name, sha256Header, contentDigest) => {
    expect(codeOf(() => parseExpectedDigest(sha256Header, contentDigest))).toBe('bad_request')
  })
})

describe('parseTimestamp', () => {
  const at = (iso: string) => Date.parse(iso)

  test('RFC 3339 in UTC or with an offset, as the millisecond span it falls in', () => {
    expect(parseTimestamp('2021-03-04T05:06:07Z', 't')).toEqual({ floorMs: at('2021-03-04T05:06:07.000Z'), ceilMs: at('2021-03-04T05:06:07.000Z') })
    expect(parseTimestamp('2021-03-04T05:06:07.123Z', 't')).toEqual({ floorMs: at('2021-03-04T05:06:07.123Z'), ceilMs: at('2021-03-04T05:06:07.123Z') })
    expect(parseTimestamp('2021-03-04T05:06:07.1Z', 't').floorMs).toBe(at('2021-03-04T05:06:07.100Z'))
    expect(parseTimestamp('2021-03-04T05:06:07.123000Z', 't')).toEqual({ floorMs: at('2021-03-04T05:06:07.123Z'), ceilMs: at('2021-03-04T05:06:07.123Z') })
    expect(parseTimestamp('2021-03-04T05:06:07.123456Z', 't')).toEqual({ floorMs: at('2021-03-04T05:06:07.123Z'), ceilMs: at('2021-03-04T05:06:07.124Z') })
    expect(parseTimestamp('2021-03-04T07:36:07.5+02:30', 't').floorMs).toBe(at('2021-03-04T05:06:07.500Z'))
    expect(parseTimestamp('2021-03-04T00:06:07-05:00', 't').floorMs).toBe(at('2021-03-04T05:06:07Z'))
    expect(parseTimestamp('2021-03-04t05:06:07z', 't').floorMs).toBe(at('2021-03-04T05:06:07Z'))
    expect(parseTimestamp('2021-03-04 05:06:07Z', 't').floorMs).toBe(at('2021-03-04T05:06:07Z'))
  })

  test('leap days and leap seconds', () => {
    expect(parseTimestamp('2024-02-29T00:00:00Z', 't').floorMs).toBe(at('2024-02-29T00:00:00Z'))
    expect(parseTimestamp('2000-02-29T00:00:00Z', 't').floorMs).toBe(at('2000-02-29T00:00:00Z'))
    expect(parseTimestamp('2016-12-31T23:59:60Z', 't').floorMs).toBe(at('2017-01-01T00:00:00Z'))
  })

  test('years below 100 are not taken as 19xx', () => {
    expect(new Date(parseTimestamp('0050-06-01T00:00:00Z', 't').floorMs).getUTCFullYear()).toBe(50)
    expect(parseTimestamp('0000-01-01T00:00:00Z', 't').floorMs).toBeLessThan(parseTimestamp('0001-01-01T00:00:00Z', 't').floorMs)
  })

  test.each([
    '', 'now', '2021-03-04', '2021-03-04T05:06:07', '2021-03-04T05:06Z', '2021-3-4T05:06:07Z', '1614834367',
    '2021-03-04T05:06:07.Z', '2021-03-04T05:06:07+0100', '2021-03-04T05:06:07+01', ' 2021-03-04T05:06:07Z',
    '2021-00-01T00:00:00Z', '2021-13-01T00:00:00Z', '2021-01-00T00:00:00Z', '2021-01-32T00:00:00Z', '2021-04-31T00:00:00Z',
    '2021-02-29T00:00:00Z', '1900-02-29T00:00:00Z', '2021-01-01T24:00:00Z', '2021-01-01T00:60:00Z', '2021-01-01T00:00:61Z',
    '2021-01-01T00:00:00+24:00', '2021-01-01T00:00:00+01:60',
  ])('rejects %p as bad_request naming the parameter', (raw) => {
    expect(codeOf(() => parseTimestamp(raw, 'created_after'))).toBe('bad_request')
    expect(() => parseTimestamp(raw, 'created_after')).toThrow('created_after')
  })
})
